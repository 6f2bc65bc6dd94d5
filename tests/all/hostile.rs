//! The hostile suite: every attack gets its exact error kind, the host keeps
//! serving, and a good tenant calling on the same engine from another thread
//! gets correct answers throughout.

use std::time::Duration;

use plugbox::wasmtime::Trap;
use plugbox::{Engine, Error, ErrorKind, Limits, Plugin};

use crate::neighbour::with_good_neighbour;
use crate::{engine, plugin};

fn hostile(engine: &Engine, limits: Limits) -> Plugin {
    plugin(engine, "hostile").with_limits(limits)
}

/// Runs one attack in a fresh instance next to a good neighbour and returns
/// its error, after checking that the instance is poisoned (traps) or not.
fn attack(limits: Limits, request: &str) -> Error {
    let engine = engine();
    let plugin = hostile(&engine, limits);
    let error = with_good_neighbour(&engine, || {
        let mut instance = plugin.instantiate().unwrap();
        assert_eq!(instance.call(b"ok").unwrap().output, b"ok");
        let error = instance.call(request.as_bytes()).unwrap_err();
        if error.kind().is_trap() {
            assert_eq!(
                instance.call(b"ok").unwrap_err().kind(),
                ErrorKind::Poisoned
            );
        }
        error
    });
    // The same plugin serves a fresh instance normally.
    assert_eq!(
        plugin.instantiate().unwrap().call(b"ok").unwrap().output,
        b"ok"
    );
    error
}

/// Asserts that `error` is a [`ErrorKind::Trap`] caused by wasmtime's
/// `trap`, with a wasm backtrace whose innermost frame is the guest's
/// function `innermost` (`plugbox_plugin_hostile::<innermost>`).
fn assert_trap(error: &Error, trap: Trap, innermost: &str) {
    assert_eq!(error.kind(), ErrorKind::Trap, "{error:?}");
    assert_eq!(trap_code(error), Some(trap), "{error:?}");
    assert_eq!(error.message(), trap.to_string());
    let backtrace = error.wasm_backtrace().expect("a wasm backtrace");
    let first_frame = backtrace.lines().nth(1).unwrap_or_default();
    assert!(
        first_frame.contains(&format!("!plugbox_plugin_hostile::{innermost}::h")),
        "the innermost frame is the guest's `{innermost}`: {backtrace}"
    );
}

/// The wasmtime trap code in `error`'s chain of causes.
pub(crate) fn trap_code(error: &Error) -> Option<Trap> {
    let mut cause = std::error::Error::source(error);
    while let Some(error) = cause {
        if let Some(trap) = error.downcast_ref::<Trap>() {
            return Some(*trap);
        }
        cause = error.source();
    }
    None
}

/// The `plugins::hostile` test `foreach_plugin!` asks for: the benign path.
pub fn hostile_plugin_answers_ok() {
    let engine = engine();
    let mut instance = hostile(&engine, Limits::default()).instantiate().unwrap();
    assert_eq!(instance.call(b"ok").unwrap().output, b"ok");
    let error = instance.call(b"no-such-attack").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Guest);
    assert!(!instance.is_poisoned());
}

#[test]
fn unreachable_traps_with_a_backtrace() {
    let error = attack(Limits::default(), "unreachable");
    assert_trap(&error, Trap::UnreachableCodeReached, "trap_unreachable");
}

#[test]
fn division_by_zero_traps_with_a_backtrace() {
    let error = attack(Limits::default(), "divide-by-zero");
    assert_trap(&error, Trap::IntegerDivisionByZero, "divide");
}

#[test]
fn out_of_bounds_access_traps_with_a_backtrace() {
    let error = attack(Limits::default(), "out-of-bounds");
    assert_trap(&error, Trap::MemoryOutOfBounds, "read_far_out_of_bounds");
}

#[test]
fn calling_a_poisoned_instance_is_refused() {
    let engine = engine();
    let plugin = hostile(&engine, Limits::default());
    with_good_neighbour(&engine, || {
        let mut instance = plugin.instantiate().unwrap();
        let trap = instance.call(b"unreachable").unwrap_err();
        assert_eq!(trap.kind(), ErrorKind::Trap, "{trap}");
        // Every later call is refused before the guest runs, whatever it asks.
        for request in ["ok", "unreachable", "big-output 10"] {
            let error = instance.call(request.as_bytes()).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Poisoned, "{request}");
            assert_eq!(
                error.message(),
                "an earlier call trapped (plugin trapped); instantiate a fresh instance"
            );
            assert_eq!(error.wasm_backtrace(), None, "the guest did not run");
        }
        assert!(instance.is_poisoned());
        assert_eq!(instance.poisoned_by(), Some(ErrorKind::Trap));
        // A fresh instance of the same plugin serves normally.
        let mut fresh = plugin.instantiate().unwrap();
        assert_eq!(fresh.call(b"ok").unwrap().output, b"ok");
    });
}

