//! A real `redis-server` for tests (Debian's `redis-server`): started on
//! 127.0.0.1 on a free port without persistence (`--save '' --appendonly
//! no`), in a directory of its own, and killed when its guard is dropped.
//!
//! Where `redis-server` is not installed, [`RedisServer::start_or_skip`]
//! prints `skipped: redis: <reason>` (past the test harness's capture) and
//! the test returns, except where `CI` is set: CI installs it (`.ci/run`),
//! so there a missing server fails the test.

use std::io::Write as _;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to accept connections.
const STARTUP: Duration = Duration::from_secs(10);

/// A running `redis-server`, killed (and reaped) on drop.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    /// Configuration beyond the defaults (`--requirepass secret`).
    extra: Vec<String>,
}

impl RedisServer {
    /// A running server, or `None` after printing `skipped: redis: <reason>`
    /// where `redis-server` is not installed and `CI` is not set.
    ///
    /// # Panics
    ///
    /// If the server cannot be started (under `CI`, also if it is missing).
    pub fn start_or_skip() -> Option<Self> {
        Self::start_or_skip_with(&[])
    }

    /// As [`start_or_skip`](Self::start_or_skip), with more configuration
    /// (`&["--requirepass", "secret"]`).
    ///
    /// # Panics
    ///
    /// As [`start_or_skip`](Self::start_or_skip).
    pub fn start_or_skip_with(extra: &[&str]) -> Option<Self> {
        let extra: Vec<String> = extra.iter().map(|&arg| arg.to_owned()).collect();
        match Self::start(extra) {
            Ok(server) => Some(server),
            Err(Missing(why)) if std::env::var_os("CI").is_none() => {
                let _ = writeln!(std::io::stderr(), "skipped: redis: {why}");
                None
            }
            Err(Missing(why)) => panic!("redis: {why} (CI is set: the Redis tests must run)"),
        }
    }

    fn start(extra: Vec<String>) -> Result<Self, Missing> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut last = String::new();
        // Another process may take the free port before the server does.
        for _ in 0..5 {
            let port = free_port();
            let mut child = match spawn(dir.path(), port, &extra) {
                Ok(child) => child,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Missing(
                        "`redis-server` not found (Debian: apt-get install redis-server)".into(),
                    ));
                }
                Err(error) => panic!("redis: starting redis-server: {error}"),
            };
            match wait_until_ready(&mut child, dir.path(), port) {
                Ok(()) => {
                    return Ok(Self {
                        child: Some(child),
                        port,
                        dir,
                        extra,
                    });
                }
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last = why;
                }
            }
        }
        panic!("redis: redis-server did not start: {last}");
    }

    /// The url of database 0.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (`SIGKILL`, as a crash) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a fresh server (empty: no persistence) on the same port.
    ///
    /// # Panics
    ///
    /// If it does not start.
    pub fn restart(&mut self) {
        self.kill();
        let mut child =
            spawn(self.dir.path(), self.port, &self.extra).expect("redis-server restarts");
        let ready = wait_until_ready(&mut child, self.dir.path(), self.port);
        self.child = Some(child);
        if let Err(why) = ready {
            panic!(
                "redis: redis-server did not restart on port {}: {why}",
                self.port
            );
        }
    }

    /// Freezes the server (`SIGSTOP`): it keeps its socket, the kernel still
    /// accepts connections, and nothing answers: a server that hangs.
    pub fn freeze(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Lets a frozen server run again (`SIGCONT`).
    pub fn thaw(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: libc::c_int) {
        let child = self.child.as_ref().expect("the server is running");
        let pid = libc::pid_t::try_from(child.id()).expect("a pid");
        // SAFETY: signals our own child, not yet reaped (so its pid is ours).
        let status = unsafe { libc::kill(pid, signal) };
        assert_eq!(status, 0, "signal {signal} to redis-server");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `redis-server` is not installed.
struct Missing(String);

/// Waits until the server on `port` accepts connections.
fn wait_until_ready(child: &mut Child, dir: &Path, port: u16) -> Result<(), String> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|error| error.to_string())? {
            let log = std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default();
            return Err(format!("exited with {status}: {}", log.trim()));
        }
        if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(());
        }
        if started.elapsed() > STARTUP {
            return Err(format!("no connection within {STARTUP:?}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A port free on 127.0.0.1 a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free port");
    listener.local_addr().expect("its address").port()
}

fn spawn(dir: &Path, port: u16, extra: &[String]) -> std::io::Result<Child> {
    let mut command = Command::new("redis-server");
    command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(dir.join("redis.log"))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: `prctl` is async-signal-safe, as `pre_exec` requires. It kills
    // the server if the test process dies without dropping the guard (a
    // SIGKILL, an abort): no server outlives the tests. (It also fires when
    // the thread that started the server ends: start and restart servers
    // from the test's own thread.)
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    command.spawn()
}
