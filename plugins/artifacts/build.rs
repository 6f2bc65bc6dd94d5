//! Builds every plugin crate under `plugins/` for `wasm32-wasip2`, once, and
//! writes `plugins.rs` into `OUT_DIR`: one [`Artifact`] constant per plugin and
//! the `foreach_plugin!` macro that lists them all. The hand-written fixtures
//! of `plugins/hostile-wat` are built by `wat_fixtures.rs`, the plugins in
//! other languages (`plugins/py-*`, `js-*`, `go-*`, `c-*`) by `polyglot.rs`.
//!
//! The plugins are built by a nested `cargo build` with its own target
//! directory (`target/plugbox-plugins`), shared by every profile of the outer
//! build, so each plugin is compiled once however many crates use it.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

mod polyglot;
mod wat_fixtures;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let plugins_dir = manifest_dir
        .parent()
        .expect("plugins/artifacts has a parent");
    let workspace = plugins_dir.parent().expect("plugins/ has a parent");

    println!("cargo:rerun-if-changed={}", plugins_dir.display());
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("guest-sdk").display()
    );
    println!("cargo:rerun-if-changed={}", workspace.join("wit").display());
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join(".cargo").display()
    );
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    let plugins = discover(plugins_dir);
    let cargo_target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let target_dir = cargo_target_dir.join("plugbox-plugins");
    // One cargo invocation per plugin: cargo unifies features across the
    // packages of one invocation, and one `std` plugin would otherwise switch
    // the guest SDK's `std` feature on for every lean plugin built with it.
    for plugin in &plugins {
        build(workspace, &target_dir, plugin, Some(TARGET), false);
        if plugin.has_native_twin {
            build(workspace, &target_dir, plugin, None, false);
        }
    }
    // `panic` once more with DWARF, in a target directory of its own (the
    // same file name with other contents), for source-level backtraces.
    let debug_dir = target_dir.join("with-debug-info");
    let panic = plugins
        .iter()
        .find(|plugin| plugin.name == "panic")
        .expect("plugins/panic exists");
    build(workspace, &debug_dir, panic, Some(TARGET), true);

    let release_dir = target_dir.join(TARGET).join("release");
    let mut code = String::new();
    let mut all = String::new();
    let mut foreach = String::new();
    for plugin in &plugins {
        let file = release_dir.join(format!("{}.wasm", plugin.crate_name.replace('-', "_")));
        assert!(
            file.is_file(),
            "building plugin `{}` produced no {}",
            plugin.name,
            file.display()
        );
        let constant = plugin.name.to_uppercase().replace('-', "_");
        let ident = plugin.name.replace('-', "_");
        let path = file.display().to_string();
        let native = if plugin.has_native_twin {
            let twin = target_dir
                .join(env::var("HOST").expect("set by cargo"))
                .join("release")
                .join(&plugin.crate_name);
            assert!(twin.is_file(), "no native twin at {}", twin.display());
            format!("Some({:?})", twin.display().to_string())
        } else {
            "None".to_string()
        };
        writeln!(
            code,
            "/// The `{name}` plugin (`plugins/{name}`), built for `{TARGET}`.\n\
             pub const {constant}: Artifact = Artifact {{ name: {name:?}, path: {path:?}, \
             bytes: include_bytes!({path:?}), native: {native} }};",
            name = plugin.name,
        )
        .expect("write to String");
        write!(all, "{constant}, ").expect("write to String");
        writeln!(foreach, "        $mac!({ident}, {constant});").expect("write to String");
    }
    let debug_panic = debug_dir
        .join(TARGET)
        .join("release")
        .join("plugbox_plugin_panic.wasm");
    assert!(debug_panic.is_file(), "no {}", debug_panic.display());
    writeln!(
        code,
        "/// The `panic` plugin built with DWARF line tables (`CARGO_PROFILE_RELEASE_DEBUG=line-tables-only`),\n\
         /// for source-level backtraces. Not in [`ALL`]: it is `PANIC`'s code.\n\
         pub const PANIC_WITH_DEBUG_INFO: Artifact = Artifact {{ name: \"panic\", path: {path:?}, \
         bytes: include_bytes!({path:?}), native: None }};",
        path = debug_panic.display().to_string(),
    )
    .expect("write to String");
    writeln!(
        code,
        "/// Every plugin, in name order.\npub const ALL: &[Artifact] = &[{all}];"
    )
    .expect("write to String");
    writeln!(
        code,
        "/// Calls `$mac!(name, CONSTANT)` once per plugin, e.g. `$mac!(hello, HELLO)`.\n\
         ///\n\
         /// Test suites use it to assert that every plugin has a test.\n\
         #[macro_export]\n\
         macro_rules! foreach_plugin {{\n    ($mac:ident) => {{\n{foreach}    }};\n}}"
    )
    .expect("write to String");

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    std::fs::write(out_dir.join("plugins.rs"), code).expect("write plugins.rs");

    wat_fixtures::build(
        workspace,
        &plugins_dir.join("hostile-wat"),
        &target_dir.join("hostile-wat"),
        &out_dir.join("wat.rs"),
    );

    polyglot::build(
        workspace,
        plugins_dir,
        &cargo_target_dir.join("toolchains"),
        &target_dir.join("polyglot"),
        &out_dir.join("polyglot.rs"),
    );
}

