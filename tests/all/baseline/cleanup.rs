//! Nothing outlives a tenant: not a process, a container, a cgroup, a mount
//! nor a bundle directory, however the tenant ended (stopped, dropped, killed
//! at a deadline, crashed).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use plugbox_baseline::{BaselineError, Isolation, Worker};

use super::{GENEROUS, script, twin};

const TENANTS: usize = 200;

/// `pid` and every process descending from it, now.
fn process_tree(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // `pid (comm) state ppid ...`; comm may hold spaces and parens.
            let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?;
            Some((pid, ppid.parse().ok()?))
        })
        .collect();
    let mut tree = vec![pid];
    let mut index = 0;
    while index < tree.len() {
        let parent = tree[index];
        tree.extend(
            parents
                .iter()
                .filter(|&&(_, ppid)| ppid == parent)
                .map(|&(child, _)| child),
        );
        index += 1;
    }
    tree
}

/// This process's mount table, one line per mount.
fn host_mounts() -> Vec<String> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    table.lines().map(str::to_owned).collect()
}

/// Mounts a tenant left in our mount namespace: mounts added since `before`
/// that name plugbox (a twin, a bundle's root) or pin a namespace (nsfs).
/// (A tenant's own mount namespace, and every mount in it, goes with its
/// last process, which the process check covers.)
fn mounts_left(before: &[String]) -> Vec<String> {
    host_mounts()
        .into_iter()
        .filter(|mount| !before.contains(mount))
        .filter(|mount| mount.contains("plugbox") || mount.contains(" nsfs "))
        .collect()
}

/// What one tenant made, to look for once it is gone.
#[derive(Default)]
struct Traces {
    pids: Vec<u32>,
    bundles: Vec<PathBuf>,
    cgroups: Vec<String>,
}

impl Traces {
    fn record(&mut self, worker: &Worker) {
        self.pids.extend(process_tree(worker.pid().unwrap()));
        self.bundles
            .extend(worker.bundle_dir().map(Path::to_path_buf));
        self.cgroups.extend(worker.cgroup());
    }
}

pub(crate) fn two_hundred_tenants_leave_nothing_behind(level: Isolation) {
    tenants_leave_nothing_behind(level, TENANTS);
}

pub(crate) fn tenants_leave_nothing_behind(level: Isolation, tenants: usize) {
    let mounts_before = host_mounts();
    let images_before = plugbox_baseline::engine::images(level).unwrap();
    let mut traces = Traces::default();
    for tenant in 0..tenants {
        match tenant % 4 {
            0 => {
                let mut worker = Worker::start(level, twin("hello")).unwrap();
                assert_eq!(worker.call(b"x", GENEROUS).unwrap(), b"X");
                traces.record(&worker);
                assert!(worker.stop().unwrap().success());
            }
            1 => {
                let mut worker = Worker::start(level, twin("hello")).unwrap();
                assert_eq!(worker.call(b"x", GENEROUS).unwrap(), b"X");
                traces.record(&worker);
                drop(worker);
            }
            2 => {
                let mut worker = Worker::start(level, twin("spin")).unwrap();
                traces.record(&worker);
                let error = worker.call(b"", Duration::from_millis(20)).unwrap_err();
                assert!(
                    matches!(error, BaselineError::DeadlineExceeded(_)),
                    "{error:?}"
                );
            }
            _ => {
                let mut worker = Worker::start(level, twin("panic")).unwrap();
                traces.record(&worker);
                let error = worker.call(b"abc", GENEROUS).unwrap_err();
                assert!(
                    matches!(error, BaselineError::WorkerCrashed(_)),
                    "{error:?}"
                );
            }
        }
    }

    // A killed process may take a moment to be reaped by init.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let alive: Vec<u32> = traces
            .pids
            .iter()
            .copied()
            .filter(|pid| Path::new(&format!("/proc/{pid}")).exists())
            .collect();
        if alive.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{}: processes left behind: {alive:?}",
            level.name()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let mounts = mounts_left(&mounts_before);
    assert!(
        mounts.is_empty(),
        "{}: mounts left behind: {mounts:#?}",
        level.name()
    );
    for bundle in &traces.bundles {
        assert!(!bundle.exists(), "bundle {} left behind", bundle.display());
    }
    // Under every controller (an engine's runtime makes the tenant's cgroup
    // under all of them).
    let roots: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .chain([PathBuf::from("/sys/fs/cgroup")])
        .collect();
    for cgroup in &traces.cgroups {
        for root in &roots {
            let path = root.join(cgroup);
            assert!(!path.exists(), "cgroup {} left behind", path.display());
        }
    }
    if Isolation::ENGINES.contains(&level) {
        let listed = plugbox_baseline::engine::containers(level).unwrap();
        for cgroup in &traces.cgroups {
            let id = cgroup.rsplit('/').next().unwrap();
            assert!(
                !listed.iter().any(|name| name == id),
                "container {id} left behind: {listed:?}"
            );
        }
        // One image per twin, kept for the session (removed when it stops:
        // engines.rs), and nothing else new.
        let images = plugbox_baseline::engine::images(level).unwrap();
        let new: Vec<&String> = images
            .iter()
            .filter(|image| !images_before.contains(image))
            .collect();
        assert!(
            new.iter().all(|image| image.contains("plugbox-twin-")) && new.len() <= 3,
            "images: {images:?}"
        );
    } else if let Some(runtime) = level.runtime().filter(|runtime| *runtime != "bwrap") {
        let listed = std::process::Command::new(runtime)
            .arg("list")
            .output()
            .unwrap();
        let listed = String::from_utf8_lossy(&listed.stdout);
        for cgroup in &traces.cgroups {
            let id = cgroup.rsplit('/').next().unwrap();
            assert!(
                !listed
                    .lines()
                    .any(|line| line.split_whitespace().next() == Some(id)),
                "container {id} left behind:\n{listed}"
            );
        }
    }
    if level != Isolation::Process {
        assert_eq!(traces.cgroups.len(), tenants, "every tenant had a cgroup");
    }
}

#[test]
fn an_oci_container_is_deleted_once() {
    // A stand-in `runc` that logs how it is run, and runs a worker that
    // never answers; found through the search path, as a real runtime is.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("runc.log");
    script(
        dir.path(),
        "runc",
        &format!(
            "#!/bin/sh\necho \"$1 $2 $3\" >> {}\n[ \"$1\" = run ] && exec /bin/sleep 600\nexit 0\n",
            log.display()
        ),
    );
    for ending in ["stopped", "dropped", "deadline"] {
        std::fs::write(&log, "").unwrap();
        let mut worker =
            Worker::start_in(Isolation::Runc, twin("hello"), dir.path().as_os_str()).unwrap();
        let id = worker.container_id().unwrap().to_owned();
        let bundle = worker.bundle_dir().unwrap().to_path_buf();
        match ending {
            "stopped" => drop(worker.stop_within(Duration::from_millis(50))),
            "dropped" => drop(worker),
            _ => {
                let error = worker.call(b"x", Duration::from_millis(50)).unwrap_err();
                assert!(
                    matches!(error, BaselineError::DeadlineExceeded(_)),
                    "{error:?}"
                );
                drop(worker);
            }
        }
        let runs = std::fs::read_to_string(&log).unwrap();
        let deletes = runs
            .lines()
            .filter(|line| *line == format!("delete --force {id}"))
            .count();
        assert_eq!(deletes, 1, "{ending}: the runtime ran as:\n{runs}");
        assert!(!bundle.exists(), "{ending}: bundle left behind");
    }
}
