//! One tenant's worker process and the calls into it.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use plugbox_frame::{DEFAULT_MAX_FRAME, FrameError, Reply, read_reply};

use crate::cgroup::TenantCgroup;
use crate::error::BaselineError;
use crate::isolation::{Isolation, find_runtime};
use crate::process::{Process, Spawned};
use crate::program::Program;
use crate::request::{Requests, SendError};

/// How long [`Worker::stop`] lets a worker exit on its own before killing
/// it.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// A long-lived worker process serving one tenant.
///
/// Dropping it kills and reaps the process.
#[derive(Debug)]
pub struct Worker {
    child: Option<Process>,
    requests: Option<Requests>,
    replies: Receiver<Result<Reply, FrameError>>,
    reader: Option<JoinHandle<()>>,
    // Dropped after the process: removes the container and its bundle.
    bundle: Option<crate::oci::Bundle>,
    // Dropped after the process: removes an engine's container.
    container: Option<crate::engine::Container>,
    // Dropped after the process: kills what is left inside and removes it.
    cgroup: Option<TenantCgroup>,
}

impl Worker {
    /// Starts `binary` (a native twin) under `isolation`:
    /// [`Worker::start_program`] with [`Program::twin`].
    ///
    /// # Errors
    ///
    /// [`BaselineError::RuntimeNotInstalled`] if the level's runtime is not
    /// in `$PATH`; [`BaselineError::Cgroup`] if the tenant's cgroup (its
    /// memory and process limits, for `namespaced`, `bwrap` and `crun`)
    /// cannot be made; [`BaselineError::Spawn`] if the process cannot be
    /// started.
    pub fn start(isolation: Isolation, binary: impl AsRef<Path>) -> Result<Self, BaselineError> {
        Self::start_in(isolation, binary, &crate::isolation::search_path())
    }

    /// [`Worker::start`], looking the level's runtime up in `search_path` (a
    /// `PATH`-style list of directories) instead of `$PATH`.
    ///
    /// # Errors
    ///
    /// As [`Worker::start`].
    pub fn start_in(
        isolation: Isolation,
        binary: impl AsRef<Path>,
        search_path: &OsStr,
    ) -> Result<Self, BaselineError> {
        // The runtime first: a missing one is named even for a bad binary.
        if let Some(runtime) = isolation.runtime() {
            find_runtime(runtime, search_path)?;
        }
        Self::start_program_in(isolation, &Program::twin(binary)?, search_path)
    }

    /// Starts `program` under `isolation`: its executable with its
    /// arguments and environment, in a root holding only its binds (read
    /// only) at every level but `process`.
    ///
    /// # Errors
    ///
    /// As [`Worker::start`].
    pub fn start_program(isolation: Isolation, program: &Program) -> Result<Self, BaselineError> {
        Self::start_program_in(isolation, program, &crate::isolation::search_path())
    }

