//! Engine lifecycle and allocators: the epoch ticker lives exactly as long as
//! the engine's handles; the pool's capacity is a typed limit.

use plugbox::{Allocator, Engine, Error, ErrorKind, Limits, Plugin};

use crate::plugin;

#[test]
fn ticker_stops_when_the_last_handle_drops() {
    let engine = crate::engine();
    let probe = engine.ticker_probe();
    assert!(!probe.stopped(), "running from the start");
    let hello = plugin(&engine, "hello");
    let instance = hello.instantiate().unwrap();
    drop(engine);
    // The plugin and the instance still hold the engine: deadlines still work.
    assert!(!probe.stopped());
    drop(hello);
    assert!(!probe.stopped());
    drop(instance);
    // Dropping the last handle stops and joins the thread.
    assert!(probe.stopped());
}

#[test]
fn full_pool_is_a_typed_error_and_frees_on_drop() {
    let engine = Engine::builder()
        .allocator(Allocator::Pooling { capacity: 2 })
        .build()
        .unwrap();
    let hello = plugin(&engine, "hello");
    let first = hello.instantiate().unwrap();
    let _second = hello.instantiate().unwrap();
    let error = hello.instantiate().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::PoolExhausted, "{error:?}");
    drop(first);
    let mut third = hello.instantiate().unwrap();
    assert_eq!(third.call(b"slot").unwrap().output, b"SLOT");
}

#[test]
fn on_demand_allocator_runs_plugins_too() {
    let engine = Engine::builder()
        .allocator(Allocator::OnDemand)
        .build()
        .unwrap();
    let mut instance = plugin(&engine, "hello").instantiate().unwrap();
    assert_eq!(instance.call(b"on demand").unwrap().output, b"ON DEMAND");
    let grow = plugin(&engine, "grow").with_limits(Limits::default().max_memory_bytes(4 << 20));
    assert_eq!(
        grow.instantiate().unwrap().call(b"").unwrap_err().kind(),
        ErrorKind::MemoryLimit
    );
}

/// The counted resources of a plugin instance and the `Limits` setting of
/// each.
const COUNTED: [(&str, &str); 3] = [
    ("instance", "max_instances"),
    ("memory", "max_memories"),
    ("table", "max_tables"),
];

/// Asserts that `error` refused an instantiation for too many of one
/// counted `resource` (`instance`, `memory` or `table`): the kind, and a
/// message that names that resource's limit (wasmtime's "`resource` count
/// too high", or the `Limits` setting) and no other resource's. Any other
/// instantiation failure, or a catch-all message naming every limit, fails.
pub(crate) fn assert_count_limit(error: &Error, resource: &str) {
    assert_eq!(error.kind(), ErrorKind::InstanceLimit, "{error:?}");
    let message = error.to_string();
    for (counted, setting) in COUNTED {
        let named = message.contains(&format!("{counted} count")) || message.contains(setting);
        assert_eq!(
            named,
            counted == resource,
            "the message must name the {resource} limit, and only it: {message}"
        );
    }
}

#[test]
fn instance_count_limit_is_enforced_at_instantiation() {
    let engine = crate::engine();
    // The lean plugin is one core instance with one memory and one table:
    // none of them is allowed, each refused at instantiation, and the error
    // names the limit that did not fit; one of each is allowed.
    for (limits, resource) in [
        (Limits::default().max_instances(0), "instance"),
        (Limits::default().max_memories(0), "memory"),
        (Limits::default().max_tables(0), "table"),
    ] {
        let error = plugin(&engine, "hello")
            .with_limits(limits)
            .instantiate()
            .unwrap_err();
        assert_count_limit(&error, resource);
    }
    let one_each = Limits::default()
        .max_instances(1)
        .max_memories(1)
        .max_tables(1);
    let mut instance = plugin(&engine, "hello")
        .with_limits(one_each)
        .instantiate()
        .unwrap();
    assert_eq!(instance.call(b"fits").unwrap().output, b"FITS");
    // The WASI `std` plugin needs more than one core instance: refused at
    // one, with the instance limit named.
    let error = plugin(&engine, "wasi-probe")
        .with_limits(Limits::default().max_instances(1))
        .instantiate()
        .unwrap_err();
    assert_count_limit(&error, "instance");
}

