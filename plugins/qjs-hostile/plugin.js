// `qjs-hostile`: the hostile plugins (plugins/spin, plugins/grow) in
// JavaScript on QuickJS, built with componentize-qjs's default runtime, so
// that every attack runs on an engine with component-model async (wasmtime's
// concurrent call path).
// The request names the attack:
//
// - `spin`: loops forever (the call's deadline, or its fuel, must stop it);
// - `bomb`: allocates and fills 1 MiB buffers without end (the memory limit
//   must stop it; QuickJS reports its failed allocation as an
//   `InternalError`, which the kit turns into a trap);
// - `recurse`: recurses without end (QuickJS's own stack check, or the wasm
//   stack limit, must stop it);
// - `promise`: answers with a promise that never settles (the plugbox
//   world's `handle` is synchronous: componentize-qjs traps);
// - `throw`: throws a `TypeError` (a bug: logged, then the call traps);
// - `noop`: answers `ok`.

import { GuestError, plugin } from "./plugbox.js";

function attack(request) {
  switch (request) {
    case "spin": {
      let counter = 0;
      for (;;) {
        counter += 1;
      }
    }
    case "bomb": {
      const blocks = [];
      for (;;) {
        blocks.push(new Uint8Array(1 << 20).fill(0x5a));
      }
    }
    case "recurse": {
      const down = (depth) => down(depth + 1) + 1;
      return String(down(0));
    }
    case "promise":
      return new Promise(() => {});
    case "throw":
      throw new TypeError("a bug");
    case "noop":
      return "ok";
    default:
      throw new GuestError(`unknown attack ${JSON.stringify(request)}`);
  }
}

export const handler = plugin(attack, { text: true });