#[test]
fn allocation_storm_hits_the_memory_limit() {
    let error = attack(
        Limits::default().max_memory_bytes(4 << 20),
        "allocation-storm",
    );
    assert_eq!(error.kind(), ErrorKind::MemoryLimit, "{error}");
}

#[test]
fn a_host_call_loop_meets_its_deadline() {
    let limits = Limits::default()
        .fuel(u64::MAX)
        .deadline(Duration::from_millis(100));
    let error = attack(limits, "log-loop");
    assert_eq!(error.kind(), ErrorKind::DeadlineExceeded, "{error}");
}

#[test]
fn a_host_call_loop_runs_out_of_fuel() {
    let limits = Limits::default()
        .fuel(5_000_000)
        .deadline(Duration::from_secs(60));
    let error = attack(limits, "log-loop");
    assert_eq!(error.kind(), ErrorKind::FuelExhausted, "{error}");
}

#[test]
fn recursion_through_a_host_call_overflows_the_stack() {
    let limits = Limits::default()
        .fuel(u64::MAX)
        .deadline(Duration::from_secs(60));
    let error = attack(limits, "host-recursion");
    assert_eq!(error.kind(), ErrorKind::StackOverflow, "{error}");
}

#[test]
fn oversized_output_is_refused_and_the_instance_stays_usable() {
    let limits = Limits::default().max_output_bytes(1 << 20);
    let engine = engine();
    let plugin = hostile(&engine, limits);
    with_good_neighbour(&engine, || {
        let mut instance = plugin.instantiate().unwrap();
        let error = instance.call(b"big-output 2000000").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::OutputTooLarge, "{error}");
        assert_eq!(
            instance.call(b"big-output 10").unwrap().output,
            b"xxxxxxxxxx"
        );
    });
}

#[test]
fn a_call_is_cancelled_from_another_thread() {
    let engine = engine();
    let spin = plugin(&engine, "spin").with_limits(
        Limits::default()
            .fuel(u64::MAX)
            .deadline(Duration::from_secs(60)),
    );
    with_good_neighbour(&engine, || {
        let mut instance = spin.instantiate().unwrap();
        let canceller = instance.canceller();
        let started = std::time::Instant::now();
        let call = std::thread::spawn(move || {
            let error = instance.call(b"").unwrap_err();
            (error.kind(), instance.is_poisoned())
        });
        // A cancel that arrives before the call starts is forgotten when it
        // starts: keep cancelling until the call has ended.
        while !call.is_finished() {
            canceller.cancel();
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(call.join().unwrap(), (ErrorKind::Cancelled, true));
        // Long before the 60 s deadline (a generous bound for busy machines).
        assert!(started.elapsed() < Duration::from_secs(30));
    });
}

#[test]
fn a_cancel_before_a_call_does_not_stop_the_next_call() {
    let engine = engine();
    let mut instance = plugin(&engine, "hello").instantiate().unwrap();
    instance.canceller().cancel();
    assert_eq!(instance.call(b"fine").unwrap().output, b"FINE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_call_is_cancelled_too() {
    let engine = engine();
    let spin = plugin(&engine, "spin").with_limits(
        Limits::default()
            .fuel(u64::MAX)
            .deadline(Duration::from_secs(60)),
    );
    let mut instance = spin.instantiate().unwrap();
    let canceller = instance.canceller();
    let call = tokio::spawn(async move {
        let kind = instance.call_async(b"").await.unwrap_err().kind();
        let next = instance.call_async(b"").await.unwrap_err().kind();
        (kind, instance.poisoned_by(), next)
    });
    while !call.is_finished() {
        canceller.cancel();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        call.await.unwrap(),
        (
            ErrorKind::Cancelled,
            Some(ErrorKind::Cancelled),
            ErrorKind::Poisoned
        )
    );
}

#[test]
fn dropping_the_engine_while_calls_are_in_flight_is_safe() {
    let engine = engine();
    let hello = plugin(&engine, "hello");
    let spin = plugin(&engine, "spin").with_limits(
        Limits::default()
            .fuel(u64::MAX)
            .deadline(Duration::from_millis(300)),
    );
    let mut spinner = spin.instantiate().unwrap();
    let mut good = hello.instantiate().unwrap();
    let spinning = std::thread::spawn(move || spinner.call(b"").unwrap_err().kind());
    let serving = std::thread::spawn(move || {
        (0..2000).all(|call| {
            let input = format!("call {call}");
            good.call(input.as_bytes()).unwrap().output == input.to_uppercase().as_bytes()
        })
    });
    // Every handle the embedder holds goes; the instances keep what they need.
    drop((engine, hello, spin));
    assert_eq!(spinning.join().unwrap(), ErrorKind::DeadlineExceeded);
    assert!(serving.join().unwrap());
}
