//! The plugins written in other languages: `plugins/py-*` (Python, built by
//! componentize-py), `plugins/js-*` (JavaScript, built by componentize-js),
//! `plugins/qjs-*` (JavaScript on QuickJS, built by componentize-qjs),
//! `plugins/go-*` (Go, `go build` for wasip1) and `plugins/c-*` (C, clang
//! with wasi-libc), each with its language's author kit from
//! `guest-sdk/<language>/`; Go's and C's core modules are made components
//! by `core_module`. Writes `polyglot.rs` into `OUT_DIR`: one `Polyglot` per
//! plugin, `ALL`, and `foreach_polyglot!`.
//!
//! The toolchains come from the package registries
//! (`plugins/artifacts/toolchains.sh` installs them under
//! `<target>/toolchains`). A missing one skips its language: a cargo warning
//! `skipped: <language>: <reason>`, and the plugin's `built` says why. Where
//! the `CI` environment variable is set, a missing toolchain fails the build.
//!
//! A component is rebuilt only when its inputs change (the plugin's sources,
//! the helpers, the WIT package, the toolchain's version and flags): the
//! toolchains take seconds per component, and their output is not
//! byte-for-byte reproducible.

use std::env;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::hash::{DefaultHasher, Hash as _, Hasher as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

mod core_module;
mod language;
mod toolchain;

use language::Language;
use toolchain::Toolchain;

/// One polyglot plugin directory.
#[derive(Debug)]
struct Source {
    name: String,
    language: Language,
    dir: PathBuf,
}

/// Builds every polyglot plugin of `plugins_dir` into `build_dir` and writes
/// the generated code to `out`. `toolchains_dir` is where
/// `toolchains.sh` installs the toolchains.
pub fn build(
    workspace: &Path,
    plugins_dir: &Path,
    toolchains_dir: &Path,
    build_dir: &Path,
    out: &Path,
) {
    for variable in ["CI", "PATH"].into_iter().chain(toolchain::VARIABLES) {
        println!("cargo:rerun-if-env-changed={variable}");
    }
    // `toolchains.sh` rewrites this file after each install, so a toolchain
    // installed after a skip is picked up. (It must exist: cargo reruns a
    // build script on every build while a watched path is missing.)
    std::fs::create_dir_all(toolchains_dir).expect("create the toolchains directory");
    let installed = toolchains_dir.join("installed");
    if !installed.exists() {
        std::fs::write(&installed, "").expect("create the toolchains stamp");
    }
    println!("cargo:rerun-if-changed={}", installed.display());

    let ci = env::var_os("CI").is_some();
    let sources = discover(plugins_dir);
    let toolchains: Vec<(Language, Result<Toolchain, String>)> = Language::ALL
        .iter()
        .filter(|language| sources.iter().any(|source| source.language == **language))
        .map(|&language| {
            let probe_dir = build_dir.join(format!("{}.probe", language.name()));
            (
                language,
                toolchain::find(language, toolchains_dir, &probe_dir),
            )
        })
        .collect();
    for (language, toolchain) in &toolchains {
        if let Err(reason) = toolchain {
            if ci {
                panic!(
                    "{}: {reason} (CI is set: every polyglot toolchain must be installed; \
                     run `bash plugins/artifacts/toolchains.sh`)",
                    language.name()
                );
            }
            println!("cargo:warning=skipped: {}: {reason}", language.name());
        }
    }
    let toolchain_of = |language: Language| {
        toolchains
            .iter()
            .find(|(candidate, _)| *candidate == language)
            .map(|(_, toolchain)| toolchain.clone())
            .expect("looked up for every language present")
    };

    std::fs::create_dir_all(build_dir).expect("create the polyglot build directory");
    let jobs: Vec<(&Source, Toolchain)> = sources
        .iter()
        .filter_map(|source| Some((source, toolchain_of(source.language).ok()?)))
        .collect();
    let queue = Mutex::new(jobs.iter());
    let failures = Mutex::new(Vec::new());
    // Two at a time: each toolchain is mostly one busy thread.
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().expect("queue lock").next();
                    let Some((source, toolchain)) = next else {
                        break;
                    };
                    if let Err(failure) = build_one(workspace, build_dir, source, toolchain) {
                        failures.lock().expect("failures lock").push(failure);
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().expect("failures lock");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));

    let mut code = String::new();
    let mut all = String::new();
    let mut foreach = String::new();
    for source in &sources {
        let built = match toolchain_of(source.language) {
            Ok(toolchain) => {
                let path = output(build_dir, &source.name);
                format!(
                    "Ok({:?}), toolchain: {:?}",
                    path.display().to_string(),
                    toolchain.version
                )
            }
            Err(reason) => format!("Err({reason:?}), toolchain: \"\""),
        };
        let constant = source.name.to_uppercase().replace('-', "_");
        writeln!(
            code,
            "/// `plugins/{name}`, a {language} plugin.\n\
             pub const {constant}: Polyglot = Polyglot {{ name: {name:?}, \
             language: Language::{variant}, built: {built} }};",
            name = source.name,
            language = source.language.variant(),
            variant = source.language.variant(),
        )
        .expect("write to String");
        write!(all, "{constant}, ").expect("write to String");
        writeln!(
            foreach,
            "        $mac!({}, {constant});",
            source.name.replace('-', "_")
        )
        .expect("write to String");
    }
    writeln!(
        code,
        "/// Every polyglot plugin, in name order.\npub const ALL: &[Polyglot] = &[{all}];"
    )
    .expect("write to String");
    writeln!(
        code,
        "/// Calls `$mac!(name, CONSTANT)` once per polyglot plugin (built or\n\
         /// skipped), e.g. `$mac!(py_hello, PY_HELLO)`.\n\
         ///\n\
         /// Test suites use it to assert that every plugin has a test.\n\
         #[macro_export]\n\
         macro_rules! foreach_polyglot {{\n    ($mac:ident) => {{\n{foreach}    }};\n}}"
    )
    .expect("write to String");
    std::fs::write(out, code).expect("write polyglot.rs");
}

