//! What every method runs: the `hello` plugin in Rust (the default), in
//! Python or in JavaScript. The Wasm tenants are the plugin's component; the
//! native workers run the *same source* outside Wasm: the Rust plugin's
//! native twin (a static executable), or `python3` / `node` running the
//! plugin's own source through its adapter (`plugins/py-hello/native/
//! worker.py`, `plugins/js-hello/native/worker.mjs`), which speaks the
//! twins' framed protocol on stdin and stdout.
//!
//! An interpreter's root holds the interpreter, every shared library it
//! loads, its standard library (Python: the directories of its `sys.path`)
//! and the plugin's sources, each bind-mounted read-only at its host path.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use plugbox_baseline::Program;
use serde::{Deserialize, Serialize};

/// The `hello` plugin in one language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// `plugins/hello` (Rust): the Wasm component and its native twin.
    #[default]
    Rust,
    /// `plugins/py-hello`: componentize-py's CPython component, and
    /// `python3` running `app.py`.
    Python,
    /// `plugins/js-hello`: componentize-js's StarlingMonkey component, and
    /// `node` running `plugin.js`.
    Js,
}

/// The sources of the polyglot plugins and their helpers, as built.
const PLUGINS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins");
const GUEST_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-sdk");

impl Workload {
    /// Every workload, in `--workload` order.
    pub const ALL: [Self; 3] = [Self::Rust, Self::Python, Self::Js];

    /// Its name for `--workload` and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rust => "rust",
            Self::Python => "python",
            Self::Js => "js",
        }
    }

    /// The workload called `name`.
    ///
    /// # Errors
    ///
    /// An unknown name, with the known ones.
    pub fn parse(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|workload| workload.name() == name.trim())
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|w| w.name()).collect();
                format!("unknown workload `{name}` (known: {})", known.join(", "))
            })
    }

    /// The plugin's directory name under `plugins/`.
    pub fn plugin(self) -> &'static str {
        match self {
            Self::Rust => "hello",
            Self::Python => "py-hello",
            Self::Js => "js-hello",
        }
    }

    /// The program natively running the plugin's logic: `python3` or
    /// `node` for the polyglot ones (found in `PATH`).
    pub fn interpreter(self) -> Option<&'static str> {
        match self {
            Self::Rust => None,
            Self::Python => Some("python3"),
            Self::Js => Some("node"),
        }
    }

    /// The plugin's Wasm component.
    ///
    /// # Errors
    ///
    /// The plugin is not built here (`skipped: <language>: <reason>`).
    pub fn component(self) -> Result<Vec<u8>, String> {
        match self {
            Self::Rust => plugbox_artifacts::by_name(self.plugin())
                .map(|artifact| artifact.bytes.to_vec())
                .ok_or_else(|| format!("no built-in `{}` plugin", self.plugin())),
            Self::Python | Self::Js => {
                let polyglot = plugbox_artifacts::polyglot::by_name(self.plugin())
                    .ok_or_else(|| format!("no polyglot plugin `{}`", self.plugin()))?;
                let path = polyglot.path().map_err(|skipped| skipped.to_string())?;
                std::fs::read(path).map_err(|error| format!("reading {path}: {error}"))
            }
        }
    }

    /// The native program serving the plugin's requests.
    ///
    /// # Errors
    ///
    /// Why it cannot run here: no native twin, the interpreter not in
    /// `PATH`, or its files not found.
    pub fn native(self) -> Result<Native, String> {
        match self {
            Self::Rust => {
                let twin = plugbox_artifacts::by_name(self.plugin())
                    .and_then(|artifact| artifact.native)
                    .ok_or_else(|| format!("the `{}` plugin has no native twin", self.plugin()))?;
                Ok(Native {
                    program: Program::twin(twin).map_err(|error| error.to_string())?,
                    description: format!("native twin {twin} (Rust, static)"),
                })
            }
            Self::Python => python(),
            Self::Js => node(),
        }
    }
}

/// A workload's native program, and what it is in words.
#[derive(Debug, Clone)]
pub struct Native {
    /// What each native worker runs.
    pub program: Program,
    /// The interpreter, its version and path, and the script.
    pub description: String,
}

