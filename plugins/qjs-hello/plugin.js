// `qjs-hello`: the `hello` plugin in JavaScript on QuickJS
// (componentize-qjs, its default runtime, which uses component-model async
// built-ins: the engine must enable them). It returns its input in upper
// case.

import { plugin } from "./plugbox.js";

export const handler = plugin((text) => text.toUpperCase(), { text: true });
