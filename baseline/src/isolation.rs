//! The isolation levels, and whether each can run here.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use crate::error::BaselineError;

/// How a worker is isolated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Isolation {
    /// A plain child process: no isolation beyond the OS's process
    /// boundary. The lower bound of any process-based isolation's cost.
    Process,
    /// Our own sandbox from kernel primitives: new user (uid mapped to
    /// `nobody` outside), pid, mount, net, ipc, uts and cgroup namespaces; a
    /// read-only tmpfs root holding only the program's binds (the twin, or
    /// an interpreter with its libraries and script; each read-only) and a
    /// private `/proc`, entered with `pivot_root`; no capabilities;
    /// no_new_privs; a seccomp allow-list; rlimits; and a cgroup limiting
    /// memory and processes. The twin is cloned straight into its
    /// namespaces (pid 1 of its own, and the only process of the tenant).
    Namespaced,
    /// bubblewrap (`bwrap`) with every namespace unshared (user, pid, net,
    /// mount, ipc, uts, cgroup), all capabilities dropped, a clean
    /// environment, a new session, and a root holding only the program's
    /// binds (read only), a private `/proc` and a minimal `/dev`, in a
    /// cgroup limiting memory and processes. Twins are static executables,
    /// so a twin's root holds the twin alone.
    Bubblewrap,
    /// runc, the reference OCI runtime: a generated bundle per tenant (an
    /// empty read-only root with the program's binds bind-mounted, pid/net/ipc/uts/mount
    /// namespaces, no capabilities, no_new_privs, an unprivileged user, and
    /// a cgroup limiting memory and processes).
    Runc,
    /// crun, the C OCI runtime, with the same generated bundle as runc.
    Crun,
    /// Docker (dockerd, containerd and its shim, runc): `docker create` and
    /// `docker start -a -i` of an image holding only the twin, with the OCI
    /// levels' confinement as Docker's flags (`--memory`, `--pids-limit`,
    /// `--network none`, `--read-only`, `--cap-drop ALL`,
    /// `no-new-privileges`, the seccomp allow-list as a profile, `--user`
    /// nobody), in a cgroup of ours holding the limits. The level starts a
    /// daemon of its own (own root, socket and pid file) unless
    /// `DOCKER_HOST` names one; see [`crate::engine`].
    Docker,
    /// Docker as [`Isolation::Docker`], its containers run by crun instead of
    /// runc (`--runtime crun`; the daemon runs in a mount namespace without
    /// the cgroup2 mount, which crun refuses on hybrid hosts).
    DockerCrun,
    /// Podman (conmon, crun): `podman run -i --rm` of the same image with
    /// the same flags, with a configuration and storage of its own; its
    /// per-container conmon is in the tenant's cgroup.
    Podman,
}

impl Isolation {
    /// Every process and OCI level, from the least to the most isolated:
    /// the levels the density run compares.
    pub const ALL: &'static [Self] = &[
        Self::Process,
        Self::Namespaced,
        Self::Bubblewrap,
        Self::Crun,
        Self::Runc,
    ];

    /// The container engines' levels (not yet in the density run, whose
    /// per-tenant accounting does not count an engine's shim, conmon and
    /// daemon growth).
    pub const ENGINES: &'static [Self] = &[Self::Podman, Self::Docker, Self::DockerCrun];

    /// The level's short name, as the density report spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Process => "process",
            Self::Namespaced => "namespaced",
            Self::Bubblewrap => "bwrap",
            Self::Runc => "runc",
            Self::Crun => "crun",
            Self::Docker => "docker",
            Self::DockerCrun => "docker-crun",
            Self::Podman => "podman",
        }
    }

    /// The OCI runtime under a container engine's level (`docker` runs
    /// runc, `docker-crun` and `podman` crun); `None` for the other levels.
    pub fn oci_runtime(self) -> Option<&'static str> {
        match self {
            Self::Docker => Some("runc"),
            Self::DockerCrun | Self::Podman => Some("crun"),
            _ => None,
        }
    }

    /// Whether this level can run here: `Err` names what is missing.
    ///
    /// A runtime must be in `$PATH` (for `docker`, also `dockerd` unless
    /// `DOCKER_HOST` is set, and for both engines their OCI runtime);
    /// `namespaced` tries its whole sandbox
    /// but the exec once per process (user namespaces may be forbidden,
    /// mounts refused); levels whose tenants get a cgroup of ours
    /// (`namespaced`, `bwrap`, `crun`) need one to be creatable.
    ///
    /// # Errors
    ///
    /// [`BaselineError::RuntimeNotInstalled`] when the runtime is not in
    /// `$PATH`, [`BaselineError::Spawn`] when the `namespaced` sandbox cannot
    /// be built here (naming the step that failed), and
    /// [`BaselineError::Cgroup`] when no tenant cgroup can be made.
    pub fn available(self) -> Result<(), BaselineError> {
        self.available_in(&search_path())
    }

    /// [`Isolation::available`], looking runtimes up in `search_path` (a
    /// `PATH`-style list of directories) instead of `$PATH`.
    ///
    /// # Errors
    ///
    /// As [`Isolation::available`].
    pub fn available_in(self, search_path: &OsStr) -> Result<(), BaselineError> {
        if let Some(runtime) = self.runtime() {
            find_runtime(runtime, search_path)?;
        }
        // Our own daemon, unless the user names one.
        if self == Self::Docker
            && std::env::var_os("DOCKER_HOST").is_none_or(|host| host.is_empty())
        {
            find_runtime("dockerd", search_path)?;
        }
        if let Some(runtime) = self.oci_runtime() {
            find_runtime(runtime, search_path)?;
        }
        if self == Self::Namespaced {
            crate::namespaced::probe().map_err(BaselineError::Spawn)?;
        }
        if self.has_own_cgroup() {
            crate::cgroup::probe().map_err(BaselineError::Cgroup)?;
        }
        Ok(())
    }

    /// Whether each tenant of this level gets a cgroup of ours (holding its
    /// memory and process limits, and its OOM record).
    pub(crate) fn has_own_cgroup(self) -> bool {
        matches!(
            self,
            Self::Namespaced
                | Self::Bubblewrap
                | Self::Crun
                | Self::Docker
                | Self::DockerCrun
                | Self::Podman
        )
    }

    /// The external runtime this level needs, if any.
    pub fn runtime(self) -> Option<&'static str> {
        match self {
            Self::Process | Self::Namespaced => None,
            Self::Bubblewrap => Some("bwrap"),
            Self::Runc => Some("runc"),
            Self::Crun => Some("crun"),
            Self::Docker | Self::DockerCrun => Some("docker"),
            Self::Podman => Some("podman"),
        }
    }
}

/// `$PATH`, where runtimes are looked up by default.
pub(crate) fn search_path() -> OsString {
    std::env::var_os("PATH").unwrap_or_default()
}

/// Where `runtime` is installed in `search_path`.
pub(crate) fn find_runtime(
    runtime: &'static str,
    search_path: &OsStr,
) -> Result<PathBuf, BaselineError> {
    std::env::split_paths(search_path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(runtime))
        .find(|candidate| candidate.is_file())
        .ok_or(BaselineError::RuntimeNotInstalled(runtime))
}
