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

    fn configure_podman(&mut self) -> Result<(), BaselineError> {
        let dir = &self.dir;
        let containers_conf = format!(
            "[containers]\n\
             # Without CAP_SYS_RESOURCE podman's default nofile (1048576) fails.\n\
             default_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\
             [engine]\n\
             cgroup_manager = \"cgroupfs\"\n\
             events_logger = \"file\"\n\
             events_logfile_path = \"{d}/events.log\"\n\
             tmp_dir = \"{d}/tmp\"\n\
             image_copy_tmp_dir = \"{d}/tmp\"\n\
             runtime = \"crun\"\n\
             [network]\n\
             network_config_dir = \"{d}/networks\"\n",
            d = dir.display()
        );
        let storage_conf = format!(
            "[storage]\ndriver = \"overlay\"\ngraphroot = \"{d}/graph\"\nrunroot = \"{d}/run\"\n",
            d = dir.display()
        );
        let write = |name: &str, text: &str| {
            std::fs::write(dir.join(name), text).map_err(BaselineError::Spawn)
        };
        write("containers.conf", &containers_conf)?;
        write("storage.conf", &storage_conf)?;
        write("registries.conf", "")?;
        std::fs::create_dir_all(dir.join("tmp")).map_err(BaselineError::Spawn)?;
        for (key, name) in [
            ("CONTAINERS_CONF", "containers.conf"),
            ("CONTAINERS_STORAGE_CONF", "storage.conf"),
            ("CONTAINERS_REGISTRIES_CONF", "registries.conf"),
        ] {
            self.env.push((key.into(), dir.join(name).into()));
        }
        Ok(())
    }

    fn start_docker(&mut self, search_path: &OsStr) -> Result<(), BaselineError> {
        let config = self.dir.join("client");
        std::fs::create_dir_all(&config).map_err(BaselineError::Spawn)?;
        self.env.push(("DOCKER_CONFIG".into(), config.into()));
        if let Some(host) = std::env::var_os("DOCKER_HOST").filter(|host| !host.is_empty()) {
            eprintln!(
                "plugbox-baseline: docker: using the daemon at DOCKER_HOST={}",
                host.to_string_lossy()
            );
            self.env.push(("DOCKER_HOST".into(), host));
            for key in ["DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"] {
                if let Some(value) = std::env::var_os(key) {
                    self.env.push((key.into(), value));
                }
            }
            return self.wait_for_daemon(None);
        }
        let dockerd = find_runtime("dockerd", search_path)?;
        let socket = self.dir.join("docker.sock");
        std::fs::write(self.dir.join("daemon.json"), "{}").map_err(BaselineError::Spawn)?;
        let log =
            std::fs::File::create(self.dir.join("dockerd.log")).map_err(BaselineError::Spawn)?;
        let mut command = Command::new(dockerd);
        command
            .env_clear()
            .env("PATH", search_path)
            .arg("--config-file")
            .arg(self.dir.join("daemon.json"))
            .arg("--data-root")
            .arg(self.dir.join("data"))
            .arg("--exec-root")
            .arg(self.dir.join("exec"))
            .arg("--pidfile")
            .arg(self.dir.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .args([
                "--storage-driver",
                "overlay2",
                "--iptables=false",
                "--ip-masq=false",
            ])
            .args(["--bridge=none", "--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        // crun, for `docker-crun` (runc is dockerd's own default).
        if let Ok(crun) = find_runtime("crun", search_path) {
            let mut runtime = OsString::from("crun=");
            runtime.push(crun);
            command.arg("--add-runtime").arg(runtime);
        }
        // SAFETY: the closure makes only system calls on static strings.
        unsafe { command.pre_exec(private_daemon_mounts) };
        let child = command.spawn().map_err(BaselineError::Spawn)?;
        *lock(&self.daemon) = Some(child);
        self.env.push((
            "DOCKER_HOST".into(),
            format!("unix://{}", socket.display()).into(),
        ));
        self.wait_for_daemon(Some(&socket))
    }

    /// Waits until the daemon answers (ours: within [`DAEMON_WAIT`], or
    /// until it exits).
    fn wait_for_daemon(&self, socket: Option<&Path>) -> Result<(), BaselineError> {
        let deadline = Instant::now() + DAEMON_WAIT;
        loop {
            let ready = socket.is_none_or(Path::exists)
                && self
                    .command(&[
                        "version".into(),
                        "--format".into(),
                        "{{.Server.Version}}".into(),
                    ])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|status| status.success());
            if ready {
                return Ok(());
            }
            let exited = lock(&self.daemon)
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten());
            if socket.is_none() || exited.is_some() || Instant::now() >= deadline {
                let log = std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                return Err(BaselineError::Spawn(io::Error::other(format!(
                    "the docker daemon does not answer ({}): {}",
                    exited.map_or("still starting".to_owned(), |status| status.to_string()),
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                ))));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
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
            unsafe { command.pre_exec(private_podman_mounts) };
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

/// In a podman child, before exec: a private mount namespace without
/// `/sys/fs/cgroup/unified` (crun refuses hybrid hosts) and with an empty
/// tmpfs over `/var/lib/containers` (or `/var/lib` where that does not
/// exist), so that podman's image blob cache never lands in the host's.
fn private_podman_mounts() -> io::Result<()> {
    crate::oci::hide_unified_cgroup()?;
    // SAFETY: plain system calls with valid NUL-terminated strings.
    unsafe {
        let target = if libc::access(c"/var/lib/containers".as_ptr(), libc::F_OK) == 0 {
            c"/var/lib/containers"
        } else {
            c"/var/lib"
        };
        if libc::mount(
            c"tmpfs".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            c"mode=0700".as_ptr().cast(),
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// In our dockerd, before exec: a private mount namespace without
/// `/sys/fs/cgroup/unified`, with empty tmpfs over `/run` (containerd's
/// shim sockets) and `/etc/docker` (dockerd's trust key) where it exists.
fn private_daemon_mounts() -> io::Result<()> {
    crate::oci::hide_unified_cgroup()?;
    // SAFETY: plain system calls with valid NUL-terminated strings.
    unsafe {
        for target in [c"/run", c"/etc/docker"] {
            if libc::access(target.as_ptr(), libc::F_OK) != 0 {
                continue;
            }
            if libc::mount(
                c"tmpfs".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                c"mode=0755".as_ptr().cast(),
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}
