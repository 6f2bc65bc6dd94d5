//! The key-value backend is pluggable (`EngineBuilder::kv_store`): a plugin's
//! `kv` calls reach the embedder's `KvStore` in the plugin's namespace with
//! its quota, and a backend failure reaches the guest as
//! `kv::Error::Unavailable`, an error it handles (no trap). The `KvStore`
//! trait has no fault path of its own: every `KvError` is guest-visible.
//!
//! Namespaces: without `[kv] namespace`, data is private to one loaded
//! `Plugin` (and, within it, to the policy's `name`); only an explicit
//! namespace is shared.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use plugbox::{Allocator, Engine, Instance, KvError, KvStore, MemoryKv, Plugin, Policy, Quota};

use crate::host_functions::{ask, probe};

/// An engine whose plugins keep their data in `store`.
fn engine_with(store: Arc<dyn KvStore>) -> Engine {
    Engine::builder()
        .allocator(Allocator::Pooling { capacity: 8 })
        .kv_store(store)
        .build()
        .unwrap()
}

/// A backend that records every call, then serves it from memory.
#[derive(Debug, Default)]
struct Recording {
    data: MemoryKv,
    calls: Mutex<Vec<String>>,
    /// The deadline each call was given.
    deadlines: Mutex<Vec<Option<Instant>>>,
    /// The `[kv] url` it serves, if any.
    url: Option<String>,
}

impl Recording {
    fn record(&self, call: String) {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(call);
    }

    fn calls(&self) -> Vec<String> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl KvStore for Recording {
    fn get(
        &self,
        namespace: &str,
        key: &str,
        deadline: Option<Instant>,
    ) -> Result<Option<Vec<u8>>, KvError> {
        self.record(format!("get {namespace}/{key}"));
        self.deadlines.lock().unwrap().push(deadline);
        self.data.get(namespace, key, deadline)
    }

    fn set(
        &self,
        namespace: &str,
        key: &str,
        value: &[u8],
        quota: Quota,
        deadline: Option<Instant>,
    ) -> Result<(), KvError> {
        let text = String::from_utf8_lossy(value);
        self.record(format!(
            "set {namespace}/{key}={text} within {}/{}",
            quota.max_keys, quota.max_bytes
        ));
        self.deadlines.lock().unwrap().push(deadline);
        self.data.set(namespace, key, value, quota, deadline)
    }

    fn delete(
        &self,
        namespace: &str,
        key: &str,
        deadline: Option<Instant>,
    ) -> Result<bool, KvError> {
        self.record(format!("delete {namespace}/{key}"));
        self.deadlines.lock().unwrap().push(deadline);
        self.data.delete(namespace, key, deadline)
    }

    fn increment(
        &self,
        namespace: &str,
        key: &str,
        delta: i64,
        quota: Quota,
        deadline: Option<Instant>,
    ) -> Result<i64, KvError> {
        self.record(format!(
            "increment {namespace}/{key} by {delta} within {}/{}",
            quota.max_keys, quota.max_bytes
        ));
        self.deadlines.lock().unwrap().push(deadline);
        self.data.increment(namespace, key, delta, quota, deadline)
    }

    fn serves_url(&self, url: &str) -> bool {
        self.url.as_deref() == Some(url)
    }
}

/// A backend that is down.
#[derive(Debug)]
struct Unavailable;

fn down<T>() -> Result<T, KvError> {
    Err(KvError::Unavailable("backend offline".to_string()))
}

impl KvStore for Unavailable {
    fn get(&self, _: &str, _: &str, _: Option<Instant>) -> Result<Option<Vec<u8>>, KvError> {
        down()
    }

    fn set(&self, _: &str, _: &str, _: &[u8], _: Quota, _: Option<Instant>) -> Result<(), KvError> {
        down()
    }

    fn delete(&self, _: &str, _: &str, _: Option<Instant>) -> Result<bool, KvError> {
        down()
    }

