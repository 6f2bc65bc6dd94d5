// `js-hello`: the `hello` plugin in JavaScript. It returns its input in
// upper case.

import { plugin } from "./plugbox.js";

export const handler = plugin((text) => text.toUpperCase(), { text: true });
