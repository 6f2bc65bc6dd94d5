//! Every isolated level, the same checks: it answers like the Wasm plugin,
//! and its twin cannot read host files, see host processes, reach the
//! host's network, or outgrow its memory limit.
//!
//! A level that cannot run here (`Isolation::available` says why) is
//! skipped with `skipped: <level>: <reason>`, except where `CI` is set:
//! there it fails, since `.ci/run` installs every runtime.

use plugbox_baseline::{BaselineError, Isolation, Program, Worker};

use super::{GENEROUS, probe, twin};

pub(crate) fn answers_like_the_wasm_plugin(level: Isolation) {
    let engine = crate::engine();
    let mut wasm = crate::plugin(&engine, "hello").instantiate().unwrap();
    let mut worker = Worker::start(level, twin("hello")).unwrap();
    for input in ["hello, plugbox", "straße", ""] {
        assert_eq!(
            worker.call(input.as_bytes(), GENEROUS).unwrap(),
            wasm.call(input.as_bytes()).unwrap().output,
            "{input:?}"
        );
    }
    assert!(worker.stop().unwrap().success());
}

/// Whether `level` is a container engine's (which adds its own `/etc`
/// files and a read-only `/sys` to every container, and sets `PATH` and
/// `HOSTNAME`).
fn is_engine(level: Isolation) -> bool {
    Isolation::ENGINES.contains(&level)
}

/// What reading `/etc/hostname` answered: not found, or for an engine its
/// own file naming the container (`twin`), never the host's.
fn assert_hostname_is_not_the_hosts(level: Isolation, answer: &str) {
    if is_engine(level) {
        assert_eq!(answer.trim_end(), "twin");
    } else {
        assert_eq!(answer, "error: NotFound");
    }
}

pub(crate) fn hides_host_files(level: Isolation) {
    assert_hostname_is_not_the_hosts(level, &probe(level, "read /etc/hostname"));
    if is_engine(level) {
        // (Engines add /etc, a read-only /sys, and /run/.containerenv or
        // /.dockerenv.) An engine writes its own /etc/hosts, resolv.conf (and, for podman,
        // a passwd line for the user): never the host's files.
        for host_file in ["/etc/passwd", "/etc/os-release", "/etc/hosts"] {
            let answer = probe(level, &format!("read {host_file}"));
            let host = std::fs::read_to_string(host_file).unwrap_or_default();
            assert!(
                answer == "error: NotFound" || answer != host,
                "the host's {host_file}: {answer}"
            );
        }
        assert_eq!(probe(level, "read /etc/os-release"), "error: NotFound");
    }
    let root = probe(level, "list /");
    let entries: Vec<&str> = root.lines().collect();
    assert!(entries.contains(&"twin"), "{entries:?}");
    let allowed: &[&str] = if is_engine(level) {
        &["twin", "proc", "dev", "etc", "sys", "run", ".dockerenv"]
    } else {
        &["twin", "proc", "dev"]
    };
    assert!(
        entries.iter().all(|entry| allowed.contains(entry)),
        "more than the twin in the root: {entries:?}"
    );
    assert_eq!(
        probe(level, "write /twin overwritten"),
        "error: ReadOnlyFilesystem"
    );
    // Nothing of the host's environment (runtimes may set PWD or HOME;
    // engines PATH, HOSTNAME, TERM and `container`).
    let environment = probe(level, "env");
    let set_by_runtime: &[&str] = if is_engine(level) {
        &["PWD=", "HOME=", "PATH=", "HOSTNAME=", "TERM=", "container="]
    } else {
        &["PWD=", "HOME="]
    };
    assert!(
        environment
            .lines()
            .all(|line| set_by_runtime.iter().any(|prefix| line.starts_with(prefix))),
        "{environment}"
    );
}

/// A [`Program`]'s root holds its binds, read-only, and it gets its
/// environment (what an interpreter's worker relies on): the probe twin with
/// a directory of the host's bound in.
pub(crate) fn a_program_gets_its_binds_read_only_and_its_environment(level: Isolation) {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    // Readable by the unprivileged user the tenant runs as.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = dir.path().join("greeting");
    std::fs::write(&file, "hi").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let program = Program::twin(twin("wasi-probe"))
        .and_then(|program| program.bind(dir.path()))
        .unwrap()
        .env("PLUGBOX_GREETING", "hello");
    let mut worker = Worker::start_program(level, &program).unwrap();
    let mut ask = |command: String| {
        String::from_utf8(worker.call(command.as_bytes(), GENEROUS).unwrap()).unwrap()
    };
    assert_eq!(ask(format!("read {}", file.display())), "hi");
    assert_eq!(
        ask(format!("write {} overwritten", file.display())),
        "error: ReadOnlyFilesystem"
    );
    let environment = ask("env".into());
    assert!(
        environment
            .lines()
            .any(|line| line == "PLUGBOX_GREETING=hello"),
        "{environment}"
    );
    // The rest of the host stays out.
    assert_hostname_is_not_the_hosts(level, &ask("read /etc/hostname".into()));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "hi");
}

