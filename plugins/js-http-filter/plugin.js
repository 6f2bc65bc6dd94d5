// `js-http-filter`: the `http-filter` plugin (plugins/http-filter) in
// JavaScript, answering byte for byte what the Rust plugin answers
// (plugins/fixtures/http-filter.txt holds the shared cases).
//
// The host passes each request (method, path, headers, and the time it
// arrived); the filter answers `continue` (with headers to add or remove) or
// an immediate response:
//
// - a request without the required header (`[config] required_header`,
//   default `x-api-key`) gets `401`;
// - each API key may make `limit` requests per `window_seconds` (defaults
//   5 and 60), counted in the plugin's key-value store; past that, `429`
//   with a `retry-after` header;
// - passing requests get `x-plugbox-filter: passed` and
//   `x-ratelimit-remaining`, and lose any `x-internal-*` header a client
//   tried to smuggle in.
//
// The Rust plugin computes in u64: so does this one, with BigInt. JSON
// numbers reach JavaScript as doubles, so `now_ms` must be a safe integer
// (below 2^53 ms, the year 287396).

import { GuestError, config, info, kv, plugin, warn } from "./plugbox.js";

const U64_MAX = (1n << 64n) - 1n;

// Rust's `str::trim` removes Unicode White_Space (JavaScript's `trim` also
// removes U+FEFF).
const RUST_TRIM = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

/** Rust's `text.parse::<u64>()`: optional `+`, ASCII digits, in range. */
function parseU64(text) {
  if (!/^\+?[0-9]+$/.test(text)) {
    return undefined;
  }
  const value = BigInt(text.replace(/^\+/, ""));
  return value <= U64_MAX ? value : undefined;
}

/** A positive whole-number setting from `[config]`, or its default. */
function setting(key, fallback) {
  const value = config(key);
  if (value === undefined) {
    return fallback;
  }
  const parsed = parseU64(value.replace(RUST_TRIM, ""));
  return parsed === undefined || parsed === 0n ? fallback : parsed;
}

const min = (a, b) => (a < b ? a : b);

/** ASCII-only lower case, as Rust's `to_ascii_lowercase`. */
const asciiLower = (text) => text.replace(/[A-Z]/g, (c) => c.toLowerCase());

function string(value, what) {
  if (typeof value !== "string" || !value.isWellFormed()) {
    throw new GuestError(`invalid ${what}: expected a string`);
  }
  return value;
}

function parseRequest(input) {
  let request;
  try {
    request = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(input));
  } catch (error) {
    throw new GuestError(`invalid request: ${error.message}`);
  }
  if (request === null || typeof request !== "object" || Array.isArray(request)) {
    throw new GuestError("invalid request: expected an object");
  }
  const headers = request.headers === undefined ? [] : request.headers;
  if (!Array.isArray(headers)) {
    throw new GuestError("invalid headers: expected a list");
  }
  for (const header of headers) {
    if (!Array.isArray(header) || header.length !== 2) {
      throw new GuestError("invalid header: expected [name, value]");
    }
    string(header[0], "header name");
    string(header[1], "header value");
  }
  if (!Number.isSafeInteger(request.now_ms) || request.now_ms < 0) {
    throw new GuestError("invalid now_ms: expected a whole number of milliseconds");
  }
  return {
    method: string(request.method, "method"),
    path: string(request.path, "path"),
    headers,
    nowMs: BigInt(request.now_ms),
  };
}

function filter(input) {
  const request = parseRequest(input);
  let required = config("required_header");
  if (required === undefined) {
    required = "x-api-key";
  }
  const wanted = asciiLower(required);
  const found = request.headers.find(([name]) => asciiLower(name) === wanted);
  const apiKey = found === undefined ? "" : found[1];
  if (apiKey === "") {
    info(`${request.method} ${request.path}: no ${required}`);
    return JSON.stringify({
      action: "respond",
      status: 401,
      headers: [["www-authenticate", `ApiKey header=${required}`]],
      body: `missing ${required} header`,
    });
  }

  const limit = setting("limit", 5n);
  const windowMs = min(setting("window_seconds", 60n) * 1000n, U64_MAX);
  const window = request.nowMs / windowMs;
  let count;
  try {
    count = kv.increment(`rl:${apiKey}:${window}`, 1n);
  } catch (error) {
    throw new GuestError(`rate-limit counter unavailable: ${debugKvError(error)}`);
  }
  if (count === 1n && window > 0n) {
    // First request of a new window: the previous window's counter is done
    // with. (Best effort: a failure only costs quota.)
    try {
      kv.delete(`rl:${apiKey}:${window - 1n}`);
    } catch {
      // Ignored, as the Rust plugin ignores it.
    }
  }
  // Rust compares the i64 count with `limit as i64`.
  const limitI64 = BigInt.asIntN(64, limit);
  if (count > limitI64) {
    const retryAfter = (window + 1n) * windowMs - request.nowMs;
    warn(`rate limit hit by key ${apiKey}`);
    return JSON.stringify({
      action: "respond",
      status: 429,
      headers: [["retry-after", ((retryAfter + 999n) / 1000n).toString()]],
      body: "too many requests",
    });
  }

  const removeHeaders = request.headers
    .filter(([name]) => asciiLower(name).startsWith("x-internal-"))
    .map(([name]) => name);
  return JSON.stringify({
    action: "continue",
    add_headers: [
      ["x-plugbox-filter", "passed"],
      ["x-ratelimit-remaining", BigInt.asIntN(64, limitI64 - count).toString()],
    ],
    remove_headers: removeHeaders,
  });
}

/**
 * The Rust plugin's `{error:?}` of a `kv::Error` (the host's messages are
 * ASCII, which Rust's `Debug` and `JSON.stringify` quote alike).
 */
function debugKvError(error) {
  switch (error.kind) {
    case "denied":
      return "Error::Denied";
    case "quota-exceeded":
      return "Error::QuotaExceeded";
    case "invalid":
      return `Error::Invalid(${JSON.stringify(error.detail)})`;
    case "unavailable":
      return `Error::Unavailable(${JSON.stringify(error.detail)})`;
    default:
      throw error;
  }
}

export const handler = plugin(filter);
