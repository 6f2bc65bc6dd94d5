//! What a worker runs: a native twin (one static executable), or an
//! interpreter running a script, with the host files its root must hold.
//!
//! Every isolated level builds the tenant's root from the same list of
//! read-only binds: `namespaced` mounts them into its tmpfs root, `bwrap`
//! passes them as `--ro-bind`, the OCI runtimes as `bind` mounts of the
//! bundle. `process` runs on the host's own filesystem, so an interpreter
//! program binds every file at the path it has on the host: the same
//! arguments are valid at every level.

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::BaselineError;

/// Most binds one program may have (the `namespaced` child, which may not
/// allocate, holds their descriptors in an array of this size).
pub const MAX_BINDS: usize = 64;

/// The seccomp allow-list a program runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syscalls {
    /// What a static Rust twin serving frames needs.
    Twin,
    /// That, and what CPython and node (V8 and libuv threads, epoll,
    /// eventfds, identity queries) need to start and serve frames.
    Interpreter,
}

/// One host file or directory, bind-mounted read-only into the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bind {
    /// The host path (canonical).
    pub(crate) source: PathBuf,
    /// Where it appears in the tenant's root (absolute).
    pub(crate) target: PathBuf,
    /// Whether it is a directory (else a file).
    pub(crate) directory: bool,
}

/// What a worker runs, and what its root holds.
///
/// ```
/// use plugbox_baseline::{Isolation, Program, Worker};
/// use std::time::Duration;
///
/// let twin = plugbox_artifacts::HELLO.native.expect("hello has a native twin");
/// let mut worker = Worker::start_program(Isolation::Process, &Program::twin(twin)?)?;
/// assert_eq!(worker.call(b"hi", Duration::from_secs(5))?, b"HI");
/// # Ok::<(), plugbox_baseline::BaselineError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Program {
    /// The executable on the host (what `process` runs).
    pub(crate) host_executable: PathBuf,
    /// The executable in the tenant's root (what the isolated levels run).
    pub(crate) executable: PathBuf,
    pub(crate) args: Vec<OsString>,
    pub(crate) env: Vec<(OsString, OsString)>,
    pub(crate) binds: Vec<Bind>,
    pub(crate) syscalls: Syscalls,
}

impl Program {
    /// A native twin: the static executable `binary`, alone in the root at
    /// `/twin`, run with no arguments.
    ///
    /// # Errors
    ///
    /// [`BaselineError::Spawn`] when `binary` cannot be resolved.
    pub fn twin(binary: impl AsRef<Path>) -> Result<Self, BaselineError> {
        let binary = binary
            .as_ref()
            .canonicalize()
            .map_err(BaselineError::Spawn)?;
        Ok(Self {
            host_executable: binary.clone(),
            executable: PathBuf::from("/twin"),
            args: Vec::new(),
            env: Vec::new(),
            binds: vec![Bind {
                source: binary,
                target: PathBuf::from("/twin"),
                directory: false,
            }],
            syscalls: Syscalls::Twin,
        })
    }

    /// An interpreter (or any dynamically linked executable) run with `args`:
    /// the executable, resolved through symbolic links, and every shared
    /// library it loads (as `ldd` lists them, the dynamic loader included),
    /// each bound at its host path. Bind the interpreter's own library
    /// directories and the script with [`Program::bind`].
    ///
    /// # Errors
    ///
    /// [`BaselineError::Spawn`] when the interpreter cannot be resolved,
    /// `ldd` cannot run, or it reports a library it cannot find (naming it).
    pub fn interpreter<I, S>(interpreter: impl AsRef<Path>, args: I) -> Result<Self, BaselineError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let executable = interpreter
            .as_ref()
            .canonicalize()
            .map_err(|error| spawn_error(format!("{}: {error}", interpreter.as_ref().display())))?;
        let mut program = Self {
            host_executable: executable.clone(),
            executable: executable.clone(),
            args: args
                .into_iter()
                .map(|arg| arg.as_ref().to_owned())
                .collect(),
            env: Vec::new(),
            binds: Vec::new(),
            syscalls: Syscalls::Interpreter,
        };
        program = program.bind(&executable)?;
        for library in shared_libraries(&executable)? {
            program = program.bind_at(&library, &library)?;
        }
        Ok(program)
    }

    /// Binds the host file or directory `path` read-only at the same path in
    /// the root (resolved through symbolic links on the host side). A path
    /// already inside a bound directory is not bound again.
    ///
    /// # Errors
    ///
    /// [`BaselineError::Spawn`] when `path` does not exist, or the program
    /// would have more than [`MAX_BINDS`] binds.
    pub fn bind(self, path: impl AsRef<Path>) -> Result<Self, BaselineError> {
        let path = path.as_ref();
        self.bind_at(path, path)
    }

    /// Binds the host `source` read-only at `target` (absolute) in the root.
    fn bind_at(mut self, source: &Path, target: &Path) -> Result<Self, BaselineError> {
        if !target.is_absolute() {
            return Err(spawn_error(format!(
                "bind target {} is not absolute",
                target.display()
            )));
        }
        let canonical = source
            .canonicalize()
            .map_err(|error| spawn_error(format!("{}: {error}", source.display())))?;
        let covered = self.binds.iter().any(|bind| {
            bind.target == target || (bind.directory && target.starts_with(&bind.target))
        });
        if covered {
            return Ok(self);
        }
        if self.binds.len() == MAX_BINDS {
            return Err(spawn_error(format!(
                "more than {MAX_BINDS} binds (at {})",
                target.display()
            )));
        }
        let directory = canonical.is_dir();
        if directory {
            // What it covers goes: one mount, not a mount over mounts.
            self.binds.retain(|bind| !bind.target.starts_with(target));
        }
        self.binds.push(Bind {
            source: canonical,
            target: target.to_path_buf(),
            directory,
        });
        Ok(self)
    }

    /// Sets the environment variable `key` (the environment is empty
    /// otherwise).
    #[must_use]
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// The host paths the root holds, and where: `(host, in root)`.
    pub fn binds(&self) -> impl Iterator<Item = (&Path, &Path)> {
        self.binds
            .iter()
            .map(|bind| (bind.source.as_path(), bind.target.as_path()))
    }

    /// The executable in the tenant's root, and its arguments.
    pub fn command_line(&self) -> (&Path, &[OsString]) {
        (&self.executable, &self.args)
    }

    /// A command running the program on the host (the `process` level).
    pub(crate) fn host_command(&self) -> Command {
        let mut command = Command::new(&self.host_executable);
        command.args(&self.args);
        command
    }

    /// `K=V` for each environment variable.
    pub(crate) fn env_strings(&self) -> Vec<OsString> {
        self.env
            .iter()
            .map(|(key, value)| {
                let mut pair = key.clone();
                pair.push("=");
                pair.push(value);
                pair
            })
            .collect()
    }
}

