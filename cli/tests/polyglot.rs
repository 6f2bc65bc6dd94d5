//! Plugins in other languages under a plain `plugbox run`, as their authors
//! meet them: the components the public toolchains built (Python, JavaScript
//! on StarlingMonkey and on QuickJS with component-model async, Go, C) answer like the Rust `hello`, and a hostile one is stopped at its
//! deadline. A language whose toolchain is missing is skipped with
//! `skipped: <language>: ...`, except where `CI` is set.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

use plugbox_artifacts::polyglot;

/// `plugbox run` with `args`, compiled code kept in `cache`.
fn run(cache: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plugbox"))
        .arg("run")
        .args(args)
        .arg("--cache-dir")
        .arg(cache)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap()
}

/// The built component `name`, or `None` (skipped) where its toolchain is
/// missing and `CI` is not set.
fn component(name: &str) -> Option<&'static str> {
    match polyglot::by_name(name).unwrap().path() {
        Ok(path) => Some(path),
        Err(skipped) if std::env::var_os("CI").is_none() => {
            eprintln!("{skipped}");
            None
        }
        Err(skipped) => panic!("{skipped} (CI is set: every toolchain must be installed)"),
    }
}

#[test]
fn hello_in_every_language_answers_under_plugbox_run() {
    let cache = tempfile::tempdir().unwrap();
    for name in ["py-hello", "js-hello", "qjs-hello", "go-hello", "c-hello"] {
        let Some(path) = component(name) else {
            continue;
        };
        let output = run(cache.path(), &[path, "--input", "hello, plugbox"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{name}: {stderr}");
        assert_eq!(output.stdout, b"HELLO, PLUGBOX\n", "{name}: {stderr}");
        assert!(stderr.contains("fuel used: "), "{name}: {stderr}");
    }
}

#[test]
fn a_spinning_python_or_quickjs_plugin_is_stopped_by_run_timeout() {
    for name in ["py-hostile", "qjs-hostile"] {
        assert_spin_stopped_by_run_timeout(name);
    }
}

fn assert_spin_stopped_by_run_timeout(name: &str) {
    let Some(path) = component(name) else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let output = run(
        cache.path(),
        &[
            path,
            "--input",
            "spin",
            "--timeout",
            "100",
            "--fuel",
            "18446744073709551615",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{name}: {stderr}");
    assert!(stderr.starts_with("plugbox: "), "{name}: {stderr}");
    assert!(stderr.contains("deadline exceeded"), "{name}: {stderr}");
    assert!(!stderr.contains("panicked"), "{name}: {stderr}");
}
