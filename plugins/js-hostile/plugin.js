// `js-hostile`: the hostile plugins (plugins/spin, plugins/grow) in
// JavaScript, and two that wait. The request names the attack:
//
// - `spin`: loops forever (the call's deadline, or its fuel, must stop it);
// - `bomb`: allocates and fills 1 MiB buffers without end (the memory limit
//   must stop it);
// - `timer <ms>`: answers from a `setTimeout` callback, `ms` later: the
//   handler returns a promise, and the runtime waits for it in WASI's poll
//   (the deadline must stop it there);
// - `await-spin`: awaits an endless chain of resolved promises, busy in
//   microtasks without ever returning;
// - `throw`: throws a `TypeError` (a bug: the call traps);
// - `noop`: answers `ok`.

import { GuestError, plugin } from "./plugbox.js";

function attack(request) {
  const [command, argument] = request.split(" ");
  switch (command) {
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
    case "timer":
      return new Promise((resolve) => setTimeout(() => resolve("slept"), Number(argument)));
    case "await-spin":
      return (async () => {
        for (;;) {
          await null;
        }
      })();
    case "throw":
      throw new TypeError("a bug");
    case "noop":
      return "ok";
    default:
      throw new GuestError(`unknown attack ${JSON.stringify(command)}`);
  }
}

export const handler = plugin(attack, { text: true });
