//! Component-model async (`EngineBuilder::component_model_async`): a
//! default engine refuses an async component naming the setting; an engine
//! with it hosts one (`qjs-hello`: componentize-qjs's default runtime uses
//! the async built-ins) under its limits, sync and async calls alike, and still hosts
//! synchronous plugins, lean and WASI, under theirs.

use std::time::Duration;

use plugbox::{Allocator, Engine, ErrorKind, Limits, Plugin};

use crate::plugin;

fn async_engine() -> Engine {
    Engine::builder()
        .allocator(Allocator::Pooling { capacity: 8 })
        .component_model_async(true)
        .build()
        .expect("an async engine builds")
}

#[test]
fn a_default_engine_refuses_an_async_component_naming_the_setting() {
    let engine = crate::polyglot::engine();
    let Some(path) = crate::polyglot::built("qjs-hello") else {
        return;
    };
    assert!(!engine.component_model_async());
    let error = Plugin::from_file(&engine, path).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidComponent, "{error:?}");
    let message = error.message();
    assert!(
        message.contains("EngineBuilder::component_model_async(true)"),
        "{message}"
    );
    assert!(
        message.contains("requires the component model async feature"),
        "wasmtime's reason is quoted: {message}"
    );
    assert!(std::error::Error::source(&error).is_some(), "{error:?}");
}

#[test]
fn an_async_component_answers_sync_and_async_calls_under_its_limits() {
    let engine = crate::polyglot::async_engine();
    assert!(engine.component_model_async());
    let Some(hello) = crate::polyglot::plugin(&engine, "qjs-hello") else {
        return;
    };
    let mut instance = hello.instantiate().unwrap();
    let response = instance.call(b"sync call").unwrap();
    assert_eq!(response.output, b"SYNC CALL");
    assert!(response.fuel_used.is_some_and(|used| used > 0));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let response = runtime
        .block_on(instance.call_async(b"async call"))
        .unwrap();
    assert_eq!(response.output, b"ASYNC CALL");
    // The call's fuel reaches it: too little is fuel exhaustion, a trap.
    let starved = hello.with_limits(Limits::default().fuel(1_000));
    let error = starved.instantiate().unwrap().call(b"x").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::FuelExhausted, "{error:?}");
    // Many instances, each its own: a pool of 16 holds 16 at once.
    drop(instance);
    let mut live: Vec<_> = (0..16).map(|_| hello.instantiate().unwrap()).collect();
    for (n, tenant) in live.iter_mut().enumerate() {
        let input = format!("tenant {n}");
        assert_eq!(
            tenant.call(input.as_bytes()).unwrap().output,
            input.to_uppercase().as_bytes()
        );
    }
}

#[test]
fn an_async_engine_still_hosts_sync_plugins_under_their_limits() {
    let engine = async_engine();
    let mut hello = plugin(&engine, "hello").instantiate().unwrap();
    assert_eq!(hello.call(b"lean").unwrap().output, b"LEAN");
    let mut std_hello = plugin(&engine, "hello-std").instantiate().unwrap();
    assert_eq!(std_hello.call(b"std").unwrap().output, b"STD");

    let deadline = Duration::from_millis(50);
    let spin =
        plugin(&engine, "spin").with_limits(Limits::default().fuel(u64::MAX).deadline(deadline));
    let error = spin.instantiate().unwrap().call(b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::DeadlineExceeded, "{error:?}");
    let spin = plugin(&engine, "spin").with_limits(Limits::default().fuel(1_000_000));
    let error = spin.instantiate().unwrap().call(b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::FuelExhausted, "{error:?}");
    let grow = plugin(&engine, "grow").with_limits(Limits::default().max_memory_bytes(16 << 20));
    let error = grow.instantiate().unwrap().call(b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::MemoryLimit, "{error:?}");
    crate::assert_engine_still_serves(&engine);
}
