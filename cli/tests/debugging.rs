//! `plugbox run --backtrace` with source lines, and `--coredump FILE`.

#![allow(clippy::unwrap_used)]

mod common;

use common::{plugbox, stderr, stdout};

#[test]
fn backtraces_name_source_lines_of_plugins_built_with_line_tables() {
    let with_lines = plugbox_artifacts::PANIC_WITH_DEBUG_INFO.path;
    let output = plugbox(&["run", with_lines, "--backtrace"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let stderr = stderr(&output);
    assert!(stderr.starts_with("plugbox: plugin trapped"), "{stderr}");
    assert!(stderr.contains("panic/src/lib.rs:"), "{stderr}");
}

#[test]
fn coredump_writes_a_core_dump_of_a_trapped_call() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("panic.coredump.wasm");
    let file = path.to_str().unwrap();
    let marker = "cli-core-dump-marker-e1";
    let output = plugbox(&[
        "run",
        "--builtin",
        "panic",
        "--input",
        marker,
        "--coredump",
        file,
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("core dump written to"),
        "{}",
        stderr(&output)
    );
    let dump = std::fs::read(&path).unwrap();
    let mut stack_frames = 0;
    let mut memory = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(&dump) {
        match payload.unwrap() {
            wasmparser::Payload::CustomSection(section) => {
                if let wasmparser::KnownCustom::CoreDumpStack(stack) = section.as_known() {
                    stack_frames += stack.frames.len();
                }
            }
            wasmparser::Payload::DataSection(reader) => {
                for segment in reader {
                    memory.extend_from_slice(segment.unwrap().data);
                }
            }
            _ => {}
        }
    }
    assert!(stack_frames >= 2, "{stack_frames} frames");
    assert!(memory.windows(marker.len()).any(|w| w == marker.as_bytes()));

    // A call that does not trap writes nothing.
    let path = dir.path().join("hello.coredump.wasm");
    let output = plugbox(&[
        "run",
        "--builtin",
        "hello",
        "--input",
        "x",
        "--coredump",
        path.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "X\n");
    assert!(!path.exists());
}
