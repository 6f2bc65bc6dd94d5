//! What a hostile plugin says, as `plugbox run` shows it: its logs on
//! stderr with their level and the plugin's name; its error strings, log
//! messages, captured and traced output and function names escaped (no raw
//! control character: only the line ends plugbox writes) and long texts cut
//! with the count of bytes left out.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

/// What the issue saw printed raw: a screen clear, a colour, a window title,
/// a forged second line; plus a bidi override, a carriage return and a NUL
/// (which cannot be an argument: see [`input_file`]).
const HOSTILE: &str =
    "\x1b[2J\x1b[31mPWNED\x1b]0;title\x07 line2\nplugbox: INFO forged entry \u{202e}fdp.exe\r";

/// [`HOSTILE`] as it must be shown.
const SHOWN: &str =
    r"\x1b[2J\x1b[31mPWNED\x1b]0;title\x07 line2\nplugbox: INFO forged entry \u{202e}fdp.exe\r";

fn plugbox(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_plugbox"));
    command
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LOG")
        // Never the user's compiled-code cache.
        .env("XDG_CACHE_HOME", "")
        .env("HOME", "");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

/// stderr, after checking that it is UTF-8 holding no raw control
/// character but the line ends plugbox writes.
fn inert_stderr(output: &Output) -> String {
    let stderr = String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8");
    let raw: Vec<char> = stderr
        .chars()
        .filter(|&c| c != '\n' && plugbox::safe_text::is_escaped(c))
        .collect();
    assert!(
        raw.is_empty(),
        "raw {raw:?} in {:?}",
        &stderr[..stderr.len().min(300)]
    );
    stderr
}

/// A file in `dir` holding `bytes` (for NULs and long texts).
/// `plugbox run --builtin BUILTIN --policy POLICY INPUT_FLAG INPUT`.
fn run_builtin(builtin: &str, policy: &str, input_flag: &str, input: &str) -> Output {
    plugbox(
        &[
            "run",
            "--builtin",
            builtin,
            "--policy",
            policy,
            input_flag,
            input,
        ],
        &[],
    )
}

fn input_file(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn a_plugins_log_line_appears_with_its_level_and_name() {
    let dir = tempfile::tempdir().unwrap();
    let policy = input_file(&dir, "p.toml", b"name = \"tenant-7\"\n");
    let run = |log: &str, args: &[&str], env: &[(&str, &str)]| {
        let input = format!("log {log} hello from the plugin");
        let mut all = vec!["run", "--builtin", "host-probe", "--policy", &policy];
        all.extend(["--input", &input]);
        all.extend(args);
        let output = plugbox(&all, env);
        assert!(output.status.success(), "{output:?}");
        assert_eq!(output.stdout, b"ok\n");
        inert_stderr(&output)
    };
    let stderr = run("warn", &[], &[]);
    let line = stderr
        .lines()
        .find(|line| line.contains("hello from the plugin"))
        .unwrap_or_else(|| panic!("no log line in {stderr:?}"));
    assert_eq!(
        line.trim_start(),
        "WARN plugbox::plugin: hello from the plugin plugin=tenant-7"
    );
    // Default: info and up.
    assert!(run("info", &[], &[]).contains(" INFO plugbox::plugin: hello"));
    assert!(!run("debug", &[], &[]).contains("hello"));
    // --log-level and RUST_LOG choose; the flag wins.
    assert!(run("debug", &["--log-level", "debug"], &[]).contains("DEBUG plugbox::plugin: hello"));
    assert!(!run("warn", &["--log-level", "error"], &[]).contains("hello"));
    let trace = [("RUST_LOG", "plugbox::plugin=trace")];
    assert!(run("trace", &[], &trace).contains("TRACE plugbox::plugin: hello"));
    assert!(!run("warn", &[], &[("RUST_LOG", "off")]).contains("hello"));
    assert!(run("warn", &["--log-level", "warn"], &[("RUST_LOG", "off")]).contains("hello"));
}

#[test]
fn bad_log_levels_are_one_line_errors() {
    let output = plugbox(&["run", "--log-level", "loud"], &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = inert_stderr(&output);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("loud"), "{stderr}");
    let output = plugbox(&["run"], &[("RUST_LOG", "plugbox=\x1b[31mloud")]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = inert_stderr(&output);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(r"plugbox: RUST_LOG `plugbox=\x1b[31mloud`: "),
        "{stderr}"
    );
}

#[test]
fn a_hostile_error_string_is_one_inert_line() {
    let input = format!("err {HOSTILE}");
    let output = plugbox(&["run", "--builtin", "hostile", "--input", &input], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        inert_stderr(&output),
        format!("plugbox: plugin returned an error: {SHOWN}\n")
    );
}

#[test]
fn a_nul_flood_error_is_cut_with_the_count_of_bytes_left_out() {
    let output = plugbox(
        &[
            "run",
            "--builtin",
            "hostile",
            "--input",
            "nul-flood 1048576",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = inert_stderr(&output);
    assert_eq!(stderr.lines().count(), 1);
    assert!(
        stderr.starts_with(r"plugbox: plugin returned an error: \0\0\0"),
        "{}",
        &stderr[..80]
    );
    assert!(
        stderr.ends_with("\\0… (1044480 more bytes)\n"),
        "{}",
        &stderr[stderr.len() - 80..]
    );
    assert!(stderr.len() < 10_000, "{} bytes", stderr.len());
}

#[test]
fn hostile_and_flooding_log_messages_are_inert_and_cut() {
    let dir = tempfile::tempdir().unwrap();
    let input = format!("log error {HOSTILE}");
    let output = plugbox(&["run", "--builtin", "host-probe", "--input", &input], &[]);
    assert!(output.status.success(), "{output:?}");
    let stderr = inert_stderr(&output);
    assert!(
        stderr.contains(&format!("ERROR plugbox::plugin: {SHOWN} plugin=")),
        "{stderr}"
    );
    // 1 MiB of NULs, logged whole by the library (within the policy's
    // budget), cut by the CLI.
    let policy = input_file(
        &dir,
        "p.toml",
        b"[limits]\nmax_log_bytes = 2097152\nmax_input_bytes = 2097152\n",
    );
    let mut flood = b"log warn ".to_vec();
    flood.resize(flood.len() + (1 << 20), 0);
    let flood = input_file(&dir, "flood", &flood);
    let output = run_builtin("host-probe", &policy, "--input-file", &flood);
    assert!(output.status.success(), "{output:?}");
    let stderr = inert_stderr(&output);
    let line = stderr.lines().find(|line| line.contains("WARN")).unwrap();
    // Shown: 4096 bytes of the escaped message (2 bytes per NUL).
    assert!(line.contains(&format!(
        "{}… ({} more bytes)",
        r"\0".repeat(2048),
        (2 << 20) - 4096
    )));
    assert!(line.len() < 5_000, "{} bytes", line.len());
}

#[test]
fn hostile_captured_output_is_inert_line_by_line_and_cut() {
    let dir = tempfile::tempdir().unwrap();
    let policy = input_file(
        &dir,
        "p.toml",
        b"[limits]\nmax_input_bytes = 2097152\n[stdio]\nstdout = \"capture\"\ncapture_bytes = 2097152\n",
    );
    let input = format!("print {HOSTILE}");
    let output = run_builtin("wasi-probe", &policy, "--input", &input);
    assert!(output.status.success(), "{output:?}");
    let stderr = inert_stderr(&output);
    // The plugin's newline is a line of ours, which says whose it is.
    let (first, second) = SHOWN.split_once(r"\n").unwrap();
    assert!(
        stderr.starts_with(&format!(
            "plugin stdout: {first}\nplugin stdout: {second}\n"
        )),
        "{stderr}"
    );
    let mut flood = b"print ".to_vec();
    flood.resize(flood.len() + (1 << 20), 0);
    let flood = input_file(&dir, "flood", &flood);
    let output = run_builtin("wasi-probe", &policy, "--input-file", &flood);
    assert!(output.status.success(), "{output:?}");
    let stderr = inert_stderr(&output);
    let first = stderr.lines().next().unwrap();
    assert!(
        first.starts_with(r"plugin stdout: \0\0"),
        "{}",
        &first[..40]
    );
    assert!(first.ends_with(&format!("… ({} more bytes)", (1 << 20) - (64 << 10))));
}

#[test]
fn traced_output_is_shown_as_log_lines_with_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let policy = input_file(
        &dir,
        "p.toml",
        b"name = \"tracer\"\n[stdio]\nstdout = \"tracing\"\n",
    );
    let input = format!("print {HOSTILE}\n");
    let output = run_builtin("wasi-probe", &policy, "--input", &input);
    assert!(output.status.success(), "{output:?}");
    let stderr = inert_stderr(&output);
    let (first, second) = SHOWN.split_once(r"\n").unwrap();
    for part in [first, second] {
        let line = format!("INFO plugbox::guest: {part} plugin=tracer stream=\"stdout\"");
        assert!(stderr.contains(&line), "{line:?} not in {stderr:?}");
    }
}

#[test]
fn function_names_in_a_backtrace_are_escaped_and_indented() {
    let output = plugbox(
        &[
            "run",
            plugbox_artifacts::wat::ESCAPE_NAMES.path,
            "--backtrace",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = inert_stderr(&output);
    let mut lines = stderr.lines();
    assert!(
        lines.next().unwrap().starts_with("plugbox: plugin trapped"),
        "{stderr}"
    );
    // The name's own newline cannot be told from the backtrace's: every line
    // of the backtrace is indented under the error, the forged one too.
    assert!(lines.all(|line| line.starts_with("  ")), "{stderr}");
    assert!(stderr.contains(r"!evil\x1b[2J\x1b]0;pwned\x07"), "{stderr}");
    assert!(
        stderr.contains("\n  plugbox: INFO forged line \\u{202e}gpj.exe\n"),
        "{stderr}"
    );
}
