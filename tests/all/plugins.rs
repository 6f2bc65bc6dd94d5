//! One test per plugin in `plugins/` (enforced by `foreach_plugin!`): the
//! example plugins answer correctly; the hostile ones get the right typed
//! error, and the engine keeps serving afterwards.

use std::time::{Duration, Instant};

use plugbox::{ErrorKind, Limits};

use crate::{assert_engine_still_serves, engine, plugin};

/// The custom-world plugin's test lives with the custom-world tests.
pub use crate::custom_world::scorer;

/// The plugins in other languages are tested with their toolchains'
/// specifics (`polyglot*.rs`).
pub use crate::polyglot::{c_hello, go_hello, js_hello, py_hello, qjs_hello};
pub use crate::polyglot_hostile::{c_hostile, go_hostile, js_hostile, py_hostile, qjs_hostile};
pub use crate::polyglot_twins::{go_host_probe, js_http_filter, py_discount};

/// The hostile plugin's attacks have their own suite (`hostile.rs`).
#[test]
pub fn hostile() {
    crate::hostile::hostile_plugin_answers_ok();
}

#[test]
pub fn hello() {
    let engine = engine();
    let hello = plugin(&engine, "hello");
    assert!(
        !hello.imports_wasi(),
        "the lean plugin imports nothing: {}",
        hello.info()
    );
    assert!(hello.info().imports.is_empty());
    let mut instance = hello.instantiate().unwrap();
    let response = instance.call(b"hello, plugbox").unwrap();
    assert_eq!(response.output, b"HELLO, PLUGBOX");
    assert!(response.fuel_used.is_some_and(|used| used > 0));
    // Unicode-aware, and the instance serves call after call.
    assert_eq!(
        instance.call("straße".as_bytes()).unwrap().output,
        "STRASSE".as_bytes()
    );
    assert_eq!(instance.call(b"").unwrap().output, b"");
    // Invalid UTF-8 is the plugin's own (guest) error; the instance stays usable.
    let error = instance.call(&[0xff, 0xfe]).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Guest);
    assert!(error.message().contains("UTF-8"), "{error}");
    assert!(!instance.is_poisoned());
    assert_eq!(instance.call(b"ok").unwrap().output, b"OK");
}

#[test]
pub fn fib() {
    let engine = engine();
    let mut instance = plugin(&engine, "fib").instantiate().unwrap();
    assert_eq!(instance.call(b"0").unwrap().output, b"0");
    assert_eq!(instance.call(b"1").unwrap().output, b"1");
    let response = instance.call(b"20").unwrap();
    assert_eq!(response.output, b"6765");
    // Naive recursion: fib(20) makes 21,891 calls, so well over that much fuel.
    let used = response.fuel_used.unwrap();
    assert!(used > 21_891, "fuel used: {used}");
    let error = instance.call(b"twenty").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Guest);
    assert_eq!(error.message(), "expected a number, got \"twenty\"");
    assert_eq!(instance.call(b"10").unwrap().output, b"55");
}

#[test]
pub fn spin() {
    let engine = engine();
    let spin = plugin(&engine, "spin");

    // Deadline: 50 ms, with fuel out of the way.
    let limits = Limits::default()
        .fuel(u64::MAX)
        .deadline(Duration::from_millis(50));
    let mut instance = spin.with_limits(limits).instantiate().unwrap();
    let start = Instant::now();
    let error = instance.call(b"").unwrap_err();
    let waited = start.elapsed();
    assert_eq!(error.kind(), ErrorKind::DeadlineExceeded, "{error:?}");
    assert!(
        waited >= Duration::from_millis(50),
        "stopped early: {waited:?}"
    );
    // Well under a second: a tick (1 ms) late, plus whatever a loaded
    // machine adds to the ticker thread's wake-ups.
    assert!(
        waited < Duration::from_millis(500),
        "stopped late: {waited:?}"
    );
    assert!(error.is_trap());
    // Poisoned afterwards, with the cause.
    assert!(instance.is_poisoned());
    assert_eq!(instance.poisoned_by(), Some(ErrorKind::DeadlineExceeded));
    assert_eq!(instance.call(b"").unwrap_err().kind(), ErrorKind::Poisoned);
    assert_engine_still_serves(&engine);

    // Fuel: 1e6 units, with the deadline out of the way.
    let limits = Limits::default()
        .fuel(1_000_000)
        .deadline(Duration::from_secs(60));
    let mut instance = spin.with_limits(limits).instantiate().unwrap();
    let error = instance.call(b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::FuelExhausted, "{error:?}");
    assert!(error.message().contains("1000000"), "{error}");
    assert_engine_still_serves(&engine);
}

