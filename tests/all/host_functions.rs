//! Host functions: `log` (bounded per call), `config` (read-only values from
//! the policy) and `kv` (a private namespace with quotas). Each granted use
//! works; each without a grant gets the exact guest-visible refusal.

use plugbox::{Engine, Instance, Limits, Policy};

use crate::neighbour::with_good_neighbour;

/// The `host-probe` plugin on `engine` under `policy` (TOML).
pub fn probe(engine: &Engine, policy: &str) -> Instance {
    let policy = Policy::from_toml_str(policy, "test policy").unwrap();
    crate::plugin(engine, "host-probe")
        .with_policy(&policy)
        .unwrap()
        .instantiate()
        .unwrap()
}

/// Runs one probe command, returning its answer.
pub fn ask(instance: &mut Instance, command: &str) -> String {
    String::from_utf8(instance.call(command.as_bytes()).unwrap().output).unwrap()
}

#[test]
fn the_lean_probe_imports_only_plugbox_interfaces() {
    let plugin = crate::plugin(&crate::engine(), "host-probe");
    assert!(!plugin.imports_wasi());
    let mut imports: Vec<&str> = plugin
        .info()
        .imports
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    imports.sort_unstable();
    assert_eq!(
        imports,
        plugbox::HOST_INTERFACES
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    );
}

#[test]
fn logging_within_the_budget_reaches_the_host_logs() {
    let engine = crate::engine();
    let events = crate::traced::record(|| {
        let mut instance = probe(&engine, "name = \"tenant-7\"\n");
        assert_eq!(ask(&mut instance, "log warn hello from the plugin"), "ok");
        assert_eq!(ask(&mut instance, "spam 10"), "ok");
        assert_eq!(instance.logs_dropped(), 0);
    });
    let plugin_events: Vec<_> = events
        .iter()
        .filter(|event| event.target == "plugbox::plugin")
        .collect();
    assert_eq!(plugin_events.len(), 11);
    let first = plugin_events[0];
    assert_eq!(first.level, tracing::Level::WARN);
    assert_eq!(first.field("message"), Some("hello from the plugin"));
    assert_eq!(first.field("plugin"), Some("tenant-7"));
}

#[test]
fn logging_beyond_the_budget_is_dropped_and_counted() {
    let engine = crate::engine();
    let policy = "[limits]\nmax_log_bytes = 4096\n";
    // A fresh instance per run of the attack (it may be run again).
    let events = with_good_neighbour(&engine, || {
        let mut instance = probe(&engine, policy);
        crate::traced::record(|| {
            // 4 messages of 1 KiB fit; the other 6 are dropped, and the
            // plugin goes on.
            assert_eq!(ask(&mut instance, "spam 10"), "ok");
            assert_eq!(instance.logs_dropped(), 6);
            // The budget is per call.
            assert_eq!(ask(&mut instance, "spam 4"), "ok");
            assert_eq!(instance.logs_dropped(), 6);
        })
    });
    let logged = events
        .iter()
        .filter(|event| event.target == "plugbox::plugin")
        .count();
    assert_eq!(logged, 4 + 4, "what fit the budget reached the host's logs");
    assert_eq!(
        probe(&engine, policy).limits().log_bytes(),
        Limits::default().max_log_bytes(4096).log_bytes()
    );
}

#[test]
fn granted_config_is_visible() {
    let mut instance = probe(&crate::engine(), "[config]\ncurrency = \"EUR\"\n");
    assert_eq!(ask(&mut instance, "config currency"), "EUR");
    assert_eq!(ask(&mut instance, "config region"), "(unset)");
}

#[test]
fn config_without_a_grant_is_empty() {
    let mut instance = probe(&crate::engine(), "");
    assert_eq!(ask(&mut instance, "config currency"), "(unset)");
}

