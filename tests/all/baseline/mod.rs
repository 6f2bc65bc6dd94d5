//! The isolation baseline: plugins' native twins as worker processes answer
//! exactly as their Wasm builds do, failures are typed, every isolated level
//! really isolates (`levels`), and nothing outlives a tenant (`cleanup`).

mod cleanup;
mod engines;
mod levels;

use std::ffi::OsStr;
use std::io::Write as _;
use std::time::Duration;

use plugbox_baseline::{BaselineError, Isolation, Worker};

pub(crate) const GENEROUS: Duration = Duration::from_secs(10);

/// Whether `level` can be tested here. Where `Isolation::available` says no,
/// the test writes `skipped: <level>: <reason>` (past the test harness's
/// capture) and returns, unless `CI` is set: CI installs every runtime, so
/// there a level that cannot run fails the test with the reason.
pub(crate) fn runnable(level: Isolation) -> bool {
    let ci = std::env::var_os("CI").is_some();
    match skip_or_fail(level, level.available(), ci) {
        Ok(None) => true,
        Ok(Some(skipped)) => {
            let _ = writeln!(std::io::stderr(), "{skipped}");
            false
        }
        Err(failure) => panic!("{failure}"),
    }
}

/// The decision behind [`runnable`]: `Ok(None)` to run, `Ok(Some(line))` to
/// skip saying `line`, `Err(why)` to fail.
fn skip_or_fail(
    level: Isolation,
    available: Result<(), BaselineError>,
    ci: bool,
) -> Result<Option<String>, String> {
    match available {
        Ok(()) => Ok(None),
        Err(why) if ci => Err(format!(
            "{}: {why} (CI is set: every level must run)",
            level.name()
        )),
        Err(why) => Ok(Some(format!("skipped: {}: {why}", level.name()))),
    }
}

#[test]
fn a_missing_runtime_is_reported_and_its_tests_skip_except_on_ci() {
    // Runtimes looked up in an empty search path, and in a directory
    // without them (never by changing this process's PATH: tests run in
    // parallel).
    let empty = tempfile::tempdir().unwrap();
    for level in [
        Isolation::Bubblewrap,
        Isolation::Crun,
        Isolation::Runc,
        Isolation::Podman,
        Isolation::Docker,
        Isolation::DockerCrun,
    ] {
        let runtime = level.runtime().unwrap();
        for search_path in [OsStr::new(""), empty.path().as_os_str()] {
            let missing = |error: &BaselineError| matches!(error, BaselineError::RuntimeNotInstalled(name) if *name == runtime);
            let error = level.available_in(search_path).unwrap_err();
            assert!(missing(&error), "{}: {error:?}", level.name());
            let error = Worker::start_in(level, twin("hello"), search_path).unwrap_err();
            assert!(missing(&error), "{}: {error:?}", level.name());
        }
        let unavailable = || level.available_in(OsStr::new(""));
        let skipped = format!("skipped: {}: `{runtime}` is not installed", level.name());
        assert_eq!(skip_or_fail(level, unavailable(), false), Ok(Some(skipped)));
        let failure = skip_or_fail(level, unavailable(), true).unwrap_err();
        assert_eq!(
            failure,
            format!(
                "{}: `{runtime}` is not installed (CI is set: every level must run)",
                level.name()
            )
        );
    }
    // A level without a runtime looks none up.
    assert!(Isolation::Process.available_in(OsStr::new("")).is_ok());
    assert_eq!(skip_or_fail(Isolation::Process, Ok(()), true), Ok(None));
}

pub(crate) fn twin(name: &str) -> &'static str {
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

/// An executable script in `dir`.
pub(crate) fn script(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path
}

#[test]
fn a_twin_that_stops_reading_its_input_is_killed_at_its_deadline() {
    // A "twin" that never reads its stdin, given far more than the pipe
    // holds (64 KiB): writing the request must not outlive the deadline.
    let dir = tempfile::tempdir().unwrap();
    let deaf = script(dir.path(), "deaf", "#!/bin/sh\nexec /bin/sleep 600\n");
    let mut worker = Worker::start(Isolation::Process, &deaf).unwrap();
    let pid = worker.pid().unwrap();
    let input = vec![b'x'; 4 << 20];
    let deadline = Duration::from_millis(200);
    // On a thread, so that a call that blocks fails this test rather than
    // hanging it.
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let result = worker.call(&input, deadline);
        let _ = sender.send((result, started.elapsed(), worker));
    });
    let (result, took, mut worker) = receiver
        .recv_timeout(GENEROUS)
        .expect("the call blocked writing its request past the deadline");
    assert!(
        matches!(result, Err(BaselineError::DeadlineExceeded(d)) if d == deadline),
        "{result:?}"
    );
    assert!(took >= deadline && took < deadline * 10, "{took:?}");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "killed and reaped"
    );
    assert!(matches!(
        worker.call(b"", GENEROUS),
        Err(BaselineError::Stopped)
    ));
    // A twin that reads gets the same large input within its deadline.
    let mut hello = Worker::start(Isolation::Process, twin("hello")).unwrap();
    let large = vec![b'a'; 4 << 20];
    assert_eq!(hello.call(&large, GENEROUS).unwrap(), vec![b'A'; 4 << 20]);
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
fn plain_processes_leave_nothing_behind() {
    // The same 200 tenants (stopped, dropped, killed at a deadline, crashed)
    // as every isolated level.
    cleanup::two_hundred_tenants_leave_nothing_behind(Isolation::Process);
}

