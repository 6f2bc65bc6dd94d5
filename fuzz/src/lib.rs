//! The fuzz targets' shared harness: the real plugins, read from the nested
//! build's output (`cargo build --release -p plugbox-artifacts` in the main
//! workspace builds them), and their shipped policies.

use std::path::PathBuf;
use std::sync::OnceLock;

use plugbox_hardening::fuzz::Harness;

fn plugin_bytes(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("PLUGBOX_PLUGINS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/plugbox-plugins/wasm32-wasip2/release")
        });
    let path = dir.join(format!("plugbox_plugin_{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|error| {
        panic!(
            "{}: {error}; build the plugins first (cargo build --release -p plugbox-artifacts)",
            path.display()
        )
    })
}

/// The harness, made once per fuzzing process.
pub fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let hello = plugin_bytes("hello");
        let discount = plugin_bytes("discount");
        let http_filter = plugin_bytes("http_filter");
        Harness::new(
            &hello,
            (&discount, include_str!("../../plugins/discount/policy.toml")),
            (&http_filter, include_str!("../../plugins/http-filter/policy.toml")),
        )
        .expect("the plugins load")
    })
}