    /// [`Worker::start_program`], looking the level's runtime up in
    /// `search_path` instead of `$PATH`.
    ///
    /// # Errors
    ///
    /// As [`Worker::start`].
    pub fn start_program_in(
        isolation: Isolation,
        program: &Program,
        search_path: &OsStr,
    ) -> Result<Self, BaselineError> {
        let mut bundle = None;
        let mut container = None;
        let mut cgroup = None;
        let spawned = match isolation {
            Isolation::Process => {
                Spawned::command_with_env(&mut program.host_command(), &program.env)
            }
            Isolation::Namespaced => {
                // Never without its limits: no cgroup, no tenant.
                cgroup = Some(
                    TenantCgroup::create(
                        &crate::cgroup::next_id(),
                        crate::oci::MEMORY_LIMIT_BYTES,
                        crate::oci::PIDS_LIMIT,
                    )
                    .map_err(BaselineError::Cgroup)?,
                );
                crate::namespaced::spawn(
                    program,
                    cgroup.as_ref(),
                    crate::oci::ADDRESS_SPACE_LIMIT_BYTES,
                )
            }
            Isolation::Bubblewrap => {
                let bwrap = find_runtime("bwrap", search_path)?;
                let mut command = Command::new(bwrap);
                command
                    .args(["--unshare-all", "--die-with-parent", "--new-session"])
                    .args(["--cap-drop", "ALL", "--clearenv"])
                    .args(["--proc", "/proc", "--dev", "/dev"]);
                for (source, target) in program.binds() {
                    command.arg("--ro-bind").arg(source).arg(target);
                }
                for (key, value) in &program.env {
                    command.arg("--setenv").arg(key).arg(value);
                }
                let (executable, args) = program.command_line();
                command.arg("--").arg(executable).args(args);
                // bwrap and everything it starts: its limits, its OOM
                // record, and a sweep that leaves nothing behind (a bwrap
                // killed while it sets up can orphan its sandbox's init).
                let tenant = TenantCgroup::create(
                    &crate::cgroup::next_id(),
                    crate::oci::MEMORY_LIMIT_BYTES,
                    crate::oci::PIDS_LIMIT,
                )
                .map_err(BaselineError::Cgroup)?;
                tenant
                    .join_at_exec(&mut command)
                    .map_err(BaselineError::Cgroup)?;
                cgroup = Some(tenant);
                Spawned::command(&mut command)
            }
            Isolation::Runc => {
                let runc = find_runtime("runc", search_path)?;
                let runtime = crate::oci::Runtime::Runc(runc);
                let (created, mut command) =
                    crate::oci::Bundle::create(runtime, program, crate::cgroup::next_id())?;
                bundle = Some(created);
                Spawned::command(&mut command)
            }
            Isolation::Crun => {
                let crun = find_runtime("crun", search_path)?;
                let id = crate::cgroup::next_id();
                // Ours, around crun's: it holds the limit and the OOM counter.
                cgroup = Some(container_cgroup(&id)?);
                let runtime = crate::oci::Runtime::Crun(crun);
                let (created, mut command) = crate::oci::Bundle::create(runtime, program, id)?;
                bundle = Some(created);
                Spawned::command(&mut command)
            }
            Isolation::Docker | Isolation::DockerCrun | Isolation::Podman => {
                let engine = match isolation {
                    Isolation::Podman => crate::engine::Engine::Podman,
                    _ => crate::engine::Engine::Docker,
                };
                let session = crate::engine::Session::get(engine, search_path)?;
                let id = crate::cgroup::next_id();
                // Ours, around the engine's: the limit and the OOM counter.
                cgroup = Some(container_cgroup(&id)?);
                let (created, mut command) =
                    crate::engine::Container::create(session, isolation, program, id)?;
                container = Some(created);
                // The session's environment, not the host's.
                Spawned::command_keeping_env(&mut command)
            }
        }
        .map_err(BaselineError::Spawn)?;
        let Spawned {
            process,
            stdin,
            stdout,
        } = spawned;
        let requests = Requests::new(stdin).map_err(BaselineError::Spawn)?;
        // Replies are read on a thread so that a call can wait with a
        // deadline; it ends when the worker's stdout closes.
        let (sender, replies) = mpsc::channel();
        let reader = std::thread::Builder::new()
            .name("plugbox-baseline-reader".into())
            .spawn(move || {
                let mut stdout = std::io::BufReader::new(stdout);
                loop {
                    let reply = read_reply(&mut stdout, DEFAULT_MAX_FRAME);
                    let stop = reply.is_err();
                    if sender.send(reply).is_err() || stop {
                        return;
                    }
                }
            })
            .map_err(BaselineError::Spawn)?;
        Ok(Self {
            child: Some(process),
            requests: Some(requests),
            replies,
            reader: Some(reader),
            bundle,
            container,
            cgroup,
        })
    }

