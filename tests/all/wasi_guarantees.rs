//! The call guarantees hold for plugins that import WASI (here `wasi-probe`,
//! a `std` Rust plugin): the deadline and cancellation stop a guest waiting
//! in a WASI host call (a sleep), `call_async` and a sync `call` inside a
//! Tokio runtime work, and an abandoned async call poisons its instance.

use std::time::{Duration, Instant};

use plugbox::{Engine, ErrorKind, Instance, Limits, Plugin, Policy};

fn probe(engine: &Engine, deadline: Duration) -> Plugin {
    crate::plugin(engine, "wasi-probe").with_limits(Limits::default().deadline(deadline))
}

/// A probe whose stdout is captured.
fn capturing_probe(engine: &Engine, deadline: Duration) -> Plugin {
    let policy = Policy::from_toml_str("[stdio]\nstdout = \"capture\"\n", "test").unwrap();
    // The policy brings its own limits: set the deadline after it.
    crate::plugin(engine, "wasi-probe")
        .with_policy(&policy)
        .unwrap()
        .with_limits(Limits::default().deadline(deadline))
}

/// The next call of a poisoned instance says so, and the plugin's fresh
/// instance still answers.
fn assert_poisoned_then_fresh_answers(mut instance: Instance, plugin: &Plugin) {
    let error = instance.call(b"sleep 0").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Poisoned, "{error}");
    let mut fresh = plugin.instantiate().unwrap();
    assert_eq!(fresh.call(b"sleep 0").unwrap().output, b"slept");
}

#[test]
fn a_sleep_stops_at_the_deadline() {
    let engine = crate::engine();
    let plugin = probe(&engine, Duration::from_millis(50));
    let mut instance = plugin.instantiate().unwrap();
    let started = Instant::now();
    let error = instance.call(b"sleep 3000").unwrap_err();
    let took = started.elapsed();
    assert_eq!(error.kind(), ErrorKind::DeadlineExceeded, "{error}");
    assert!(error.to_string().contains("50ms"), "{error}");
    // The deadline plus a tick or two; generous for a busy machine, far
    // below the 3 s the guest asked for.
    assert!(took < Duration::from_millis(800), "took {took:?}");
    assert!(took >= Duration::from_millis(50), "took {took:?}");
    assert_eq!(instance.poisoned_by(), Some(ErrorKind::DeadlineExceeded));
    assert_poisoned_then_fresh_answers(instance, &plugin);
}

#[test]
fn a_sleep_within_the_deadline_answers() {
    let engine = crate::engine();
    let plugin = probe(&engine, Duration::from_secs(5));
    let mut instance = plugin.instantiate().unwrap();
    let response = instance.call(b"sleep 30").unwrap();
    assert_eq!(response.output, b"slept");
    assert!(response.elapsed >= Duration::from_millis(30));
    // The instance is fine and keeps answering.
    assert_eq!(instance.call(b"sleep 1").unwrap().output, b"slept");
}

#[test]
fn cancel_stops_a_sleep() {
    let engine = crate::engine();
    let plugin = probe(&engine, Duration::from_secs(60));
    let mut instance = plugin.instantiate().unwrap();
    let canceller = instance.canceller();
    let started = Instant::now();
    let call = std::thread::spawn(move || {
        let error = instance.call(b"sleep 60000").unwrap_err();
        (error, instance)
    });
    // A cancel that arrives before the call starts is forgotten when it
    // starts, so keep cancelling until the call has ended.
    while !call.is_finished() {
        canceller.cancel();
        std::thread::sleep(Duration::from_millis(5));
    }
    let (error, instance) = call.join().unwrap();
    assert_eq!(error.kind(), ErrorKind::Cancelled, "{error}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_poisoned_then_fresh_answers(instance, &plugin);
}

#[test]
fn call_async_on_a_multi_thread_runtime_prints_and_sleeps() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let engine = crate::engine();
    let plugin = capturing_probe(&engine, Duration::from_millis(50));
    runtime.block_on(async {
        let mut instance = plugin.instantiate().unwrap();
        let printed = instance.call_async(b"print hi").await.unwrap();
        assert_eq!(printed.output, b"ok");
        assert_eq!(instance.take_stdout().bytes, b"hi");
        let slept = instance.call_async(b"print-sleep 1").await.unwrap();
        assert_eq!(slept.output, b"slept");
        assert_eq!(instance.take_stdout().bytes, b"about to sleep\n");
        let started = Instant::now();
        let error = instance.call_async(b"sleep 3000").await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::DeadlineExceeded, "{error}");
        let took = started.elapsed();
        assert!(took < Duration::from_millis(800), "took {took:?}: {error}");
    });
}

#[test]
fn a_sync_call_inside_a_tokio_task_works() {
    for runtime in [
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
    ] {
        let engine = crate::engine();
        let plugin = capturing_probe(&engine, Duration::from_millis(50));
        runtime.block_on(async {
            let mut instance = plugin.instantiate().unwrap();
            assert_eq!(instance.call(b"print-sleep 1").unwrap().output, b"slept");
            assert_eq!(instance.take_stdout().bytes, b"about to sleep\n");
            let error = instance.call(b"sleep 3000").unwrap_err();
            assert_eq!(error.kind(), ErrorKind::DeadlineExceeded, "{error}");
        });
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_sleeping_plugin_yields_its_thread() {
    let engine = crate::engine();
    let plugin = probe(&engine, Duration::from_secs(5));
    let mut sleeper = plugin.instantiate().unwrap();
    let mut greeter = crate::plugin(&engine, "hello").instantiate().unwrap();
    // One thread: the greeter can only answer while the sleeper waits.
    let (slept, greeted) = tokio::join!(
        async {
            let slept = sleeper.call_async(b"sleep 300").await;
            (slept, Instant::now())
        },
        async {
            let greeted = greeter.call_async(b"meanwhile").await;
            (greeted, Instant::now())
        }
    );
    assert_eq!(slept.0.unwrap().output, b"slept");
    assert_eq!(greeted.0.unwrap().output, b"MEANWHILE");
    assert!(greeted.1 < slept.1, "the greeter waited for the sleeper");
}

#[tokio::test(flavor = "current_thread")]
async fn an_abandoned_wasi_call_poisons_its_instance() {
    let engine = crate::engine();
    let plugin = probe(&engine, Duration::from_secs(60));
    let mut instance = plugin.instantiate().unwrap();
    let abandoned = tokio::time::timeout(
        Duration::from_millis(20),
        instance.call_async(b"sleep 60000"),
    )
    .await;
    assert!(abandoned.is_err(), "the sleep finished");
    assert_eq!(instance.poisoned_by(), Some(ErrorKind::Cancelled));
    let error = instance.call_async(b"sleep 0").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Poisoned, "{error}");
    assert!(error.to_string().contains("abandoned"), "{error}");
}

#[tokio::test(flavor = "current_thread")]
async fn an_abandoned_lean_call_poisons_its_instance() {
    let engine = crate::engine();
    let spin = crate::plugin(&engine, "spin").with_limits(
        Limits::default()
            .fuel(u64::MAX)
            .deadline(Duration::from_secs(60)),
    );
    let mut instance = spin.instantiate().unwrap();
    let abandoned = tokio::time::timeout(Duration::from_millis(20), instance.call_async(b"")).await;
    assert!(abandoned.is_err(), "the spinner finished");
    let error = instance.call(b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Poisoned, "{error}");
    assert!(error.to_string().contains("abandoned"), "{error}");
}
