//! Connections to one Redis server, every wait bounded by the operation's
//! deadline.
//!
//! Connecting is a TCP connect, then `AUTH` and `SELECT` if the url asks
//! for them, each a round trip of ours: the Redis client's own setup sends
//! its commands as one pipeline whose replies it reads on after a timeout,
//! each waiting as long again, so a frozen server would hold a connect for
//! several timeouts.
//!
//! Idle connections are kept for reuse. One that fails (a timeout, a reset)
//! is dropped with every idle one, as likely as stale (the server went
//! away), so that the next operation connects afresh: that is how the
//! backend reconnects once Redis is back. A connection idle for a while is
//! checked with `PING` first, since a server restarted (or an idle timeout
//! of the server or a proxy) closes connections without anyone noticing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use redis::{
    Client, Cmd, Connection, ConnectionInfo, ErrorKind, FromRedisValue, RedisConnectionInfo,
    RedisError, RedisResult, Script,
};

/// Idle connections kept for reuse; more are closed when returned.
const MAX_IDLE: usize = 16;

/// A connection idle for longer is checked with `PING` before it is used.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Whether an operation may be sent again on a fresh connection after its
/// first connection broke: only if doing it twice is doing it once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// `get`, `set` (the same value twice), `delete`.
    Idempotent,
    /// `increment`: never sent twice.
    Never,
}

/// The connections to one server.
pub(crate) struct Pool {
    /// Connects (TCP only: no setup commands).
    client: Client,
    /// The url's database, user and password, for `SELECT` and `AUTH`.
    settings: RedisConnectionInfo,
    idle: Mutex<Vec<Idle>>,
    /// Whether the last operation reached the server (for logging changes
    /// only, not every failed call).
    healthy: AtomicBool,
}

struct Idle {
    connection: Connection,
    since: Instant,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("addr", &self.addr())
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// The pool of the server `info` names.
    ///
    /// # Errors
    ///
    /// If the client refuses `info` (e.g. TLS in a build without it).
    pub(crate) fn new(info: &ConnectionInfo) -> RedisResult<Self> {
        let settings = info.redis_settings().clone();
        let tcp_only = info
            .clone()
            .set_redis_settings(RedisConnectionInfo::default().set_skip_set_lib_name());
        Ok(Self {
            client: Client::open(tcp_only)?,
            settings,
            idle: Mutex::new(Vec::new()),
            healthy: AtomicBool::new(true),
        })
    }

    pub(crate) fn addr(&self) -> String {
        self.client.get_connection_info().addr().to_string()
    }

    /// Runs `op` on a connection, by `deadline`.
    pub(crate) fn run<T>(
        &self,
        deadline: Option<Instant>,
        retry: Retry,
        op: impl Fn(&mut Link) -> RedisResult<T>,
    ) -> RedisResult<T> {
        let (mut link, reused) = self.checkout(deadline)?;
        let result = op(&mut link);
        match result {
            Err(error) if !answered(&error) => {
                self.clear();
                if reused && retry == Retry::Idempotent && error.is_connection_dropped() {
                    // A connection that was closed while idle: once more on
                    // a fresh one.
                    let mut link = self.connect(deadline)?;
                    let result = op(&mut link);
                    self.finish(link, &result);
                    return result;
                }
                self.note_failure(&error);
                Err(error)
            }
            result => {
                self.finish(link, &result);
                result
            }
        }
    }

    /// Keeps `link` for reuse if it is still in step with the server.
    fn finish<T>(&self, link: Link, result: &RedisResult<T>) {
        match result {
            Err(error) if !answered(error) => {
                self.clear();
                self.note_failure(error);
            }
            _ => {
                self.note_success();
                let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
                if idle.len() < MAX_IDLE {
                    idle.push(Idle {
                        connection: link.connection,
                        since: Instant::now(),
                    });
                }
            }
        }
    }

