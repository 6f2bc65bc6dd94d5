//! Per-tenant cgroups: a memory and a process limit, OOM-kill detection, and
//! removal that kills whatever is left inside ([`teardown`]).
//!
//! Tenants live at `plugbox/<id>` under each controller's root: under
//! `/sys/fs/cgroup/{memory,pids,freezer}` on cgroup v1 (and hybrid) hosts,
//! under `/sys/fs/cgroup` on a unified (v2) host.

mod teardown;

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStringExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

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

/// Whether a tenant cgroup can be made here: one is made (with limits) and
/// removed, once per process.
pub(crate) fn probe() -> io::Result<()> {
    static PROBED: OnceLock<Result<(), (io::ErrorKind, String)>> = OnceLock::new();
    PROBED
        .get_or_init(|| {
            TenantCgroup::create(
                &next_id(),
                crate::oci::MEMORY_LIMIT_BYTES,
                crate::oci::PIDS_LIMIT,
            )
            .map(drop)
            .map_err(|error| (error.kind(), error.to_string()))
        })
        .clone()
        .map_err(|(kind, message)| io::Error::new(kind, message))
}

/// Which cgroup hierarchy the host mounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hierarchy {
    /// One directory per controller (`memory`, `pids`, `freezer`).
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

/// The v1 controllers a tenant's cgroup has, in the order of its `dirs`: the
/// memory one first; the freezer, which teardown needs, last.
const V1_CONTROLLERS: [&str; 3] = ["memory", "pids", "freezer"];

/// The directories of tenant `id`'s cgroup: the memory one first (on v1,
/// one per [`V1_CONTROLLERS`]).
fn dirs(hierarchy: Hierarchy, id: &str) -> Vec<PathBuf> {
    match hierarchy {
        Hierarchy::V1 => V1_CONTROLLERS
            .iter()
            .map(|controller| Path::new(ROOT).join(controller).join(PARENT).join(id))
            .collect(),
        Hierarchy::V2 => vec![Path::new(ROOT).join(PARENT).join(id)],
    }
}

/// A tenant's cgroup, created by us (the `namespaced`, `bwrap` and `crun`
/// levels; runc makes its own). Dropping it kills every process left inside and removes
/// it.
#[derive(Debug)]
pub(crate) struct TenantCgroup {
    relative: String,
    hierarchy: Option<Hierarchy>,
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
        // Without a freezer, a tenant's processes could only be killed by
        // pids read while they run, which may be reused meanwhile.
        if hierarchy == Hierarchy::V1 && !Path::new(ROOT).join("freezer/cgroup.procs").is_file() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "cgroup v1 without the freezer controller at /sys/fs/cgroup/freezer: a tenant's \
                 processes could not be killed safely",
            ));
        }
        let created = Self {
            relative: format!("{PARENT}/{id}"),
            hierarchy: Some(hierarchy),
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
                let [memory_dir, pids_dir, _freezer] = &created.dirs[..] else {
                    unreachable!("three controllers")
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
        let hierarchy = hierarchy();
        Self {
            relative: format!("{PARENT}/{id}"),
            hierarchy,
            dirs: hierarchy
                .map(|hierarchy| dirs(hierarchy, id))
                .unwrap_or_default(),
        }
    }

    /// The `cgroup.procs` file of each of the tenant's directories: a
    /// process joins by writing `0` to each.
    pub(crate) fn procs_files(&self) -> impl Iterator<Item = PathBuf> + '_ {
        self.dirs.iter().map(|dir| dir.join("cgroup.procs"))
    }

    /// Makes `command`'s process join this cgroup just before it execs, so
    /// that everything it starts is inside too.
    pub(crate) fn join_at_exec(&self, command: &mut Command) -> io::Result<()> {
        let procs: Vec<CString> = self
            .procs_files()
            .map(|path| CString::new(path.into_os_string().into_vec()))
            .collect::<Result<_, _>>()?;
        // SAFETY: the closure only opens and writes files named by strings
        // prepared here (async-signal-safe), as required between fork and
        // exec.
        unsafe {
            command.pre_exec(move || {
                for procs in &procs {
                    crate::sys::write_file(procs, b"0")?;
                }
                Ok(())
            })
        };
        Ok(())
    }

    /// `plugbox/<id>`, relative to each controller's root.
    pub(crate) fn relative(&self) -> &str {
        &self.relative
    }
}

impl Drop for TenantCgroup {
    fn drop(&mut self) {
        self.remove();
    }
}

/// What the cgroup at `relative` says of memory-limit trouble.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct OomRecord {
    /// The kernel OOM-killed a process whose memory is charged here (cgroup
    /// v1 `memory.oom_control`; v2 `memory.events`, which also counts
    /// descendants).
    pub(crate) killed: bool,
    /// Usage reached this cgroup's own limit (v1 `memory.failcnt` or the
    /// `memory.max_usage_in_bytes` high-water mark; v2 `max` events). On v1 the kill of a process in a child cgroup is
    /// counted in the child only, so for a runtime's cgroup inside ours this
    /// is what ours records.
    pub(crate) limit_hit: bool,
}

fn counter(path: &Path, key: Option<&str>) -> u64 {
    let Ok(text) = std::fs::read_to_string(path) else {
        return 0;
    };
    match key {
        None => text.trim().parse().unwrap_or(0),
        Some(key) => text
            .lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix(' '))
            .and_then(|count| count.trim().parse().ok())
            .unwrap_or(0),
    }
}

/// Whether a usage high-water mark reached `limit`, give or take one charge
/// batch (the kernel charges up to 64 pages at a time, and newer kernels do
/// not count v1 `failcnt` at all).
fn reached(high_water: u64, limit: u64) -> bool {
    const CHARGE_BATCH: u64 = 64 * 4096;
    limit > 0 && high_water + CHARGE_BATCH >= limit
}

/// The OOM record of the cgroup at `relative`.
pub(crate) fn oom_record(relative: &str) -> OomRecord {
    let v1 = Path::new(ROOT).join("memory").join(relative);
    let v2 = Path::new(ROOT).join(relative);
    OomRecord {
        killed: counter(&v1.join("memory.oom_control"), Some("oom_kill")) > 0
            || counter(&v2.join("memory.events"), Some("oom_kill")) > 0,
        limit_hit: counter(&v1.join("memory.failcnt"), None) > 0
            || reached(
                counter(&v1.join("memory.max_usage_in_bytes"), None),
                counter(&v1.join("memory.limit_in_bytes"), None),
            )
            || counter(&v2.join("memory.events"), Some("max")) > 0,
    }
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

/// Removes `plugbox/<id>` (and the empty cgroups inside it) under every
/// mounted controller: an engine's runtime makes the tenant's cgroup under
/// controllers ours does not use (cpu, blkio, devices...), and removes only
/// its own leaf.
pub(crate) fn sweep_all_controllers(id: &str) {
    let Ok(controllers) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    for controller in controllers.flatten() {
        let dir = controller.path().join(PARENT).join(id);
        remove_empty_tree(&dir);
    }
}

fn remove_empty_tree(dir: &Path) {
    let Ok(children) = std::fs::read_dir(dir) else {
        return;
    };
    for child in children.flatten() {
        if child.file_type().is_ok_and(|kind| kind.is_dir()) {
            remove_empty_tree(&child.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}
