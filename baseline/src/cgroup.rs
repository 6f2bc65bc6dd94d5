//! Per-tenant cgroups: a memory and a process limit, OOM-kill detection, and
//! removal that kills whatever is left inside.
//!
//! Tenants live at `plugbox/<id>` under each controller's root: under
//! `/sys/fs/cgroup/{memory,pids}` on cgroup v1 (and hybrid) hosts, under
//! `/sys/fs/cgroup` on a unified (v2) host.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

const ROOT: &str = "/sys/fs/cgroup";
/// The parent of every tenant's cgroup, under each controller's root.
pub(crate) const PARENT: &str = "plugbox";

/// A fresh tenant id, unique on this host while this process lives:
/// `plugbox-<pid>-<n>`. It names the tenant's cgroup and OCI container.
pub(crate) fn next_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "plugbox-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Which cgroup hierarchy the host mounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hierarchy {
    /// One directory per controller (`memory`, `pids`).
    V1,
    /// One unified tree.
    V2,
}

fn hierarchy() -> Option<Hierarchy> {
    if Path::new(ROOT)
        .join("memory/memory.limit_in_bytes")
        .is_file()
    {
        Some(Hierarchy::V1)
    } else if Path::new(ROOT).join("cgroup.controllers").is_file() {
        Some(Hierarchy::V2)
    } else {
        None
    }
}

/// The directories of tenant `id`'s cgroup: the memory one first.
fn dirs(hierarchy: Hierarchy, id: &str) -> Vec<PathBuf> {
    match hierarchy {
        Hierarchy::V1 => ["memory", "pids"]
            .iter()
            .map(|controller| Path::new(ROOT).join(controller).join(PARENT).join(id))
            .collect(),
        Hierarchy::V2 => vec![Path::new(ROOT).join(PARENT).join(id)],
    }
}

/// A tenant's cgroup, created by us (the `namespaced` and `crun` levels; runc
/// makes its own). Dropping it kills every process left inside and removes
/// it.
#[derive(Debug)]
pub(crate) struct TenantCgroup {
    relative: String,
    dirs: Vec<PathBuf>,
}

impl TenantCgroup {
    /// Creates `plugbox/<id>` with the given limits.
    ///
    /// # Errors
    ///
    /// When the host has no cgroup hierarchy we can write (an unprivileged
    /// host without delegation), or a limit cannot be set.
    pub(crate) fn create(id: &str, memory_bytes: u64, pids: u64) -> io::Result<Self> {
        let hierarchy = hierarchy().ok_or_else(|| {
            io::Error::new(io::ErrorKind::Unsupported, "no cgroup hierarchy mounted")
        })?;
        let created = Self {
            relative: format!("{PARENT}/{id}"),
            dirs: dirs(hierarchy, id),
        };
        if hierarchy == Hierarchy::V2 {
            // Hand the memory and pids controllers down to our parent's children.
            let parent = Path::new(ROOT).join(PARENT);
            std::fs::create_dir_all(&parent)?;
            for dir in [Path::new(ROOT), &parent] {
                std::fs::write(dir.join("cgroup.subtree_control"), "+memory +pids")?;
            }
        }
        for dir in &created.dirs {
            std::fs::create_dir_all(dir)?;
        }
        let memory = memory_bytes.to_string();
        let pids = pids.to_string();
        match hierarchy {
            Hierarchy::V1 => {
                let [memory_dir, pids_dir] = &created.dirs[..] else {
                    unreachable!("two controllers")
                };
                std::fs::write(memory_dir.join("memory.limit_in_bytes"), &memory)?;
                // Without swap accounting a hog could swap instead of dying.
                let memsw = memory_dir.join("memory.memsw.limit_in_bytes");
                if memsw.exists() {
                    std::fs::write(memsw, &memory)?;
                }
                std::fs::write(pids_dir.join("pids.max"), &pids)?;
            }
            Hierarchy::V2 => {
                std::fs::write(created.dirs[0].join("memory.max"), &memory)?;
                std::fs::write(created.dirs[0].join("memory.swap.max"), "0").or_else(|error| {
                    match error.kind() {
                        io::ErrorKind::NotFound => Ok(()),
                        _ => Err(error),
                    }
                })?;
                std::fs::write(created.dirs[0].join("pids.max"), &pids)?;
            }
        }
        Ok(created)
    }

    /// The cgroup a runtime made (or may have half made) for tenant `id`,
    /// to sweep it.
    pub(crate) fn made_by_runtime(id: &str) -> Self {
        Self {
            relative: format!("{PARENT}/{id}"),
            dirs: hierarchy()
                .map(|hierarchy| dirs(hierarchy, id))
                .unwrap_or_default(),
        }
    }

    /// The `cgroup.procs` file of each of the tenant's directories: a
    /// process joins by writing `0` to each.
    pub(crate) fn procs_files(&self) -> impl Iterator<Item = PathBuf> + '_ {
        self.dirs.iter().map(|dir| dir.join("cgroup.procs"))
    }

    /// `plugbox/<id>`, relative to each controller's root.
    pub(crate) fn relative(&self) -> &str {
        &self.relative
    }

    /// Kills every process in the cgroup and removes it. Idempotent.
    pub(crate) fn remove(&mut self) {
        for dir in std::mem::take(&mut self.dirs) {
            let procs = dir.join("cgroup.procs");
            // A process may fork while we kill; its pids limit bounds this.
            for _ in 0..1000 {
                let Ok(text) = std::fs::read_to_string(&procs) else {
                    break;
                };
                let pids: Vec<i32> = text.lines().filter_map(|pid| pid.parse().ok()).collect();
                if pids.is_empty() {
                    break;
                }
                for pid in pids {
                    // SAFETY: kill(2) has no memory-safety preconditions.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            // Killed processes leave their cgroup as they exit.
            for _ in 0..1000 {
                match std::fs::remove_dir(&dir) {
                    Ok(()) => break,
                    Err(error) if error.kind() == io::ErrorKind::NotFound => break,
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
            }
        }
    }
}

impl Drop for TenantCgroup {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Whether the kernel OOM-killed a process of the cgroup at `relative`
/// (cgroup v1 `memory.oom_control`, or v2 `memory.events`) because of its
/// memory limit.
pub(crate) fn oom_killed(relative: &str) -> bool {
    let v1 = Path::new(ROOT)
        .join("memory")
        .join(relative)
        .join("memory.oom_control");
    let v2 = Path::new(ROOT).join(relative).join("memory.events");
    [v1, v2].iter().any(|path| {
        std::fs::read_to_string(path).is_ok_and(|text| {
            text.lines().any(|line| {
                line.strip_prefix("oom_kill ")
                    .and_then(|count| count.trim().parse::<u64>().ok())
                    .is_some_and(|count| count > 0)
            })
        })
    })
}

/// Bytes charged to the cgroup at `relative` now (kernel memory included),
/// if it exists.
pub(crate) fn charged_bytes(relative: &str) -> Option<u64> {
    let v1 = Path::new(ROOT)
        .join("memory")
        .join(relative)
        .join("memory.usage_in_bytes");
    let v2 = Path::new(ROOT).join(relative).join("memory.current");
    [v1, v2]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .and_then(|text| text.trim().parse().ok())
}