struct PluginCrate {
    /// Directory name under `plugins/`, e.g. `wasi-probe`.
    name: String,
    /// Cargo package name, e.g. `plugbox-plugin-wasi-probe`.
    crate_name: String,
    /// Whether it has a `src/main.rs`: a native twin for the baseline.
    has_native_twin: bool,
}

/// Every directory of `plugins/` with a `Cargo.toml`, except this crate.
fn discover(plugins_dir: &Path) -> Vec<PluginCrate> {
    let mut plugins: Vec<PluginCrate> = std::fs::read_dir(plugins_dir)
        .expect("read plugins/")
        .filter_map(|entry| {
            let entry = entry.expect("read plugins/ entry");
            let name = entry
                .file_name()
                .into_string()
                .expect("UTF-8 plugin directory name");
            (name != "artifacts" && entry.path().join("Cargo.toml").is_file()).then(|| {
                PluginCrate {
                    crate_name: format!("plugbox-plugin-{name}"),
                    has_native_twin: entry.path().join("src/main.rs").is_file(),
                    name,
                }
            })
        })
        .collect();
    plugins.sort_by(|a, b| a.name.cmp(&b.name));
    plugins
}

/// Builds `plugin`: its library as a component for `target`, or (`None`)
/// its native twin for the host.
/// With `debug_info`, the component keeps its DWARF (file and line of each
/// instruction).
fn build(
    workspace: &Path,
    target_dir: &Path,
    plugin: &PluginCrate,
    target: Option<&str>,
    debug_info: bool,
) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .args(["build", "--release"])
        .arg("--target-dir")
        .arg(target_dir)
        // The outer build's flags are for the host, not for wasm.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        // Under `cargo clippy` the outer build runs rustc through clippy with
        // its own arguments (`-D warnings`); the plugins are linted on their
        // own (`.ci/run`), not turned into build failures here.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .env_remove("CLIPPY_CONF_DIR")
        // Small plugins: no DWARF unless asked for. The name section stays,
        // so wasm backtraces still name the functions.
        .env(
            "CARGO_PROFILE_RELEASE_DEBUG",
            if debug_info {
                "line-tables-only"
            } else {
                "false"
            },
        );
    match target {
        Some(target) => command.args(["--lib", "--target", target]),
        // Native twins are static executables, so that a sandbox can hold
        // nothing but the binary (no libc, no loader). Naming the host target
        // keeps the flag off build scripts and proc macros.
        None => command
            .args(["--bins", "--target"])
            .arg(env::var("HOST").expect("set by cargo"))
            .env("RUSTFLAGS", "-C target-feature=+crt-static"),
    };
    command.arg("--package").arg(&plugin.crate_name);
    if target.is_some() {
        command.env_remove("RUSTFLAGS");
    }
    let output = command.output().expect("run cargo to build the plugins");
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("may not be installed")
            || stderr.contains("can't find crate for `core`")
        {
            "\nhint: the wasm target is missing; run `rustup target add wasm32-wasip2`"
        } else {
            ""
        };
        panic!(
            "building plugin `{}` for {TARGET} failed:\n{stderr}{hint}",
            plugin.name
        );
    }
}
