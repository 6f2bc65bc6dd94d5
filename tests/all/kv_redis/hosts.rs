//! Two hosts, one Redis: separate engines (as on two machines), each with
//! its own Redis backend, run the same plugins, which share their state
//! through Redis: the http-filter's rate limit holds across both, and so
//! does a namespace's quota.

use plugbox::{Engine, Instance, Plugin, Policy};
use redis::Commands as _;

use super::{engine, inspect};
use crate::host_functions::{ask, probe};
use plugbox_tests::redis_server::RedisServer;

/// The shipped policy of `plugin`, keeping its data in `server` under the
/// namespace `http-filter`. The deadline is raised from the shipped 10 ms to
/// a second: the tests run in parallel on a busy machine, and a Redis round
/// trip is a few of those 10 ms there.
fn shipped_policy(server: &RedisServer, plugin: &str) -> Policy {
    let mut policy = Policy::from_file(format!(
        "{}/../plugins/{plugin}/policy.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let kv = policy.kv.as_mut().expect("the filter's policy grants kv");
    kv.url = Some(server.url());
    kv.namespace = Some("http-filter".to_owned());
    policy.limits.deadline_ms = Some(1000);
    policy
}

fn request(api_key: &str, now_ms: u64) -> String {
    format!(
        r#"{{"method":"GET","path":"/orders","headers":[["x-api-key","{api_key}"]],"now_ms":{now_ms}}}"#
    )
}

fn filter(instance: &mut Instance, api_key: &str, now_ms: u64) -> String {
    let response = instance.call(request(api_key, now_ms).as_bytes()).unwrap();
    String::from_utf8(response.output).unwrap()
}

fn passed(remaining: i64) -> String {
    format!(
        r#"{{"action":"continue","add_headers":[["x-plugbox-filter","passed"],["x-ratelimit-remaining","{remaining}"]],"remove_headers":[]}}"#
    )
}

const LIMITED: &str = r#"{"action":"respond","status":429,"headers":[["retry-after","50"]],"body":"too many requests"}"#;

fn instance(plugin: Plugin, policy: &Policy) -> Instance {
    plugin.with_policy(policy).unwrap().instantiate().unwrap()
}

#[test]
fn two_hosts_sharing_redis_share_the_http_filters_rate_limit() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let policy = shipped_policy(&server, "http-filter");
    let hosts = [engine(&server), engine(&server)];
    let mut filters: Vec<Instance> = hosts
        .iter()
        .map(|host| instance(crate::plugin(host, "http-filter"), &policy))
        .collect();
    // The limit is 5 a minute per key, counted across both hosts.
    for n in 0..5 {
        let host = &mut filters[n % 2];
        assert_eq!(
            filter(host, "alice", 10_000),
            passed(4 - n as i64),
            "request {n}"
        );
    }
    // The sixth, and any after it, is refused on either host.
    assert_eq!(filter(&mut filters[1], "alice", 10_000), LIMITED);
    assert_eq!(filter(&mut filters[0], "alice", 10_000), LIMITED);
    // Another key has its own budget.
    assert_eq!(filter(&mut filters[1], "bob", 10_000), passed(4));
    // The counter is one field of the namespace's hash in Redis.
    let count: String = inspect(&server)
        .hget("plugbox:kv:http-filter", "krl:alice:0")
        .unwrap();
    assert_eq!(count, "7");
}

/// A lean plugin (the Rust filter) on one host and a WASI one (its
/// JavaScript twin, on StarlingMonkey) on the other count into one limit.
#[test]
fn the_rust_and_javascript_filters_on_two_hosts_share_one_limit() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let rust_host = engine(&server);
    let js_host = Engine::builder()
        .allocator(plugbox::Allocator::Pooling { capacity: 2 })
        .memory_slot_bytes(crate::polyglot::SLOT_BYTES)
        .cache_dir(concat!(env!("CARGO_TARGET_TMPDIR"), "/polyglot-cache"))
        .kv_store(super::host(&server))
        .build()
        .unwrap();
    let Some(js_plugin) = crate::polyglot::plugin(&js_host, "js-http-filter") else {
        return;
    };
    assert!(js_plugin.imports_wasi());
    let mut rust = instance(
        crate::plugin(&rust_host, "http-filter"),
        &shipped_policy(&server, "http-filter"),
    );
    let mut js = instance(js_plugin, &shipped_policy(&server, "js-http-filter"));
    assert_eq!(filter(&mut rust, "carol", 10_000), passed(4));
    assert_eq!(filter(&mut js, "carol", 10_000), passed(3));
    assert_eq!(filter(&mut rust, "carol", 10_000), passed(2));
    assert_eq!(filter(&mut js, "carol", 10_000), passed(1));
    assert_eq!(filter(&mut js, "carol", 10_000), passed(0));
    assert_eq!(filter(&mut rust, "carol", 10_000), LIMITED);
    assert_eq!(filter(&mut js, "carol", 10_000), LIMITED);
}

#[test]
fn a_namespaces_quota_holds_across_hosts() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let policy = format!(
        "[kv]\nurl = \"{}\"\nnamespace = \"ledger\"\nmax_keys = 2\nmax_bytes = 100\n",
        server.url()
    );
    let (first, second) = (engine(&server), engine(&server));
    let mut a = probe(&first, &policy);
    let mut b = probe(&second, &policy);
    assert_eq!(ask(&mut a, "set x 1"), "ok");
    assert_eq!(ask(&mut b, "set y 2"), "ok");
    assert_eq!(ask(&mut a, "set z 3"), "error: Error::QuotaExceeded");
    assert_eq!(ask(&mut b, "inc z 1"), "error: Error::QuotaExceeded");
    assert_eq!(ask(&mut b, "delete x"), "true");
    assert_eq!(ask(&mut a, "set z 3"), "ok");
    assert_eq!(ask(&mut b, "get z"), "3");
}
