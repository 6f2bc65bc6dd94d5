//! The isolation baseline: plugins' native twins as worker processes answer
//! exactly as their Wasm builds do, and failures are typed.

use std::time::Duration;

use plugbox_baseline::{BaselineError, Isolation, Worker};

const GENEROUS: Duration = Duration::from_secs(10);

fn twin(name: &str) -> &'static str {
    plugbox_artifacts::by_name(name)
        .and_then(|artifact| artifact.native)
        .unwrap_or_else(|| panic!("{name} has no native twin"))
}

#[test]
fn native_twins_answer_like_the_wasm_plugins() {
    let engine = crate::engine();
    for name in ["hello", "fib"] {
        let mut wasm = crate::plugin(&engine, name).instantiate().unwrap();
        let mut native = Worker::start(Isolation::Process, twin(name)).unwrap();
        for input in ["hello, plugbox", "straße", "", "20", "25"] {
            let expected = wasm.call(input.as_bytes());
            let got = native.call(input.as_bytes(), GENEROUS);
            match (expected, got) {
                (Ok(expected), Ok(got)) => assert_eq!(expected.output, got, "{name}({input:?})"),
                (Err(expected), Err(BaselineError::Guest(message))) => {
                    assert_eq!(expected.message(), message, "{name}({input:?})")
                }
                (expected, got) => panic!("{name}({input:?}): wasm {expected:?}, native {got:?}"),
            }
        }
        assert!(native.stop().unwrap().success());
    }
}

#[test]
fn a_spinning_twin_is_killed_at_its_deadline() {
    let mut worker = Worker::start(Isolation::Process, twin("spin")).unwrap();
    let pid = worker.pid().unwrap();
    let error = worker.call(b"", Duration::from_millis(100)).unwrap_err();
    assert!(
        matches!(error, BaselineError::DeadlineExceeded(_)),
        "{error:?}"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "killed and reaped"
    );
    assert!(matches!(
        worker.call(b"", GENEROUS),
        Err(BaselineError::Stopped)
    ));
}

#[test]
fn a_crashing_twin_is_reported_as_a_crash() {
    let mut worker = Worker::start(Isolation::Process, twin("panic")).unwrap();
    let error = worker.call(b"abc", GENEROUS).unwrap_err();
    match error {
        BaselineError::WorkerCrashed(status) => assert!(!status.success()),
        other => panic!("expected a crash, got {other:?}"),
    }
}

#[test]
fn a_worker_that_breaks_the_protocol_is_a_protocol_error() {
    // `yes` answers every request with "y\n" forever: not a reply frame.
    let mut worker = Worker::start(Isolation::Process, "/usr/bin/yes").unwrap();
    let error = worker.call(b"anything", GENEROUS).unwrap_err();
    assert!(matches!(error, BaselineError::Protocol(_)), "{error:?}");
}

#[test]
fn a_missing_binary_cannot_start() {
    let error = Worker::start(Isolation::Process, "/nonexistent/twin").unwrap_err();
    assert!(matches!(error, BaselineError::Spawn(_)), "{error:?}");
}

#[test]
fn dropped_workers_leave_no_process_behind() {
    let pids: Vec<u32> = (0..50)
        .map(|_| {
            let mut worker = Worker::start(Isolation::Process, twin("hello")).unwrap();
            assert_eq!(worker.call(b"x", GENEROUS).unwrap(), b"X");
            worker.pid().unwrap()
        })
        .collect();
    for pid in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "pid {pid} left behind"
        );
    }
}

#[test]
fn bubblewrap_twins_answer_like_the_wasm_plugins() {
    let engine = crate::engine();
    let mut wasm = crate::plugin(&engine, "hello").instantiate().unwrap();
    let mut worker = Worker::start(Isolation::Bubblewrap, twin("hello")).unwrap();
    for input in ["hello, plugbox", "straße", ""] {
        assert_eq!(
            worker.call(input.as_bytes(), GENEROUS).unwrap(),
            wasm.call(input.as_bytes()).unwrap().output
        );
    }
    assert!(worker.stop().unwrap().success());
}

/// Runs one probe command in a fresh worker of the `wasi-probe` twin.
fn probe(isolation: Isolation, command: &str) -> String {
    let mut worker = Worker::start(isolation, twin("wasi-probe")).unwrap();
    String::from_utf8(worker.call(command.as_bytes(), GENEROUS).unwrap()).unwrap()
}

#[test]
fn a_plain_process_sees_the_host() {
    // The lower bound isolates nothing: that is what it measures.
    let hostname = std::fs::read_to_string("/etc/hostname").unwrap();
    assert_eq!(probe(Isolation::Process, "read /etc/hostname"), hostname);
}

