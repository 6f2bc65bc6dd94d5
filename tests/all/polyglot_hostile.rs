//! The hostile twins in Python, JavaScript (StarlingMonkey and QuickJS), Go
//! and C (`py-hostile`, `js-hostile`, `qjs-hostile`, `go-hostile`,
//! `c-hostile`):
//! a spin loop stops at its deadline (or fuel), a memory bomb at its memory
//! limit, and a guest waiting in a WASI host call (Python's `time.sleep`, a
//! JavaScript timer) at its deadline too, each while a good neighbour on the
//! same engine answers throughout; the attacker's instance is poisoned and
//! a fresh one answers.

use std::time::{Duration, Instant};

use plugbox::{Error, ErrorKind, Limits, Plugin};

use crate::neighbour::with_good_neighbour;

const DEADLINE: Duration = Duration::from_millis(100);

/// The hostile twin `name` with `limits`, or `None` where it was skipped.
fn hostile(engine: &plugbox::Engine, name: &str, limits: Limits) -> Option<Plugin> {
    Some(crate::polyglot::plugin(engine, name)?.with_limits(limits))
}

/// Runs `attack` on a fresh instance of `plugin` while a good neighbour
/// answers; asserts the error's kind, that the instance is poisoned by it
/// and that a fresh instance still answers. Returns the error and how long
/// the call took.
fn attack(
    engine: &plugbox::Engine,
    plugin: &Plugin,
    attack: &str,
    kind: ErrorKind,
) -> (Error, Duration) {
    let (error, took) = with_good_neighbour(engine, || {
        let mut instance = plugin.instantiate().unwrap();
        let started = Instant::now();
        let error = instance.call(attack.as_bytes()).unwrap_err();
        let took = started.elapsed();
        assert_eq!(error.kind(), kind, "{attack}: {error:?}");
        assert_eq!(instance.poisoned_by(), Some(kind));
        assert_eq!(
            instance.call(b"noop").unwrap_err().kind(),
            ErrorKind::Poisoned
        );
        (error, took)
    });
    let mut fresh = plugin.instantiate().unwrap();
    assert_eq!(fresh.call(b"noop").unwrap().output, b"ok");
    // Past the test harness's capture: how late each stop was, on this machine.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("{attack}: {kind:?} after {took:.1?}\n").as_bytes(),
    );
    (error, took)
}

/// Asserts a deadline stop: not early, and a tick or two late (with room
/// for a loaded machine, as the Rust `spin` test allows).
fn assert_stopped_at_the_deadline(took: Duration) {
    assert!(took >= DEADLINE, "stopped early: {took:?}");
    assert!(
        took < DEADLINE + Duration::from_millis(400),
        "stopped late: {took:?}"
    );
}

fn deadline_only() -> Limits {
    Limits::default()
        .fuel(u64::MAX)
        .deadline(DEADLINE)
        .max_memory_bytes(32 << 20)
}

/// What both twins share: `noop`, a guest error, a bug that traps, the spin
/// loop (deadline, then fuel) and the memory bomb.
fn assert_hostile_twin(name: &str) {
    let engine = crate::polyglot::engine_for(name);
    let Some(plugin) = hostile(&engine, name, deadline_only()) else {
        return;
    };
    let mut instance = plugin.instantiate().unwrap();
    assert_eq!(instance.call(b"noop").unwrap().output, b"ok");
    let error = instance.call(b"nonsense").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Guest, "{error:?}");
    assert!(error.message().contains("unknown attack"), "{error}");
    assert!(!instance.is_poisoned());
    // An exception that is not the plugin's own error is a bug: a trap.
    let error = instance.call(b"throw").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Trap, "{error:?}");
    assert!(instance.is_poisoned());

    let (error, took) = attack(&engine, &plugin, "spin", ErrorKind::DeadlineExceeded);
    assert!(error.message().contains("100ms"), "{error}");
    assert_stopped_at_the_deadline(took);

    let fuel = plugin.with_limits(
        Limits::default()
            .fuel(50_000_000)
            .deadline(Duration::from_secs(30)),
    );
    let (error, _) = attack(&engine, &fuel, "spin", ErrorKind::FuelExhausted);
    assert!(error.message().contains("50000000"), "{error}");

    // The bomb is stopped by the memory limit, not the deadline: room for
    // a busy machine (Go's reaches 32 MiB in 70-80 ms alone, its collector
    // running as the heap grows).
    let bomb = plugin.with_limits(deadline_only().deadline(Duration::from_secs(5)));
    let (error, _) = attack(&engine, &bomb, "bomb", ErrorKind::MemoryLimit);
    assert!(
        error.message().contains(&format!("limit {}", 32 << 20)),
        "{error}"
    );
}

#[test]
pub fn py_hostile() {
    assert_hostile_twin("py-hostile");
}

#[test]
pub fn js_hostile() {
    assert_hostile_twin("js-hostile");
}

/// On an engine with component-model async (componentize-qjs's default
/// runtime uses its built-ins): every limit as for the other twins, and QuickJS's own
/// failures.
#[test]
pub fn qjs_hostile() {
    assert_hostile_twin("qjs-hostile");
    let engine = crate::polyglot::async_engine();
    let Some(plugin) = hostile(&engine, "qjs-hostile", deadline_only()) else {
        return;
    };
    attack(&engine, &plugin, "recurse", ErrorKind::StackOverflow);
    // The plugbox world's `handle` is synchronous: a promise for an answer
    // is a trap, not a call left waiting.
    let (_, took) = attack(&engine, &plugin, "promise", ErrorKind::Trap);
    assert!(took < DEADLINE, "{took:?}");
}

#[test]
pub fn go_hostile() {
    assert_hostile_twin("go-hostile");
}

#[test]
pub fn c_hostile() {
    assert_hostile_twin("c-hostile");
}

#[test]
fn a_python_sleep_stops_at_the_deadline() {
    let engine = crate::polyglot::engine();
    let Some(plugin) = hostile(&engine, "py-hostile", deadline_only()) else {
        return;
    };
    let mut instance = plugin.instantiate().unwrap();
    let response = instance.call(b"sleep 20").unwrap();
    assert_eq!(response.output, b"slept");
    assert!(response.elapsed >= Duration::from_millis(20));
    let (error, took) = attack(&engine, &plugin, "sleep 30000", ErrorKind::DeadlineExceeded);
    assert!(error.message().contains("WASI host call"), "{error}");
    assert_stopped_at_the_deadline(took);
}

#[test]
fn a_javascript_timer_or_busy_await_stops_at_the_deadline() {
    let engine = crate::polyglot::engine();
    let Some(plugin) = hostile(&engine, "js-hostile", deadline_only()) else {
        return;
    };
    let mut instance = plugin.instantiate().unwrap();
    let response = instance.call(b"timer 20").unwrap();
    assert_eq!(response.output, b"slept");
    assert!(response.elapsed >= Duration::from_millis(20));
    let (error, took) = attack(&engine, &plugin, "timer 30000", ErrorKind::DeadlineExceeded);
    assert!(error.message().contains("WASI host call"), "{error}");
    assert_stopped_at_the_deadline(took);
    let (_, took) = attack(&engine, &plugin, "await-spin", ErrorKind::DeadlineExceeded);
    assert_stopped_at_the_deadline(took);
}
