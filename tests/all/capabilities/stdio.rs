//! stdout and stderr: captured (bounded, truncation flagged) or discarded.

use super::{ask, probe};
use crate::neighbour::with_good_neighbour;

#[test]
fn captured_output_is_kept_per_instance() {
    let engine = crate::engine();
    let policy = "[stdio]\nstdout = \"capture\"\nstderr = \"capture\"\n";
    let mut a = probe(&engine, policy);
    let mut b = probe(&engine, policy);
    assert_eq!(ask(&mut a, "print hello from a"), "ok");
    assert_eq!(ask(&mut a, "eprint oops"), "ok");
    assert_eq!(ask(&mut b, "print hello from b"), "ok");
    let out = a.take_stdout();
    assert_eq!(out.bytes, b"hello from a");
    assert!(!out.truncated);
    assert_eq!(a.take_stderr().bytes, b"oops");
    assert_eq!(b.take_stdout().bytes, b"hello from b");
    // Taking empties the capture.
    assert!(a.take_stdout().bytes.is_empty());
}

#[test]
fn output_beyond_the_cap_is_truncated_and_flagged() {
    let engine = crate::engine();
    let mut instance = probe(
        &engine,
        "[stdio]\nstdout = \"capture\"\ncapture_bytes = 8\n",
    );
    // The plugin is not disturbed: its writes succeed.
    let answer = with_good_neighbour(&engine, || ask(&mut instance, "print 0123456789abcdef"));
    assert_eq!(answer, "ok");
    let out = instance.take_stdout();
    assert_eq!(out.bytes, b"01234567");
    assert!(out.truncated);
}

#[test]
fn uncaptured_output_is_discarded() {
    let mut instance = probe(&crate::engine(), "");
    assert_eq!(ask(&mut instance, "print into the void"), "ok");
    let out = instance.take_stdout();
    assert!(out.bytes.is_empty() && !out.truncated);
}

#[test]
fn traced_output_reaches_the_hosts_tracing_line_by_line() {
    let engine = crate::engine();
    let policy = "name = \"tracer\"\n[stdio]\nstdout = \"tracing\"\nstderr = \"tracing\"\n";
    let events = crate::traced::record(|| {
        let mut instance = probe(&engine, policy);
        // The plugin is not disturbed: its writes succeed.
        assert_eq!(ask(&mut instance, "print line one\nline two"), "ok");
        assert_eq!(ask(&mut instance, "eprint oops\n"), "ok");
        assert!(
            instance.take_stdout().bytes.is_empty(),
            "traced, not captured"
        );
        // An unterminated last line is logged when the instance goes.
        drop(instance);
    });
    let lines: Vec<[&str; 3]> = events
        .iter()
        .filter(|event| event.target == "plugbox::guest")
        .map(|event| {
            assert_eq!(event.level, tracing::Level::INFO);
            [
                event.field("plugin").unwrap(),
                event.field("stream").unwrap(),
                event.field("message").unwrap(),
            ]
        })
        .collect();
    assert_eq!(
        lines,
        [
            ["tracer", "stdout", "line one"],
            ["tracer", "stderr", "oops"],
            ["tracer", "stdout", "line two"],
        ]
    );
}
