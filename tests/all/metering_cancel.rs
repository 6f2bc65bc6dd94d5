//! Cancellation under each metering mode. With epochs (the modes that meter
//! the deadline) a cancel stops any call at the next tick. Without them
//! (`Metering::FuelOnly`) a call on a fiber — every call of a WASI plugin,
//! and `call_async` — yields every `Metering::FUEL_YIELD_INTERVAL` units of
//! fuel and is stopped there, or at once while it waits in a WASI host
//! call; a synchronous call of a lean plugin runs on the caller's stack,
//! where nothing interrupts it: only its fuel ends it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use plugbox::{Canceller, ErrorKind, Limits, Metering, Plugin};

use crate::metering::{DEADLINE_MODES, engine, polyglot_engine, roomy};

/// Fuel for seconds of spinning: a call a cancel should have stopped ends
/// with `FuelExhausted` instead of never.
const LONG_SPIN: u64 = 10_000_000_000;

/// Calls `input` on a fresh instance of `plugin` on another thread,
/// cancelling until the call ends; its error kind, whether the instance is
/// poisoned, and how long it took.
fn cancelled(plugin: &Plugin, input: &'static [u8]) -> (ErrorKind, bool, Duration) {
    let mut instance = plugin.instantiate().unwrap();
    let canceller = instance.canceller();
    let started = Instant::now();
    let call = std::thread::spawn(move || {
        let error = instance.call(input).unwrap_err();
        (error.kind(), instance.is_poisoned())
    });
    cancel_until_finished(&canceller, || call.is_finished());
    let (kind, poisoned) = call.join().unwrap();
    (kind, poisoned, started.elapsed())
}

/// A cancel that arrives before a call starts is forgotten when it starts:
/// keep cancelling until the call has ended.
fn cancel_until_finished(canceller: &Canceller, finished: impl Fn() -> bool) {
    while !finished() {
        canceller.cancel();
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn cancel_stops_a_spin_under_every_mode_with_epochs() {
    for metering in DEADLINE_MODES {
        let engine = engine(metering);
        let spin = crate::plugin(&engine, "spin").with_limits(roomy(metering));
        let (kind, poisoned, took) = cancelled(&spin, b"");
        assert_eq!(
            (kind, poisoned),
            (ErrorKind::Cancelled, true),
            "{metering:?}"
        );
        // Long before the minute's deadline (room for a busy machine).
        assert!(took < Duration::from_secs(30), "{metering:?}: {took:?}");
    }
}

/// The honest limit of `FuelOnly`: a lean plugin's sync call cannot be
/// interrupted; it ends when its fuel does.
#[test]
fn without_epochs_a_lean_sync_call_runs_until_its_fuel_is_gone() {
    let engine = engine(Metering::FuelOnly);
    let spin = crate::plugin(&engine, "spin").with_limits(Limits::default().fuel(200_000_000));
    let (kind, poisoned, _) = cancelled(&spin, b"");
    assert_eq!((kind, poisoned), (ErrorKind::FuelExhausted, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_epochs_an_async_call_is_cancelled_at_a_fuel_yield() {
    let engine = engine(Metering::FuelOnly);
    let spin = crate::plugin(&engine, "spin").with_limits(Limits::default().fuel(LONG_SPIN));
    let mut instance = spin.instantiate().unwrap();
    let canceller = instance.canceller();
    let call = tokio::spawn(async move {
        let error = instance.call_async(b"").await.unwrap_err();
        let next = instance.call_async(b"").await.unwrap_err().kind();
        (
            error.kind(),
            error.to_string(),
            instance.poisoned_by(),
            next,
        )
    });
    while !call.is_finished() {
        canceller.cancel();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (kind, message, poisoned_by, next) = call.await.unwrap();
    assert_eq!(kind, ErrorKind::Cancelled, "{message}");
    assert!(message.contains("fuel yield"), "{message}");
    assert_eq!(poisoned_by, Some(ErrorKind::Cancelled));
    assert_eq!(next, ErrorKind::Poisoned);
}

/// After its first `call_async`, a lean instance on a `FuelOnly` engine
/// yields on fuel, which wasmtime allows only on a fiber: its sync calls
/// then run on one too, and still answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_epochs_sync_and_async_calls_mix() {
    let engine = engine(Metering::FuelOnly);
    let mut hello = crate::plugin(&engine, "hello").instantiate().unwrap();
    assert_eq!(hello.call(b"one").unwrap().output, b"ONE");
    assert_eq!(hello.call_async(b"two").await.unwrap().output, b"TWO");
    let response = hello.call(b"three").unwrap();
    assert_eq!(response.output, b"THREE");
    assert!(response.fuel_used.is_some_and(|used| used > 0));
}

/// Without epochs, async calls still take turns on one thread: a spinning
/// tenant yields every `FUEL_YIELD_INTERVAL` units of fuel, so `hello` calls
/// on the same single-threaded runtime answer while it spins.
#[test]
fn without_epochs_a_spinning_async_call_shares_its_thread() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let engine = engine(Metering::FuelOnly);
    // Long enough to spin through many yields (seconds of compute at most):
    // without yields every `hello` would wait for it to end.
    let spin = crate::plugin(&engine, "spin").with_limits(Limits::default().fuel(3_000_000_000));
    let hello = crate::plugin(&engine, "hello");
    let spin_ended = Arc::new(AtomicBool::new(false));
    let (spun, answered_while_spinning) = runtime.block_on(async {
        let ended = Arc::clone(&spin_ended);
        let spinner = tokio::spawn(async move {
            let mut instance = spin.instantiate().unwrap();
            let kind = instance.call_async(b"").await.unwrap_err().kind();
            ended.store(true, Ordering::Release);
            kind
        });
        let mut answered_while_spinning = 0;
        let mut instance = hello.instantiate().unwrap();
        // Let the spinner start first.
        tokio::task::yield_now().await;
        for _ in 0..10 {
            assert_eq!(instance.call_async(b"hi").await.unwrap().output, b"HI");
            if !spin_ended.load(Ordering::Acquire) {
                answered_while_spinning += 1;
            }
            tokio::task::yield_now().await;
        }
        (spinner.await.unwrap(), answered_while_spinning)
    });
    assert_eq!(spun, ErrorKind::FuelExhausted);
    assert_eq!(answered_while_spinning, 10);
}

/// A WASI plugin's every call runs on a fiber: without epochs, a cancel
/// still stops its spin (at a fuel yield) and its sleep (at once).
#[test]
fn without_epochs_a_python_call_is_cancelled_while_it_spins_or_sleeps() {
    let engine = polyglot_engine(Metering::FuelOnly);
    let Some(hostile) = crate::polyglot::plugin(&engine, "py-hostile") else {
        return;
    };
    let hostile = hostile.with_limits(Limits::default().fuel(LONG_SPIN));
    for attack in [&b"spin"[..], b"sleep 30000"] {
        let (kind, poisoned, took) = cancelled(&hostile, attack);
        assert_eq!((kind, poisoned), (ErrorKind::Cancelled, true), "{took:?}");
        assert!(took < Duration::from_secs(15), "{took:?}");
    }
}
