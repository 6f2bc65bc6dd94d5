// Thin helpers for plugbox plugins written in JavaScript (componentize-js).
//
// componentize-js binds the plugbox world itself: a plugin exports
// `handler` and may import `plugbox:plugin/log@0.1.0`, `.../config` and
// `.../kv`. This module wraps them so that a plugin is one function:
//
//     import { plugin } from "./plugbox.js";
//     export const handler = plugin((text) => text.toUpperCase(), { text: true });
//
// The function gets the request (a Uint8Array, or a string with
// `{ text: true }`) and returns the response (a Uint8Array or a string, or
// a promise of one).
// Throwing a `GuestError` answers the caller with its message (a guest
// error; the plugin stays usable); any other exception is a bug and traps
// (the host reports a trap and poisons the instance), as a Rust plugin's
// panic does.

import { log as hostLog } from "plugbox:plugin/log@0.1.0";
import { get as configGet } from "plugbox:plugin/config@0.1.0";
import * as hostKv from "plugbox:plugin/kv@0.1.0";

/** An error the plugin reports to its caller (`ErrorKind::Guest`). */
export class GuestError extends Error {}

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

const toBytes = (response) =>
  typeof response === "string" ? encoder.encode(response) : response;

// Throws what the plugin threw, for componentize-js to answer: the message
// of a `GuestError` as the `err` string (a guest error); anything else as an
// `Error`, which componentize-js turns into a trap. (It would turn a thrown
// string into an `err`: SpiderMonkey's own "out of memory" is one, and must
// not pass for the plugin's answer.)
function rethrow(error) {
  if (error instanceof GuestError) {
    throw error.message;
  }
  throw error instanceof Error ? error : new Error(String(error));
}

/**
 * The `handler` export, calling `fn` for each request. `fn` may return a
 * promise (be `async`).
 */
export function plugin(fn, { text = false } = {}) {
  return {
    handle(input) {
      let request = input;
      if (text) {
        try {
          request = decoder.decode(input);
        } catch (error) {
          // A thrown string is the `err` of `result<list<u8>, string>`.
          throw `input is not valid UTF-8: ${error.message}`;
        }
      }
      let response;
      try {
        response = fn(request);
      } catch (error) {
        rethrow(error);
      }
      if (response && typeof response.then === "function") {
        // An async handler: the runtime runs the event loop (timers,
        // promises) until the promise settles.
        return response.then(toBytes, rethrow);
      }
      return toBytes(response);
    },
  };
}

/** Logs `message` at `level` (`trace` ... `error`) into the host's logs. */
export function log(level, message) {
  hostLog(level, message);
}
export const trace = (message) => hostLog("trace", message);
export const debug = (message) => hostLog("debug", message);
export const info = (message) => hostLog("info", message);
export const warn = (message) => hostLog("warn", message);
export const error = (message) => hostLog("error", message);

/** The value of `key` in the policy's `[config]`, or `undefined`. */
export function config(key) {
  return configGet(key);
}

/**
 * The store refused an operation: `kind` is `denied`, `quota-exceeded`,
 * `invalid` or `unavailable`; `detail` the host's message, if any.
 */
export class KvError extends Error {
  constructor(kind, detail) {
    super(detail === undefined ? kind : `${kind}: ${detail}`);
    this.kind = kind;
    this.detail = detail;
  }
}

function kvCall(operation) {
  try {
    return operation();
  } catch (error) {
    // componentize-js throws an `err` result's payload as `error.payload`.
    const payload = error && error.payload;
    if (payload && typeof payload.tag === "string") {
      throw new KvError(payload.tag, payload.val);
    }
    throw error;
  }
}

/** The plugin's key-value store. Counters are `BigInt`s (WIT `s64`). */
export const kv = {
  /** The value under `key` (a Uint8Array), or `undefined`. */
  get: (key) => kvCall(() => hostKv.get(key)),
  /** Stores `value` (a Uint8Array) under `key`. */
  set: (key, value) => kvCall(() => hostKv.set(key, value)),
  /** Removes `key`; whether it existed. */
  delete: (key) => kvCall(() => hostKv.delete(key)),
  /** Adds `delta` to the integer under `key` (0 if absent); the new value. */
  increment: (key, delta) => kvCall(() => hostKv.increment(key, BigInt(delta))),
};
