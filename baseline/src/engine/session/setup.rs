//! Making an engine session: podman's configuration of ours, our dockerd
//! (started in a private mount namespace, waited for), and the mount
//! namespaces both run in.

use super::*;

impl Session {
    pub(super) fn configure_podman(&mut self) -> Result<(), BaselineError> {
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

    pub(super) fn start_docker(&mut self, search_path: &OsStr) -> Result<(), BaselineError> {
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
}

/// In a podman child, before exec: a private mount namespace without
/// `/sys/fs/cgroup/unified` (crun refuses hybrid hosts) and with an empty
/// tmpfs over `/var/lib/containers` (or `/var/lib` where that does not
/// exist), so that podman's image blob cache never lands in the host's.
pub(super) fn private_podman_mounts() -> io::Result<()> {
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
pub(super) fn private_daemon_mounts() -> io::Result<()> {
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