/// Every `plugins/<prefix>*` directory of a known language, in name order.
fn discover(plugins_dir: &Path) -> Vec<Source> {
    let mut sources: Vec<Source> = std::fs::read_dir(plugins_dir)
        .expect("read plugins/")
        .filter_map(|entry| {
            let entry = entry.expect("read a plugins/ entry");
            let name = entry.file_name().into_string().ok()?;
            let language = Language::ALL
                .into_iter()
                .find(|language| name.starts_with(language.prefix()))?;
            let dir = entry.path();
            if !dir.is_dir() {
                return None;
            }
            assert!(
                dir.join(language.entry()).is_file(),
                "plugins/{name}: a {} plugin needs {}",
                language.variant(),
                language.entry()
            );
            Some(Source {
                name,
                language,
                dir,
            })
        })
        .collect();
    sources.sort_by(|a, b| a.name.cmp(&b.name));
    sources
}

fn output(build_dir: &Path, name: &str) -> PathBuf {
    build_dir.join(format!("{name}.wasm"))
}

/// The toolchain's arguments for `source`, after the toolchain's command:
/// the component from the sources staged in `staging`, or (Go, C) the core
/// module from `files`.
fn arguments(
    workspace: &Path,
    source: &Source,
    staging: &Path,
    files: &[PathBuf],
    out: &Path,
) -> Vec<OsString> {
    let wit = workspace.join("wit").into_os_string();
    let mut args: Vec<OsString> = Vec::new();
    match source.language {
        Language::Go | Language::C => {
            return core_module::arguments(workspace, source, files, out);
        }
        Language::Python => {
            args.extend(["-q".into(), "-d".into(), wit, "-w".into(), "plugin".into()]);
            args.extend(["componentize".into(), "-p".into(), staging.into()]);
            args.extend(["app".into(), "-o".into(), out.into()]);
        }
        Language::JavaScript => {
            args.push(staging.join("plugin.js").into_os_string());
            args.extend(["--wit".into(), wit, "-n".into(), "plugin".into()]);
            // No outgoing HTTP (the host offers none) and no fetch-event
            // export: the plugin is the plugbox world's `handler` only.
            args.extend(["-d".into(), "http".into(), "fetch-event".into()]);
            args.extend(["-o".into(), out.into()]);
        }
        Language::QuickJs => {
            // Its default runtime, with component-model async built-ins,
            // async, as an author who follows its README gets.
            args.extend(["--wit".into(), wit, "--world".into(), "plugin".into()]);
            args.extend(["--js".into(), staging.join("plugin.js").into_os_string()]);
            args.extend(["-o".into(), out.into()]);
        }
    }
    args
}

