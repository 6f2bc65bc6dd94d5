// Thin helpers for plugbox plugins written in JavaScript on QuickJS
// (componentize-qjs).
//
// componentize-qjs binds the plugbox world itself: a plugin exports
// `handler` (an object with `handle`) and may import the host's
// `plugbox:plugin/log@0.1.0`, `.../config` and `.../kv` as modules. This
// module wraps them so that a plugin is one function:
//
//     import { plugin } from "./plugbox.js";
//     export const handler = plugin((text) => text.toUpperCase(), { text: true });
//
// The function gets the request (a Uint8Array, or a string with
// `{ text: true }`) and returns the response (a Uint8Array or a string)
// synchronously: the plugbox world's `handle` is a synchronous function,
// and componentize-qjs traps when it returns a promise.
// Throwing a `GuestError` answers the caller with its message (a guest
// error; the plugin stays usable); any other exception is a bug and traps
// (the host reports a trap and poisons the instance), as a Rust plugin's
// panic does.
//
// QuickJS has no TextEncoder/TextDecoder (and no timers): this module
// carries the strict UTF-8 codec `{ text: true }` needs.

import hostLog from "plugbox:plugin/log@0.1.0";

/** An error the plugin reports to its caller (`ErrorKind::Guest`). */
export class GuestError extends Error {}

/**
 * The string `bytes` (a Uint8Array) encode in UTF-8; throws a `GuestError`
 * on malformed input (overlong forms, surrogates, past U+10FFFF, truncated).
 */
export function decodeUtf8(bytes) {
  let text = "";
  let i = 0;
  while (i < bytes.length) {
    const first = bytes[i];
    let length;
    let point;
    let min;
    if (first < 0x80) {
      length = 1;
      point = first;
      min = 0;
    } else if ((first & 0xe0) === 0xc0) {
      length = 2;
      point = first & 0x1f;
      min = 0x80;
    } else if ((first & 0xf0) === 0xe0) {
      length = 3;
      point = first & 0x0f;
      min = 0x800;
    } else if ((first & 0xf8) === 0xf0) {
      length = 4;
      point = first & 0x07;
      min = 0x10000;
    } else {
      throw new GuestError(`input is not valid UTF-8: byte 0x${first.toString(16)} at ${i}`);
    }
    if (i + length > bytes.length) {
      throw new GuestError(`input is not valid UTF-8: truncated sequence at ${i}`);
    }
    for (let k = 1; k < length; k++) {
      const next = bytes[i + k];
      if ((next & 0xc0) !== 0x80) {
        throw new GuestError(`input is not valid UTF-8: byte 0x${next.toString(16)} at ${i + k}`);
      }
      point = (point << 6) | (next & 0x3f);
    }
    if (point < min || point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff)) {
      throw new GuestError(`input is not valid UTF-8: invalid sequence at ${i}`);
    }
    text += String.fromCodePoint(point);
    i += length;
  }
  return text;
}

/** `text` in UTF-8, as a Uint8Array (lone surrogates become U+FFFD). */
export function encodeUtf8(text) {
  const bytes = [];
  for (const character of text) {
    let point = character.codePointAt(0);
    if (point >= 0xd800 && point <= 0xdfff) {
      point = 0xfffd;
    }
    if (point < 0x80) {
      bytes.push(point);
    } else if (point < 0x800) {
      bytes.push(0xc0 | (point >> 6), 0x80 | (point & 0x3f));
    } else if (point < 0x10000) {
      bytes.push(0xe0 | (point >> 12), 0x80 | ((point >> 6) & 0x3f), 0x80 | (point & 0x3f));
    } else {
      bytes.push(
        0xf0 | (point >> 18),
        0x80 | ((point >> 12) & 0x3f),
        0x80 | ((point >> 6) & 0x3f),
        0x80 | (point & 0x3f),
      );
    }
  }
  return new Uint8Array(bytes);
}

const toBytes = (response) => (typeof response === "string" ? encodeUtf8(response) : response);

// componentize-qjs answers a thrown string or `Error` as the `err` of
// `result<list<u8>, string>` (a guest error), and traps on anything else.
// QuickJS reports its own failures ("out of memory" at the memory limit,
// "stack overflow") as `Error`s, which must not pass for the plugin's
// answer: only a `GuestError` is one. Anything else is logged (so that the
// host's log says what the bug was) and thrown as a non-`Error` value,
// which traps.
function rethrow(error) {
  if (error instanceof GuestError) {
    throw error.message;
  }
  hostLog.log("error", `plugin bug: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
  throw { trap: true };
}

/**
 * The `handler` export, calling `fn` for each request. `fn` must answer
 * synchronously: the plugbox world's `handle` is a synchronous function,
 * and componentize-qjs traps when it returns a promise.
 */
export function plugin(fn, { text = false } = {}) {
  return {
    handle(input) {
      try {
        return toBytes(fn(text ? decodeUtf8(input) : input));
      } catch (error) {
        rethrow(error);
      }
    },
  };
}

/** Logs `message` at `level` (`trace` ... `error`) into the host's logs. */
export function log(level, message) {
  hostLog.log(level, message);
}
