//! Metering is the embedder's choice (`EngineBuilder::metering`): each limit
//! holds under every mode that meters it, on a lean plugin (`spin`, `grow`)
//! and a WASI one (`py-hostile`); a limit the engine does not meter is a
//! `Config` error where it is applied, never ignored; the default limits
//! work everywhere; `Response::fuel_used` is `None` where fuel is not
//! counted. Cancellation under each mode: `metering_cancel.rs`.

use std::time::{Duration, Instant};

use plugbox::{Allocator, Engine, ErrorKind, Limits, Metering, Plugin, Policy};

/// Every mode.
pub const MODES: [Metering; 3] = [
    Metering::FuelAndDeadline,
    Metering::DeadlineOnly,
    Metering::FuelOnly,
];

/// The modes that count fuel.
pub const FUEL_MODES: [Metering; 2] = [Metering::FuelAndDeadline, Metering::FuelOnly];

/// The modes that enforce the deadline.
pub const DEADLINE_MODES: [Metering; 2] = [Metering::FuelAndDeadline, Metering::DeadlineOnly];

const DEADLINE: Duration = Duration::from_millis(100);

/// A small pooled engine with `metering`.
pub fn engine(metering: Metering) -> Engine {
    Engine::builder()
        .allocator(Allocator::Pooling { capacity: 8 })
        .metering(metering)
        .build()
        .unwrap()
}

/// The polyglot engine (shared cache) with `metering`.
pub fn polyglot_engine(metering: Metering) -> Engine {
    crate::polyglot::builder()
        .metering(metering)
        .build()
        .unwrap()
}

/// Limits for a deadline test under `metering`: the deadline, and where
/// fuel is counted too, fuel that never runs out first.
fn deadline_limits(metering: Metering) -> Limits {
    let limits = Limits::default().deadline(DEADLINE);
    if metering.meters_fuel() {
        limits.fuel(u64::MAX)
    } else {
        limits
    }
}

/// Limits for a fuel test under `metering`: `fuel`, and where the deadline
/// is enforced too, one that never passes first.
fn fuel_limits(metering: Metering, fuel: u64) -> Limits {
    let limits = Limits::default().fuel(fuel);
    if metering.meters_deadline() {
        limits.deadline(Duration::from_secs(60))
    } else {
        limits
    }
}

/// Limits under which only something else stops a call: where metered,
/// all the fuel there is and a deadline of a minute.
pub fn roomy(metering: Metering) -> Limits {
    let mut limits = Limits::default();
    if metering.meters_fuel() {
        limits = limits.fuel(u64::MAX);
    }
    if metering.meters_deadline() {
        limits = limits.deadline(Duration::from_secs(60));
    }
    limits
}

/// Calls `plugin` once on a fresh instance with `input`, expecting `kind`
/// and a poisoned instance; returns the message and how long it took.
fn stopped(plugin: &Plugin, input: &[u8], kind: ErrorKind) -> (String, Duration) {
    let mut instance = plugin.instantiate().unwrap();
    let started = Instant::now();
    let error = instance.call(input).unwrap_err();
    let took = started.elapsed();
    assert_eq!(error.kind(), kind, "{error:?}");
    assert_eq!(instance.poisoned_by(), Some(kind));
    (error.to_string(), took)
}

fn assert_at_the_deadline(took: Duration, what: &str) {
    assert!(took >= DEADLINE, "{what}: stopped early, {took:?}");
    assert!(
        took < DEADLINE + Duration::from_millis(400),
        "{what}: stopped late, {took:?}"
    );
}

#[test]
fn fuel_runs_out_under_every_mode_that_counts_it() {
    for metering in FUEL_MODES {
        let engine = engine(metering);
        let spin = crate::plugin(&engine, "spin").with_limits(fuel_limits(metering, 5_000_000));
        let (message, _) = stopped(&spin, b"", ErrorKind::FuelExhausted);
        assert!(message.contains("5000000"), "{metering:?}: {message}");
        let used = crate::plugin(&engine, "hello")
            .instantiate()
            .unwrap()
            .call(b"hi")
            .unwrap()
            .fuel_used;
        assert!(used.is_some_and(|used| used > 0), "{metering:?}: {used:?}");
    }
}

#[test]
fn the_deadline_stops_a_spin_under_every_mode_that_enforces_it() {
    for metering in DEADLINE_MODES {
        let engine = engine(metering);
        let spin = crate::plugin(&engine, "spin").with_limits(deadline_limits(metering));
        let (message, took) = stopped(&spin, b"", ErrorKind::DeadlineExceeded);
        assert!(message.contains("100ms"), "{metering:?}: {message}");
        assert_at_the_deadline(took, &format!("{metering:?}"));
    }
}

#[test]
fn the_memory_limit_holds_under_every_mode() {
    for metering in MODES {
        let engine = engine(metering);
        let grow =
            crate::plugin(&engine, "grow").with_limits(Limits::default().max_memory_bytes(4 << 20));
        let (message, _) = stopped(&grow, b"", ErrorKind::MemoryLimit);
        assert!(
            message.contains(&format!("limit {}", 4 << 20)),
            "{metering:?}: {message}"
        );
    }
}