    fn increment(
        &self,
        _: &str,
        _: &str,
        _: i64,
        _: Quota,
        _: Option<Instant>,
    ) -> Result<i64, KvError> {
        down()
    }
}

#[test]
fn kv_calls_reach_a_custom_backend_in_the_plugins_namespace() {
    let backend = Arc::new(Recording::default());
    let engine = engine_with(backend.clone());
    let policy =
        "[kv]\nnamespace = \"tenant-r\"\nmax_keys = 3\nmax_bytes = 100\nmax_key_bytes = 8\n";
    let mut instance = probe(&engine, policy);
    assert_eq!(ask(&mut instance, "set greeting hi"), "ok");
    assert_eq!(ask(&mut instance, "get greeting"), "hi");
    assert_eq!(ask(&mut instance, "inc hits 2"), "2");
    assert_eq!(ask(&mut instance, "delete greeting"), "true");
    assert_eq!(ask(&mut instance, "get greeting"), "(absent)");
    // Refusals the host makes itself never reach the backend.
    assert_eq!(
        ask(&mut instance, "get much-too-long"),
        "error: Error::Invalid(\"key of 13 bytes, limit 8\")"
    );
    assert_eq!(
        backend.calls(),
        [
            "set tenant-r/greeting=hi within 3/100",
            "get tenant-r/greeting",
            "increment tenant-r/hits by 2 within 3/100",
            "delete tenant-r/greeting",
            "get tenant-r/greeting",
        ]
    );
    // The data lives in the backend.
    assert_eq!(
        backend.data.get("tenant-r", "hits", None).unwrap(),
        Some(b"2".to_vec())
    );
    // A plugin without a grant is denied before the backend is asked.
    let mut denied = probe(&engine, "");
    assert_eq!(ask(&mut denied, "get hits"), "error: Error::Denied");
    assert_eq!(backend.calls().len(), 5);
}

#[test]
fn a_backend_failure_is_the_guests_to_handle() {
    let engine = engine_with(Arc::new(Unavailable));
    let mut instance = probe(&engine, "[kv]\n");
    for command in ["get k", "set k v", "inc k 1", "delete k"] {
        assert_eq!(
            ask(&mut instance, command),
            "error: Error::Unavailable(\"backend offline\")",
            "{command}"
        );
    }
    // Not a trap: the instance goes on serving.
    assert!(!instance.is_poisoned());
    assert_eq!(ask(&mut instance, "config anything"), "(unset)");
}

/// An instance of `plugin` under `policy` (TOML).
fn tenant(plugin: &Plugin, policy: &str) -> Instance {
    let policy = Policy::from_toml_str(policy, "test policy").unwrap();
    plugin.with_policy(&policy).unwrap().instantiate().unwrap()
}

/// The namespace of every call recorded since `from`.
fn namespaces(backend: &Recording, from: usize) -> Vec<String> {
    backend.calls()[from..]
        .iter()
        .map(|call| {
            call.split_once(' ')
                .unwrap()
                .1
                .split_once('/')
                .unwrap()
                .0
                .to_owned()
        })
        .collect()
}

#[test]
fn two_loads_of_one_plugin_never_share_data_unless_given_one_namespace() {
    let backend = Arc::new(Recording::default());
    let engine = engine_with(backend.clone());
    // Two customers run the same public plugin: two loads of the same bytes
    // with the same `[kv]` table, with no name or with the same one.
    for policy in ["[kv]\n", "name = \"discount\"\n[kv]\n"] {
        let first = crate::plugin(&engine, "host-probe");
        let second = crate::plugin(&engine, "host-probe");
        let mut alice = tenant(&first, policy);
        let mut bob = tenant(&second, policy);
        let recorded = backend.calls().len();
        assert_eq!(ask(&mut alice, "set secret 42"), "ok");
        assert_eq!(ask(&mut bob, "get secret"), "(absent)", "{policy:?}");
        assert_eq!(ask(&mut bob, "inc secret 1"), "1", "{policy:?}");
        assert_eq!(ask(&mut alice, "get secret"), "42", "{policy:?}");
        let seen = namespaces(&backend, recorded);
        assert_ne!(seen[0], seen[1], "{policy:?}: {seen:?}");
        // Named after the plugin, made unique by the load.
        let name = if policy.starts_with("name") {
            "discount@"
        } else {
            "plugin-"
        };
        assert!(seen.iter().all(|ns| ns.starts_with(name)), "{seen:?}");

        // Within one load, instances share: another instance, and another
        // `with_policy` with the same name.
        let mut alice_again = tenant(&first, policy);
        assert_eq!(ask(&mut alice_again, "get secret"), "42", "{policy:?}");
        // Another name on the same load is another tenant.
        let mut carol = tenant(&first, "name = \"carol\"\n[kv]\n");
        assert_eq!(ask(&mut carol, "get secret"), "(absent)", "{policy:?}");
    }

    // An explicit namespace is shared across loads, exactly as named.
    let shared = "[kv]\nnamespace = \"team-ledger\"\n";
    let mut writer = tenant(&crate::plugin(&engine, "host-probe"), shared);
    let mut reader = tenant(&crate::plugin(&engine, "host-probe"), shared);
    let recorded = backend.calls().len();
    assert_eq!(ask(&mut writer, "set total 7"), "ok");
    assert_eq!(ask(&mut reader, "get total"), "7");
    assert_eq!(
        namespaces(&backend, recorded),
        ["team-ledger", "team-ledger"]
    );
}

/// A backend that answers every request after `delay`, never with a value.
#[derive(Debug)]
struct Slow {
    delay: Duration,
}

impl KvStore for Slow {
    fn get(&self, _: &str, _: &str, _: Option<Instant>) -> Result<Option<Vec<u8>>, KvError> {
        std::thread::sleep(self.delay);
        Ok(None)
    }

    fn set(&self, _: &str, _: &str, _: &[u8], _: Quota, _: Option<Instant>) -> Result<(), KvError> {
        std::thread::sleep(self.delay);
        Ok(())
    }

