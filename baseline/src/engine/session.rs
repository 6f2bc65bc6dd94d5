//! An engine's state for this process: a directory of ours holding the
//! engine's configuration, storage, seccomp profiles and image tarballs;
//! for Docker, a daemon of ours (or the one `DOCKER_HOST` names); the
//! images built so far. Made on first use, removed by [`stop`] or when the
//! process exits.
//!
//! A user's own engine state is never read nor written: Podman runs with
//! `CONTAINERS_CONF`, `CONTAINERS_STORAGE_CONF` and
//! `CONTAINERS_REGISTRIES_CONF` of ours, in a private mount namespace where
//! `/var/lib/containers` (its blob cache) is an empty tmpfs; our dockerd has
//! its own `--data-root`, `--exec-root`, `--pidfile`, socket and (empty)
//! `--config-file`, in a private mount namespace where `/run` and
//! `/etc/docker` (containerd's shim sockets, dockerd's trust key) are empty
//! tmpfs; the Docker client gets a `DOCKER_CONFIG` of ours.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use super::Engine;
use crate::error::BaselineError;
use crate::isolation::{Isolation, find_runtime};
use crate::program::{Program, Syscalls};

mod setup;

/// How long our dockerd may take to answer, and to stop.
const DAEMON_WAIT: Duration = Duration::from_secs(30);

/// The sessions alive in this process (at most one per engine).
static SESSIONS: Mutex<Vec<Arc<Session>>> = Mutex::new(Vec::new());

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One engine's state for this process.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) engine: Engine,
    client: PathBuf,
    env: Vec<(OsString, OsString)>,
    /// Ours; removed by [`Session::shutdown`].
    dir: PathBuf,
    /// Our dockerd, if we started one.
    daemon: Mutex<Option<Child>>,
    /// Image names by the twin they hold (`None`: an empty root).
    images: Mutex<HashMap<Option<PathBuf>, String>>,
    profiles: Mutex<HashMap<&'static str, PathBuf>>,
    shut: Mutex<bool>,
}

impl Session {
    /// The live session of `engine`, made (and its daemon started) if there
    /// is none.
    pub(crate) fn get(engine: Engine, search_path: &OsStr) -> Result<Arc<Self>, BaselineError> {
        let mut sessions = lock(&SESSIONS);
        if let Some(session) = sessions.iter().find(|session| session.engine == engine) {
            return Ok(Arc::clone(session));
        }
        static AT_EXIT: Once = Once::new();
        AT_EXIT.call_once(|| {
            // SAFETY: registers a plain `extern "C"` function.
            unsafe { libc::atexit(stop_at_exit) };
        });
        let session = Arc::new(Self::make(engine, search_path)?);
        sessions.push(Arc::clone(&session));
        Ok(session)
    }

