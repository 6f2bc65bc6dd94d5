//! Typed errors of the baseline.

use std::fmt;
use std::process::ExitStatus;
use std::time::Duration;

/// Why a baseline call or worker failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum BaselineError {
    /// The worker could not be started.
    Spawn(std::io::Error),
    /// The worker exited or was killed by a signal (a crash, or a memory
    /// limit's OOM kill).
    WorkerCrashed(ExitStatus),
    /// The kernel killed the worker for exceeding its memory limit (levels
    /// with a cgroup: namespaced, bwrap, crun, runc).
    MemoryLimitKilled(ExitStatus),
    /// The call ran past its deadline; the worker was killed.
    DeadlineExceeded(Duration),
    /// The worker broke the framing protocol.
    Protocol(String),
    /// The plugin returned an error on purpose (the worker stays usable).
    Guest(String),
    /// Talking to the worker failed.
    Io(std::io::Error),
    /// The worker was stopped after an earlier failure; start a new one.
    Stopped,
    /// The isolation level needs a runtime that is not installed (named).
    RuntimeNotInstalled(&'static str),
    /// The tenant's cgroup, which holds its memory and process limits,
    /// cannot be made (or joined): the level does not run without them.
    Cgroup(std::io::Error),
}

impl fmt::Display for BaselineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Spawn(error) => write!(f, "cannot start worker: {error}"),
            Self::WorkerCrashed(status) => write!(f, "worker crashed: {status}"),
            Self::MemoryLimitKilled(status) => {
                write!(f, "worker killed by its memory limit: {status}")
            }
            Self::DeadlineExceeded(deadline) => {
                write!(f, "deadline of {deadline:?} exceeded; worker killed")
            }
            Self::Protocol(why) => write!(f, "protocol violation: {why}"),
            Self::Guest(message) => write!(f, "plugin returned an error: {message}"),
            Self::Io(error) => write!(f, "pipe error: {error}"),
            Self::Stopped => f.write_str("worker stopped after an earlier failure"),
            Self::RuntimeNotInstalled(runtime) => write!(f, "`{runtime}` is not installed"),
            Self::Cgroup(error) => write!(
                f,
                "cannot make the tenant's cgroup (its memory and process limits): {error}"
            ),
        }
    }
}

impl std::error::Error for BaselineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Spawn(error) | Self::Io(error) | Self::Cgroup(error) => Some(error),
            _ => None,
        }
    }
}