fn spawn_error(message: String) -> BaselineError {
    BaselineError::Spawn(io::Error::new(io::ErrorKind::NotFound, message))
}

/// The shared libraries `executable` loads, as `ldd` lists them (the paths
/// the loader found them at; the vDSO has none).
fn shared_libraries(executable: &Path) -> Result<Vec<PathBuf>, BaselineError> {
    let output = Command::new("ldd")
        .arg(executable)
        .env_clear()
        .output()
        .map_err(|error| {
            spawn_error(format!("running ldd on {}: {error}", executable.display()))
        })?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        // A static executable: `ldd` says so and fails; nothing to bind.
        if text.contains("not a dynamic executable")
            || String::from_utf8_lossy(&output.stderr).contains("not a dynamic executable")
        {
            return Ok(Vec::new());
        }
        return Err(spawn_error(format!(
            "ldd {} failed ({}): {}",
            executable.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    parse_ldd(&text).map_err(spawn_error)
}

/// The library paths in `ldd` output: `name => /path (0x...)` and
/// `/path (0x...)` lines; `name => not found` is an error naming it.
fn parse_ldd(text: &str) -> Result<Vec<PathBuf>, String> {
    let mut libraries = Vec::new();
    for line in text.lines().map(str::trim) {
        let path = match line.split_once("=>") {
            Some((name, rest)) => {
                let rest = rest.trim();
                if rest.starts_with("not found") {
                    return Err(format!("ldd: {} not found", name.trim()));
                }
                rest.split_whitespace().next().unwrap_or_default()
            }
            None => line.split_whitespace().next().unwrap_or_default(),
        };
        if path.starts_with('/') {
            libraries.push(PathBuf::from(path));
        }
    }
    Ok(libraries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_is_read_and_a_missing_library_is_named() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                    \tlibpython3.11.so.1.0 => /opt/py/lib/libpython3.11.so.1.0 (0x00007f7a)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f7b)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f7c)\n";
        assert_eq!(
            parse_ldd(text),
            Ok(vec![
                PathBuf::from("/opt/py/lib/libpython3.11.so.1.0"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ])
        );
        assert_eq!(
            parse_ldd("\tlibgone.so.1 => not found\n"),
            Err("ldd: libgone.so.1 not found".to_string())
        );
    }

    #[test]
    fn an_interpreter_brings_its_libraries_and_binds_are_not_repeated() {
        let program = Program::interpreter("/bin/sh", ["-c", "true"]).unwrap();
        let targets: Vec<&Path> = program.binds().map(|(_, target)| target).collect();
        assert!(
            targets.iter().any(|target| target.ends_with("libc.so.6")),
            "{targets:?}"
        );
        assert!(
            targets
                .iter()
                .any(|target| target.to_string_lossy().contains("ld-linux")),
            "{targets:?}"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("script"), "").unwrap();
        let count = program.binds.len();
        let program = program.bind(dir.path()).unwrap();
        let program = program.bind(dir.path().join("script")).unwrap();
        assert_eq!(
            program.binds.len(),
            count + 1,
            "a file inside a bound directory"
        );
        let error = program.bind(dir.path().join("missing")).unwrap_err();
        assert!(error.to_string().contains("missing"), "{error}");
    }
}
