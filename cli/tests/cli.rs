//! The `plugbox` binary as a user meets it: outputs, exit statuses, and
//! one-line errors for bad arguments and bad files.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

fn plugbox(args: &[&str]) -> Output {
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

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// A failure: the given exit status and exactly one line on stderr, starting
/// with `plugbox: ` and containing `needle`.
fn assert_one_line_failure(output: &Output, status: i32, needle: &str) {
    let stderr = stderr(output);
    assert_eq!(output.status.code(), Some(status), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    assert!(stderr.starts_with("plugbox: "), "{stderr:?}");
    assert!(stderr.contains(needle), "{needle:?} not in {stderr:?}");
    assert!(!stderr.contains("panicked"), "{stderr:?}");
}

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
fn density_writes_a_report_with_the_issue_shape() {
    let dir = tempfile::tempdir().unwrap();
    let output = plugbox(&[
        "density",
        "--tenants",
        "10",
        "--methods",
        "plugbox-pooling,process",
        "--throughput-ms",
        "50",
        "--fib",
        "20",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    assert!(table.contains("plugbox-pooling"), "{table}");
    assert!(table.contains("compute overhead"), "{table}");
    let text = std::fs::read_to_string(dir.path().join("report.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    let positive = |value: &serde_json::Value| value.as_f64().is_some_and(|v| v > 0.0);
    assert!(positive(&report["machine"]["cpus"]), "{report}");
    assert!(positive(&report["machine"]["memory_gib"]), "{report}");
    assert!(report["machine"]["kernel"].is_string(), "{report}");
    let runs = report["runs"].as_array().unwrap();
    // The ramp 1, 10 for each of the two methods.
    assert_eq!(runs.len(), 4, "{report}");
    for run in runs {
        assert!(run["stopped_by"].is_null(), "{run}");
        assert!(run["tenants"].as_u64().is_some_and(|n| n == 1 || n == 10));
        for percentile in ["p50", "p90", "p99"] {
            assert!(positive(&run["cold_start_us"][percentile]), "{run}");
        }
        assert!(positive(&run["throughput_rps"]), "{run}");
        // A caller per core, at most one per tenant.
        let callers = run["throughput_callers"].as_u64().unwrap_or_default();
        let tenants = run["tenants"].as_u64().unwrap_or_default();
        assert!(callers >= 1 && callers <= tenants, "{run}");
        assert!(
            run["throughput_requests"].as_u64() >= Some(tenants),
            "{run}"
        );
        assert!(run["latency_requests"].as_u64() >= Some(tenants), "{run}");
        assert!(positive(&run["latency_us"]["p50"]), "{run}");
        assert!(positive(&run["latency_us"]["p99"]), "{run}");
        // Memory may be within measurement noise of zero at one tenant.
        assert!(run["pss_kib_per_tenant"].is_number(), "{run}");
        assert!(
            run["charged_kib_per_tenant"].is_number() || run["charged_unavailable"].is_string(),
            "{run}"
        );
    }
    let ten_processes = runs
        .iter()
        .find(|run| run["method"] == "process" && run["tenants"] == 10)
        .unwrap();
    assert!(
        positive(&ten_processes["pss_kib_per_tenant"]),
        "{ten_processes}"
    );
    assert!(report["skipped"].is_array(), "{report}");
    // Tenants per node, per method, fixed costs included.
    let nodes = report["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2, "{report}");
    for node in nodes {
        assert!(positive(&node["first_tenant_kib"]), "{node}");
        assert!(positive(&node["per_tenant_kib"]), "{node}");
        assert!(positive(&node["tenants"]), "{node}");
    }
    assert!(table.contains("tenants per node"), "{table}");
    for field in ["native_ms", "wasm_ms", "wasm_fuel_ms"] {
        assert!(positive(&report["compute"][field]), "{report}");
    }
    assert!(dir.path().join("report.svg").is_file());
    let svg = std::fs::read_to_string(dir.path().join("report.svg")).unwrap();
    assert!(svg.contains("polyline"), "{svg}");
}

#[test]
fn density_rejects_an_unknown_method() {
    let output = plugbox(&["density", "--methods", "docker"]);
    assert_one_line_failure(&output, 1, "unknown method `docker`");
}

#[test]
fn density_rejects_an_unknown_workload() {
    let output = plugbox(&["density", "--workload", "cobol"]);
    assert_one_line_failure(
        &output,
        2,
        "unknown workload `cobol` (known: rust, python, js)",
    );
}

#[test]
fn density_runs_the_python_workload_and_judges_issue_13s_figures() {
    let dir = tempfile::tempdir().unwrap();
    // Shared by test runs and with the density crate's tests: CPython's
    // component compiles once.
    let cache = concat!(env!("CARGO_TARGET_TMPDIR"), "/polyglot-cache");
    let output = plugbox(&[
        "density",
        "--workload",
        "python",
        "--tenants",
        "2",
        "--methods",
        "plugbox-pooling,namespaced",
        "--throughput-ms",
        "20",
        "--cache-dir",
        cache,
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    assert!(
        table.contains("workload: python (plugins/py-hello)"),
        "{table}"
    );
    assert!(table.contains("native workers: python3 "), "{table}");
    let text = std::fs::read_to_string(dir.path().join("report.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["settings"]["workload"], "python", "{report}");
    let runs = report["runs"].as_array().unwrap();
    // A level that cannot run here is skipped, except on CI.
    let skipped = report["skipped"].as_array().unwrap();
    if std::env::var_os("CI").is_some() {
        assert!(skipped.is_empty(), "{report}");
    }
    // The ramp 1, 2 for each method that ran, every tenant answering.
    assert_eq!(runs.len(), 2 * (2 - skipped.len()), "{report}");
    for run in runs {
        assert!(run["stopped_by"].is_null(), "{run}");
        assert!(run["stop_detail"].is_null(), "{run}");
    }
    // fib is Rust: not part of this workload.
    assert!(report["compute"].is_null(), "{report}");
    let claims = report["claims"].as_array().unwrap();
    for claim in [
        "Python Wasm tenant cold start (p50)",
        "Python cold start vs python3 in namespaced",
        "Python Wasm tenant charged memory",
        "Python memory per tenant vs python3 in namespaced",
    ] {
        let judged = claims.iter().find(|c| c["claim"] == claim);
        let verdict = judged.map(|c| c["verdict"].clone()).unwrap_or_default();
        assert!(
            verdict == "holds" || verdict == "holds by far" || verdict == "does not hold",
            "{claim}: {judged:?}"
        );
    }
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
