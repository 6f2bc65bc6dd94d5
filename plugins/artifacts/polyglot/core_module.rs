//! The languages whose compilers write a core wasm module (Go, C): the
//! compile command, and the step that makes the module a component, done
//! here with `wit-component` (what `wasm-tools component new` does): the
//! plugbox world is embedded, and the WASI preview 1 imports the module may
//! have are adapted to preview 2 by the `wasi_snapshot_preview1` reactor
//! adapter of wasmtime 48 (crate `wasi-preview1-component-adapter-provider`).

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::Command;

use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::Resolve;

use super::Source;
use super::language::Language;

/// What, besides the toolchain and the sources, decides the output: bumped
/// when the steps below change, so that a stamp from older steps is stale.
pub const RECIPE: &str = "core-module 1; wasi-preview1-component-adapter-provider 48 reactor";

/// Go's environment: the wasip1 port, nothing fetched (the plugins need no
/// module beyond the guest SDK, which `go.mod` replaces with its directory),
/// and the caches under the build directory.
pub fn go_environment(build_dir: &Path) -> Vec<(&'static str, OsString)> {
    vec![
        ("GOOS", "wasip1".into()),
        ("GOARCH", "wasm".into()),
        ("CGO_ENABLED", "0".into()),
        ("GOPROXY", "off".into()),
        ("GOTOOLCHAIN", "local".into()),
        ("GOFLAGS", "-mod=readonly".into()),
        ("GOWORK", "off".into()),
        ("GO111MODULE", "on".into()),
        ("GOCACHE", build_dir.join("go-cache").into_os_string()),
        ("GOPATH", build_dir.join("go-path").into_os_string()),
        ("GOTMPDIR", build_dir.into()),
    ]
}

/// The compiler's arguments for `source` (after the toolchain's command),
/// writing the core module `out`. Go runs in the plugin's directory, whose
/// `go.mod` points at `guest-sdk/go`; clang gets every `.c` of the plugin
/// and of `guest-sdk/c`.
pub fn arguments(
    workspace: &Path,
    source: &Source,
    files: &[std::path::PathBuf],
    out: &Path,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    match source.language {
        Language::Go => {
            args.extend(["build", "-buildmode=c-shared", "-trimpath", "-o"].map(OsString::from));
            args.push(out.into());
            args.push(".".into());
        }
        Language::C => {
            args.extend(c_flags());
            args.push("-I".into());
            args.push(workspace.join(Language::C.sdk_dir()).into_os_string());
            args.extend(
                files
                    .iter()
                    .filter(|file| file.extension() == Some(OsStr::new("c")))
                    .map(|file| file.clone().into_os_string()),
            );
            args.push("-o".into());
            args.push(out.into());
        }
        Language::Python | Language::JavaScript | Language::QuickJs => {
            unreachable!("not a core-module language")
        }
    }
    args
}

/// clang's flags: wasi-libc's preview 1 target, a reactor (no `main`: the
/// module exports `_initialize` and the world's functions), optimized, and
/// strict.
fn c_flags() -> [OsString; 6] {
    [
        "--target=wasm32-wasi",
        "-mexec-model=reactor",
        "-O2",
        "-Wall",
        "-Wextra",
        "-Werror",
    ]
    .map(OsString::from)
}

/// Whether `clang` can build a plugin here: it needs the wasm32 backend,
/// wasi-libc's headers and libraries, wasm-ld and the wasm32 compiler-rt.
/// Compiles and links a small reactor that calls `malloc`; why not, if not.
pub fn probe_c(clang: &OsStr, probe_dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(probe_dir).expect("create the probe directory");
    let source = probe_dir.join("probe.c");
    std::fs::write(
        &source,
        "#include <stdlib.h>\n#include <string.h>\n\
         __attribute__((export_name(\"probe\"))) void *probe(size_t n) \
         { return memset(malloc(n), 0, n); }\n",
    )
    .expect("write the probe source");
    let output = Command::new(clang)
        .args(c_flags())
        .arg(&source)
        .arg("-o")
        .arg(probe_dir.join("probe.wasm"))
        .output()
        .map_err(|error| format!("{} does not run: {error}", Path::new(clang).display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr
            .lines()
            .find(|line| line.contains("error"))
            .unwrap_or(stderr.trim());
        return Err(format!(
            "{} cannot build for wasm32-wasi ({first}); install Debian's clang-19 lld-19 \
             wasi-libc libclang-rt-19-dev-wasm32",
            Path::new(clang).display()
        ));
    }
    Ok(())
}

/// The component of `core`: the plugbox world embedded, WASI preview 1
/// adapted. Go's module needs the adapter (its runtime reads the clock and
/// random numbers); a C plugin that calls no WASI function has no WASI
/// import and the adapter is left out.
pub fn componentize(workspace: &Path, core: &[u8]) -> Result<Vec<u8>, String> {
    let mut resolve = Resolve::default();
    let (package, _) = resolve
        .push_dir(workspace.join("wit"))
        .map_err(|error| format!("parse wit/: {error:?}"))?;
    let world = resolve
        .select_world(&[package], Some("plugin"))
        .map_err(|error| format!("select the plugin world: {error:?}"))?;
    let mut module = core.to_vec();
    wit_component::embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8)
        .map_err(|error| format!("embed the plugbox world: {error:?}"))?;
    ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .and_then(|encoder| {
            encoder.adapter(
                WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
                WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            )
        })
        .and_then(|encoder| encoder.encode())
        .map_err(|error| format!("make a component of the core module: {error:?}"))
}
