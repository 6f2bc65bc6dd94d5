//! The `plugbox` binary as a user meets it: outputs, exit statuses, and
//! one-line errors for bad arguments and bad files.

#![allow(clippy::unwrap_used)]

use std::process::Command;

mod common;

use common::{assert_one_line_failure, plugbox, stderr, stdout};

#[test]
fn run_defaults_to_the_built_in_hello() {
    let output = plugbox(&["run", "--input", "hello, plugbox"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "HELLO, PLUGBOX\n");
    let stats = stderr(&output);
    assert!(stats.starts_with("fuel used: "), "{stats}");
    assert!(stats.contains(" ms"), "{stats}");
}

#[test]
fn run_reads_files_and_input_files() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("n.txt");
    std::fs::write(&input, "25").unwrap();
    let output = plugbox(&[
        "run",
        plugbox_artifacts::FIB.path,
        "--input-file",
        input.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "75025\n");
}

#[test]
fn limits_from_flags_stop_hostile_plugins() {
    // Fuel enough that only the deadline can stop it, even when a busy
    // machine delays the epoch ticker.
    let spin = plugbox(&[
        "run",
        "--builtin",
        "spin",
        "--timeout",
        "50",
        "--fuel",
        "1000000000000",
    ]);
    assert_one_line_failure(&spin, 1, "deadline exceeded");
    let spin = plugbox(&["run", "--builtin", "spin", "--fuel", "1000000"]);
    assert_one_line_failure(&spin, 1, "fuel exhausted");
    let grow = plugbox(&["run", "--builtin", "grow", "--memory", "8MiB"]);
    assert_one_line_failure(&grow, 1, "memory limit exceeded");
    let recurse = plugbox(&["run", "--builtin", "recurse"]);
    assert_one_line_failure(&recurse, 1, "wasm stack overflow");
}

#[test]
fn backtrace_flag_prints_the_wasm_backtrace() {
    let output = plugbox(&["run", "--builtin", "panic", "--backtrace"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr(&output);
    assert!(stderr.starts_with("plugbox: plugin trapped"), "{stderr}");
    assert!(stderr.contains("nth_byte"), "{stderr}");
}

#[test]
fn bad_files_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.wasm");
    assert_one_line_failure(
        &plugbox(&["run", missing.to_str().unwrap()]),
        1,
        "missing.wasm",
    );
    let empty = dir.path().join("empty.wasm");
    std::fs::write(&empty, b"").unwrap();
    assert_one_line_failure(
        &plugbox(&["run", empty.to_str().unwrap()]),
        1,
        "invalid component",
    );
    let text = dir.path().join("text.wasm");
    std::fs::write(&text, b"definitely not wasm").unwrap();
    assert_one_line_failure(
        &plugbox(&["inspect", text.to_str().unwrap()]),
        1,
        "not WebAssembly",
    );
    let missing_input = dir.path().join("missing.txt");
    assert_one_line_failure(
        &plugbox(&["run", "--input-file", missing_input.to_str().unwrap()]),
        1,
        "missing.txt",
    );
}

#[test]
fn bad_arguments_are_one_line_usage_errors() {
    assert_one_line_failure(&plugbox(&["run", "--bogus"]), 2, "--bogus");
    assert_one_line_failure(&plugbox(&["run", "--memory", "lots"]), 2, "not a size");
    assert_one_line_failure(&plugbox(&["run", "--fuel", "lots"]), 2, "--fuel");
    assert_one_line_failure(&plugbox(&["frobnicate"]), 2, "frobnicate");
    assert_one_line_failure(
        &plugbox(&["run", "--input", "a", "--input-file", "b"]),
        2,
        "cannot be used with",
    );
    assert_one_line_failure(
        &plugbox(&["run", "--builtin", "nope"]),
        1,
        "no built-in plugin",
    );
}

#[test]
fn inspect_says_whether_a_component_fits() {
    let fits = plugbox(&["inspect", "--builtin", "hello"]);
    assert!(fits.status.success());
    let text = stdout(&fits);
    assert!(text.contains("imports: (none)"), "{text}");
    assert!(
        text.contains("handle: func(input: list<u8>) -> result<list<u8>, string>"),
        "{text}"
    );
    assert!(text.contains(": fits (imports nothing)"), "{text}");

    let wasi = stdout(&plugbox(&["inspect", "--builtin", "wasi-probe"]));
    assert!(wasi.contains("wasi:cli/environment"), "{wasi}");
    assert!(wasi.contains("fits (imports WASI"), "{wasi}");
}

#[test]
fn compile_fills_the_cache_once() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().to_str().unwrap();
    let first = plugbox(&["compile", "--builtin", "hello", "--cache-dir", cache]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stdout(&first).starts_with("compiled to "),
        "{}",
        stdout(&first)
    );
    let second = plugbox(&["compile", "--builtin", "hello", "--cache-dir", cache]);
    assert!(
        stdout(&second).starts_with("already cached: "),
        "{}",
        stdout(&second)
    );
}

#[test]
fn policy_files_grant_capabilities_and_report_their_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/note.txt"), "from the host").unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[[mounts]]\nhost = \"data\"\nguest = \"/data\"\n[stdio]\nstdout = \"capture\"\n",
    )
    .unwrap();
    let policy = policy.to_str().unwrap();
    let read = plugbox(&[
        "run",
        "--builtin",
        "wasi-probe",
        "--policy",
        policy,
        "--input",
        "read /data/note.txt",
    ]);
    assert!(read.status.success(), "{}", stderr(&read));
    assert_eq!(stdout(&read), "from the host\n");
    let print = plugbox(&[
        "run",
        "--builtin",
        "wasi-probe",
        "--policy",
        policy,
        "--input",
        "print hi",
    ]);
    assert!(
        stderr(&print).contains("plugin stdout: hi"),
        "{}",
        stderr(&print)
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[limits]\nfule = 1\n").unwrap();
    let output = plugbox(&["run", "--policy", bad.to_str().unwrap()]);
    assert_one_line_failure(
        &output,
        1,
        "bad.toml:2:1: limits.fule: unknown field `fule`",
    );
}

