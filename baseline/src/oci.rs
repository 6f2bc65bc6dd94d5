//! OCI runtimes (runc, crun): a bundle per tenant whose root filesystem is
//! empty but for the program's binds (the twin, or an interpreter, its
//! libraries and its script), bind-mounted read-only.
//!
//! runc runs as is, with `run --keep` so that the container's cgroup (and its
//! OOM counter) outlives the container until we delete it. crun 1.8 has no
//! `--keep` and removes its cgroup as the container exits, so a crun tenant
//! lives inside a cgroup of ours that holds the memory limit (and so the OOM
//! counter); crun's own cgroup inside it gets the limit plus one page, so the
//! kill is always charged to ours. crun also refuses hybrid cgroup hosts
//! (v1 controllers with a v2 mount at `/sys/fs/cgroup/unified`): it is
//! exec'd straight into a private mount namespace where that mount is gone
//! (made between fork and exec: no `unshare` or shell process in between).

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::error::BaselineError;
use crate::program::Program;

/// Memory limit of an OCI tenant's cgroup.
pub const MEMORY_LIMIT_BYTES: u64 = 64 << 20;
/// Process limit of an OCI tenant's cgroup.
pub const PIDS_LIMIT: u64 = 16;
/// Address-space rlimit of an OCI tenant's process (behind the cgroup).
pub const ADDRESS_SPACE_LIMIT_BYTES: u64 = 1 << 30;

/// Which OCI runtime, and where it is installed.
#[derive(Debug, Clone)]
pub(crate) enum Runtime {
    /// runc.
    Runc(PathBuf),
    /// crun.
    Crun(PathBuf),
}

impl Runtime {
    /// A command running the runtime with `args`.
    fn command(&self, args: &[&std::ffi::OsStr]) -> Command {
        match self {
            Self::Runc(runc) => {
                let mut command = Command::new(runc);
                command.args(args);
                command
            }
            Self::Crun(crun) => {
                // crun itself is exec'd in a private mount namespace without
                // the cgroup2 mount (no `unshare` or shell in between, so
                // the start figures are crun's own).
                let mut command = Command::new(crun);
                command.args(args);
                // SAFETY: between fork and exec the closure makes only
                // system calls (no allocation, no lock), on static strings.
                unsafe {
                    command.pre_exec(hide_unified_cgroup);
                }
                command
            }
        }
    }
}

/// In the child, before exec: a mount namespace of its own whose mounts do
/// not propagate back (`unshare --mount --propagation private`), without
/// `/sys/fs/cgroup/unified` (crun 1.8 refuses hybrid cgroup hosts). A host
/// without that mount is left as it is.
pub(crate) fn hide_unified_cgroup() -> std::io::Result<()> {
    // SAFETY: plain system calls with valid NUL-terminated strings.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let flags = libc::MS_REC | libc::MS_PRIVATE;
        let none = std::ptr::null();
        if libc::mount(none, c"/".as_ptr(), none, flags, std::ptr::null()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // Not mounted (a pure v1 or v2 host): nothing to hide.
        libc::umount2(c"/sys/fs/cgroup/unified".as_ptr(), libc::MNT_DETACH);
    }
    Ok(())
}

/// A created bundle: remove the container and the directory when done.
#[derive(Debug)]
pub(crate) struct Bundle {
    pub(crate) runtime: Runtime,
    pub(crate) id: String,
    pub(crate) dir: tempfile::TempDir,
    /// The container was deleted: [`Bundle::delete`] runs the runtime once.
    deleted: bool,
}

impl Bundle {
    /// Writes a bundle for `program` as tenant `id` and returns it with the
    /// command that runs it in the foreground (stdio through pipes).
    pub(crate) fn create(
        runtime: Runtime,
        program: &Program,
        id: String,
    ) -> Result<(Self, Command), BaselineError> {
        let (cgroup, memory_limit) = match runtime {
            Runtime::Runc(_) => (
                format!("/{}/{id}", crate::cgroup::PARENT),
                MEMORY_LIMIT_BYTES,
            ),
            Runtime::Crun(_) => (
                format!("/{}/{id}/crun", crate::cgroup::PARENT),
                MEMORY_LIMIT_BYTES + 4096,
            ),
        };
        let dir = tempfile::Builder::new()
            .prefix("plugbox-bundle-")
            .tempdir()
            .map_err(BaselineError::Spawn)?;
        std::fs::create_dir(dir.path().join("rootfs")).map_err(BaselineError::Spawn)?;
        let mut mounts = vec![
            json!({ "destination": "/proc", "type": "proc", "source": "proc" }),
            json!({ "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                    "options": ["nosuid", "strictatime", "mode=755", "size=64k"] }),
        ];
        mounts.extend(program.binds().map(|(source, target)| {
            json!({ "destination": target, "type": "bind", "source": source,
                    "options": ["rbind", "ro", "nosuid", "nodev"] })
        }));
        let (executable, args) = program.command_line();
        let mut argv = vec![executable.as_os_str().to_owned()];
        argv.extend(args.iter().cloned());
        let text_of = |values: &[std::ffi::OsString]| -> Vec<String> {
            values
                .iter()
                .map(|value| value.to_string_lossy().into_owned())
                .collect()
        };
        let config = json!({
            "ociVersion": "1.0.2",
            "process": {
                "terminal": false,
                "user": { "uid": 65534, "gid": 65534 },
                "args": text_of(&argv),
                "env": text_of(&program.env_strings()),
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
            "mounts": mounts,
            "linux": {
                "cgroupsPath": cgroup,
                "resources": {
                    "memory": { "limit": memory_limit },
                    "pids": { "limit": PIDS_LIMIT }
                },
                "namespaces": [
                    { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
                    { "type": "uts" }, { "type": "mount" }
                ],
                "seccomp": crate::seccomp::oci_profile(program.syscalls),
                "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
                "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
            }
        });
        let text = serde_json::to_vec_pretty(&config)
            .map_err(|error| BaselineError::Spawn(error.into()))?;
        std::fs::write(dir.path().join("config.json"), text).map_err(BaselineError::Spawn)?;
        // runc: `--keep`, the container's cgroup outlives its exit, so that
        // an OOM kill can be told apart from a crash; `delete` removes it.
        let keep: &[&str] = match runtime {
            Runtime::Runc(_) => &["--keep"],
            Runtime::Crun(_) => &[],
        };
        let mut args: Vec<&std::ffi::OsStr> = vec!["run".as_ref()];
        args.extend(keep.iter().map(std::ffi::OsStr::new));
        args.extend(["--bundle".as_ref(), dir.path().as_os_str(), id.as_ref()]);
        let command = runtime.command(&args);
        Ok((
            Self {
                runtime,
                id,
                dir,
                deleted: false,
            },
            command,
        ))
    }

    /// Removes the container (killing it if it still runs), then sweeps its
    /// cgroup: a runtime killed while it was still creating the container
    /// (a deadline shorter than its start-up) has no state to delete from,
    /// but may have made the cgroup and started its init inside. Once: later
    /// calls (and the drop) do nothing.
    pub(crate) fn delete(&mut self) {
        if std::mem::replace(&mut self.deleted, true) {
            return;
        }
        let _ = self
            .runtime
            .command(&["delete".as_ref(), "--force".as_ref(), self.id.as_ref()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        crate::cgroup::TenantCgroup::made_by_runtime(&self.id).remove();
        crate::cgroup::sweep_all_controllers(&self.id);
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