#[test]
fn initial_memory_above_the_limit_fails_instantiation() {
    let engine = crate::engine();
    // hello starts with more than one 64 KiB page (shadow stack + data).
    let hello = plugin(&engine, "hello").with_limits(Limits::default().max_memory_bytes(64 << 10));
    let error = hello.instantiate().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::MemoryLimit, "{error:?}");
}

#[test]
fn invalid_settings_are_config_errors() {
    let error = Engine::builder()
        .allocator(Allocator::Pooling { capacity: 0 })
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    let error = Engine::builder()
        .epoch_tick(std::time::Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
}

#[test]
fn plugins_and_instances_cross_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}
    assert_send_sync::<Engine>();
    assert_send_sync::<Plugin>();
    assert_send::<plugbox::Instance>();
}

#[test]
fn table_growth_past_the_limit_is_a_table_limit_error() {
    // A guest that grows its table by 1,000 elements and traps if refused.
    let component = crate::bad_input::handler_component_with(
        "",
        "(list u8)",
        r#"(table $t 1 funcref)
           (func (export "handle") (param i32 i32) (result i32)
               (if (i32.eq (table.grow $t (ref.null func) (i32.const 1000)) (i32.const -1))
                   (then unreachable))
               i32.const 0)"#,
    );
    let engine = crate::engine();
    let plugin = Plugin::new(&engine, &component).unwrap();
    let mut refused = plugin
        .with_limits(Limits::default().max_table_elements(100))
        .instantiate()
        .unwrap();
    let error = refused.call(b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TableLimit, "{error:?}");
    assert!(error.message().contains("limit 100"), "{error}");
    // Within the limit the same guest is fine.
    let mut allowed = plugin.instantiate().unwrap();
    allowed.call(b"").unwrap();
}

#[test]
fn a_start_function_runs_under_the_call_limits() {
    // A core module whose start function never returns: instantiation itself
    // must be stopped, by the deadline or by fuel.
    let component = crate::bad_input::handler_component_with(
        "",
        "(list u8)",
        r#"(func $forever (loop $again (br $again)))
           (start $forever)
           (func (export "handle") (param i32 i32) (result i32) i32.const 0)"#,
    );
    let engine = crate::engine();
    let plugin = Plugin::new(&engine, &component).unwrap();
    let deadline = plugin.with_limits(
        Limits::default()
            .fuel(u64::MAX)
            .deadline(std::time::Duration::from_millis(20)),
    );
    assert_eq!(
        deadline.instantiate().unwrap_err().kind(),
        ErrorKind::DeadlineExceeded
    );
    let fuel = plugin.with_limits(Limits::default().fuel(1_000_000));
    assert_eq!(
        fuel.instantiate().unwrap_err().kind(),
        ErrorKind::FuelExhausted
    );
    crate::assert_engine_still_serves(&engine);
}

#[test]
fn initial_memory_larger_than_the_engine_slot_is_a_memory_limit() {
    // hello's initial memory (64 KiB shadow stack + data) needs two pages.
    let engine = Engine::builder()
        .allocator(Allocator::Pooling { capacity: 4 })
        .memory_slot_bytes(64 << 10)
        .build()
        .unwrap();
    let error = Plugin::new(&engine, plugbox_artifacts::HELLO.bytes)
        .and_then(|hello| hello.instantiate())
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::MemoryLimit, "{error:?}");
}

