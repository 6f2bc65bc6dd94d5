//! With the `extism` feature: builds `extism-hello` (the `hello` logic for
//! the Extism PDK) for wasm32-unknown-unknown, once, and hands its path to
//! the crate as `EXTISM_HELLO_WASM`. Without it: nothing.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=extism-hello/src");
    println!("cargo:rerun-if-changed=extism-hello/Cargo.toml");
    if env::var_os("CARGO_FEATURE_EXTISM").is_none() {
        return;
    }
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest_dir.parent().expect("density/ has a parent");
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
        .join("extism-hello");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(manifest_dir.join("extism-hello"))
        .args(["build", "--release", "--target", "wasm32-unknown-unknown"])
        .arg("--target-dir")
        .arg(&target_dir)
        // The outer build's flags and lint wrappers are not for this guest.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .env_remove("CLIPPY_CONF_DIR")
        .output()
        .expect("run cargo to build extism-hello");
    assert!(
        output.status.success(),
        "building extism-hello failed (is the target installed? `rustup target add \
         wasm32-unknown-unknown`):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let wasm = target_dir.join("wasm32-unknown-unknown/release/extism_hello.wasm");
    assert!(wasm.is_file(), "no {}", wasm.display());
    println!("cargo:rustc-env=EXTISM_HELLO_WASM={}", wasm.display());
}
