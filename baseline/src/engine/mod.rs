//! Container engines (Docker, Podman): a tenant is a container of an image
//! built locally from the native twin, attached over its stdio, with the OCI
//! levels' confinement expressed through the engine's flags.
//!
//! Podman runs `podman run -i --rm` (conmon and crun under it). Docker runs
//! `docker create` then `docker start -a -i`: the container exists before
//! the attached client does, so that killing the client never races a
//! container the daemon is still creating. Either way the container lives
//! in a cgroup of ours (`--cgroup-parent plugbox/<id>`), which holds the
//! memory limit and so the OOM record, as the `crun` level's does; the
//! engine's own limit is one page above it. Podman puts its per-container
//! conmon in that cgroup too, so the tenant pays for it. The OCI levels'
//! address-space rlimit has no engine flag (`--ulimit` knows no `as`): the
//! memory cgroup is the limit.
//!
//! Engine state lives in a [`session`] of the process: its own
//! configuration and storage (and, for Docker, its own daemon) under a
//! directory of ours, removed at the end.

mod session;

pub use session::{container_runtime, containers, daemon_pid, images, state_dir, stop};

use std::ffi::OsString;
use std::process::Command;
use std::sync::Arc;

use crate::error::BaselineError;
use crate::oci::{MEMORY_LIMIT_BYTES, PIDS_LIMIT};
use crate::program::Program;

pub(crate) use session::Session;

/// Which engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Engine {
    /// Docker (dockerd, containerd, runc).
    Docker,
    /// Podman (conmon, crun).
    Podman,
}

impl Engine {
    /// The engine's command-line client.
    pub(crate) fn client(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Podman => "podman",
        }
    }
}

/// One tenant's container: removed (with the cgroups the engine made for
/// it) when done.
#[derive(Debug)]
pub(crate) struct Container {
    session: Arc<Session>,
    pub(crate) id: String,
    deleted: bool,
}

impl Container {
    /// Prepares tenant `id`'s container for `program` and returns the
    /// command that attaches to it in the foreground. The tenant's cgroup
    /// (`plugbox/<id>`, with the limits) must exist already.
    pub(crate) fn create(
        session: Arc<Session>,
        isolation: crate::isolation::Isolation,
        program: &Program,
        id: String,
    ) -> Result<(Self, Command), BaselineError> {
        let (image, baked) = session.image_for(program)?;
        let seccomp = session.seccomp_profile(program.syscalls)?;
        let engine_limit = (MEMORY_LIMIT_BYTES + 4096).to_string();
        let mut args: Vec<OsString> = Vec::new();
        let mut push = |arg: &str| args.push(arg.into());
        match session.engine {
            Engine::Podman => {
                push("run");
                push("--rm");
                // Without it, podman's --read-only mounts writable tmpfs
                // on /tmp, /var/tmp and /run.
                push("--read-only-tmpfs=false");
            }
            Engine::Docker => {
                push("create");
                if let Some(runtime) = isolation.oci_runtime() {
                    // Registered with our dockerd under its own name.
                    push("--runtime");
                    push(runtime);
                }
            }
        }
        for arg in [
            "-i",
            "--name",
            &id,
            "--pull",
            "never",
            "--log-driver",
            "none",
            "--network",
            "none",
            "--read-only",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "--user",
            "65534:65534",
            "--hostname",
            "twin",
            "--memory",
            &engine_limit,
            "--memory-swap",
            &engine_limit,
            "--pids-limit",
            &PIDS_LIMIT.to_string(),
            "--ulimit",
            "nofile=64:64",
            // Podman drops its configured default once one is given, and
            // crun may not raise nproc past the host's without privilege.
            "--ulimit",
            "nproc=32768:32768",
            "--cgroup-parent",
            &format!("/{}/{id}", crate::cgroup::PARENT),
        ] {
            push(arg);
        }
        args.push("--security-opt".into());
        let mut profile = OsString::from("seccomp=");
        profile.push(&seccomp);
        args.push(profile);
        for (source, target) in program.binds() {
            if baked == Some(target) {
                continue;
            }
            let mut mount = OsString::from("type=bind,source=");
            mount.push(source);
            mount.push(",target=");
            mount.push(target);
            mount.push(",readonly");
            args.push("--mount".into());
            args.push(mount);
        }
        for pair in program.env_strings() {
            args.push("--env".into());
            args.push(pair);
        }
        args.push(image.into());
        let (executable, program_args) = program.command_line();
        args.push(executable.as_os_str().to_owned());
        args.extend(program_args.iter().cloned());
        let command = match session.engine {
            Engine::Podman => session.command(&args),
            Engine::Docker => {
                // Created before the client attaches: see the module's doc.
                let output = session
                    .command(&args)
                    .stdin(std::process::Stdio::null())
                    .output()
                    .map_err(BaselineError::Spawn)?;
                if !output.status.success() {
                    return Err(BaselineError::Spawn(std::io::Error::other(format!(
                        "docker create: {}",
                        String::from_utf8_lossy(&output.stderr).trim()
                    ))));
                }
                session.command(&["start".into(), "-a".into(), "-i".into(), id.clone().into()])
            }
        };
        Ok((
            Self {
                session,
                id,
                deleted: false,
            },
            command,
        ))
    }

    /// Removes the container (killing it if it still runs), then sweeps the
    /// cgroups the engine made for it under every controller. Once.
    pub(crate) fn delete(&mut self) {
        if std::mem::replace(&mut self.deleted, true) {
            return;
        }
        let _ = self
            .session
            .command(&["rm".into(), "-f".into(), self.id.clone().into()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        crate::cgroup::TenantCgroup::made_by_runtime(&self.id).remove();
        crate::cgroup::sweep_all_controllers(&self.id);
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        self.delete();
    }
}
