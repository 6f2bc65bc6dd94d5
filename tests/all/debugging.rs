//! Source-level debugging, opt-in per engine: file and line in trap
//! backtraces (`EngineBuilder::backtrace_details`) and Wasm core dumps of
//! trapped instances (`EngineBuilder::coredump_on_trap`), on a lean plugin
//! and on a WASI one.

use plugbox::{Allocator, Engine, ErrorKind, Limits, Plugin};

use crate::{assert_engine_still_serves, plugin};

fn engine_with(details: bool, coredump: bool) -> Engine {
    Engine::builder()
        .allocator(Allocator::Pooling { capacity: 8 })
        .backtrace_details(details)
        .coredump_on_trap(coredump)
        .build()
        .unwrap()
}

/// `plugins/panic/src/lib.rs:LINE`, LINE the one that indexes out of bounds.
fn panic_source_line() -> String {
    let source = include_str!("../../plugins/panic/src/lib.rs");
    let line = source
        .lines()
        .position(|line| line.contains("bytes[core::hint::black_box(index)]"))
        .expect("the indexing line")
        + 1;
    format!("panic/src/lib.rs:{line}")
}

fn trap_of(engine: &Engine, bytes: &[u8], input: &[u8]) -> plugbox::Error {
    let mut instance = Plugin::new(engine, bytes).unwrap().instantiate().unwrap();
    let error = instance.call(input).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Trap, "{error}");
    error
}

#[test]
fn backtraces_name_the_source_line_of_plugins_built_with_line_tables() {
    let engine = engine_with(true, false);
    assert!(engine.backtrace_details());
    let with_lines = plugbox_artifacts::PANIC_WITH_DEBUG_INFO.bytes;
    let error = trap_of(&engine, with_lines, b"abc");
    let backtrace = error.wasm_backtrace().unwrap();
    let line = panic_source_line();
    assert!(backtrace.contains(&line), "no {line} in:\n{backtrace}");
    // The same plugin without line tables: functions only.
    let error = trap_of(&engine, plugbox_artifacts::PANIC.bytes, b"abc");
    let backtrace = error.wasm_backtrace().unwrap();
    assert!(backtrace.contains("nth_byte"), "{backtrace}");
    assert!(!backtrace.contains("lib.rs:"), "{backtrace}");
    // Opt-in: a default engine names functions only, whatever the plugin has.
    let default = engine_with(false, false);
    assert!(!default.backtrace_details());
    let error = trap_of(&default, with_lines, b"abc");
    let backtrace = error.wasm_backtrace().unwrap();
    assert!(backtrace.contains("nth_byte"), "{backtrace}");
    assert!(!backtrace.contains("lib.rs:"), "{backtrace}");
}

/// What a core dump holds, read back with wasmparser.
struct CoreDump {
    process: String,
    frames: usize,
    /// Every data segment's bytes, in order: the memories' non-zero runs.
    data: Vec<u8>,
}

fn read_core_dump(bytes: &[u8]) -> CoreDump {
    use wasmparser::{KnownCustom, Parser, Payload};
    assert!(bytes.starts_with(b"\0asm\x01\0\0\0"), "a core module");
    let mut dump = CoreDump {
        process: String::new(),
        frames: 0,
        data: Vec::new(),
    };
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.expect("the core dump parses") {
            Payload::CustomSection(section) => match section.as_known() {
                KnownCustom::CoreDump(core) => dump.process = core.name.to_string(),
                KnownCustom::CoreDumpStack(stack) => dump.frames += stack.frames.len(),
                _ => {}
            },
            Payload::DataSection(reader) => {
                for segment in reader {
                    dump.data.extend_from_slice(segment.unwrap().data);
                }
            }
            _ => {}
        }
    }
    dump
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[test]
fn a_trap_carries_a_core_dump_of_the_instance() {
    let engine = engine_with(false, true);
    assert!(engine.coredump_on_trap());
    let marker = b"core-dump-marker-7c41e9";
    let error = trap_of(&engine, plugbox_artifacts::PANIC.bytes, marker);
    let dump = read_core_dump(error.core_dump().expect("a core dump"));
    assert!(!dump.process.is_empty(), "the dump names the plugin");
    assert!(dump.frames >= 2, "{} frames", dump.frames);
    assert!(contains(&dump.data, marker), "the input is in the memory");
    assert_engine_still_serves(&engine);
    // Off by default.
    let error = trap_of(
        &engine_with(false, false),
        plugbox_artifacts::PANIC.bytes,
        marker,
    );
    assert!(error.core_dump().is_none());
}

#[test]
fn a_limit_is_a_trap_with_a_core_dump_and_other_errors_have_none() {
    let engine = engine_with(false, true);
    let spin = plugin(&engine, "spin").with_limits(Limits::default().fuel(100_000));
    let error = spin.instantiate().unwrap().call(b"").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::FuelExhausted, "{error}");
    let dump = read_core_dump(error.core_dump().expect("a core dump"));
    assert!(dump.frames >= 1);
    // Refused before the guest ran: nothing to dump.
    let hello = plugin(&engine, "hello").with_limits(Limits::default().max_input_bytes(4));
    let error = hello.instantiate().unwrap().call(b"too long").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InputTooLarge, "{error}");
    assert!(error.core_dump().is_none());
}

#[test]
fn a_wasi_plugin_trapping_after_wasi_calls_has_a_core_dump() {
    let engine = engine_with(true, true);
    let probe = plugin(&engine, "wasi-probe");
    let mut instance = probe.instantiate().unwrap();
    // WASI calls first (the call runs on a fiber, through the WASI linker).
    assert_eq!(instance.call(b"print hi").unwrap().output, b"ok");
    let marker = b"wasi-core-dump-marker-03d2";
    let mut input = b"panic ".to_vec();
    input.extend_from_slice(marker);
    let error = instance.call(&input).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Trap, "{error}");
    let dump = read_core_dump(error.core_dump().expect("a core dump"));
    assert!(dump.frames >= 2, "{} frames", dump.frames);
    assert!(contains(&dump.data, marker), "the input is in the memory");
    assert!(error.wasm_backtrace().unwrap().contains("wasi_probe"));
    assert_engine_still_serves(&engine);
}