#[test]
fn a_worker_that_ignores_the_end_of_its_input_is_killed_after_the_grace() {
    // A "twin" that never reads its stdin, so never sees it close.
    let dir = tempfile::tempdir().unwrap();
    let script = script(dir.path(), "deaf", "#!/bin/sh\nexec /bin/sleep 600\n");
    let worker = Worker::start(Isolation::Process, &script).unwrap();
    let pid = worker.pid().unwrap();
    let started = std::time::Instant::now();
    let status = worker.stop_within(Duration::from_millis(200)).unwrap();
    let waited = started.elapsed();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL),
        "{status}"
    );
    assert!(
        waited >= Duration::from_millis(200) && waited < GENEROUS,
        "{waited:?}"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "killed and reaped"
    );
}

#[test]
fn a_plain_process_sees_the_host() {
    // The lower bound isolates nothing: that is what it measures.
    let hostname = std::fs::read_to_string("/etc/hostname").unwrap();
    assert_eq!(probe(Isolation::Process, "read /etc/hostname"), hostname);
}

/// Runs one probe command in a fresh worker of the `wasi-probe` twin.
pub(crate) fn probe(isolation: Isolation, command: &str) -> String {
    let mut worker = Worker::start(isolation, twin("wasi-probe")).unwrap();
    String::from_utf8(worker.call(command.as_bytes(), GENEROUS).unwrap()).unwrap()
}

#[test]
fn without_isolation_the_network_probe_connects() {
    // The live twin of every level's "cuts the network" test.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    assert_eq!(
        probe(Isolation::Process, &format!("connect {address}")),
        "connected"
    );
    assert!(listener.accept().is_ok());
}

#[test]
fn a_namespaced_twin_may_live_under_tmp() {
    if !runnable(Isolation::Namespaced) {
        return;
    }
    // The new root is a tmpfs over the sandbox's own /tmp: a twin whose path
    // it covers must still be found (CI clones under /tmp).
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let copy = dir.path().join("hello-twin");
    std::fs::copy(twin("hello"), &copy).unwrap();
    let mut worker = Worker::start(Isolation::Namespaced, &copy).unwrap();
    assert_eq!(worker.call(b"x", GENEROUS).unwrap(), b"X");
    assert!(worker.stop().unwrap().success());
}

#[test]
fn many_namespaced_tenants_live_at_once() {
    if !runnable(Isolation::Namespaced) {
        return;
    }
    // Each live worker holds pipes in the host: a sandbox must not count the
    // host's descriptors against its own limit (it once failed near 27).
    let mut workers: Vec<Worker> = (0..60)
        .map(|_| Worker::start(Isolation::Namespaced, twin("hello")).unwrap())
        .collect();
    for (index, worker) in workers.iter_mut().enumerate() {
        let input = format!("tenant {index}");
        assert_eq!(
            worker.call(input.as_bytes(), GENEROUS).unwrap(),
            input.to_uppercase().as_bytes()
        );
    }
}

#[test]
fn a_sandboxed_twin_inherits_no_host_descriptor() {
    if !runnable(Isolation::Namespaced) {
        return;
    }
    // A descriptor the host leaks (no O_CLOEXEC, as C libraries do).
    let file = std::fs::File::open("/etc/hostname").unwrap();
    // SAFETY: duplicating our own open descriptor, without FD_CLOEXEC, to a
    // number no other test uses; closed below.
    let fd = unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&file), libc::F_DUPFD, 900) };
    assert!(fd >= 900);
    let listing = probe(Isolation::Namespaced, "list /proc/self/fd");
    // SAFETY: ours.
    unsafe { libc::close(fd) };
    let fds: Vec<i32> = listing.lines().filter_map(|fd| fd.parse().ok()).collect();
    // Stdio, and the directory being listed.
    assert!(
        fds.iter().all(|&open| open <= 3),
        "host descriptors leaked: {fds:?}"
    );
}
