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
    assert_eq!(
        error.message(),
        "every one of the engine's 2 instance slots is in use by a live instance \
         (Allocator::Pooling capacity)"
    );
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
    let hello = plugin(&engine, "hello").with_limits(Limits::default().max_instances(0));
    let error = hello.instantiate().unwrap_err();
    assert_eq!(
        error.message(),
        "the component needs at least 1 core instances, limit 0 (raise \
         Limits::max_instances, or `max_instances` in a policy's [limits])"
    );
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
    let needed = fib
        .instantiate()
        .unwrap()
        .call(b"20")
        .unwrap()
        .fuel_used
        .unwrap();
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

#[test]
fn a_component_over_the_pools_per_instance_budget_is_refused_at_load() {
    // `hello-std` (its module and the shim and fixup modules of its WASI
    // imports) is 3 core instances.
    let engine = Engine::builder()
        .allocator(Allocator::Pooling { capacity: 4 })
        .core_instances_per_instance(2)
        .build()
        .unwrap();
    let artifact = plugbox_artifacts::by_name("hello-std").unwrap();
    let error = Plugin::new(&engine, artifact.bytes).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InstanceLimit, "{error:?}");
    assert_eq!(
        error.message(),
        "the component needs 3 core instances, more than the 2 this engine's pool allows \
         one instance (raise EngineBuilder::core_instances_per_instance)"
    );
    // Two core modules with a memory each, against a budget of one memory.
    let two_memories = wat::parse_str(
        r#"(component
            (core module $m (memory 1))
            (core instance (instantiate $m))
            (core instance (instantiate $m)))"#,
    )
    .unwrap();
    let engine = Engine::builder().memories_per_instance(1).build().unwrap();
    let error = Plugin::new(&engine, &two_memories).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InstanceLimit, "{error:?}");
    assert_eq!(
        error.message(),
        "the component needs 2 linear memories, more than the 1 this engine's pool allows \
         one instance (raise EngineBuilder::memories_per_instance)"
    );
    // `hello-std`'s modules define more than one table.
    let engine = Engine::builder().tables_per_instance(1).build().unwrap();
    let error = Plugin::new(&engine, artifact.bytes).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InstanceLimit, "{error:?}");
    assert!(
        error.message().ends_with(
            "tables, more than the 1 this engine's pool allows one instance \
                        (raise EngineBuilder::tables_per_instance)"
        ),
        "{error}"
    );
    // A budget of zero is a configuration error.
    for builder in [
        Engine::builder().core_instances_per_instance(0),
        Engine::builder().memories_per_instance(0),
        Engine::builder().tables_per_instance(0),
    ] {
        let error = builder.build().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Config, "{error:?}");
        assert!(
            error.message().contains("_per_instance must be at least 1"),
            "{error}"
        );
    }
}

#[test]
fn a_one_slot_engine_hosts_a_wasi_plugin_with_the_default_budgets() {
    // The CLI's engine: one slot. Each instance may hold its whole budget,
    // so a 3-core-instance plugin fits, and a second instance is refused
    // as what it is: the one slot is taken.
    let engine = Engine::builder()
        .allocator(Allocator::Pooling { capacity: 1 })
        .build()
        .unwrap();
    let std_hello = plugin(&engine, "hello-std");
    let mut first = std_hello.instantiate().unwrap();
    assert_eq!(first.call(b"one slot").unwrap().output, b"ONE SLOT");
    let error = std_hello.instantiate().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::PoolExhausted, "{error:?}");
    assert!(error.message().contains("1 instance slots"), "{error}");
}