    fn delete(&self, _: &str, _: &str, _: Option<Instant>) -> Result<bool, KvError> {
        std::thread::sleep(self.delay);
        Ok(false)
    }

    fn increment(
        &self,
        _: &str,
        _: &str,
        _: i64,
        _: Quota,
        _: Option<Instant>,
    ) -> Result<i64, KvError> {
        std::thread::sleep(self.delay);
        Ok(0)
    }
}

/// The deadline is wall-clock time, host calls included: a guest that polls
/// a slow backend stops at its deadline. (Counting epoch ticks instead would
/// count one tick per host call however long it took: 101 calls of 20 ms,
/// two seconds for a 100 ms deadline.)
#[test]
fn a_guest_polling_a_slow_backend_stops_at_its_deadline() {
    let delay = Duration::from_millis(20);
    let engine = engine_with(Arc::new(Slow { delay }));
    let mut instance = probe(&engine, "[limits]\ndeadline_ms = 100\n[kv]\n");
    let started = Instant::now();
    let error = instance.call(b"wait flag").unwrap_err();
    let took = started.elapsed();
    assert_eq!(
        error.kind(),
        plugbox::ErrorKind::DeadlineExceeded,
        "{error}"
    );
    assert!(took >= Duration::from_millis(100), "never early: {took:?}");
    assert!(
        took < Duration::from_secs(1),
        "a 100 ms deadline took {took:?}"
    );
}

/// Every operation must answer by the sooner of the policy's `[kv]
/// timeout_ms` and the call's deadline: that is what the backend is given.
#[test]
fn each_operation_is_given_the_sooner_of_its_timeout_and_the_calls_deadline() {
    let backend = Arc::new(Recording::default());
    let engine = engine_with(backend.clone());
    let cases = [
        // (call deadline, kv timeout, what bounds the operation)
        (1000, 50, 50),
        (200, 5000, 200),
    ];
    for (index, (deadline_ms, timeout_ms, bound_ms)) in cases.into_iter().enumerate() {
        let policy =
            format!("[limits]\ndeadline_ms = {deadline_ms}\n[kv]\ntimeout_ms = {timeout_ms}\n");
        let mut instance = probe(&engine, &policy);
        let before = Instant::now();
        assert_eq!(ask(&mut instance, "get k"), "(absent)");
        let after = Instant::now();
        let given = backend.deadlines.lock().unwrap()[index].unwrap();
        let bound = Duration::from_millis(bound_ms);
        assert!(
            given >= before + bound && given <= after + bound,
            "{policy:?}: given {:?} after the call started, expected {bound:?}",
            given - before
        );
    }
}

#[test]
fn a_kv_url_the_engines_backend_does_not_serve_is_refused() {
    let url = "redis://admin:hunter2@127.0.0.1:6379/0";
    let policy = format!("name = \"p\"\n[kv]\nurl = \"{url}\"\n");
    let policy = Policy::from_toml_str(&policy, "policy.toml").unwrap();
    // The default engine keeps data in memory: no url names it.
    let engine = crate::engine();
    let error = crate::plugin(&engine, "host-probe")
        .with_policy(&policy)
        .unwrap_err();
    assert_eq!(error.kind(), plugbox::ErrorKind::Config, "{error}");
    let message = error.message();
    assert!(
        message.starts_with(
            "policy.toml:3: kv.url: this engine's key-value backend does not serve \
             `redis://…@127.0.0.1:6379/0`"
        ),
        "{message}"
    );
    assert!(message.contains("crate `plugbox-kv-redis`"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");

    // A backend that serves it is given the plugin's data.
    let backend = Arc::new(Recording {
        url: Some(url.to_owned()),
        ..Recording::default()
    });
    let engine = engine_with(backend.clone());
    let mut instance = crate::plugin(&engine, "host-probe")
        .with_policy(&policy)
        .unwrap()
        .instantiate()
        .unwrap();
    assert_eq!(ask(&mut instance, "set k v"), "ok");
    assert_eq!(backend.calls().len(), 1);
    // Another url is another store.
    let other =
        Policy::from_toml_str("[kv]\nurl = \"redis://127.0.0.1:6380/0\"\n", "other.toml").unwrap();
    let error = crate::plugin(&engine, "host-probe")
        .with_policy(&other)
        .unwrap_err();
    assert_eq!(error.kind(), plugbox::ErrorKind::Config, "{error}");
}

#[test]
fn a_zero_kv_timeout_is_refused() {
    let policy = Policy::from_toml_str("[kv]\ntimeout_ms = 0\n", "policy.toml").unwrap();
    let error = crate::plugin(&crate::engine(), "host-probe")
        .with_policy(&policy)
        .unwrap_err();
    assert_eq!(error.kind(), plugbox::ErrorKind::InvalidPolicy, "{error}");
    assert_eq!(
        error.message(),
        "policy.toml:2: kv.timeout_ms: must be non-zero"
    );
}