    fn make(engine: Engine, search_path: &OsStr) -> Result<Self, BaselineError> {
        let client = find_runtime(engine.client(), search_path)?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("plugbox-{}-", engine.client()))
            .tempdir()
            .map_err(BaselineError::Spawn)?
            .keep();
        let mut session = Self {
            engine,
            client,
            env: vec![
                ("PATH".into(), search_path.to_owned()),
                ("HOME".into(), dir.clone().into()),
                ("XDG_CONFIG_HOME".into(), dir.join("config").into()),
            ],
            dir,
            daemon: Mutex::new(None),
            images: Mutex::new(HashMap::new()),
            profiles: Mutex::new(HashMap::new()),
            shut: Mutex::new(false),
        };
        let made = match engine {
            Engine::Podman => session.configure_podman(),
            Engine::Docker => session.start_docker(search_path),
        };
        if let Err(error) = made {
            session.shutdown();
            return Err(error);
        }
        Ok(session)
    }

    /// A command running the engine's client with `args`, in the session's
    /// environment alone (Podman in a private mount namespace, see the
    /// module's doc).
    pub(crate) fn command(&self, args: &[OsString]) -> Command {
        let mut command = Command::new(&self.client);
        command
            .env_clear()
            .envs(self.env.iter().map(|(key, value)| (key, value)))
            .args(args);
        if self.engine == Engine::Podman {
            // SAFETY: the closure makes only system calls on static strings.
            unsafe { command.pre_exec(setup::private_podman_mounts) };
        }
        command
    }

    /// Runs the client with `args` to completion: its stdout, or why not.
    fn run(&self, args: &[&str]) -> Result<String, BaselineError> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let output = self
            .command(&args)
            .stdin(Stdio::null())
            .output()
            .map_err(BaselineError::Spawn)?;
        if !output.status.success() {
            return Err(BaselineError::Spawn(io::Error::other(format!(
                "{} {}: {}",
                self.engine.client(),
                args.first().map_or("", |arg| arg.to_str().unwrap_or("")),
                String::from_utf8_lossy(&output.stderr).trim()
            ))));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// The image to run `program` from, built on first use, and the bind it
    /// holds (the twin at `/twin`, then not bind-mounted): an image of the
    /// twin alone, or of an empty root for an interpreter.
    pub(crate) fn image_for<'p>(
        &self,
        program: &'p Program,
    ) -> Result<(String, Option<&'p Path>), BaselineError> {
        let baked = program
            .binds()
            .find(|(_, target)| *target == Path::new("/twin"))
            .filter(|_| program.command_line().0 == Path::new("/twin"));
        let key = baked.map(|(source, _)| source.to_path_buf());
        let mut images = lock(&self.images);
        if let Some(name) = images.get(&key) {
            return Ok((name.clone(), baked.map(|(_, target)| target)));
        }
        let index = images.len();
        let name = format!(
            "localhost/plugbox-twin-{}-{index}:latest",
            std::process::id()
        );
        let root = self.dir.join(format!("image-{index}"));
        std::fs::create_dir_all(&root).map_err(BaselineError::Spawn)?;
        let mut entries = vec!["."];
        if let Some(twin) = &key {
            std::fs::copy(twin, root.join("twin")).map_err(BaselineError::Spawn)?;
            entries = vec!["twin"];
        }
        let tarball = self.dir.join(format!("image-{index}.tar"));
        let status = Command::new("tar")
            .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
            .arg(&root)
            .arg("-cf")
            .arg(&tarball)
            .args(&entries)
            .status()
            .map_err(|error| BaselineError::Spawn(io::Error::other(format!("tar: {error}"))))?;
        if !status.success() {
            return Err(BaselineError::Spawn(io::Error::other(format!(
                "tar: {status}"
            ))));
        }
        let tarball = tarball.to_string_lossy().into_owned();
        self.run(&["import", "--change", "CMD [\"/twin\"]", &tarball, &name])?;
        images.insert(key, name.clone());
        Ok((name, baked.map(|(_, target)| target)))
    }

    /// The seccomp allow-list of `syscalls` as a profile file.
    pub(crate) fn seccomp_profile(&self, syscalls: Syscalls) -> Result<PathBuf, BaselineError> {
        let name = match syscalls {
            Syscalls::Twin => "seccomp-twin.json",
            Syscalls::Interpreter => "seccomp-interpreter.json",
        };
        let mut profiles = lock(&self.profiles);
        if let Some(path) = profiles.get(name) {
            return Ok(path.clone());
        }
        let path = self.dir.join(name);
        let text = crate::seccomp::oci_profile(syscalls).to_string();
        std::fs::write(&path, text).map_err(BaselineError::Spawn)?;
        profiles.insert(name, path.clone());
        Ok(path)
    }

    /// Removes every container and image this session made, stops our
    /// daemon, and removes our directory. Once.
    fn shutdown(&self) {
        if std::mem::replace(&mut *lock(&self.shut), true) {
            return;
        }
        let ours = format!("plugbox-{}-", std::process::id());
        if let Ok(names) = self.run(&["ps", "-a", "--format", "{{.Names}}"]) {
            // Workers still running (or leaked): their containers, and the
            // tenant cgroups around them.
            for name in names.lines().filter(|name| name.starts_with(&ours)) {
                let _ = self.run(&["rm", "-f", name]);
                crate::cgroup::TenantCgroup::made_by_runtime(name).remove();
                crate::cgroup::sweep_all_controllers(name);
            }
        }
        for name in lock(&self.images).values() {
            let _ = self.run(&["rmi", "-f", name]);
        }
        if let Some(mut daemon) = lock(&self.daemon).take() {
            // SAFETY: our own child, not yet reaped.
            unsafe { libc::kill(daemon.id() as libc::pid_t, libc::SIGTERM) };
            let deadline = Instant::now() + DAEMON_WAIT;
            while daemon.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = daemon.kill();
            let _ = daemon.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    fn daemon_pid(&self) -> Option<u32> {
        lock(&self.daemon).as_ref().map(Child::id)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The engine of an engine level.
fn engine_of(isolation: Isolation) -> Option<Engine> {
    match isolation {
        Isolation::Docker | Isolation::DockerCrun => Some(Engine::Docker),
        Isolation::Podman => Some(Engine::Podman),
        _ => None,
    }
}

fn live(isolation: Isolation) -> Option<Arc<Session>> {
    let engine = engine_of(isolation)?;
    lock(&SESSIONS)
        .iter()
        .find(|session| session.engine == engine)
        .cloned()
}

/// Stops the container engines' sessions of this process: removes the
/// containers and images they made, stops the Docker daemon a level started
/// (never one `DOCKER_HOST` names), and removes their state directories.
/// Workers still running under them die with their containers. Also run
/// when the process exits; a later engine worker starts a new session.
pub fn stop() {
    let sessions = std::mem::take(&mut *lock(&SESSIONS));
    for session in sessions {
        session.shutdown();
    }
}

extern "C" fn stop_at_exit() {
    // Never block exit on a lock some other thread left held.
    if let Ok(mut sessions) = SESSIONS.try_lock() {
        for session in std::mem::take(&mut *sessions) {
            session.shutdown();
        }
    }
}

/// The names of the containers the engine of `isolation` knows now (in the
/// live session of this process; empty when there is none).
///
/// # Errors
///
/// [`BaselineError::Spawn`] when the engine cannot list them.
pub fn containers(isolation: Isolation) -> Result<Vec<String>, BaselineError> {
    let Some(session) = live(isolation) else {
        return Ok(Vec::new());
    };
    let names = session.run(&["ps", "-a", "--format", "{{.Names}}"])?;
    Ok(names.lines().map(str::to_owned).collect())
}

/// The images (`repository:tag`) the engine of `isolation` holds now (in
/// the live session of this process; empty when there is none).
///
/// # Errors
///
/// [`BaselineError::Spawn`] when the engine cannot list them.
pub fn images(isolation: Isolation) -> Result<Vec<String>, BaselineError> {
    let Some(session) = live(isolation) else {
        return Ok(Vec::new());
    };
    let names = session.run(&["images", "--format", "{{.Repository}}:{{.Tag}}"])?;
    Ok(names.lines().map(str::to_owned).collect())
}

/// The OCI runtime the engine of `isolation` runs container `name` with, as
/// the engine reports it (`docker inspect`'s `HostConfig.Runtime`, podman's
/// `OCIRuntime`).
///
/// # Errors
///
/// [`BaselineError::Spawn`] when there is no live session or the engine
/// cannot inspect the container.
pub fn container_runtime(isolation: Isolation, name: &str) -> Result<String, BaselineError> {
    let session = live(isolation)
        .ok_or_else(|| BaselineError::Spawn(io::Error::other("no engine session")))?;
    let format = match session.engine {
        Engine::Docker => "{{.HostConfig.Runtime}}",
        Engine::Podman => "{{.OCIRuntime}}",
    };
    Ok(session
        .run(&["inspect", "--format", format, name])?
        .trim()
        .to_owned())
}

/// The process id of the Docker daemon the `docker` level started, while
/// its session lives (`None` for other levels, or with `DOCKER_HOST`).
pub fn daemon_pid(isolation: Isolation) -> Option<u32> {
    live(isolation)?.daemon_pid()
}

/// The directory holding the live session's engine state (configuration,
/// storage, daemon root), removed when it stops.
pub fn state_dir(isolation: Isolation) -> Option<PathBuf> {
    live(isolation).map(|session| session.dir.clone())
}
