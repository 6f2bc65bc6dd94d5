//! The rest of the hostile suite, one test per case, each run while a good
//! tenant on the same engine answers correctly throughout (see
//! `hostile::with_good_neighbour`): the hostile plugins of their own, guests
//! that attack at instantiation, and bad bytes at load time.

use std::time::Duration;

use plugbox::{Engine, ErrorKind, Limits, Plugin};

use crate::bad_input::handler_component_with;
use crate::hostile::with_good_neighbour;
use crate::{engine, plugin};

/// The error kind of the first call of a fresh instance of `name`.
fn first_call(engine: &Engine, name: &str, limits: Limits) -> ErrorKind {
    let mut instance = plugin(engine, name)
        .with_limits(limits)
        .instantiate()
        .unwrap();
    let kind = instance.call(b"abc").unwrap_err().kind();
    assert_eq!(
        instance.call(b"abc").unwrap_err().kind(),
        ErrorKind::Poisoned,
        "a trapped instance is poisoned"
    );
    kind
}

/// The error kind of instantiating `component`.
fn instantiation(engine: &Engine, component: &[u8], limits: Limits) -> ErrorKind {
    Plugin::new(engine, component)
        .unwrap()
        .with_limits(limits)
        .instantiate()
        .unwrap_err()
        .kind()
}

/// The error kind of loading `bytes`.
fn loading(engine: &Engine, bytes: &[u8]) -> ErrorKind {
    Plugin::new(engine, bytes).unwrap_err().kind()
}

fn endless_fuel(deadline_ms: u64) -> Limits {
    Limits::default()
        .fuel(u64::MAX)
        .deadline(Duration::from_millis(deadline_ms))
}

fn start_loop() -> Vec<u8> {
    handler_component_with(
        "",
        "(list u8)",
        r#"(func $forever (loop $again (br $again)))
           (start $forever)
           (func (export "handle") (param i32 i32) (result i32) i32.const 0)"#,
    )
}

macro_rules! cases {
    ($($name:ident: |$engine:ident| $attack:expr => $expected:expr;)*) => {$(
        #[test]
        fn $name() {
            let $engine = engine();
            let kind = with_good_neighbour(&$engine, || $attack);
            assert_eq!(kind, $expected);
        }
    )*};
}

cases! {
    infinite_loop_meets_its_deadline:
        |engine| first_call(&engine, "spin", endless_fuel(50)) => ErrorKind::DeadlineExceeded;
    infinite_loop_runs_out_of_fuel:
        |engine| first_call(&engine, "spin", Limits::default().fuel(10_000_000))
            => ErrorKind::FuelExhausted;
    memory_grow_bomb_hits_the_memory_limit:
        |engine| first_call(&engine, "grow", Limits::default().max_memory_bytes(4 << 20))
            => ErrorKind::MemoryLimit;
    unbounded_recursion_overflows_the_stack:
        |engine| first_call(&engine, "recurse", endless_fuel(10_000)) => ErrorKind::StackOverflow;
    guest_panic_traps:
        |engine| first_call(&engine, "panic", Limits::default()) => ErrorKind::Trap;
    infinite_loop_in_the_start_function_meets_its_deadline:
        |engine| instantiation(&engine, &start_loop(), endless_fuel(20))
            => ErrorKind::DeadlineExceeded;
    infinite_loop_in_the_start_function_runs_out_of_fuel:
        |engine| instantiation(&engine, &start_loop(), Limits::default().fuel(1_000_000))
            => ErrorKind::FuelExhausted;
    table_grow_bomb_hits_the_table_limit:
        |engine| {
            let component = handler_component_with(
                "",
                "(list u8)",
                r#"(table $t 1 funcref)
                   (func (export "handle") (param i32 i32) (result i32)
                       (loop $again
                           (br_if $again (i32.ne (table.grow $t (ref.null func) (i32.const 1000))
                                                 (i32.const -1))))
                       unreachable)"#,
            );
            let plugin = Plugin::new(&engine, &component)
                .unwrap()
                .with_limits(Limits::default().max_table_elements(5_000));
            plugin.instantiate().unwrap().call(b"").unwrap_err().kind()
        } => ErrorKind::TableLimit;
    initial_memory_above_the_limit_fails_instantiation:
        |engine| {
            let hello = plugbox_artifacts::HELLO.bytes;
            instantiation(&engine, hello, Limits::default().max_memory_bytes(64 << 10))
        } => ErrorKind::MemoryLimit;
    empty_bytes_are_refused:
        |engine| loading(&engine, b"") => ErrorKind::InvalidComponent;
    random_bytes_are_refused:
        |engine| loading(&engine, &[0x5a; 4096]) => ErrorKind::InvalidComponent;
    truncated_component_is_refused:
        |engine| {
            let hello = plugbox_artifacts::HELLO.bytes;
            loading(&engine, &hello[..hello.len() / 2])
        } => ErrorKind::InvalidComponent;
    core_module_is_refused:
        |engine| loading(&engine, &wat::parse_str("(module)").unwrap())
            => ErrorKind::InvalidComponent;
    unknown_host_import_is_refused:
        |engine| {
            let component = handler_component_with(
                r#"(import "evil:host/escape" (instance (export "open" (func))))"#,
                "(list u8)",
                r#"(func (export "handle") (param i32 i32) (result i32) i32.const 0)"#,
            );
            loading(&engine, &component)
        } => ErrorKind::InterfaceMismatch;
}
