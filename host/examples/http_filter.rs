//! An Envoy-style proxy hook: every request goes through the `http-filter`
//! plugin, which may add or remove headers or answer directly (401 without an
//! API key, 429 past the rate limit, counted in its key-value store).
//!
//! `cargo run --release -p plugbox --example http_filter`
use plugbox::{Engine, Plugin, Policy};

fn main() -> Result<(), plugbox::Error> {
    let engine = Engine::new()?;
    let policy = Policy::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../plugins/http-filter/policy.toml"
    ))?;
    let filter =
        Plugin::from_file(&engine, plugbox_artifacts::HTTP_FILTER.path)?.with_policy(&policy)?;
    // One instance per worker thread; counters live in the engine's store,
    // so every instance sees the same rate-limit state.
    let mut worker = filter.instantiate()?;
    let start = std::time::SystemTime::UNIX_EPOCH
        .elapsed()
        .map_or(0, |t| t.as_millis() as u64);
    for (i, key) in ["", "alice", "alice", "alice", "alice", "alice", "alice"]
        .iter()
        .enumerate()
    {
        let headers = if key.is_empty() {
            String::new()
        } else {
            format!(r#"["x-api-key","{key}"]"#)
        };
        let request = format!(
            r#"{{"method":"GET","path":"/orders/{i}","headers":[{headers}],"now_ms":{start}}}"#
        );
        let verdict = worker.call(request.as_bytes())?;
        println!(
            "request {i} ({key:>5}): {}",
            String::from_utf8_lossy(&verdict.output)
        );
    }
    Ok(())
}