#[test]
fn kv_without_a_grant_is_denied() {
    let mut instance = probe(&crate::engine(), "");
    assert_eq!(ask(&mut instance, "set k v"), "error: Error::Denied");
    assert_eq!(ask(&mut instance, "get k"), "error: Error::Denied");
    assert_eq!(ask(&mut instance, "inc k 1"), "error: Error::Denied");
    assert_eq!(ask(&mut instance, "delete k"), "error: Error::Denied");
}

#[test]
fn granted_kv_stores_values_and_counts() {
    let engine = crate::engine();
    let policy = Policy::from_toml_str("[kv]\n", "test policy").unwrap();
    let plugin = crate::plugin(&engine, "host-probe")
        .with_policy(&policy)
        .unwrap();
    let mut instance = plugin.instantiate().unwrap();
    assert_eq!(ask(&mut instance, "get greeting"), "(absent)");
    assert_eq!(ask(&mut instance, "set greeting hello"), "ok");
    assert_eq!(ask(&mut instance, "get greeting"), "hello");
    assert_eq!(ask(&mut instance, "inc hits 1"), "1");
    assert_eq!(ask(&mut instance, "inc hits 41"), "42");
    assert_eq!(
        ask(&mut instance, "inc greeting 1"),
        "error: Error::Invalid(\"`greeting` is not an integer\")"
    );
    assert_eq!(ask(&mut instance, "delete greeting"), "true");
    assert_eq!(ask(&mut instance, "delete greeting"), "false");
    // Another instance of the same loaded plugin shares the namespace
    // (another load would not: `kv_backend.rs`).
    let mut sibling = plugin.instantiate().unwrap();
    assert_eq!(ask(&mut sibling, "get hits"), "42");
}

#[test]
fn one_plugin_can_never_read_another_plugins_keys() {
    let engine = crate::engine();
    let mut a = probe(&engine, "name = \"tenant-a\"\n[kv]\n");
    let mut b = probe(&engine, "name = \"tenant-b\"\n[kv]\n");
    assert_eq!(ask(&mut a, "set secret a-only"), "ok");
    assert_eq!(ask(&mut b, "get secret"), "(absent)");
    assert_eq!(ask(&mut b, "set secret b-only"), "ok");
    assert_eq!(ask(&mut a, "get secret"), "a-only");
    // Keys are plain strings: no path or prefix reaches another namespace.
    assert_eq!(ask(&mut b, "get ../tenant-a/secret"), "(absent)");
    assert_eq!(ask(&mut b, "get tenant-a/secret"), "(absent)");
}

#[test]
fn kv_quotas_are_enforced() {
    let mut instance = probe(
        &crate::engine(),
        "[kv]\nmax_keys = 2\nmax_bytes = 64\nmax_key_bytes = 8\n",
    );
    assert_eq!(ask(&mut instance, "set a 1"), "ok");
    assert_eq!(ask(&mut instance, "set b 2"), "ok");
    assert_eq!(
        ask(&mut instance, "set c 3"),
        "error: Error::QuotaExceeded",
        "third key"
    );
    let big = "x".repeat(100);
    assert_eq!(
        ask(&mut instance, &format!("set a {big}")),
        "error: Error::QuotaExceeded",
        "bytes"
    );
    assert_eq!(
        ask(&mut instance, "get much-too-long-key"),
        "error: Error::Invalid(\"key of 17 bytes, limit 8\")"
    );
    // Refusals are the guest's to handle: the instance is fine.
    assert!(!instance.is_poisoned());
    assert_eq!(ask(&mut instance, "get a"), "1");
}

#[test]
fn kv_policy_with_zero_quota_is_refused() {
    let policy = Policy::from_toml_str("[kv]\nmax_keys = 0\n", "p").unwrap();
    let error = crate::plugin(&crate::engine(), "host-probe")
        .with_policy(&policy)
        .unwrap_err();
    assert_eq!(error.kind(), plugbox::ErrorKind::InvalidPolicy);
    assert_eq!(
        error.message(),
        "p:2: kv.max_keys: must be non-zero (omit [kv] to deny it)"
    );
}
