//! Removing a tenant's cgroup, and killing what is left inside it, without
//! ever signalling a process id that may have been reused.
//!
//! A pid read from `cgroup.procs` of a running cgroup can exit, be reaped
//! and be handed to an unrelated process before our `kill` lands. So either
//! the kernel kills the whole cgroup itself (`cgroup.kill`, cgroup v2 on
//! Linux 5.14 and later), or the cgroup is frozen first (the v1 `freezer`
//! controller, or v2 `cgroup.freeze`): once the kernel reports it frozen,
//! every process listed there is stopped in the freezer and can neither exit
//! nor fork (exited ones are no longer listed), so each listed pid is still
//! that process when it is killed. The SIGKILLs take effect when it is
//! thawed. A cgroup that does not report frozen in time is not signalled at
//! all in that round: the round is retried, and after the last one what is
//! left stays (and its cgroup with it) rather than risking a stranger.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{Hierarchy, TenantCgroup};

/// Rounds of freeze, list, kill, thaw: a tenant cannot fork while frozen,
/// but a runtime outside the cgroup may still be adding processes.
const ROUNDS: usize = 20;
/// How long a round waits for the cgroup to report frozen.
const FREEZE_WAIT: Duration = Duration::from_millis(500);
/// How long a round waits for killed processes to leave.
const EXIT_WAIT: Duration = Duration::from_millis(200);

impl TenantCgroup {
    /// Kills every process in the cgroup and in the cgroups inside it (a
    /// runtime's), then removes them all. Idempotent.
    pub(crate) fn remove(&mut self) {
        self.remove_with(|_| {});
    }

    /// [`remove`](Self::remove), calling `between` with the pids listed in
    /// each round, after they are read and before they are killed.
    pub(super) fn remove_with(&mut self, mut between: impl FnMut(&[i32])) {
        let dirs = std::mem::take(&mut self.dirs);
        match (self.hierarchy, dirs.as_slice()) {
            // `cgroup.kill` where the kernel has it, else freeze and kill.
            (Some(Hierarchy::V2), [dir]) if !kill_whole(dir) => {
                kill_frozen(&Freezer::V2(dir.clone()), dir, &mut between);
            }
            (Some(Hierarchy::V1), [.., freezer]) => {
                kill_frozen(&Freezer::V1(freezer.clone()), freezer, &mut between);
            }
            _ => {}
        }
        for dir in &dirs {
            remove_tree(dir);
        }
    }
}

/// `cgroup.kill`: the kernel kills every process of the subtree at once.
/// `false` where the kernel has no such file.
fn kill_whole(dir: &Path) -> bool {
    match std::fs::write(dir.join("cgroup.kill"), "1") {
        Ok(()) => {
            wait_empty(dir, EXIT_WAIT * 5);
            true
        }
        Err(_) => !dir.exists(),
    }
}

/// How to freeze one cgroup (and, hierarchically, the ones inside it).
enum Freezer {
    /// cgroup v1: the freezer controller's directory.
    V1(PathBuf),
    /// cgroup v2: `cgroup.freeze`.
    V2(PathBuf),
}

impl Freezer {
    /// Freezes the cgroup and waits until the kernel reports every process
    /// in it frozen: `Ok(false)` if it does not within [`FREEZE_WAIT`].
    fn freeze(&self) -> io::Result<bool> {
        let deadline = Instant::now() + FREEZE_WAIT;
        match self {
            Self::V1(dir) => std::fs::write(dir.join("freezer.state"), "FROZEN")?,
            Self::V2(dir) => std::fs::write(dir.join("cgroup.freeze"), "1")?,
        }
        loop {
            let frozen = match self {
                Self::V1(dir) => {
                    std::fs::read_to_string(dir.join("freezer.state"))?.trim() == "FROZEN"
                }
                Self::V2(dir) => std::fs::read_to_string(dir.join("cgroup.events"))?
                    .lines()
                    .any(|line| line == "frozen 1"),
            };
            if frozen {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    fn thaw(&self) {
        let _ = match self {
            Self::V1(dir) => std::fs::write(dir.join("freezer.state"), "THAWED"),
            Self::V2(dir) => std::fs::write(dir.join("cgroup.freeze"), "0"),
        };
    }
}

/// Kills every process in `dir`'s subtree, each only while `freezer` holds
/// it frozen.
fn kill_frozen(freezer: &Freezer, dir: &Path, between: &mut dyn FnMut(&[i32])) {
    for _ in 0..ROUNDS {
        if listed(dir).is_empty() {
            return;
        }
        match freezer.freeze() {
            Ok(true) => {}
            // Not frozen in time: signal nothing this round.
            Ok(false) => {
                freezer.thaw();
                continue;
            }
            // No freezer (gone with the cgroup, or never made): nothing
            // can be killed safely.
            Err(_) => return,
        }
        let pids = listed(dir);
        between(&pids);
        for &pid in &pids {
            // SAFETY: kill(2) has no memory-safety preconditions. The pid is
            // a frozen process of this cgroup, which cannot have exited.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        freezer.thaw();
        wait_empty(dir, EXIT_WAIT);
    }
}

/// The processes of `dir` and of every cgroup inside it.
fn listed(dir: &Path) -> Vec<i32> {
    let mut pids = Vec::new();
    for cgroup in subtree(dir) {
        if let Ok(text) = std::fs::read_to_string(cgroup.join("cgroup.procs")) {
            pids.extend(text.lines().filter_map(|pid| pid.parse::<i32>().ok()));
        }
    }
    pids
}

/// `dir` and the cgroups inside it, innermost last.
fn subtree(dir: &Path) -> Vec<PathBuf> {
    let mut tree = vec![dir.to_path_buf()];
    let mut index = 0;
    while index < tree.len() {
        if let Ok(children) = std::fs::read_dir(&tree[index]) {
            tree.extend(
                children
                    .flatten()
                    .filter(|child| child.file_type().is_ok_and(|kind| kind.is_dir()))
                    .map(|child| child.path()),
            );
        }
        index += 1;
    }
    tree
}

fn wait_empty(dir: &Path, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !listed(dir).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Removes `dir` and the cgroups inside it, innermost first, waiting for
/// killed processes to leave (a cgroup with processes cannot be removed).
fn remove_tree(dir: &Path) {
    for cgroup in subtree(dir).iter().rev() {
        for _ in 0..1000 {
            match std::fs::remove_dir(cgroup) {
                Ok(()) => break,
                Err(error) if error.kind() == io::ErrorKind::NotFound => break,
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }
}

#[cfg(test)]
mod tests;