pub(crate) fn hides_host_processes(level: Isolation) {
    let listing = probe(level, "list /proc");
    let pids: Vec<u32> = listing
        .lines()
        .filter_map(|name| name.parse().ok())
        .collect();
    // The twin, and at most the runtime's own pid 1 and probe's reader.
    assert!(
        !pids.is_empty() && pids.len() <= 3 && pids.contains(&1),
        "pids visible: {pids:?}"
    );
    assert!(
        !pids.contains(&std::process::id()),
        "the host's test process is visible"
    );
}

pub(crate) fn cuts_the_network(level: Isolation) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let answer = probe(
        level,
        &format!("connect {}", listener.local_addr().unwrap()),
    );
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

/// Only for levels with a memory limit: the `grow` twin allocates forever.
pub(crate) fn kills_a_memory_hog_at_its_limit_and_says_so(level: Isolation) {
    let mut worker = Worker::start(level, twin("grow")).unwrap();
    assert!(worker.cgroup().is_some(), "no cgroup: no memory limit");
    let error = worker.call(b"", GENEROUS).unwrap_err();
    match error {
        BaselineError::MemoryLimitKilled(status) => assert!(!status.success()),
        other => panic!("expected the memory limit to kill the worker, got {other:?}"),
    }
}

macro_rules! levels {
    ($($level:ident: $isolation:expr, memory_limit: $limited:tt;)*) => {$(
        mod $level {
            use plugbox_baseline::Isolation;
            const LEVEL: Isolation = $isolation;

            #[test]
            fn answers_like_the_wasm_plugin() {
                if super::super::runnable(LEVEL) {
                    super::answers_like_the_wasm_plugin(LEVEL);
                }
            }
            #[test]
            fn hides_host_files() {
                if super::super::runnable(LEVEL) {
                    super::hides_host_files(LEVEL);
                }
            }
            #[test]
            fn a_program_gets_its_binds_read_only_and_its_environment() {
                if super::super::runnable(LEVEL) {
                    super::a_program_gets_its_binds_read_only_and_its_environment(LEVEL);
                }
            }
            #[test]
            fn hides_host_processes() {
                if super::super::runnable(LEVEL) {
                    super::hides_host_processes(LEVEL);
                }
            }
            #[test]
            fn cuts_the_network() {
                if super::super::runnable(LEVEL) {
                    super::cuts_the_network(LEVEL);
                }
            }
            #[test]
            fn leaves_nothing_behind() {
                if super::super::runnable(LEVEL) {
                    super::super::cleanup::two_hundred_tenants_leave_nothing_behind(LEVEL);
                }
            }
            levels!(@memory $limited);
        }
    )*};
    (@memory true) => {
        #[test]
        fn kills_a_memory_hog_at_its_limit_and_says_so() {
            if super::super::runnable(LEVEL) {
                super::kills_a_memory_hog_at_its_limit_and_says_so(LEVEL);
            }
        }
    };
    (@memory false) => {};
}

levels! {
    namespaced: Isolation::Namespaced, memory_limit: true;
    crun: Isolation::Crun, memory_limit: true;
    bwrap: Isolation::Bubblewrap, memory_limit: true;
    runc: Isolation::Runc, memory_limit: true;
    podman: Isolation::Podman, memory_limit: true;
    docker: Isolation::Docker, memory_limit: true;
    docker_crun: Isolation::DockerCrun, memory_limit: true;
}

#[test]
fn every_level_is_tested_here() {
    // A new level must join the list above.
    assert_eq!(
        Isolation::ALL.len() + Isolation::ENGINES.len(),
        8,
        "levels: {:?}",
        Isolation::ALL
            .iter()
            .chain(Isolation::ENGINES)
            .map(|level| level.name())
            .collect::<Vec<_>>()
    );
}