/// `name` in a directory of `PATH`.
fn on_path(name: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| format!("`{name}` is not installed (not in PATH)"))
}

/// What `program args` prints, or why it failed.
fn output_of(program: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|error| format!("running {}: {error}", program.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} {} failed ({}): {}",
            program.display(),
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn source_dir(path: &str) -> Result<PathBuf, String> {
    Path::new(path)
        .canonicalize()
        .map_err(|error| format!("{path}: {error}"))
}

/// `python3 -I -S -B worker.py PLUGIN_DIR SDK_DIR`: isolated mode, no `site`
/// (the fastest start python3 offers, and the component's CPython has no
/// site-packages either), no bytecode written. The interpreter is asked
/// for its real executable (`python3` may be a launcher, e.g. pyenv's
/// shim) and its module path.
fn python() -> Result<Native, String> {
    let launcher = on_path("python3")?;
    let text = output_of(
        &launcher,
        &[
            "-I",
            "-S",
            "-c",
            "import sys; print(sys.executable); print(sys.version.split()[0]); \
             print(*sys.path, sep='\\n')",
        ],
    )?;
    let mut lines = text.lines();
    let executable = lines.next().unwrap_or_default();
    let version = lines.next().unwrap_or_default().to_string();
    let module_path: Vec<&str> = lines.filter(|line| !line.is_empty()).collect();
    let plugin = source_dir(&format!("{PLUGINS}/py-hello"))?;
    let sdk = source_dir(&format!("{GUEST_SDK}/python"))?;
    let worker = plugin.join("native/worker.py");
    let args: Vec<&OsStr> = vec![
        OsStr::new("-I"),
        OsStr::new("-S"),
        OsStr::new("-B"),
        worker.as_os_str(),
        plugin.as_os_str(),
        sdk.as_os_str(),
    ];
    let mut program = Program::interpreter(executable, &args).map_err(|e| e.to_string())?;
    for dir in module_path {
        // `sys.path` lists a zip of the standard library that usually does
        // not exist.
        if Path::new(dir).is_dir() {
            program = program.bind(dir).map_err(|e| e.to_string())?;
        }
    }
    program = program
        .bind(&plugin)
        .and_then(|program| program.bind(&sdk))
        .map_err(|e| e.to_string())?;
    let (interpreter, _) = program.command_line();
    Ok(Native {
        description: format!(
            "python3 {version} ({}) -I -S -B plugins/py-hello/native/worker.py (app.py, guest-sdk/python/plugbox.py)",
            interpreter.display()
        ),
        program,
    })
}

/// `node --experimental-vm-modules worker.mjs PLUGIN_DIR SDK_DIR`.
fn node() -> Result<Native, String> {
    let node = on_path("node")?;
    let version = output_of(&node, &["--version"])?.trim().to_string();
    let plugin = source_dir(&format!("{PLUGINS}/js-hello"))?;
    let sdk = source_dir(&format!("{GUEST_SDK}/js"))?;
    let worker = plugin.join("native/worker.mjs");
    let args: Vec<&OsStr> = vec![
        OsStr::new("--experimental-vm-modules"),
        worker.as_os_str(),
        plugin.as_os_str(),
        sdk.as_os_str(),
    ];
    let program = Program::interpreter(&node, &args)
        .and_then(|program| program.bind(&plugin))
        .and_then(|program| program.bind(&sdk))
        .map_err(|e| e.to_string())?;
    let (interpreter, _) = program.command_line();
    Ok(Native {
        description: format!(
            "node {version} ({}) --experimental-vm-modules plugins/js-hello/native/worker.mjs (plugin.js, guest-sdk/js/plugbox.js)",
            interpreter.display()
        ),
        program,
    })
}

/// What a run needs besides the method and its bounds: the workload, and
/// where compiled components are cached (the polyglot components take
/// seconds to compile; every run of `plugbox density` is a process of its
/// own).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Setup {
    /// The plugin every method runs.
    pub workload: Workload,
    /// The plugbox engines' compiled-code cache (`None`: compile every time).
    pub cache_dir: Option<PathBuf>,
}

#[cfg(test)]
mod tests;
