//! What a run costs in memory: proportional set size (PSS) of the processes
//! involved, and memory charged to a cgroup the run is placed in.
//!
//! PSS comes from `/proc/<pid>/smaps_rollup` (pages shared between processes
//! are divided among them, so summing PSS never counts a page twice).
//! Charged memory comes from a fresh memory cgroup per run, created as a
//! child of the harness's own cgroup (so that any limit set above the harness
//! still applies), with the harness moved into it for the run and back out
//! afterwards. With cgroup v1 that is `memory.usage_in_bytes`, which includes
//! kernel memory (page tables, slab) on kernels with kmem accounting, which
//! `memory.kmem.usage_in_bytes` shows; with cgroup v2, `memory.current`.
//!
//! Precision: the kernel batches charges per CPU (64 pages each), so a
//! cgroup's usage may be off by up to 256 KiB per CPU. Per-tenant figures
//! at N = 1 are therefore coarse; at N = 1,000 the error is below 1 KiB.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

const V1_MEMORY: &str = "/sys/fs/cgroup/memory";
const V2_ROOT: &str = "/sys/fs/cgroup";

/// PSS of process `pid` in KiB, if it is readable.
pub fn pss_kib(pid: u32) -> Option<u64> {
    rollup_pss(&format!("/proc/{pid}/smaps_rollup"))
}

/// PSS of this process in KiB.
pub fn self_pss_kib() -> Option<u64> {
    rollup_pss("/proc/self/smaps_rollup")
}

fn rollup_pss(path: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        line.strip_prefix("Pss:")?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    })
}

/// `roots` and every descendant of them, found by scanning the parent of
/// every process in `/proc`.
pub fn with_descendants(roots: &[u32]) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            if let Some(ppid) = parent_of(pid) {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut found = roots.to_vec();
    let mut next = 0;
    while let Some(&pid) = found.get(next) {
        if let Some(kids) = children.get(&pid) {
            found.extend(kids.iter().filter(|kid| !roots.contains(kid)));
        }
        next += 1;
    }
    found
}

/// The parent pid of `pid` (field 4 of `/proc/<pid>/stat`, after the command
/// name, which may itself hold spaces and parentheses).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// Summed PSS in KiB of `pids` (processes that vanished count as zero).
pub fn summed_pss_kib(pids: &[u32]) -> u64 {
    pids.iter().filter_map(|&pid| pss_kib(pid)).sum()
}

/// Memory mappings this process holds (lines of `/proc/self/maps`).
pub fn map_count() -> Option<usize> {
    Some(
        std::fs::read_to_string("/proc/self/maps")
            .ok()?
            .lines()
            .count(),
    )
}

/// The `vm.max_map_count` sysctl: most mappings one process may hold.
pub fn max_map_count() -> Option<usize> {
    read_number("/proc/sys/vm/max_map_count").and_then(|n| usize::try_from(n).ok())
}

fn read_number(path: impl AsRef<Path>) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Memory charged to a worker's own cgroup (`relative` to the controller
/// root, as `Worker::cgroup` gives it), in bytes.
pub fn worker_cgroup_bytes(relative: &str) -> Option<u64> {
    let relative = relative.trim_start_matches('/');
    read_number(
        Path::new(V1_MEMORY)
            .join(relative)
            .join("memory.usage_in_bytes"),
    )
    .or_else(|| read_number(Path::new(V2_ROOT).join(relative).join("memory.current")))
}