#[test]
fn example_plugins_run_with_their_shipped_policies() {
    let policy = |name: &str| {
        format!(
            "{}/../plugins/{name}/policy.toml",
            env!("CARGO_MANIFEST_DIR")
        )
    };
    let discount = plugbox(&[
        "run",
        "--builtin",
        "discount",
        "--policy",
        &policy("discount"),
        "--input",
        r#"{"lines":[{"id":"a","quantity":12,"price_cents":500}]}"#,
    ]);
    assert!(discount.status.success(), "{}", stderr(&discount));
    assert_eq!(
        stdout(&discount),
        "{\"discounts\":[{\"target\":\"a\",\"percentage\":5,\"amount_cents\":300,\"message\":\"bulk discount\"}],\"total_off_cents\":300}\n"
    );
    let filter = plugbox(&[
        "run",
        "--builtin",
        "http-filter",
        "--policy",
        &policy("http-filter"),
        "--input",
        r#"{"method":"GET","path":"/","headers":[],"now_ms":0}"#,
    ]);
    assert!(filter.status.success(), "{}", stderr(&filter));
    assert!(
        stdout(&filter).contains("\"status\":401"),
        "{}",
        stdout(&filter)
    );
}

#[test]
fn endless_files_and_huge_sizes_are_one_line_errors() {
    // Neither is read until memory runs out.
    assert_one_line_failure(&plugbox(&["run", "/dev/zero"]), 1, "maximum component size");
    assert_one_line_failure(
        &plugbox(&["run", "--input-file", "/dev/zero"]),
        1,
        "the most `run` reads without a policy",
    );
    // With a policy, its input limit refuses the input.
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[limits]\nmax_input_bytes = 1024\n").unwrap();
    assert_one_line_failure(
        &plugbox(&[
            "run",
            "--policy",
            policy.to_str().unwrap(),
            "--input-file",
            "/dev/zero",
        ]),
        1,
        "input too large",
    );
    // No overflow in the memory slot's size.
    assert_one_line_failure(
        &plugbox(&["run", "--memory", "18446744073709551615"]),
        1,
        "at most 4GiB",
    );
    assert_one_line_failure(&plugbox(&["run", "--memory", "5GiB"]), 1, "at most 4GiB");
    let four = plugbox(&["run", "--memory", "4GiB", "--input", "big slot"]);
    assert!(four.status.success(), "{}", stderr(&four));
    assert_eq!(stdout(&four), "BIG SLOT\n");
}

