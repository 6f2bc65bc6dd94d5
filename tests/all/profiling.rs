//! Guest profiles (`Instance::start_profiling`): wasmtime's guest profiler
//! sampling a call at every epoch tick, written for the Firefox Profiler.

use std::time::Duration;

use plugbox::{ErrorKind, Limits};

use crate::{engine, plugin};

/// Every string of a Firefox Profiler JSON document (function names live
/// in its string tables).
fn strings(value: &serde_json::Value, into: &mut Vec<String>) {
    match value {
        serde_json::Value::String(text) => into.push(text.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|item| strings(item, into)),
        serde_json::Value::Object(fields) => fields.values().for_each(|item| strings(item, into)),
        _ => {}
    }
}

/// The samples' count, over the profile's threads.
fn samples(profile: &serde_json::Value) -> u64 {
    profile["threads"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|thread| thread["samples"]["length"].as_u64().unwrap_or(0))
        .sum()
}

#[test]
fn a_profile_of_fib_names_the_fib_function() {
    let engine = engine();
    let mut fib = plugin(&engine, "fib").instantiate().unwrap();
    fib.start_profiling().unwrap();
    // fib(30): tens of milliseconds, tens of ticks.
    fib.call(b"30").unwrap();
    let mut json = Vec::new();
    fib.finish_profiling(&mut json).unwrap();
    let profile: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert!(samples(&profile) >= 3, "{} samples", samples(&profile));
    let mut names = Vec::new();
    strings(&profile, &mut names);
    assert!(
        names
            .iter()
            .any(|name| name.contains("plugbox_plugin_fib::fib")),
        "no fib function among {} strings: {:?}",
        names.len(),
        names.iter().take(40).collect::<Vec<_>>()
    );
    // Finished: a second finish is refused, a new profile may start.
    assert_eq!(
        fib.finish_profiling(Vec::new()).unwrap_err().kind(),
        ErrorKind::Config
    );
    fib.start_profiling().unwrap();
    assert_eq!(fib.start_profiling().unwrap_err().kind(), ErrorKind::Config);
}

#[test]
fn a_call_stopped_at_its_deadline_still_has_its_profile() {
    let engine = engine();
    let limits = Limits::default()
        .fuel(u64::MAX)
        .deadline(Duration::from_millis(30));
    let mut spin = plugin(&engine, "spin")
        .with_limits(limits)
        .instantiate()
        .unwrap();
    spin.start_profiling().unwrap();
    let error = spin.call(b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::DeadlineExceeded);
    let mut json = Vec::new();
    spin.finish_profiling(&mut json).unwrap();
    let profile: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert!(samples(&profile) >= 3, "{} samples", samples(&profile));
}

#[test]
fn a_wasi_plugin_is_profiled_too() {
    // A WASI plugin's call runs on a fiber under the watchdog: the sampler
    // runs there too. CPython spinning in `while True` until its deadline.
    let engine = engine();
    let limits = Limits::default()
        .fuel(u64::MAX)
        .deadline(Duration::from_millis(50));
    let Some(python) = crate::polyglot::plugin(&engine, "py-hostile") else {
        return;
    };
    let mut spin = python.with_limits(limits).instantiate().unwrap();
    spin.start_profiling().unwrap();
    let error = spin.call(b"spin").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::DeadlineExceeded, "{error}");
    let mut json = Vec::new();
    spin.finish_profiling(&mut json).unwrap();
    let profile: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert!(samples(&profile) >= 3, "{} samples", samples(&profile));
}
