//! What every CLI test binary uses: the `plugbox` binary run as a user
//! runs it, its output as text, and the shape of a one-line failure.

#![allow(dead_code, clippy::unwrap_used)]

use std::process::{Command, Output};

pub fn plugbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plugbox"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        // Never the user's cache: each test compiles afresh unless it
        // passes --cache-dir itself.
        .env("XDG_CACHE_HOME", "")
        .env("HOME", "")
        .output()
        .unwrap()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// A failure: the given exit status and exactly one line on stderr, starting
/// with `plugbox: ` and containing `needle`.
pub fn assert_one_line_failure(output: &Output, status: i32, needle: &str) {
    let stderr = stderr(output);
    assert_eq!(output.status.code(), Some(status), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    assert!(stderr.starts_with("plugbox: "), "{stderr:?}");
    assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
    assert!(!stderr.contains("panicked"), "{stderr:?}");
}
