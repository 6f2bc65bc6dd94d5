//! OCI runtimes (runc): a bundle per tenant whose root filesystem is empty
//! but for the twin, bind-mounted read-only.

use std::path::{Path, PathBuf};
use std::process::Command;

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
        let id = crate::cgroup::next_id();
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
                "seccomp": crate::seccomp::oci_profile(),
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

    /// Removes the container (killing it if it still runs), then sweeps its
    /// cgroup: a runtime killed while it was still creating the container
    /// (a deadline shorter than its start-up) has no state to delete from,
    /// but may have made the cgroup and started its init inside.
    pub(crate) fn delete(&self) {
        let _ = Command::new(&self.runtime)
            .args(["delete", "--force", &self.id])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        crate::cgroup::TenantCgroup::made_by_runtime(&self.id).remove();
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
