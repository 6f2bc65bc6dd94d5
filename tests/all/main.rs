//! End-to-end tests: the real plugins (built from `plugins/` by
//! `plugbox-artifacts`) through the real host. One binary, one module per
//! feature.

// Test helpers fail loudly by design.
#![allow(clippy::unwrap_used)]

mod async_calls;
mod bad_input;
mod baseline;
mod cache;
mod capabilities;
mod component_model_async;
mod custom_world;
mod debugging;
mod engine;
mod fuzz_smoke;
mod host_functions;
mod host_resources;
mod hostile;
mod hostile_cases;
mod hot_reload;
mod isolation;
mod kv_backend;
mod kv_redis;
mod memory_profile;
mod metering;
mod metering_cancel;
mod neighbour;
mod plugins;
mod polyglot;
mod polyglot_c;
mod polyglot_fixtures;
mod polyglot_hostile;
mod polyglot_twins;
mod polyglot_upper;
mod profiling;
mod soak;
mod telemetry;
mod traced;
mod untrusted_text;
mod wasi_guarantees;

use plugbox::{Allocator, Engine, Plugin};

/// A small pooled engine: tests run in parallel, each with its own engine.
pub fn engine() -> Engine {
    Engine::builder()
        .allocator(Allocator::Pooling { capacity: 32 })
        .build()
        .expect("default engine settings are valid")
}

/// The plugin called `name` from `plugins/`, compiled on `engine`.
pub fn plugin(engine: &Engine, name: &str) -> Plugin {
    let artifact = plugbox_artifacts::by_name(name).expect("no such plugin");
    Plugin::new(engine, artifact.bytes).expect("example plugins load")
}

/// Asserts that `engine` still serves a fresh `hello` instance correctly.
pub fn assert_engine_still_serves(engine: &Engine) {
    let mut fresh = plugin(engine, "hello").instantiate().expect("instantiate");
    let response = fresh.call(b"still here").expect("call");
    assert_eq!(response.output, b"STILL HERE");
}

/// Every plugin in `plugins/` must have a test of the same name in
/// `plugins.rs`: adding a plugin without one fails to compile.
macro_rules! assert_plugin_has_test {
    ($name:ident, $constant:ident) => {
        #[allow(unused_imports)]
        use crate::plugins::$name as _;
    };
}
plugbox_artifacts::foreach_plugin!(assert_plugin_has_test);

/// Every hand-written fixture in `plugins/hostile-wat` must have a test of
/// the same name in `hostile_cases::wat_fixtures`.
macro_rules! assert_wat_fixture_has_test {
    ($name:ident, $constant:ident) => {
        #[allow(unused_imports)]
        use crate::hostile_cases::wat_fixtures::$name as _;
    };
}
plugbox_artifacts::foreach_wat_fixture!(assert_wat_fixture_has_test);

/// Every plugin in another language (`plugins/py-*`, `js-*`, `go-*`, `c-*`) must
/// have a test of the same name in `plugins.rs`, built here or not.
macro_rules! assert_polyglot_has_test {
    ($name:ident, $constant:ident) => {
        #[allow(unused_imports)]
        use crate::plugins::$name as _;
    };
}
plugbox_artifacts::foreach_polyglot!(assert_polyglot_has_test);