#[test]
fn inspect_says_why_a_component_does_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    // A valid component exporting something else than the plugbox handler.
    let other = wat::parse_str(
        r#"(component
            (core module $m (func (export "f") (result i32) i32.const 7))
            (core instance $i (instantiate $m))
            (func (export "answer") (result u32) (canon lift (core func $i "f"))))"#,
    )
    .unwrap();
    let path = dir.path().join("other.wasm");
    std::fs::write(&path, other).unwrap();
    let output = plugbox(&["inspect", path.to_str().unwrap()]);
    // `run` would refuse it: inspect exits non-zero with the same reason.
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("answer: func() -> u32"), "{text}");
    assert!(text.contains(": does not fit: "), "{text}");
    assert!(text.contains("handler"), "{text}");
    let run = plugbox(&["run", path.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1));
    let reason = stderr(&run);
    let reason = reason.trim_end().trim_start_matches("plugbox: ");
    assert!(
        stderr(&output).contains(reason),
        "{reason} vs {}",
        stderr(&output)
    );

    // A component that fits the world but imports an interface the host
    // does not link (componentize-js's default wasi:http): inspect used to
    // say it fits; it now fails as `run` does, naming the import.
    let http = wat::parse_str(
        r#"(component
            (import "wasi:http/outgoing-handler@0.2.10" (instance (export "handle" (func))))
            (core module $m
                (memory (export "memory") 1)
                (func (export "realloc") (param i32 i32 i32 i32) (result i32) i32.const 8)
                (func (export "handle") (param i32 i32) (result i32) i32.const 0))
            (core instance $i (instantiate $m))
            (func $handle (param "input" (list u8)) (result (result (list u8) (error string)))
                (canon lift (core func $i "handle") (memory (core memory $i "memory"))
                    (realloc (core func $i "realloc"))))
            (instance $handler (export "handle" (func $handle)))
            (export "plugbox:plugin/handler@0.1.0" (instance $handler)))"#,
    )
    .unwrap();
    let path = dir.path().join("http.wasm");
    std::fs::write(&path, http).unwrap();
    let output = plugbox(&["inspect", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(text.contains(": does not fit: "), "{text}");
    assert!(text.contains("wasi:http/outgoing-handler@0.2.10"), "{text}");
    let run = plugbox(&["run", path.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1));
    assert!(stderr(&run).contains("wasi:http/outgoing-handler@0.2.10"));
}

#[test]
fn run_caches_compiled_code_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("cache");
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--builtin", "hello-std", "--input", "cached"];
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_plugbox"))
            .args(&args)
            .env_remove("RUST_BACKTRACE")
            .env("XDG_CACHE_HOME", &home)
            .output()
            .unwrap()
    };
    let first = run(&[]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(stdout(&first), "CACHED\n");
    // One entry, in $XDG_CACHE_HOME/plugbox/<engine key>/.
    let entries = |root: &std::path::Path| -> usize {
        std::fs::read_dir(root)
            .map(|dirs| {
                dirs.flatten()
                    .filter(|entry| entry.path().is_dir())
                    .map(|engine| std::fs::read_dir(engine.path()).unwrap().count())
                    .sum()
            })
            .unwrap_or(0)
    };
    let cached = entries(&home.join("plugbox"));
    assert!(cached >= 1, "nothing cached");
    let again = run(&[]);
    assert_eq!(stdout(&again), "CACHED\n");
    assert_eq!(entries(&home.join("plugbox")), cached, "compiled twice");
    // --no-cache reads and writes nothing; --cache-dir picks the place.
    let elsewhere = dir.path().join("elsewhere");
    let other = run(&["--cache-dir", elsewhere.to_str().unwrap()]);
    assert!(other.status.success(), "{}", stderr(&other));
    assert!(entries(&elsewhere) >= 1);
    let none = dir.path().join("none");
    let uncached = Command::new(env!("CARGO_BIN_EXE_plugbox"))
        .args(["run", "--builtin", "hello", "--input", "x", "--no-cache"])
        .env("XDG_CACHE_HOME", &none)
        .output()
        .unwrap();
    assert!(uncached.status.success(), "{}", stderr(&uncached));
    assert!(!none.exists(), "--no-cache wrote a cache");
}

#[test]
fn inspect_into_a_closed_pipe_is_no_panic() {
    // `plugbox inspect ... | head -1`: the reader is gone before the output.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = Command::new(env!("CARGO_BIN_EXE_plugbox"))
        .args(["inspect", "--builtin", "hello", "--no-cache"])
        .env_remove("RUST_BACKTRACE")
        .stdout(writer)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
}

#[test]
fn run_writes_a_profile_for_the_firefox_profiler() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("fib.json");
    let output = plugbox(&[
        "run",
        "--builtin",
        "fib",
        "--input",
        "30",
        "--profile",
        profile.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "832040\n");
    assert!(
        stderr(&output).contains("profile written to"),
        "{}",
        stderr(&output)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&profile).unwrap()).unwrap();
    assert!(json["threads"].is_array(), "{json}");
    assert!(
        json.to_string().contains("plugbox_plugin_fib::fib"),
        "no fib function in the profile"
    );
}
