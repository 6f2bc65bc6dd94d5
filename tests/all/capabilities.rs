//! Capabilities: each one granted by a policy works, and each one not granted
//! is denied with the exact error the plugin sees. One module per capability,
//! each with an allowed test and its denied twin.

mod clock_random;
mod env;
mod fs;
mod network;
mod policy;
mod stdio;

use plugbox::{Engine, Instance, Plugin, Policy};

/// The `wasi-probe` plugin under `policy` (TOML).
pub fn probe(engine: &Engine, policy: &str) -> Instance {
    probe_plugin(engine, policy).instantiate().unwrap()
}

pub fn probe_plugin(engine: &Engine, policy: &str) -> Plugin {
    let policy = Policy::from_toml_str(policy, "test policy").unwrap();
    crate::plugin(engine, "wasi-probe")
        .with_policy(&policy)
        .unwrap()
}

/// Runs one probe command, returning its answer.
pub fn ask(instance: &mut Instance, command: &str) -> String {
    String::from_utf8(instance.call(command.as_bytes()).unwrap().output).unwrap()
}