/// Builds one plugin unless its stamp says the last build had the same
/// inputs. Returns a failure report.
fn build_one(
    workspace: &Path,
    build_dir: &Path,
    source: &Source,
    toolchain: &Toolchain,
) -> Result<(), String> {
    let sdk = workspace.join(source.language.sdk_dir());
    let mut files = Vec::new();
    collect(source.language, &source.dir, &mut files);
    collect(source.language, &sdk, &mut files);
    let out = output(build_dir, &source.name);
    let stamp_path = build_dir.join(format!("{}.stamp", source.name));
    let staging = build_dir.join(format!("{}.src", source.name));
    let tmp = build_dir.join(format!("{}.wasm.tmp", source.name));
    let core = build_dir.join(format!("{}.core.wasm", source.name));
    let compiled = if source.language.writes_core_module() {
        &core
    } else {
        &tmp
    };
    let arguments = arguments(workspace, source, &staging, &files, compiled);

    let mut hasher = DefaultHasher::new();
    toolchain.version.hash(&mut hasher);
    for arg in &arguments {
        arg.hash(&mut hasher);
    }
    if source.language.writes_core_module() {
        core_module::RECIPE.hash(&mut hasher);
    }
    let mut wit = Vec::new();
    collect_all(&workspace.join("wit"), &mut wit);
    for file in files.iter().chain(&wit) {
        file.hash(&mut hasher);
        std::fs::read(file)
            .unwrap_or_else(|error| panic!("read {}: {error}", file.display()))
            .hash(&mut hasher);
    }
    let stamp = format!("{:016x}\n", hasher.finish());
    if out.is_file() && std::fs::read_to_string(&stamp_path).is_ok_and(|old| old == stamp) {
        return Ok(());
    }

    // The toolchain sees a staging copy holding only the sources, so it
    // writes nothing (bytecode caches) into the source tree. (Go and clang
    // write only their output: they build from the sources in place.)
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).expect("create a staging directory");
    let staged: &[PathBuf] = if source.language.writes_core_module() {
        &[]
    } else {
        &files
    };
    for file in staged {
        let name = file.file_name().expect("a file name");
        let target = staging.join(name);
        assert!(
            !target.exists(),
            "plugins/{}: {} is also a helper's name in {}",
            source.name,
            name.to_string_lossy(),
            source.language.sdk_dir()
        );
        std::fs::copy(file, &target).expect("copy a source into the staging directory");
    }

    let mut command = Command::new(&toolchain.command[0]);
    command
        .args(&toolchain.command[1..])
        .args(&arguments)
        .current_dir(&staging);
    if source.language == Language::Go {
        command
            .current_dir(&source.dir)
            .envs(core_module::go_environment(build_dir));
    }
    if source.language == Language::Python {
        // componentize-py adds `$VIRTUAL_ENV`'s (or else the machine
        // Python's) site-packages to the app's path: build from the staged
        // sources alone.
        command.env_clear();
        for keep in ["HOME", "TMPDIR"] {
            if let Some(value) = env::var_os(keep) {
                command.env(keep, value);
            }
        }
    }
    let started = Instant::now();
    let result = command.output();
    let took = started.elapsed();
    let shown = format!("{command:?}");
    let output = result.map_err(|error| format!("plugins/{}: {shown}: {error}", source.name))?;
    let log = format!(
        "{shown}\n{}\ntook {:.1} s\n--- stdout\n{}--- stderr\n{}",
        toolchain.version,
        took.as_secs_f64(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    std::fs::write(build_dir.join(format!("{}.log", source.name)), &log).expect("write a log");
    if !output.status.success() || !compiled.is_file() {
        return Err(format!(
            "building plugins/{} with {} failed ({}):\n{log}",
            source.name, toolchain.version, output.status
        ));
    }
    if source.language.writes_core_module() {
        let module = std::fs::read(&core).expect("read the core module");
        let component = core_module::componentize(workspace, &module)
            .map_err(|error| format!("plugins/{}: {error}", source.name))?;
        std::fs::write(&tmp, component).expect("write the component");
    }
    std::fs::rename(&tmp, &out).expect("move the component into place");
    std::fs::write(&stamp_path, stamp).expect("write a stamp");
    Ok(())
}

/// The language's source files directly in `dir` (helpers and plugins are
/// flat), in name order.
fn collect(language: Language, dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut found: Vec<PathBuf> = entries
        .map(|entry| entry.expect("read a directory entry").path())
        .filter(|path| path.is_file() && language.is_source(path))
        .collect();
    found.sort();
    files.extend(found);
}

/// Every file under `dir`, recursively, in name order.
fn collect_all(dir: &Path, files: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("read {}: {error}", dir.display()))
        .map(|entry| entry.expect("read a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_all(&path, files);
        } else {
            files.push(path);
        }
    }
}
