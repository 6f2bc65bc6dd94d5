//! OCI runtimes (runc): a bundle per tenant whose root filesystem is empty
//! but for the twin, bind-mounted read-only.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;

use crate::error::BaselineError;

/// Memory limit of an OCI tenant's cgroup.
pub const MEMORY_LIMIT_BYTES: u64 = 64 << 20;
/// Process limit of an OCI tenant's cgroup.
pub const PIDS_LIMIT: u64 = 16;
/// Address-space rlimit of an OCI tenant's process (behind the cgroup).
pub const ADDRESS_SPACE_LIMIT_BYTES: u64 = 1 << 30;

/// A created bundle: remove the container and the directory when done.
#[derive(Debug)]
pub(crate) struct Bundle {
    pub(crate) runtime: PathBuf,
    pub(crate) id: String,
    pub(crate) dir: tempfile::TempDir,
}

impl Bundle {
    /// Writes a bundle for `binary` and returns it with the `runc run`
    /// command that starts it in the foreground (stdio through pipes).
    pub(crate) fn create(
        runtime: PathBuf,
        binary: &Path,
    ) -> Result<(Self, Command), BaselineError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let id = format!(
            "plugbox-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let dir = tempfile::Builder::new()
            .prefix("plugbox-bundle-")
            .tempdir()
            .map_err(BaselineError::Spawn)?;
        std::fs::create_dir(dir.path().join("rootfs")).map_err(BaselineError::Spawn)?;
        let binary = binary.canonicalize().map_err(BaselineError::Spawn)?;
        let config = json!({
            "ociVersion": "1.0.2",
            "process": {
                "terminal": false,
                "user": { "uid": 65534, "gid": 65534 },
                "args": ["/twin"],
                "env": [],
                "cwd": "/",
                "capabilities": {
                    "bounding": [], "effective": [], "inheritable": [], "permitted": [], "ambient": []
                },
                "rlimits": [
                    { "type": "RLIMIT_NOFILE", "hard": 64, "soft": 64 },
                    // Defence in depth behind the cgroup limit: address space.
                    { "type": "RLIMIT_AS", "hard": ADDRESS_SPACE_LIMIT_BYTES, "soft": ADDRESS_SPACE_LIMIT_BYTES }
                ],
                "noNewPrivileges": true
            },
            "root": { "path": "rootfs", "readonly": true },
            "hostname": "twin",
            "mounts": [
                { "destination": "/proc", "type": "proc", "source": "proc" },
                { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                  "options": ["nosuid", "strictatime", "mode=755", "size=64k"] },
                { "destination": "/twin", "type": "bind", "source": binary,
                  "options": ["rbind", "ro", "nosuid", "nodev"] }
            ],
            "linux": {
                "cgroupsPath": format!("/plugbox/{id}"),
                "resources": {
                    "memory": { "limit": MEMORY_LIMIT_BYTES },
                    "pids": { "limit": PIDS_LIMIT }
                },
                "namespaces": [
                    { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
                    { "type": "uts" }, { "type": "mount" }
                ],
                "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
                "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
            }
        });
        let text = serde_json::to_vec_pretty(&config)
            .map_err(|error| BaselineError::Spawn(error.into()))?;
        std::fs::write(dir.path().join("config.json"), text).map_err(BaselineError::Spawn)?;
        let mut command = Command::new(&runtime);
        // `--keep`: the container's cgroup outlives its exit, so that an OOM
        // kill can be told apart from a crash; `delete` removes it.
        command
            .arg("run")
            .arg("--keep")
            .arg("--bundle")
            .arg(dir.path())
            .arg(&id);
        Ok((Self { runtime, id, dir }, command))
    }

    /// Whether the kernel OOM-killed a process of this container because of
    /// its memory limit (cgroup v1 `memory.oom_control`, or v2
    /// `memory.events`).
    pub(crate) fn oom_killed(&self) -> bool {
        let v1 = format!(
            "/sys/fs/cgroup/memory/plugbox/{}/memory.oom_control",
            self.id
        );
        let v2 = format!("/sys/fs/cgroup/plugbox/{}/memory.events", self.id);
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

    /// Removes the container (killing it if it still runs).
    pub(crate) fn delete(&self) {
        let _ = Command::new(&self.runtime)
            .args(["delete", "--force", &self.id])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }

    /// The bundle directory (removed when the bundle is dropped).
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        self.delete();
    }
}