#[test]
fn fuel_is_refilled_and_the_deadline_rearmed_for_every_call() {
    let engine = crate::engine();
    let fib = plugin(&engine, "fib");
    let needed = fib.instantiate().unwrap().call(b"20").unwrap().fuel_used;
    // Enough fuel for one fib(20), not for two: every call must start full.
    let mut instance = fib
        .with_limits(Limits::default().fuel(needed + needed / 2))
        .instantiate()
        .unwrap();
    for _ in 0..5 {
        let response = instance.call(b"20").unwrap();
        assert_eq!(response.output, b"6765");
    }
    // fib(22) needs about 2.6 times as much: over the per-call budget.
    assert_eq!(
        instance.call(b"22").unwrap_err().kind(),
        ErrorKind::FuelExhausted
    );

    // A deadline per call: calls that together take several deadlines all
    // finish, and each reports its own wall time.
    let deadline = std::time::Duration::from_millis(100);
    let mut instance = fib
        .with_limits(Limits::default().fuel(u64::MAX).deadline(deadline))
        .instantiate()
        .unwrap();
    let began = std::time::Instant::now();
    let mut calls = 0;
    while began.elapsed() < 3 * deadline && calls < 10_000 {
        let before = std::time::Instant::now();
        let response = instance.call(b"25").unwrap();
        let around = before.elapsed();
        assert_eq!(response.output, b"75025");
        assert!(
            !response.elapsed.is_zero() && response.elapsed <= around,
            "elapsed {:?} measured around the call as {around:?}",
            response.elapsed
        );
        calls += 1;
    }
    assert!(
        began.elapsed() >= 3 * deadline,
        "{calls} calls in {:?}",
        began.elapsed()
    );
}

#[test]
fn component_files_are_read_only_up_to_the_engine_maximum() {
    let engine = Engine::builder()
        .allocator(Allocator::Pooling { capacity: 2 })
        .max_component_bytes(1 << 20)
        .build()
        .unwrap();
    // A file with no size to report and no end: read up to the maximum, then
    // refused, never read until memory runs out.
    for load in [
        |engine: &Engine| plugbox::read_component(engine, "/dev/zero").map(drop),
        |engine: &Engine| Plugin::from_file(engine, "/dev/zero").map(drop),
    ] {
        let error = load(&engine).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidComponent, "{error}");
        assert!(
            error.message().contains("maximum component size"),
            "{error}"
        );
    }
    // `inspect` takes bytes: it refuses oversized ones before parsing them.
    let error = plugbox::inspect(&engine, &vec![0; (1 << 20) + 1]).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidComponent);
    assert!(
        error.message().contains("maximum component size"),
        "{error}"
    );
    // A real file within the limit reads back whole.
    let bytes = plugbox::read_component(&engine, plugbox_artifacts::HELLO.path).unwrap();
    assert_eq!(bytes, plugbox_artifacts::HELLO.bytes);
    crate::assert_engine_still_serves(&engine);
}

/// The address-space limit below which [`host_refusal_child`] instantiates,
/// as a child process of [`a_host_refusing_memory_is_a_typed_error`].
const RLIMIT_CHILD: &str = "PLUGBOX_TEST_RLIMIT_CHILD";

#[test]
fn a_host_refusing_memory_is_a_typed_error() {
    // A process-wide limit, so in a child process of its own.
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "engine::host_refusal_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(RLIMIT_CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("refused: HostResources, os error Some(12)"),
        "{stdout}"
    );
    assert!(stdout.contains("then: HELLO"), "{stdout}");
}

#[test]
#[ignore = "a child process of a_host_refusing_memory_is_a_typed_error"]
fn host_refusal_child() {
    if std::env::var_os(RLIMIT_CHILD).is_none() {
        return;
    }
    // On demand: every instance maps its memory (a 16 MiB reservation).
    let engine = Engine::builder()
        .allocator(Allocator::OnDemand)
        .build()
        .unwrap();
    let hello = plugin(&engine, "hello");
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().next().unwrap().parse().unwrap();
    // SAFETY: sysconf and get/setrlimit with valid pointers.
    let page = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap();
    let mut previous = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut previous) },
        0
    );
    let tight = libc::rlimit {
        rlim_cur: pages * page + (1 << 20),
        rlim_max: previous.rlim_max,
    };
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &tight) }, 0);
    let refused = hello.instantiate().err();
    // Raised again, the same plugin instantiates.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &previous) }, 0);
    let refused = refused.expect("16 MiB more than the limit allows");
    println!(
        "refused: {:?}, os error {:?}: {refused}",
        refused.kind(),
        refused.os_error()
    );
    let mut instance = hello.instantiate().unwrap();
    let output = instance.call(b"hello").unwrap().output;
    println!("then: {}", String::from_utf8_lossy(&output));
}
