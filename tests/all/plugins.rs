//! One test per plugin in `plugins/` (enforced by `foreach_plugin!`): the
//! example plugins answer correctly; the hostile ones get the right typed
//! error, and the engine keeps serving afterwards.

use std::time::{Duration, Instant};

use plugbox::{ErrorKind, Limits};

use crate::{assert_engine_still_serves, engine, plugin};

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
    assert!(response.fuel_used > 0);
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
    assert!(
        response.fuel_used > 21_891,
        "fuel used: {}",
        response.fuel_used
    );
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
    assert!(waited < Duration::from_secs(1), "stopped late: {waited:?}");
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
