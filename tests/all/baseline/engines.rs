//! The container engines' sessions end with the process that made them:
//! the containers and images it made are removed, the Docker daemon it
//! started is stopped and its state directory goes; a daemon `DOCKER_HOST`
//! names is used, said so, and left running. Each case runs in a child
//! process (this test binary, running `session_child`), whose exit is the
//! end being tested.

use std::path::Path;
use std::process::Command;

use plugbox_baseline::{Isolation, Worker, engine};

use super::{GENEROUS, runnable, twin};

const CHILD: &str = "PLUGBOX_ENGINE_SESSION_CHILD";

/// What a child reported of its session, and what it wrote to stderr.
struct Child {
    pid: u32,
    state_dir: String,
    daemon_pid: Option<u32>,
    images: Vec<String>,
    stderr: String,
}

/// Runs `session_child` for `level` in a child process, with `DOCKER_HOST`
/// set to `docker_host` or unset; it leaves one worker running when it
/// exits.
fn run_child(level: Isolation, docker_host: Option<&str>) -> Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    match docker_host {
        Some(host) => command.env("DOCKER_HOST", host),
        None => command.env_remove("DOCKER_HOST"),
    };
    let output = command
        .args(["--exact", "baseline::engines::session_child", "--ignored"])
        .args(["--nocapture", "--test-threads", "1"])
        .env(CHILD, level.name())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "child: {stdout}\n{stderr}");
    let field = |key: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {stdout}"))
            .to_owned()
    };
    Child {
        pid: field("pid=").parse().unwrap(),
        state_dir: field("state_dir="),
        daemon_pid: field("daemon_pid=").parse().ok(),
        images: field("images=")
            .split(',')
            .filter(|image| !image.is_empty())
            .map(str::to_owned)
            .collect(),
        stderr,
    }
}

#[test]
#[ignore = "run by the session tests, in a child process"]
fn session_child() {
    let Some(level) = std::env::var(CHILD)
        .ok()
        .and_then(|name| Isolation::ENGINES.iter().find(|level| level.name() == name))
    else {
        return;
    };
    let mut done = Worker::start(*level, twin("hello")).unwrap();
    assert_eq!(done.call(b"x", GENEROUS).unwrap(), b"X");
    assert!(done.stop().unwrap().success());
    // Still running at exit: the end removes it too.
    let mut running = Worker::start(*level, twin("fib")).unwrap();
    assert_eq!(running.call(b"10", GENEROUS).unwrap(), b"55");
    let ours = format!("plugbox-twin-{}-", std::process::id());
    let images: Vec<String> = engine::images(*level)
        .unwrap()
        .into_iter()
        .filter(|image| image.contains(&ours))
        .collect();
    assert_eq!(images.len(), 2, "one image per twin");
    // On a line of its own (the harness has written the test name).
    println!("\npid={}", std::process::id());
    println!("state_dir={}", engine::state_dir(*level).unwrap().display());
    println!(
        "daemon_pid={}",
        engine::daemon_pid(*level).map_or(String::new(), |pid| pid.to_string())
    );
    println!("images={}", images.join(","));
    std::mem::forget(running);
}

/// Processes whose command line names `text`.
fn processes_naming(text: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " "))
        .filter(|cmdline| cmdline.contains(text))
        .collect()
}

fn assert_session_gone(level: Isolation, child: &Child) {
    assert!(
        !Path::new(&child.state_dir).exists(),
        "{}: state left in {}",
        level.name(),
        child.state_dir
    );
    let left = processes_naming(&child.state_dir);
    assert!(
        left.is_empty(),
        "{}: processes left: {left:?}",
        level.name()
    );
    // The child's tenants were `plugbox-<its pid>-<n>`.
    let prefix = format!("plugbox-{}-", child.pid);
    for controller in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let Ok(tenants) = std::fs::read_dir(controller.path().join("plugbox")) else {
            continue;
        };
        for tenant in tenants.flatten() {
            assert!(
                !tenant.file_name().to_string_lossy().starts_with(&prefix),
                "cgroup {} left behind",
                tenant.path().display()
            );
        }
    }
}

#[test]
fn a_podman_session_ends_with_its_process() {
    if !runnable(Isolation::Podman) {
        return;
    }
    let child = run_child(Isolation::Podman, None);
    assert_eq!(child.daemon_pid, None, "podman has no daemon");
    assert_session_gone(Isolation::Podman, &child);
}

#[test]
fn a_docker_session_stops_its_daemon_with_its_process() {
    if !runnable(Isolation::Docker) {
        return;
    }
    let child = run_child(Isolation::Docker, None);
    let pid = child.daemon_pid.expect("the level started its own dockerd");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "dockerd {pid} still runs"
    );
    assert_session_gone(Isolation::Docker, &child);
}

#[test]
fn with_docker_host_set_the_named_daemon_is_used_and_left_running() {
    if !runnable(Isolation::Docker) {
        return;
    }
    // A daemon of this process's session stands in for the user's.
    let mut worker = Worker::start(Isolation::Docker, twin("hello")).unwrap();
    assert_eq!(worker.call(b"x", GENEROUS).unwrap(), b"X");
    let daemon = engine::daemon_pid(Isolation::Docker);
    let host = match daemon {
        Some(_) => format!(
            "unix://{}",
            engine::state_dir(Isolation::Docker)
                .unwrap()
                .join("docker.sock")
                .display()
        ),
        // This process was itself given DOCKER_HOST.
        None => std::env::var("DOCKER_HOST").unwrap(),
    };
    let child = run_child(Isolation::Docker, Some(&host));
    assert_eq!(child.daemon_pid, None, "no daemon of its own");
    assert!(
        child
            .stderr
            .contains(&format!("docker: using the daemon at DOCKER_HOST={host}")),
        "{}",
        child.stderr
    );
    if let Some(pid) = daemon {
        assert!(
            Path::new(&format!("/proc/{pid}")).exists(),
            "the daemon was stopped"
        );
    }
    // Its images and containers went; the daemon still serves ours.
    let images = engine::images(Isolation::Docker).unwrap();
    for image in &child.images {
        assert!(!images.contains(image), "{image} left in {images:?}");
    }
    let containers = engine::containers(Isolation::Docker).unwrap();
    let theirs = format!("plugbox-{}-", child.pid);
    assert!(
        containers.iter().all(|name| !name.starts_with(&theirs)),
        "{containers:?}"
    );
    assert_session_gone(Isolation::Docker, &child);
    assert_eq!(worker.call(b"y", GENEROUS).unwrap(), b"Y");
}

#[test]
fn each_engine_level_runs_its_oci_runtime() {
    for &level in Isolation::ENGINES {
        if !runnable(level) {
            continue;
        }
        let mut worker = Worker::start(level, twin("hello")).unwrap();
        assert_eq!(worker.call(b"x", GENEROUS).unwrap(), b"X");
        let id = worker.container_id().unwrap().to_owned();
        let runtime = engine::container_runtime(level, &id).unwrap();
        let expected = level.oci_runtime().unwrap();
        // Podman reports the runtime's name, Docker the name it registered.
        assert!(
            runtime == expected || runtime.ends_with(&format!("/{expected}")),
            "{}: {runtime}",
            level.name()
        );
        assert!(worker.stop().unwrap().success());
    }
}
