//! A worker's process and its pipes: spawned by std (`Command`), or cloned
//! by us (the `namespaced` level's twin, pid 1 of its own namespaces).

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::os::unix::process::ExitStatusExt as _;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A started worker: its process, and the pipes to its stdin and stdout.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub(crate) process: Process,
    pub(crate) stdin: File,
    pub(crate) stdout: File,
}

impl Spawned {
    /// Runs `command` with a clean environment, its stdin and stdout piped
    /// to us and its stderr discarded.
    pub(crate) fn command(command: &mut Command) -> io::Result<Self> {
        Self::command_with_env(command, &[])
    }

    /// Runs `command` with the environment it was given (a container
    /// engine's client, whose session set it), its stdin and stdout piped to
    /// us and its stderr discarded.
    pub(crate) fn command_keeping_env(command: &mut Command) -> io::Result<Self> {
        Self::piped(command)
    }

    /// [`Spawned::command`] with only `env` in its environment.
    pub(crate) fn command_with_env(
        command: &mut Command,
        env: &[(OsString, OsString)],
    ) -> io::Result<Self> {
        command
            .env_clear()
            .envs(env.iter().map(|(key, value)| (key, value)));
        Self::piped(command)
    }

    fn piped(command: &mut Command) -> io::Result<Self> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            unreachable!("both pipes were requested")
        };
        Ok(Self {
            process: Process::Std(child),
            stdin: File::from(OwnedFd::from(stdin)),
            stdout: File::from(OwnedFd::from(stdout)),
        })
    }
}

/// A worker's process, our child until reaped.
#[derive(Debug)]
pub(crate) enum Process {
    /// Started by `std::process::Command`.
    Std(Child),
    /// Cloned by us.
    Cloned(Cloned),
}

impl Process {
    /// Its process id (in our pid namespace).
    pub(crate) fn id(&self) -> u32 {
        match self {
            Self::Std(child) => child.id(),
            Self::Cloned(child) => child.pid.unsigned_abs(),
        }
    }

    /// Its exit status, if it has exited (reaping it).
    pub(crate) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        match self {
            Self::Std(child) => child.try_wait(),
            Self::Cloned(child) => child.reap(libc::WNOHANG),
        }
    }

    /// Waits for it to exit.
    pub(crate) fn wait(&mut self) -> io::Result<ExitStatus> {
        match self {
            Self::Std(child) => child.wait(),
            Self::Cloned(child) => child.wait(),
        }
    }

    /// Waits up to `timeout` for it to exit: `None` if it still runs.
    pub(crate) fn wait_timeout(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        // Readable when the process exits (not yet reaped: the pid is ours).
        // SAFETY: a plain system call; the descriptor returned is ours.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, self.id(), 0) };
        // SAFETY: a fresh descriptor nobody else owns.
        let pidfd = (pidfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(pidfd as libc::c_int) });
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            match &pidfd {
                Some(pidfd) => {
                    let mut poll = libc::pollfd {
                        fd: pidfd.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    let millis = left.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
                    // SAFETY: one valid pollfd.
                    unsafe { libc::poll(&mut poll, 1, millis) };
                }
                None => std::thread::sleep(left.min(Duration::from_millis(1))),
            }
        }
    }

    /// Kills it (SIGKILL) unless it was reaped already.
    pub(crate) fn kill(&mut self) {
        match self {
            Self::Std(child) => {
                let _ = child.kill();
            }
            Self::Cloned(child) => child.kill(),
        }
    }
}

/// A child we cloned ourselves: killed and reaped when dropped.
#[derive(Debug)]
pub(crate) struct Cloned {
    pid: libc::pid_t,
    status: Option<ExitStatus>,
}

impl Cloned {
    pub(crate) fn new(pid: libc::pid_t) -> Self {
        Self { pid, status: None }
    }

    pub(crate) fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// `waitpid` with `flags`: the status once it has exited.
    fn reap(&mut self, flags: libc::c_int) -> io::Result<Option<ExitStatus>> {
        if self.status.is_some() {
            return Ok(self.status);
        }
        let mut status = 0;
        loop {
            // SAFETY: our own child (a zombie until reaped: its pid is not
            // reused); a valid out-pointer.
            match unsafe { libc::waitpid(self.pid, &mut status, flags) } {
                0 => return Ok(None),
                -1 => {
                    let error = io::Error::last_os_error();
                    if error.kind() != io::ErrorKind::Interrupted {
                        return Err(error);
                    }
                }
                _ => {
                    self.status = Some(ExitStatus::from_raw(status));
                    return Ok(self.status);
                }
            }
        }
    }

    pub(crate) fn wait(&mut self) -> io::Result<ExitStatus> {
        self.reap(0)?
            .ok_or_else(|| io::Error::other("waitpid returned without a status"))
    }

    fn kill(&mut self) {
        if self.status.is_none() {
            // SAFETY: our own unreaped child (see `reap`).
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
        }
    }
}

impl Drop for Cloned {
    fn drop(&mut self) {
        self.kill();
        let _ = self.reap(0);
    }
}
