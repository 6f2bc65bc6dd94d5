//! `plugbox run WASM --each-line --watch`: the plugin file replaced while the
//! process serves, as a deploy does; a broken replacement leaves the
//! previous version serving.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

struct Serving {
    child: Child,
    answers: BufReader<ChildStdout>,
    /// stderr, line by line, as it comes.
    said: Receiver<String>,
}

impl Serving {
    fn start(wasm: &std::path::Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_plugbox"))
            .arg("run")
            .arg(wasm)
            .args(["--each-line", "--watch", "--no-cache"])
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let answers = BufReader::new(child.stdout.take().unwrap());
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (sender, said) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines() {
                if sender.send(line.unwrap()).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            answers,
            said,
        }
    }

    fn ask(&mut self, request: &str) -> String {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{request}").unwrap();
        stdin.flush().unwrap();
        let mut answer = String::new();
        self.answers.read_line(&mut answer).unwrap();
        answer.trim_end_matches('\n').to_string()
    }

    /// The first line on stderr containing `needle`, within 30 s.
    fn wait_for(&self, needle: &str) -> String {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.said.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!("no {needle:?} on stderr in 30 s"),
                Err(RecvTimeoutError::Disconnected) => panic!("stderr closed before {needle:?}"),
            }
        }
    }
}

/// Replaces `path` atomically with `bytes` (write beside it, rename over).
fn deploy(path: &std::path::Path, bytes: &[u8]) {
    let staged = path.with_extension("staged");
    std::fs::write(&staged, bytes).unwrap();
    std::fs::rename(&staged, path).unwrap();
}

#[test]
fn a_replaced_plugin_file_serves_the_next_request_and_a_broken_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("plugin.wasm");
    std::fs::write(&wasm, plugbox_artifacts::HELLO.bytes).unwrap();
    let mut serving = Serving::start(&wasm);
    assert_eq!(serving.ask("config greeting"), "CONFIG GREETING");

    // A new version: host-probe answers `config KEY` itself.
    deploy(&wasm, plugbox_artifacts::HOST_PROBE.bytes);
    let reloaded = serving.wait_for("plugbox: reloaded");
    assert!(reloaded.contains("(generation 2)"), "{reloaded}");
    assert_eq!(serving.ask("config greeting"), "(unset)");

    // A broken version is refused; the previous one keeps serving.
    deploy(&wasm, b"\0asm this is not a component");
    let refused = serving.wait_for("failed, the previous version keeps serving");
    assert!(refused.contains("invalid component"), "{refused}");
    assert_eq!(serving.ask("config greeting"), "(unset)");

    // And a WASI plugin after it.
    deploy(&wasm, plugbox_artifacts::HELLO_STD.bytes);
    let reloaded = serving.wait_for("plugbox: reloaded");
    assert!(reloaded.contains("(generation 3)"), "{reloaded}");
    assert_eq!(serving.ask("config greeting"), "CONFIG GREETING");

    drop(serving.child.stdin.take());
    let status = serving.child.wait().unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn watch_needs_a_plugin_file_and_each_line() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_plugbox"))
            .arg("run")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let output = run(&["--builtin", "hello", "--each-line", "--watch"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        stderr,
        "plugbox: --watch needs a plugin file (WASM) to watch, not a built-in plugin\n"
    );
    let output = run(&["plugin.wasm", "--watch"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        stderr,
        "plugbox: the following required arguments were not provided: --each-line \
         (see `plugbox --help`)\n"
    );
}
