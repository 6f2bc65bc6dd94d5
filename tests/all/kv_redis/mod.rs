//! The Redis key-value backend (`plugbox-kv-redis`) against a real
//! `redis-server` the tests start and kill: the backend keeps the in-memory
//! backend's semantics, namespaces hold against hostile keys, quotas and
//! increments hold exactly across hosts racing (`backend`); Redis down,
//! frozen or restarted is `unavailable` within the deadline and then
//! serves again (`failures`); two engines sharing one Redis share a real
//! plugin's state (`hosts`).
//!
//! Without `redis-server` each test prints `skipped: redis: <reason>` and
//! returns, except under `CI`, where it fails.

mod backend;
mod failures;
mod hosts;

use std::sync::Arc;
use std::time::{Duration, Instant};

use plugbox::{Allocator, Engine};
use plugbox_kv_redis::RedisKv;
use plugbox_tests::redis_server::RedisServer;

/// A deadline far enough for any operation on a healthy local server.
fn generous() -> Option<Instant> {
    Some(Instant::now() + Duration::from_secs(10))
}

/// A backend of `server`: each one is a host of its own (its own
/// connections).
fn host(server: &RedisServer) -> Arc<RedisKv> {
    Arc::new(RedisKv::open(&server.url()).unwrap())
}

/// An engine keeping its plugins' data in `server`.
fn engine(server: &RedisServer) -> Engine {
    Engine::builder()
        .allocator(Allocator::Pooling { capacity: 8 })
        .kv_store(host(server))
        .build()
        .unwrap()
}

/// A plain connection to `server`, to look at what the backend wrote.
fn inspect(server: &RedisServer) -> redis::Connection {
    redis::Client::open(server.url())
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(10))
        .unwrap()
}