    /// Sends `input` and waits for the answer, all within `deadline`: a
    /// worker that stops reading its input (given more than the pipe holds)
    /// is caught by the deadline as one that stops answering is.
    ///
    /// # Errors
    ///
    /// [`BaselineError::Guest`] (the worker stays usable);
    /// [`BaselineError::Io`] for an input too large to frame (over 4 GiB;
    /// nothing is sent, the worker stays usable); on
    /// [`BaselineError::DeadlineExceeded`], [`BaselineError::WorkerCrashed`]
    /// or [`BaselineError::Protocol`] the worker is killed and later calls
    /// fail with [`BaselineError::Stopped`].
    pub fn call(&mut self, input: &[u8], deadline: Duration) -> Result<Vec<u8>, BaselineError> {
        let Some(requests) = self.requests.as_mut() else {
            return Err(BaselineError::Stopped);
        };
        let until = Instant::now().checked_add(deadline);
        match requests.send(input, until) {
            Ok(()) => {}
            Err(SendError::TooLarge(len)) => {
                return Err(BaselineError::Io(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("a request of {len} bytes does not fit a frame (4 GiB at most)"),
                )));
            }
            Err(SendError::Deadline) => {
                return Err(self.fail(BaselineError::DeadlineExceeded(deadline)));
            }
            // A closed pipe: the worker is gone.
            Err(SendError::Closed) => return Err(self.fail(BaselineError::Stopped)),
            Err(SendError::Io(error)) => return Err(self.fail(BaselineError::Io(error))),
        }
        let left = until.map_or(deadline, |until| {
            until.saturating_duration_since(Instant::now())
        });
        match self.replies.recv_timeout(left) {
            Ok(Ok(Reply::Output(bytes))) => Ok(bytes),
            Ok(Ok(Reply::GuestError(message))) => Err(BaselineError::Guest(message)),
            Ok(Err(FrameError::Truncated)) | Err(RecvTimeoutError::Disconnected) => {
                Err(self.fail(BaselineError::Stopped))
            }
            Ok(Err(error)) => Err(self.fail(BaselineError::Protocol(error.to_string()))),
            Err(RecvTimeoutError::Timeout) => {
                Err(self.fail(BaselineError::DeadlineExceeded(deadline)))
            }
        }
    }

    /// Kills the worker and reports why: when its pipes closed under us
    /// (`Stopped`), the way it exited; otherwise `error` (a worker that dies
    /// after a protocol violation only died because we stopped reading).
    fn fail(&mut self, error: BaselineError) -> BaselineError {
        let crashed = match error {
            BaselineError::Stopped => self.wait_briefly(),
            _ => None,
        };
        let oom = self
            .cgroup()
            .map(|cgroup| crate::cgroup::oom_record(&cgroup))
            .unwrap_or_default();
        // Killed by a SIGKILL we did not send (or a runtime's 128 + 9).
        let sigkilled = |status: &ExitStatus| {
            use std::os::unix::process::ExitStatusExt as _;
            status.signal() == Some(libc::SIGKILL) || status.code() == Some(128 + libc::SIGKILL)
        };
        self.kill();
        match crashed {
            Some(status) if oom.killed || (oom.limit_hit && sigkilled(&status)) => {
                BaselineError::MemoryLimitKilled(status)
            }
            Some(status) => BaselineError::WorkerCrashed(status),
            None => error,
        }
    }

    /// The exit status of a worker whose pipes closed (it is exiting).
    fn wait_briefly(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        child
            .wait_timeout(Duration::from_millis(100))
            .ok()
            .flatten()
    }

    fn kill(&mut self) {
        self.requests = None;
        if let Some(mut child) = self.child.take() {
            child.kill();
            let _ = child.wait();
        }
        self.release();
    }

    /// Removes what outlives the worker's process (once it has exited).
    fn release(&mut self) {
        // The container and the cgroup before the reader: a container (or a
        // process a runtime left) that outlived the worker's process would
        // hold the reply pipe open, and the reader would wait on it forever.
        if let Some(mut bundle) = self.bundle.take() {
            bundle.delete();
        }
        if let Some(mut container) = self.container.take() {
            container.delete();
        }
        if let Some(mut cgroup) = self.cgroup.take() {
            cgroup.remove();
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }

    /// Closes the worker's stdin and waits up to [`STOP_GRACE`] for it to
    /// exit, then kills it: [`Worker::stop_within`] with that grace.
    ///
    /// # Errors
    ///
    /// As [`Worker::stop_within`].
    pub fn stop(self) -> Result<ExitStatus, BaselineError> {
        self.stop_within(STOP_GRACE)
    }

    /// Closes the worker's stdin and waits up to `grace` for it to exit; a
    /// worker still running then is killed (its status then says `SIGKILL`,
    /// or 137 from a runtime). Either way, everything the tenant made is
    /// removed before this returns.
    ///
    /// # Errors
    ///
    /// [`BaselineError::Io`] if waiting fails (the worker is killed);
    /// [`BaselineError::Stopped`] if it was already stopped.
    pub fn stop_within(mut self, grace: Duration) -> Result<ExitStatus, BaselineError> {
        self.requests = None;
        let mut child = self.child.take().ok_or(BaselineError::Stopped)?;
        let status = match child.wait_timeout(grace) {
            Ok(Some(status)) => Ok(status),
            Ok(None) => {
                child.kill();
                child.wait()
            }
            Err(error) => {
                child.kill();
                let _ = child.wait();
                Err(error)
            }
        };
        self.release();
        status.map_err(BaselineError::Io)
    }

    /// The bundle directory of an OCI worker (removed when the worker stops).
    pub fn bundle_dir(&self) -> Option<&Path> {
        self.bundle.as_ref().map(crate::oci::Bundle::path)
    }

    /// The container id (an engine's container name) of an OCI or engine
    /// worker; it also names the tenant's cgroup (`plugbox/<id>` under each
    /// controller).
    pub fn container_id(&self) -> Option<&str> {
        match (&self.bundle, &self.container) {
            (Some(bundle), _) => Some(bundle.id.as_str()),
            (None, Some(container)) => Some(container.id.as_str()),
            (None, None) => None,
        }
    }

    /// The worker's own cgroup, relative to each controller's root (for
    /// example `plugbox/<id>` under `/sys/fs/cgroup/memory`), for levels that
    /// give each tenant one. Read its charged memory there.
    pub fn cgroup(&self) -> Option<String> {
        match (&self.bundle, &self.cgroup) {
            (Some(bundle), _) => Some(format!("{}/{}", crate::cgroup::PARENT, bundle.id)),
            (None, Some(cgroup)) => Some(cgroup.relative().to_owned()),
            (None, None) => None,
        }
    }

    /// Bytes charged now to the worker's own cgroup (kernel memory
    /// included), for levels that give each tenant one.
    pub fn charged_bytes(&self) -> Option<u64> {
        crate::cgroup::charged_bytes(&self.cgroup()?)
    }

    /// The worker's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Process::id)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The tenant cgroup around a container (the runtime's or the engine's): it
/// holds the container levels' memory and pids limits and the OOM counter.
fn container_cgroup(id: &str) -> Result<TenantCgroup, BaselineError> {
    TenantCgroup::create(id, crate::oci::MEMORY_LIMIT_BYTES, crate::oci::PIDS_LIMIT)
        .map_err(BaselineError::Cgroup)
}