#[test]
pub fn grow() {
    let engine = engine();
    let limits = Limits::default().max_memory_bytes(16 << 20);
    let mut instance = plugin(&engine, "grow")
        .with_limits(limits)
        .instantiate()
        .unwrap();
    let error = instance.call(b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::MemoryLimit, "{error:?}");
    assert!(
        error.message().contains(&format!("limit {}", 16 << 20)),
        "{error}"
    );
    assert!(instance.is_poisoned());
    assert_engine_still_serves(&engine);
}

#[test]
pub fn recurse() {
    let engine = engine();
    let mut instance = plugin(&engine, "recurse").instantiate().unwrap();
    let error = instance.call(b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::StackOverflow, "{error:?}");
    assert!(instance.is_poisoned());
    assert_engine_still_serves(&engine);
}

#[test]
pub fn wasi_probe() {
    let engine = engine();
    let probe = plugin(&engine, "wasi-probe");
    assert!(probe.imports_wasi(), "a std plugin imports WASI");
    assert!(
        probe
            .info()
            .imports
            .iter()
            .all(|import| import.name.starts_with("wasi:")),
        "{:?}",
        probe.info().imports
    );
    // With no policy, nothing of the host shows (the capability tests cover
    // each grant and denial in detail).
    let mut instance = probe.instantiate().unwrap();
    let mut ask = |command: &str| {
        String::from_utf8(instance.call(command.as_bytes()).unwrap().output).unwrap()
    };
    assert_eq!(ask("env"), "");
    assert_eq!(ask("args"), "");
    assert_eq!(ask("read /etc/hostname"), "error: NotFound");
    assert_eq!(ask("print hello"), "ok");
    let error = instance.call(b"frobnicate").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Guest);
}

#[test]
pub fn hello_std() {
    let engine = engine();
    let lean = plugin(&engine, "hello");
    let with_std = plugin(&engine, "hello-std");
    // Same answers; only the std build imports WASI.
    assert!(with_std.imports_wasi());
    assert!(!lean.imports_wasi());
    let mut a = lean.instantiate().unwrap();
    let mut b = with_std.instantiate().unwrap();
    for input in ["hello, plugbox", "straße", ""] {
        assert_eq!(
            a.call(input.as_bytes()).unwrap().output,
            b.call(input.as_bytes()).unwrap().output
        );
    }
}

#[test]
pub fn panic() {
    let engine = engine();
    let mut instance = plugin(&engine, "panic").instantiate().unwrap();
    let error = instance.call(b"abc").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Trap, "{error:?}");
    assert!(error.message().contains("unreachable"), "{error}");
    // The backtrace names the guest functions, innermost first.
    let backtrace = error
        .wasm_backtrace()
        .expect("traps carry a wasm backtrace");
    assert!(backtrace.contains("plugbox_plugin_panic"), "{backtrace}");
    assert!(backtrace.contains("nth_byte"), "{backtrace}");
    assert!(instance.is_poisoned());
    assert_eq!(instance.poisoned_by(), Some(ErrorKind::Trap));
    assert_engine_still_serves(&engine);
}