/// Which cgroup interface a run cgroup uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// Removes the run cgroups under `parent` left by harnesses that are gone
/// (interrupted runs): those whose name ends in the pid of no process.
fn sweep_leftovers(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|name| name.rsplit_once('.'))
            .and_then(|(_, pid)| pid.parse::<u32>().ok());
        let gone = pid.is_none_or(|pid| !Path::new(&format!("/proc/{pid}")).exists());
        if gone {
            // An empty cgroup (one with processes refuses to go).
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

/// A fresh memory cgroup holding the harness for one run. Dropping it moves
/// the harness back where it was and removes the cgroup.
#[derive(Debug)]
pub struct RunCgroup {
    dir: PathBuf,
    home: PathBuf,
    version: Version,
    left: bool,
}

impl RunCgroup {
    /// Creates `plugbox-density/<name>.<pid>` under this process's memory
    /// cgroup and moves this process (all its threads) into it. (The pid
    /// keeps two harnesses running at once, e.g. parallel tests, out of each
    /// other's cgroups.)
    ///
    /// # Errors
    ///
    /// Why charged memory cannot be measured here (no memory controller, not
    /// writable), as a sentence for the report.
    pub fn enter(name: &str) -> Result<Self, String> {
        let (version, home) = current_memory_cgroup()?;
        let parent = home.join("plugbox-density");
        sweep_leftovers(&parent);
        let dir = parent.join(format!("{name}.{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|error| format!("cannot create cgroup {}: {error}", dir.display()))?;
        let cgroup = Self {
            dir,
            home,
            version,
            left: false,
        };
        if cgroup.usage_bytes().is_none() {
            return Err(format!(
                "cgroup {} has no memory accounting file",
                cgroup.dir.display()
            ));
        }
        std::fs::write(
            cgroup.dir.join("cgroup.procs"),
            std::process::id().to_string(),
        )
        .map_err(|error| format!("cannot move into {}: {error}", cgroup.dir.display()))?;
        Ok(cgroup)
    }

    /// Bytes charged to the cgroup now (its processes' memory, page cache
    /// they brought in, and kernel memory).
    pub fn usage_bytes(&self) -> Option<u64> {
        match self.version {
            Version::V1 => read_number(self.dir.join("memory.usage_in_bytes")),
            Version::V2 => read_number(self.dir.join("memory.current")),
        }
    }

    /// Kernel memory charged (cgroup v1 only: `memory.kmem.usage_in_bytes`).
    pub fn kmem_bytes(&self) -> Option<u64> {
        match self.version {
            Version::V1 => read_number(self.dir.join("memory.kmem.usage_in_bytes")),
            Version::V2 => None,
        }
    }

    /// Where the counters come from, for the report.
    pub fn describe(&self) -> String {
        match self.version {
            Version::V1 if self.kmem_bytes().is_some() => {
                "cgroup v1 memory.usage_in_bytes (kernel memory included; \
                 memory.kmem.usage_in_bytes present)"
                    .to_string()
            }
            Version::V1 => "cgroup v1 memory.usage_in_bytes (no kmem file)".to_string(),
            Version::V2 => "cgroup v2 memory.current (kernel memory included)".to_string(),
        }
    }

    /// Moves this process back to its own cgroup and removes the run
    /// cgroup (its remaining charges go to the parent).
    ///
    /// # Errors
    ///
    /// If the move or the removal fails (a worker still running in it).
    pub fn leave(mut self) -> Result<(), String> {
        self.leave_now()
    }

    fn leave_now(&mut self) -> Result<(), String> {
        if self.left {
            return Ok(());
        }
        self.left = true;
        std::fs::write(
            self.home.join("cgroup.procs"),
            std::process::id().to_string(),
        )
        .map_err(|error| format!("cannot move back to {}: {error}", self.home.display()))?;
        // Exited children may take a moment to leave the cgroup. And under
        // cgroup v1 a thread this process was creating while `cgroup.procs`
        // moved the rest (the test harness starts threads at any time) can
        // stay behind: move what is left thread by thread (`tasks`).
        let mut last = None;
        for _ in 0..50 {
            match std::fs::remove_dir(&self.dir) {
                Ok(()) => {
                    let _ = std::fs::remove_dir(self.home.join("plugbox-density"));
                    return Ok(());
                }
                Err(error) => last = Some(error),
            }
            if self.version == Version::V1
                && let Ok(tasks) = std::fs::read_to_string(self.dir.join("tasks"))
            {
                for task in tasks.split_whitespace() {
                    let _ = std::fs::write(self.home.join("tasks"), task);
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Err(format!(
            "cannot remove {}: {}",
            self.dir.display(),
            last.map_or_else(String::new, |e| e.to_string())
        ))
    }
}

impl Drop for RunCgroup {
    fn drop(&mut self) {
        let _ = self.leave_now();
    }
}

/// This process's memory cgroup directory and the interface it uses.
fn current_memory_cgroup() -> Result<(Version, PathBuf), String> {
    let text = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|error| format!("cannot read /proc/self/cgroup: {error}"))?;
    let v1 = text.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        controllers
            .split(',')
            .any(|c| c == "memory")
            .then(|| path.to_string())
    });
    if let Some(path) = v1
        && Path::new(V1_MEMORY).join("memory.usage_in_bytes").is_file()
    {
        return Ok((Version::V1, join_root(V1_MEMORY, &path)));
    }
    let unified = Path::new(V2_ROOT).join("cgroup.controllers");
    if let Ok(controllers) = std::fs::read_to_string(&unified) {
        if !controllers.split_whitespace().any(|c| c == "memory") {
            return Err("the cgroup v2 hierarchy has no memory controller".into());
        }
        let path = text
            .lines()
            .find_map(|line| line.strip_prefix("0::"))
            .ok_or("no cgroup v2 entry in /proc/self/cgroup")?;
        return Ok((Version::V2, join_root(V2_ROOT, path)));
    }
    Err("no cgroup memory controller mounted".into())
}

fn join_root(root: &str, path: &str) -> PathBuf {
    Path::new(root).join(path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_pss_and_maps_are_readable() {
        assert!(self_pss_kib().is_some_and(|kib| kib > 0));
        assert!(map_count().is_some_and(|count| count > 0));
    }

    #[test]
    fn descendants_include_children() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap_or_else(|error| panic!("sleep: {error}"));
        let found = with_descendants(&[std::process::id()]);
        let _ = child.kill();
        let _ = child.wait();
        assert!(found.contains(&child.id()), "{found:?}");
        assert_eq!(found[0], std::process::id());
    }
}
