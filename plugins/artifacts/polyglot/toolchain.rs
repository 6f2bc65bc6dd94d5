//! Finding each language's toolchain: the environment variable naming it,
//! the project-local install of `toolchains.sh`, then `PATH`.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::language::Language;

/// The environment variables that name a toolchain.
pub const VARIABLES: [&str; 6] = [
    "PLUGBOX_COMPONENTIZE_PY",
    "PLUGBOX_COMPONENTIZE_JS",
    "PLUGBOX_COMPONENTIZE_QJS",
    "PLUGBOX_NODE",
    "PLUGBOX_GO",
    "PLUGBOX_CLANG",
];

/// A toolchain found on this machine.
#[derive(Debug, Clone)]
pub struct Toolchain {
    /// The program and its leading arguments (`node cli.js`).
    pub command: Vec<OsString>,
    /// What `--version` printed, e.g. `componentize-py 0.25.1`.
    pub version: String,
}

/// Finds `language`'s toolchain, or says why not. `probe_dir` is a scratch
/// directory for a toolchain that must be tried to be known to work.
pub fn find(
    language: Language,
    toolchains_dir: &Path,
    probe_dir: &Path,
) -> Result<Toolchain, String> {
    match language {
        Language::Python => {
            let program = env::var_os("PLUGBOX_COMPONENTIZE_PY")
                .map(PathBuf::from)
                .or_else(|| local(toolchains_dir.join("python/bin/componentize-py")))
                .or_else(|| on_path("componentize-py"))
                .ok_or_else(|| {
                    format!(
                        "componentize-py not found (PLUGBOX_COMPONENTIZE_PY, {}, PATH); \
                         install it with `bash plugins/artifacts/toolchains.sh`",
                        toolchains_dir.join("python/bin").display()
                    )
                })?;
            let command = vec![program.into_os_string()];
            let version = version(&command, "--version")?;
            Ok(Toolchain { command, version })
        }
        Language::JavaScript => {
            let node = env::var_os("PLUGBOX_NODE")
                .map(PathBuf::from)
                .or_else(|| on_path("node"))
                .ok_or("node not found (PLUGBOX_NODE, PATH)")?;
            let cli = env::var_os("PLUGBOX_COMPONENTIZE_JS")
                .map(PathBuf::from)
                .or_else(|| {
                    local(
                        toolchains_dir
                            .join("node/node_modules/@bytecodealliance/componentize-js/src/cli.js"),
                    )
                })
                .or_else(|| on_path("componentize-js"))
                .ok_or_else(|| {
                    format!(
                        "componentize-js not found (PLUGBOX_COMPONENTIZE_JS, {}, PATH); \
                         install it with `bash plugins/artifacts/toolchains.sh`",
                        toolchains_dir.join("node/node_modules").display()
                    )
                })?;
            let command = vec![node.into_os_string(), cli.into_os_string()];
            let version = format!("componentize-js {}", version(&command, "--version")?);
            Ok(Toolchain { command, version })
        }
        Language::QuickJs => {
            let node = env::var_os("PLUGBOX_NODE")
                .map(PathBuf::from)
                .or_else(|| on_path("node"))
                .ok_or("node not found (PLUGBOX_NODE, PATH)")?;
            let package = env::var_os("PLUGBOX_COMPONENTIZE_QJS")
                .map(PathBuf::from)
                .or_else(|| {
                    let dir = toolchains_dir.join("qjs/node_modules/componentize-qjs");
                    dir.is_dir().then_some(dir)
                })
                .ok_or_else(|| {
                    format!(
                        "componentize-qjs not found (PLUGBOX_COMPONENTIZE_QJS, {}); \
                         install it with `bash plugins/artifacts/toolchains.sh`",
                        toolchains_dir.join("qjs/node_modules").display()
                    )
                })?;
            // Its CLI has no `--version`: the package says which it is.
            let manifest = std::fs::read_to_string(package.join("package.json"))
                .map_err(|error| format!("{}/package.json: {error}", package.display()))?;
            let version = manifest
                .lines()
                .find_map(|line| line.trim().strip_prefix("\"version\": \""))
                .and_then(|rest| rest.split('"').next())
                .ok_or_else(|| format!("{}/package.json names no version", package.display()))?;
            let command = vec![
                node.into_os_string(),
                package.join("cli.mjs").into_os_string(),
            ];
            Ok(Toolchain {
                command,
                version: format!("componentize-qjs {version}"),
            })
        }
        Language::Go => {
            let program = env::var_os("PLUGBOX_GO")
                .map(PathBuf::from)
                .or_else(|| local(toolchains_dir.join("go/bin/go")))
                .or_else(|| on_path("go"))
                .ok_or_else(|| {
                    format!(
                        "go not found (PLUGBOX_GO, {}, PATH); \
                         install it with `bash plugins/artifacts/toolchains.sh`",
                        toolchains_dir.join("go/bin").display()
                    )
                })?;
            let command = vec![program.into_os_string()];
            // `go version go1.27.3 linux/amd64`
            let version = version(&command, "version")?;
            Ok(Toolchain { command, version })
        }
        Language::C => {
            let program = env::var_os("PLUGBOX_CLANG")
                .map(PathBuf::from)
                .or_else(|| on_path("clang-19"))
                .or_else(|| on_path("clang"))
                .ok_or(
                    "clang not found (PLUGBOX_CLANG, clang-19 or clang on PATH); install \
                     Debian's clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32",
                )?;
            let command = vec![program.into_os_string()];
            let printed = version(&command, "--version")?;
            let version = printed.lines().next().unwrap_or_default().to_string();
            super::core_module::probe_c(&command[0], probe_dir)?;
            Ok(Toolchain { command, version })
        }
    }
}

fn local(path: PathBuf) -> Option<PathBuf> {
    path.is_file().then_some(path)
}

/// `program` in a directory of `PATH`, if it is there.
fn on_path(program: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// What `command flag` prints, or why it could not run.
fn version(command: &[OsString], flag: &str) -> Result<String, String> {
    let shown = Path::new(&command[command.len() - 1]).display().to_string();
    let output = Command::new(&command[0])
        .args(&command[1..])
        .arg(flag)
        .output()
        .map_err(|error| format!("{shown} does not run: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "`{shown} {flag}` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}