    /// An idle connection (checked if idle for a while), or a new one;
    /// whether it was reused.
    fn checkout(&self, deadline: Option<Instant>) -> RedisResult<(Link, bool)> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        if let Some(idle) = idle {
            let mut link = Link {
                connection: idle.connection,
                deadline,
            };
            if idle.since.elapsed() < CHECK_AFTER_IDLE {
                return Ok((link, true));
            }
            match link.query::<String>(&redis::cmd("PING")) {
                Ok(_) => return Ok((link, false)),
                Err(error) if error.is_connection_dropped() => self.clear(),
                Err(error) => {
                    self.clear();
                    self.note_failure(&error);
                    return Err(error);
                }
            }
        }
        self.connect(deadline).map(|link| (link, false))
    }

    fn connect(&self, deadline: Option<Instant>) -> RedisResult<Link> {
        self.setup(deadline)
            .inspect_err(|error| self.note_failure(error))
    }

    /// A new connection, authenticated and on the url's database.
    fn setup(&self, deadline: Option<Instant>) -> RedisResult<Link> {
        let connection = match time_left(deadline)? {
            Some(left) => self.client.get_connection_with_timeout(left),
            None => self.client.get_connection(),
        }?;
        let mut link = Link {
            connection,
            deadline,
        };
        if let Some(password) = self.settings.password() {
            let mut auth = redis::cmd("AUTH");
            if let Some(username) = self.settings.username() {
                auth.arg(username);
            }
            link.query::<()>(auth.arg(password))?;
        }
        if self.settings.db() != 0 {
            link.query::<()>(redis::cmd("SELECT").arg(self.settings.db()))?;
        }
        Ok(link)
    }

    /// Drops every idle connection.
    fn clear(&self) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    fn note_failure(&self, error: &RedisError) {
        if self.healthy.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                target: "plugbox::kv_redis",
                addr = %self.addr(),
                %error,
                "redis unavailable: kv operations fail until it answers again"
            );
        }
    }

    fn note_success(&self) {
        if !self.healthy.swap(true, Ordering::Relaxed) {
            tracing::info!(target: "plugbox::kv_redis", addr = %self.addr(), "redis answers again");
        }
    }
}

/// Whether the server answered `error` (an error reply, read whole): the
/// connection is still in step. Anything else (a timeout in the middle of
/// a reply, a reset) leaves it unusable.
fn answered(error: &RedisError) -> bool {
    matches!(error.kind(), ErrorKind::Server(_) | ErrorKind::Extension)
}

/// The time left before `deadline` (`None`: no deadline), or a timeout
/// error if none is left.
fn time_left(deadline: Option<Instant>) -> RedisResult<Option<Duration>> {
    let Some(deadline) = deadline else {
        return Ok(None);
    };
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(RedisError::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the operation's deadline passed",
        )));
    }
    Ok(Some(left))
}

/// A connection used by one operation: each round trip may wait only as
/// long as the operation has left.
pub(crate) struct Link {
    connection: Connection,
    deadline: Option<Instant>,
}

impl Link {
    /// Sends `cmd` and reads its reply, by the deadline.
    pub(crate) fn query<T: FromRedisValue>(&mut self, cmd: &Cmd) -> RedisResult<T> {
        self.arm()?;
        cmd.query(&mut self.connection)
    }

    /// Bounds the next round trip's waits by the time left.
    fn arm(&mut self) -> RedisResult<()> {
        let left = time_left(self.deadline)?;
        self.connection.set_write_timeout(left)?;
        self.connection.set_read_timeout(left)
    }

    /// Runs `script` on `key` with `args` (`EVALSHA`, loading the script
    /// first if the server does not have it, as after a restart).
    pub(crate) fn script<T: FromRedisValue>(
        &mut self,
        script: &Script,
        key: &[u8],
        args: &[&[u8]],
    ) -> RedisResult<T> {
        let mut evalsha = redis::cmd("EVALSHA");
        evalsha.arg(script.get_hash()).arg(1).arg(key);
        for arg in args {
            evalsha.arg(*arg);
        }
        match self.query(&evalsha) {
            Err(error) if error.kind() == ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                self.arm()?;
                script.load(&mut self.connection)?;
                self.query(&evalsha)
            }
            result => result,
        }
    }
}
