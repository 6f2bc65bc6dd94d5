//! The isolation baseline: one long-lived worker process per tenant, running
//! a plugin's *native twin* (the same plugin logic as an executable, see
//! `plugbox_guest::native`) and serving framed requests over pipes, with an
//! API shaped like plugbox's own: start a tenant, call it with a deadline,
//! stop it.
//!
//! Isolation levels ([`Isolation::ALL`]): [`Isolation::Process`], a plain
//! spawn (the lower bound of any process isolation);
//! [`Isolation::Namespaced`], our own sandbox from kernel primitives
//! (namespaces, `pivot_root`, seccomp, rlimits, a cgroup); and real runtimes,
//! [`Isolation::Bubblewrap`] and [`Isolation::Runc`] (a generated OCI bundle);
//! and the container engines people run, [`Isolation::Docker`] and
//! [`Isolation::Podman`] (their state: [`engine`]).
//! A level whose runtime is missing fails to start with
//! [`BaselineError::RuntimeNotInstalled`], never silently falls back;
//! [`Isolation::available`] says beforehand whether a level can run here. Every
//! process, container, cgroup and bundle a tenant made goes when its
//! [`Worker`] stops or drops, however it ended.
//!
//! A worker may also run a [`Program`]: an interpreter (`python3`, `node`)
//! with its shared libraries, standard library and script bind-mounted
//! read-only into the tenant's root ([`Worker::start_program`]); the
//! interpreters get a wider seccomp allow-list (threads, epoll, eventfds)
//! than the static twins.
//!
//! ```
//! use std::time::Duration;
//! use plugbox_baseline::{Isolation, Worker};
//!
//! let twin = plugbox_artifacts::HELLO.native.expect("hello has a native twin");
//! let mut worker = Worker::start(Isolation::Process, twin)?;
//! assert_eq!(worker.call(b"hello", Duration::from_secs(5))?, b"HELLO");
//! worker.stop()?;
//! # Ok::<(), plugbox_baseline::BaselineError>(())
//! ```
#![warn(missing_docs)]

mod cgroup;
pub mod engine;
mod error;
mod isolation;
mod namespaced;
mod oci;
mod process;
mod program;
mod request;
mod seccomp;
mod sys;
mod worker;

pub use error::BaselineError;
pub use isolation::Isolation;
pub use oci::{ADDRESS_SPACE_LIMIT_BYTES, MEMORY_LIMIT_BYTES, PIDS_LIMIT};
pub use program::{MAX_BINDS, Program};
pub use worker::{STOP_GRACE, Worker};