/// The WASI twin: CPython's spin loop under fuel and under the deadline, a
/// `time.sleep` (a WASI host call, where no fuel is spent) under the
/// deadline, and its memory bomb under every mode.
#[test]
fn a_python_plugin_meets_every_limit_its_engine_meters() {
    for metering in MODES {
        let engine = polyglot_engine(metering);
        let Some(hostile) = crate::polyglot::plugin(&engine, "py-hostile") else {
            return;
        };
        if metering.meters_fuel() {
            let fuel = hostile.with_limits(fuel_limits(metering, 50_000_000));
            let (message, _) = stopped(&fuel, b"spin", ErrorKind::FuelExhausted);
            assert!(message.contains("50000000"), "{metering:?}: {message}");
            let answered = fuel.instantiate().unwrap().call(b"noop").unwrap();
            assert!(answered.fuel_used.is_some_and(|used| used > 0));
        }
        if metering.meters_deadline() {
            let deadline = hostile.with_limits(deadline_limits(metering));
            for attack in ["spin", "sleep 60000"] {
                let (message, took) =
                    stopped(&deadline, attack.as_bytes(), ErrorKind::DeadlineExceeded);
                assert!(
                    message.contains("100ms"),
                    "{metering:?} {attack}: {message}"
                );
                assert_at_the_deadline(took, &format!("{metering:?} {attack}"));
            }
        }
        let bomb = hostile.with_limits(roomy(metering).max_memory_bytes(32 << 20));
        let (message, _) = stopped(&bomb, b"bomb", ErrorKind::MemoryLimit);
        assert!(
            message.contains(&format!("limit {}", 32 << 20)),
            "{metering:?}: {message}"
        );
    }
}

#[test]
fn the_default_limits_work_on_every_engine() {
    for metering in MODES {
        let engine = engine(metering);
        let mut hello = crate::plugin(&engine, "hello").instantiate().unwrap();
        let response = hello.call(b"hi").unwrap();
        assert_eq!(response.output, b"HI");
        assert_eq!(
            response.fuel_used.is_some(),
            metering.meters_fuel(),
            "{metering:?}"
        );
        assert_eq!(engine.metering(), metering);
    }
}

#[test]
fn fuel_is_not_reported_where_it_is_not_counted() {
    let engine = engine(Metering::DeadlineOnly);
    let fib = crate::plugin(&engine, "fib")
        .instantiate()
        .unwrap()
        .call(b"20");
    let response = fib.unwrap();
    assert_eq!(response.output, b"6765");
    assert_eq!(response.fuel_used, None);
}

#[test]
fn a_fuel_limit_on_an_engine_without_fuel_is_refused() {
    let engine = engine(Metering::DeadlineOnly);
    let spin = crate::plugin(&engine, "spin").with_limits(Limits::default().fuel(1_000));
    let error = spin.instantiate().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config, "{error:?}");
    let message = error.to_string();
    for named in [
        "Limits::fuel",
        "1000 per call",
        "EngineBuilder::metering(Metering::DeadlineOnly)",
        "Metering::FuelAndDeadline or Metering::FuelOnly",
    ] {
        assert!(message.contains(named), "{named}: {message}");
    }
}

#[test]
fn a_deadline_on_an_engine_without_epochs_is_refused() {
    let engine = engine(Metering::FuelOnly);
    let spin = crate::plugin(&engine, "spin").with_limits(Limits::default().deadline(DEADLINE));
    let error = spin.instantiate().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config, "{error:?}");
    let message = error.to_string();
    for named in [
        "Limits::deadline",
        "100ms per call",
        "EngineBuilder::metering(Metering::FuelOnly)",
        "Metering::FuelAndDeadline or Metering::DeadlineOnly",
    ] {
        assert!(message.contains(named), "{named}: {message}");
    }
}

#[test]
fn a_policy_asking_for_an_unmetered_limit_is_refused_naming_its_line() {
    for (metering, text, field) in [
        (
            Metering::DeadlineOnly,
            "name = \"x\"\n[limits]\nfuel = 5000\n",
            "policy.toml:3: limits.fuel: ",
        ),
        (
            Metering::FuelOnly,
            "[limits]\nmax_memory_bytes = 1048576\ndeadline_ms = 10\n",
            "policy.toml:3: limits.deadline_ms: ",
        ),
    ] {
        let engine = engine(metering);
        let policy = Policy::from_toml_str(text, "policy.toml").unwrap();
        let error = crate::plugin(&engine, "hello")
            .with_policy(&policy)
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config, "{error:?}");
        assert!(error.message().starts_with(field), "{error}");
        // The limit the engine meters is accepted from a policy.
        let metered = if metering.meters_fuel() {
            "[limits]\nfuel = 5000000\n"
        } else {
            "[limits]\ndeadline_ms = 100\n"
        };
        let policy = Policy::from_toml_str(metered, "policy.toml").unwrap();
        let plugin = crate::plugin(&engine, "hello")
            .with_policy(&policy)
            .unwrap();
        assert_eq!(
            plugin.instantiate().unwrap().call(b"ok").unwrap().output,
            b"OK"
        );
    }
}

#[test]
fn an_engine_without_epochs_runs_no_ticker() {
    let fuel_only = engine(Metering::FuelOnly);
    assert!(fuel_only.ticker_probe().stopped());
    let with_deadline = engine(Metering::DeadlineOnly);
    assert!(!with_deadline.ticker_probe().stopped());
}

#[test]
fn profiles_need_epochs() {
    let engine = engine(Metering::FuelOnly);
    let mut hello = crate::plugin(&engine, "hello").instantiate().unwrap();
    let error = hello.start_profiling().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config, "{error:?}");
    assert!(error.to_string().contains("Metering::FuelOnly"), "{error}");
}