#[test]
pub fn total() {
    let engine = engine();
    let mut instance = plugin(&engine, "total").instantiate().unwrap();
    let cart = br#"{"lines":[{"price_cents":250,"quantity":2},{"price_cents":99,"quantity":3}]}"#;
    let response = instance.call(cart).unwrap();
    assert_eq!(
        String::from_utf8(response.output).unwrap(),
        r#"{"total_cents":797,"items":5}"#
    );
    // The plugin's own error, and serde's, reach the host as guest errors.
    let empty = instance.call(br#"{"lines":[]}"#).unwrap_err();
    assert_eq!(empty.kind(), ErrorKind::Guest);
    assert_eq!(empty.message(), "empty cart");
    let malformed = instance
        .call(br#"{"lines":[{"price_cents":"ten"}]}"#)
        .unwrap_err();
    assert_eq!(malformed.kind(), ErrorKind::Guest);
    assert!(malformed.message().contains("invalid type"), "{malformed}");
    // A 1,000-line cart is still a small, fast call.
    let big = format!(
        r#"{{"lines":[{}]}}"#,
        vec![r#"{"price_cents":1,"quantity":1}"#; 1000].join(",")
    );
    let response = instance.call(big.as_bytes()).unwrap();
    assert_eq!(response.output, br#"{"total_cents":1000,"items":1000}"#);
}

#[test]
pub fn host_probe() {
    // Covered in depth by `host_functions`; here: it loads and answers.
    let engine = engine();
    let mut instance = plugin(&engine, "host-probe").instantiate().unwrap();
    assert_eq!(
        instance.call(b"config anything").unwrap().output,
        b"(unset)"
    );
    assert_eq!(
        instance.call(b"nonsense").unwrap_err().kind(),
        ErrorKind::Guest
    );
}

/// The discount plugin under its own shipped policy (Shopify's limits).
fn discount_plugin(engine: &plugbox::Engine) -> plugbox::Plugin {
    let policy = plugbox::Policy::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../plugins/discount/policy.toml"
    ))
    .unwrap();
    plugin(engine, "discount").with_policy(&policy).unwrap()
}

fn cart(lines: usize, quantity: u32, tags: &str) -> String {
    let lines: Vec<String> = (0..lines)
        .map(|i| {
            format!(
                r#"{{"id":"gid://shop/CartLine/{i}","quantity":{quantity},"price_cents":1999}}"#
            )
        })
        .collect();
    format!(
        r#"{{"lines":[{}],"customer":{{"tags":[{tags}]}}}}"#,
        lines.join(",")
    )
}

#[test]
pub fn discount() {
    let engine = engine();
    let discount = discount_plugin(&engine);
    assert!(!discount.imports_wasi(), "a pure function imports no WASI");
    let mut instance = discount.instantiate().unwrap();
    let answer = |instance: &mut plugbox::Instance, input: &str| {
        String::from_utf8(instance.call(input.as_bytes()).unwrap().output).unwrap()
    };
    // VIP: 15% (the policy's vip_percent) off every line, free shipping.
    assert_eq!(
        answer(&mut instance, &cart(2, 3, r#""vip""#)),
        concat!(
            r#"{"discounts":[{"target":"gid://shop/CartLine/0","percentage":15,"amount_cents":899,"message":"VIP discount"},"#,
            r#"{"target":"gid://shop/CartLine/1","percentage":15,"amount_cents":899,"message":"VIP discount"},"#,
            r#"{"target":"shipping","percentage":100,"amount_cents":0,"message":"free shipping"}],"total_off_cents":1798}"#
        )
    );
    // Bulk: 5% off the line of 10; the subtotal earns free shipping.
    assert_eq!(
        answer(&mut instance, &cart(1, 10, "")),
        concat!(
            r#"{"discounts":[{"target":"gid://shop/CartLine/0","percentage":5,"amount_cents":999,"message":"bulk discount"},"#,
            r#"{"target":"shipping","percentage":100,"amount_cents":0,"message":"free shipping"}],"total_off_cents":999}"#
        )
    );
    // Nothing applies.
    assert_eq!(
        answer(&mut instance, &cart(1, 1, "")),
        r#"{"discounts":[],"total_off_cents":0}"#
    );
    // The plugin's own error.
    let error = instance.call(br#"{"lines":[]}"#).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Guest);
    assert_eq!(error.message(), "cart has no lines");
    // Deterministic: the same cart, the same answer, on any instance.
    let mut other = discount.instantiate().unwrap();
    assert_eq!(
        answer(&mut instance, &cart(3, 12, "")),
        answer(&mut other, &cart(3, 12, ""))
    );
}

#[test]
fn discount_fits_shopify_limits_with_200_lines() {
    let engine = engine();
    let discount = discount_plugin(&engine);
    let limits = *discount.limits();
    assert_eq!(limits.fuel_per_call(), 11_000_000);
    assert_eq!(limits.memory_bytes(), 10 << 20);
    assert_eq!(limits.input_bytes(), 128_000);
    assert_eq!(limits.output_bytes(), 20_000);
    let big = cart(200, 2, r#""vip""#);
    assert!(big.len() < 128_000);
    let mut instance = discount.instantiate().unwrap();
    let response = instance.call(big.as_bytes()).unwrap();
    let used = response.fuel_used.unwrap();
    assert!(used < 11_000_000, "fuel: {used}");
    assert!(
        response.output.len() < 20_000,
        "output: {} bytes",
        response.output.len()
    );
    // 2,000 lines would not fit Shopify's 128 kB input limit.
    let error = instance.call(cart(2000, 2, "").as_bytes()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InputTooLarge);
}

fn filter_plugin(engine: &plugbox::Engine) -> plugbox::Plugin {
    let policy = plugbox::Policy::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../plugins/http-filter/policy.toml"
    ))
    .unwrap();
    plugin(engine, "http-filter").with_policy(&policy).unwrap()
}

fn request(headers: &str, now_ms: u64) -> String {
    format!(r#"{{"method":"GET","path":"/orders","headers":[{headers}],"now_ms":{now_ms}}}"#)
}

#[test]
pub fn http_filter() {
    let engine = engine();
    let filter = filter_plugin(&engine);
    let mut instance = filter.instantiate().unwrap();
    let mut answer =
        |input: String| String::from_utf8(instance.call(input.as_bytes()).unwrap().output).unwrap();
    // No API key: 401.
    assert_eq!(
        answer(request(r#"["accept","*/*"]"#, 0)),
        r#"{"action":"respond","status":401,"headers":[["www-authenticate","ApiKey header=x-api-key"]],"body":"missing x-api-key header"}"#
    );
    // With a key: continue, smuggled internal headers removed.
    let key = r#"["X-Api-Key","alice"],["x-internal-user","admin"]"#;
    assert_eq!(
        answer(request(key, 1_000)),
        r#"{"action":"continue","add_headers":[["x-plugbox-filter","passed"],["x-ratelimit-remaining","4"]],"remove_headers":["x-internal-user"]}"#
    );
    // Four more pass, the sixth in the window gets 429 with retry-after.
    for _ in 0..4 {
        assert!(answer(request(key, 2_000)).contains(r#""action":"continue""#));
    }
    assert_eq!(
        answer(request(key, 30_000)),
        r#"{"action":"respond","status":429,"headers":[["retry-after","30"]],"body":"too many requests"}"#
    );
    // Another key has its own budget; a new window resets alice's.
    assert!(answer(request(r#"["x-api-key","bob"]"#, 30_000)).contains("continue"));
    assert!(answer(request(key, 61_000)).contains(r#""x-ratelimit-remaining","4""#));
    // Counters live in the store, not the instance: a fresh instance (same
    // plugin, same namespace) sees them.
    let mut fresh = filter.instantiate().unwrap();
    let output = fresh.call(request(key, 62_000).as_bytes()).unwrap().output;
    assert!(
        String::from_utf8(output)
            .unwrap()
            .contains(r#""x-ratelimit-remaining","3""#)
    );
}

/// The shared fixtures (`plugins/fixtures/`), which the Python and
/// JavaScript twins must answer byte for byte too (`polyglot_twins`).
#[test]
fn discount_and_http_filter_answer_the_shared_fixtures() {
    let engine = engine();
    assert!(crate::polyglot_fixtures::check(&discount_plugin(&engine), "discount") > 20);
    assert!(crate::polyglot_fixtures::check(&filter_plugin(&engine), "http-filter") > 30);
    let config_only = plugbox::Policy::from_toml_str(
        "name = \"http-filter-no-kv\"\n[config]\nrequired_header = \"x-api-key\"\n",
        "test",
    )
    .unwrap();
    let denied = plugin(&engine, "http-filter")
        .with_policy(&config_only)
        .unwrap();
    crate::polyglot_fixtures::check(&denied, "http-filter-no-kv");
}
