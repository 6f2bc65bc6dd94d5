// The native worker of `js-hello`: the plugin's own source (`plugin.js`,
// with its helper `guest-sdk/js/plugbox.js`) run by `node`, serving the
// native twins' framed protocol (crate `plugbox-frame`) on stdin and
// stdout, so that the density baseline runs under process and container
// isolation exactly the JavaScript the Wasm component runs.
//
//     node --experimental-vm-modules worker.mjs PLUGIN_DIR SDK_DIR
//
// A request is a 4-byte little-endian length and that many bytes; a reply
// is a status byte (0: output, 1: the plugin's error message), a 4-byte
// little-endian length and that many bytes. Requests are served until
// stdin closes (exit status 0); a malformed or oversized frame ends the
// worker with status 2; an exception other than the plugin's own error (a
// trap in Wasm) with status 70, its stack on stderr.
//
// The modules are linked here as componentize-js links them into the
// component: `./plugbox.js` is the helper, and the host's interfaces
// (`plugbox:plugin/log@0.1.0`, `.../config`, `.../kv`) are stand-ins with
// the same exports: `log` writes to stderr, `config` is empty (the density
// harness grants its tenants none), and `kv` is an in-memory store private
// to the worker. (`vm.SourceTextModule` rather than a loader hook: node 20
// runs hooks on a thread of their own.)

import { readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { SourceTextModule, SyntheticModule } from "node:vm";

// The frame bound of plugbox-frame's readers (DEFAULT_MAX_FRAME).
const MAX_FRAME = 16 << 20;

const store = new Map();

/** An `err` of the kv interface, as componentize-js throws it. */
function kvError(tag, val) {
  const error = new Error(tag);
  error.payload = { tag, val };
  return error;
}

const hostInterfaces = {
  "plugbox:plugin/log@0.1.0": {
    log: (level, message) => process.stderr.write(`[${level}] ${message}\n`),
  },
  "plugbox:plugin/config@0.1.0": { get: () => undefined },
  "plugbox:plugin/kv@0.1.0": {
    get: (key) => store.get(key),
    set: (key, value) => void store.set(key, Uint8Array.from(value)),
    delete: (key) => store.delete(key),
    increment: (key, delta) => {
      const text = new TextDecoder().decode(store.get(key) ?? new TextEncoder().encode("0"));
      if (!/^-?\d+$/.test(text)) {
        throw kvError("invalid", `the value under ${JSON.stringify(key)} is not an integer`);
      }
      const value = BigInt(text) + BigInt(delta);
      store.set(key, new TextEncoder().encode(value.toString()));
      return value;
    },
  },
};

async function load(pluginDir, sdkDir) {
  const modules = new Map();
  const source = (path) =>
    new SourceTextModule(readFileSync(path, "utf8"), { identifier: path });
  const link = async (specifier) => {
    if (modules.has(specifier)) {
      return modules.get(specifier);
    }
    let module;
    if (specifier === "./plugbox.js") {
      module = source(join(sdkDir, "plugbox.js"));
    } else if (specifier in hostInterfaces) {
      const exports = hostInterfaces[specifier];
      module = new SyntheticModule(Object.keys(exports), function () {
        for (const [name, value] of Object.entries(exports)) {
          this.setExport(name, value);
        }
      });
    } else {
      throw new Error(`js-hello worker: no module ${specifier}`);
    }
    modules.set(specifier, module);
    return module;
  };
  const plugin = source(join(pluginDir, "plugin.js"));
  await plugin.link(link);
  await plugin.evaluate();
  return plugin.namespace.handler;
}

function reply(status, payload) {
  const frame = Buffer.alloc(5 + payload.length);
  frame[0] = status;
  frame.writeUInt32LE(payload.length, 1);
  frame.set(payload, 5);
  let written = 0;
  while (written < frame.length) {
    written += writeSync(1, frame, written);
  }
}

async function answer(handler, request) {
  try {
    const output = await handler.handle(new Uint8Array(request));
    reply(0, Buffer.from(output));
  } catch (error) {
    // A thrown string is the plugin's `err` (its `GuestError`); anything
    // else traps in Wasm.
    if (typeof error === "string") {
      reply(1, Buffer.from(error, "utf8"));
    } else {
      throw error;
    }
  }
}

async function serve(handler) {
  let pending = Buffer.alloc(0);
  for await (const chunk of process.stdin) {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const length = pending.readUInt32LE(0);
      if (length > MAX_FRAME) {
        process.stderr.write(`js-hello worker: bad request: frame of ${length} bytes, limit ${MAX_FRAME}\n`);
        return 2;
      }
      if (pending.length < 4 + length) {
        break;
      }
      const request = pending.subarray(4, 4 + length);
      pending = pending.subarray(4 + length);
      await answer(handler, request);
    }
  }
  if (pending.length > 0) {
    process.stderr.write("js-hello worker: bad request: stream ended inside a frame\n");
    return 2;
  }
  return 0;
}

async function main() {
  const [pluginDir, sdkDir] = process.argv.slice(2);
  if (sdkDir === undefined) {
    process.stderr.write("usage: worker.mjs PLUGIN_DIR SDK_DIR\n");
    return 2;
  }
  const handler = await load(pluginDir, sdkDir);
  try {
    return await serve(handler);
  } catch (error) {
    process.stderr.write(`${error && error.stack ? error.stack : error}\n`);
    return 70;
  }
}

process.exitCode = await main();