#[test]
fn bubblewrap_hides_host_files() {
    assert_eq!(
        probe(Isolation::Bubblewrap, "read /etc/hostname"),
        "error: NotFound"
    );
    assert_eq!(probe(Isolation::Bubblewrap, "list /"), "dev\nproc\ntwin");
    // Nothing from the host's environment (bwrap sets only PWD).
    assert_eq!(probe(Isolation::Bubblewrap, "env"), "PWD=/\n");
    assert_eq!(
        probe(Isolation::Bubblewrap, "write /twin overwritten"),
        "error: ReadOnlyFilesystem"
    );
}

#[test]
fn bubblewrap_hides_host_processes() {
    let listing = probe(Isolation::Bubblewrap, "list /proc");
    let pids: Vec<u32> = listing
        .lines()
        .filter_map(|name| name.parse().ok())
        .collect();
    assert!(
        !pids.is_empty() && pids.len() <= 3,
        "pids visible: {pids:?}"
    );
    assert!(
        !pids.contains(&std::process::id()),
        "the host's test process is visible"
    );
}

#[test]
fn bubblewrap_cuts_the_network() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap();
    // Without isolation the same probe connects (the test is live).
    assert_eq!(
        probe(Isolation::Process, &format!("connect {address}")),
        "connected"
    );
    let (_accepted, _) = listener.accept().unwrap();
    let answer = probe(Isolation::Bubblewrap, &format!("connect {address}"));
    assert!(
        answer.starts_with("error: "),
        "connected from the sandbox: {answer}"
    );
    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(error) if error.kind() == std::io::ErrorKind::WouldBlock),
        "the listener saw a connection: {accepted:?}"
    );
}

#[test]
fn runc_twins_answer_like_the_wasm_plugins_and_see_nothing_of_the_host() {
    let engine = crate::engine();
    let mut wasm = crate::plugin(&engine, "hello").instantiate().unwrap();
    let mut worker = Worker::start(Isolation::Runc, twin("hello")).unwrap();
    assert_eq!(
        worker.call(b"hello, plugbox", GENEROUS).unwrap(),
        wasm.call(b"hello, plugbox").unwrap().output
    );
    assert!(worker.stop().unwrap().success());

    assert_eq!(
        probe(Isolation::Runc, "read /etc/hostname"),
        "error: NotFound"
    );
    assert_eq!(probe(Isolation::Runc, "list /"), "dev\nproc\ntwin");
    // Nothing from the host's environment (runc sets only HOME).
    assert_eq!(probe(Isolation::Runc, "env"), "HOME=/\n");
    let listing = probe(Isolation::Runc, "list /proc");
    let pids: Vec<u32> = listing
        .lines()
        .filter_map(|name| name.parse().ok())
        .collect();
    assert_eq!(pids, [1], "only the twin itself is visible");

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let answer = probe(
        Isolation::Runc,
        &format!("connect {}", listener.local_addr().unwrap()),
    );
    assert!(
        answer.starts_with("error: "),
        "connected from the container: {answer}"
    );
    assert!(listener.accept().is_err(), "the listener saw a connection");
}

#[test]
fn runc_tenants_leave_nothing_behind() {
    // Other tests run containers concurrently: look only for our own.
    let mut bundles = Vec::new();
    let mut ids = Vec::new();
    for round in 0..10 {
        let mut worker = Worker::start(Isolation::Runc, twin("hello")).unwrap();
        bundles.push(worker.bundle_dir().unwrap().to_path_buf());
        ids.push(worker.container_id().unwrap().to_owned());
        assert_eq!(worker.call(b"x", GENEROUS).unwrap(), b"X");
        if round % 2 == 0 {
            worker.stop().unwrap();
        } else {
            // Killed at a deadline: the container and bundle go too.
            let mut spinner = Worker::start(Isolation::Runc, twin("spin")).unwrap();
            bundles.push(spinner.bundle_dir().unwrap().to_path_buf());
            ids.push(spinner.container_id().unwrap().to_owned());
            assert!(matches!(
                spinner.call(b"", Duration::from_millis(50)),
                Err(BaselineError::DeadlineExceeded(_))
            ));
            drop(worker);
        }
    }
    for bundle in &bundles {
        assert!(!bundle.exists(), "bundle {} left behind", bundle.display());
    }
    let listed = std::process::Command::new("runc")
        .arg("list")
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    for id in &ids {
        assert!(
            !listed
                .lines()
                .any(|line| line.split_whitespace().next() == Some(id)),
            "container {id} left behind:\n{listed}"
        );
        for controller in ["memory", "pids"] {
            let cgroup = format!("/sys/fs/cgroup/{controller}/plugbox/{id}");
            assert!(
                !std::path::Path::new(&cgroup).exists(),
                "cgroup {cgroup} left behind"
            );
        }
    }
}

#[test]
fn runc_kills_a_memory_hog_at_its_limit_and_says_so() {
    let mut worker = Worker::start(Isolation::Runc, twin("grow")).unwrap();
    let error = worker.call(b"", GENEROUS).unwrap_err();
    match error {
        BaselineError::MemoryLimitKilled(status) => assert!(!status.success()),
        other => panic!("expected the memory limit to kill the worker, got {other:?}"),
    }
}
