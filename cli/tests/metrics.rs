//! `plugbox run --each-line` (one call per line of stdin) and `--metrics
//! ADDR` (Prometheus text while it runs), as an operator uses them: a
//! long-running process fed through a pipe and scraped over HTTP.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::{Child, ChildStdout, Command, Stdio};

use common::{plugbox, stderr, stdout};

/// `plugbox run ARGS --each-line`, with stdin and stdout piped.
fn serving(args: &[&str]) -> (Child, BufReader<ChildStdout>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_plugbox"))
        .arg("run")
        .args(args)
        .arg("--each-line")
        .env_remove("RUST_BACKTRACE")
        .env("XDG_CACHE_HOME", "")
        .env("HOME", "")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    (child, stdout)
}

/// Sends `request` as one line and reads the one line of answer.
fn ask(child: &mut Child, answers: &mut BufReader<ChildStdout>, request: &str) -> String {
    let stdin = child.stdin.as_mut().unwrap();
    writeln!(stdin, "{request}").unwrap();
    stdin.flush().unwrap();
    let mut answer = String::new();
    answers.read_line(&mut answer).unwrap();
    assert!(answer.ends_with('\n'), "one whole line: {answer:?}");
    answer.pop();
    answer
}

/// Closes stdin and waits: the exit status and stderr.
fn finish(mut child: Child) -> (Option<i32>, String) {
    drop(child.stdin.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (child.wait().unwrap().code(), stderr)
}

/// A port free on 127.0.0.1 now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET http://127.0.0.1:port/metrics: the body.
fn scrape(port: u16) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_string()
}

/// The value of the sample `name{...}` whose labels include every one of
/// `labels` (`key="value"`), in Prometheus text.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .find(|(series, _)| {
            series
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.is_empty())
                && labels.iter().all(|label| series.contains(label))
        })
        .map(|(_, value)| value.parse().unwrap())
}

#[test]
fn each_line_answers_every_request_and_replaces_a_trapped_instance() {
    let (mut child, mut answers) = serving(&["--builtin", "wasi-probe"]);
    let first = ask(&mut child, &mut answers, "monotonic");
    assert!(!first.is_empty());
    // A trap poisons the instance; the next line gets a fresh one.
    assert_eq!(ask(&mut child, &mut answers, "panic boom"), "");
    let third = ask(&mut child, &mut answers, "monotonic");
    assert!(!third.is_empty());
    let (status, stderr) = finish(child);
    assert_eq!(status, Some(1), "{stderr}");
    assert!(
        stderr.contains("plugbox: request 2: plugin trapped"),
        "{stderr}"
    );
    assert!(stderr.contains("1 of 3 requests failed"), "{stderr}");
}

#[test]
fn each_line_escapes_answers_to_one_line_and_refuses_an_overlong_line() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[limits]\nmax_input_bytes = 8\n").unwrap();
    let (mut child, mut answers) =
        serving(&["--builtin", "hello", "--policy", policy.to_str().unwrap()]);
    assert_eq!(ask(&mut child, &mut answers, "abc"), "ABC");
    // 100 KiB on one line: refused, skipped, and the next line is served.
    let long = "x".repeat(100 << 10);
    assert_eq!(ask(&mut child, &mut answers, &long), "");
    assert_eq!(ask(&mut child, &mut answers, "a\u{1b}[2Jb"), r"A\x1b[2JB");
    let (status, stderr) = finish(child);
    assert_eq!(status, Some(1), "{stderr}");
    assert!(
        stderr.contains("plugbox: request 2: input too large"),
        "{stderr}"
    );
    assert!(stderr.contains("1 of 3 requests failed"), "{stderr}");
}

#[test]
fn metrics_are_served_in_prometheus_format_while_running() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "name = \"served\"\n[kv]\n").unwrap();
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let (mut child, mut answers) = serving(&[
        "--builtin",
        "host-probe",
        "--policy",
        policy.to_str().unwrap(),
        "--metrics",
        &address,
    ]);
    assert_eq!(ask(&mut child, &mut answers, "set a 1"), "ok");
    assert_eq!(ask(&mut child, &mut answers, "get a"), "1");
    assert_eq!(ask(&mut child, &mut answers, "no-such-command"), "");

    let text = scrape(port);
    let served = "plugin=\"served\"";
    let calls = |outcome: &str| {
        sample(
            &text,
            "plugbox_calls_total",
            &[served, &format!("outcome=\"{outcome}\"")],
        )
    };
    assert_eq!(calls("ok"), Some(2.0), "{text}");
    assert_eq!(calls("guest"), Some(1.0), "{text}");
    assert_eq!(
        sample(
            &text,
            "plugbox_kv_ops_total",
            &[served, "op=\"set\"", "result=\"ok\""]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "plugbox_call_seconds_count", &[served]),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "plugbox_call_seconds_bucket",
            &[served, "le=\"+Inf\""]
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "plugbox_instances_live", &[served]),
        Some(1.0),
        "{text}"
    );
    assert!(text.contains("digest=\"blake3:"), "{text}");
    assert!(text.contains("# HELP plugbox_calls_total"), "{text}");

    let (status, stderr) = finish(child);
    assert_eq!(status, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("metrics at http://{address}/metrics")),
        "{stderr}"
    );
}

#[test]
fn metrics_on_an_address_in_use_is_a_one_line_failure() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = plugbox(&["run", "--input", "x", "--metrics", &address]);
    common::assert_one_line_failure(&output, 1, &format!("--metrics {address}"));
    assert!(stdout(&output).is_empty(), "{}", stderr(&output));
}
