//! The backend itself, as the host calls it: the in-memory backend's
//! semantics, namespaces against hostile keys, and quotas and increments
//! that hold exactly when hosts race.

use std::sync::Barrier;

use plugbox::{KvError, KvStore, MemoryKv, Quota};
use plugbox_kv_redis::RedisKv;
use redis::Commands as _;

use super::{generous, host, inspect};
use plugbox_tests::redis_server::RedisServer;

/// One operation, as the host function calls it.
#[derive(Debug, Clone, Copy)]
enum Op<'a> {
    Get(&'a str),
    Set(&'a str, &'a str),
    Delete(&'a str),
    Inc(&'a str, i64),
}

/// What `op` answered, as text.
fn apply(kv: &dyn KvStore, namespace: &str, op: Op<'_>, quota: Quota) -> String {
    let deadline = generous();
    match op {
        Op::Get(key) => match kv.get(namespace, key, deadline) {
            Ok(value) => format!("{:?}", value.map(|v| String::from_utf8(v).unwrap())),
            Err(error) => format!("{error:?}"),
        },
        Op::Set(key, value) => format!(
            "{:?}",
            kv.set(namespace, key, value.as_bytes(), quota, deadline)
        ),
        Op::Delete(key) => format!("{:?}", kv.delete(namespace, key, deadline)),
        Op::Inc(key, delta) => {
            format!("{:?}", kv.increment(namespace, key, delta, quota, deadline))
        }
    }
}

#[test]
fn the_redis_backend_answers_as_the_memory_backend() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    const MAX: &str = "9223372036854775807";
    let quota = Quota {
        max_keys: 3,
        max_bytes: 30,
    };
    // Bytes count every key and value: (key + value) after each write.
    let script: &[(Op<'_>, &str)] = &[
        (Op::Set("a", "1234"), "Ok(())"),            // 5
        (Op::Set("b", "1234"), "Ok(())"),            // 10
        (Op::Set("c", ""), "Ok(())"),                // 11, 3 keys
        (Op::Set("d", ""), "Err(QuotaExceeded)"),    // a 4th key
        (Op::Set("a", "123456789012345"), "Ok(())"), // 22: the difference only
        (Op::Set("b", "abcdefghijk"), "Ok(())"),     // 29
        (Op::Set("c", "x"), "Ok(())"),               // 30
        (Op::Set("c", "xy"), "Err(QuotaExceeded)"),  // 31
        (Op::Get("c"), "Some(\"x\")"),
        (Op::Delete("a"), "Ok(true)"), // 14
        (Op::Delete("a"), "Ok(false)"),
        (Op::Inc("n", 1), "Ok(1)"),   // 16
        (Op::Inc("n", 41), "Ok(42)"), // 17
        (Op::Get("n"), "Some(\"42\")"),
        (Op::Inc("b", 1), "Err(Invalid(\"`b` is not an integer\"))"),
        (Op::Delete("b"), "Ok(true)"), // 5
        (Op::Set("m", MAX), "Ok(())"), // 25
        (Op::Inc("m", 1), "Err(Invalid(\"`m` would overflow\"))"),
        (Op::Inc("m", -1), "Ok(9223372036854775806)"), // exact: no double
        (Op::Inc("n", 999_999), "Ok(1000041)"),        // 30
        (Op::Inc("n", 9_000_000), "Err(QuotaExceeded)"), // 31: put back
        (Op::Get("n"), "Some(\"1000041\")"),
        (Op::Inc("new", 1), "Err(QuotaExceeded)"), // a 4th key
        (Op::Get("new"), "None"),
        (Op::Delete("c"), "Ok(true)"),  // 28
        (Op::Delete("m"), "Ok(true)"),  // 8
        (Op::Inc("new", -5), "Ok(-5)"), // 11
        (Op::Delete("n"), "Ok(true)"),
        (Op::Delete("new"), "Ok(true)"),
        (Op::Get("m"), "None"),
    ];
    let memory = MemoryKv::new();
    let redis = host(&server);
    for (index, &(op, expected)) in script.iter().enumerate() {
        let from_memory = apply(&memory, "ns", op, quota);
        let from_redis = apply(&*redis, "ns", op, quota);
        assert_eq!(from_memory, expected, "memory, step {index}: {op:?}");
        assert_eq!(from_redis, expected, "redis, step {index}: {op:?}");
    }
    // An empty namespace leaves nothing behind in Redis.
    let keys: Vec<String> = inspect(&server).keys("*").unwrap();
    assert!(keys.is_empty(), "{keys:?}");
}

/// Keys and namespaces that would escape a naive `prefix:namespace:key`
/// layout, or be read by Redis as something else.
const HOSTILE_KEYS: &[&str] = &[
    "",
    "#",
    "k",
    "k#",
    ":",
    "*",
    "?",
    "[a-z]",
    "{tag}",
    "../../other",
    "plugbox:kv:other",
    "other:kx",
    "\r\n*1\r\n$8\r\nFLUSHALL\r\n",
    "\0",
    " ",
    "é🦀",
];

#[test]
fn keys_never_leave_their_namespace_whatever_their_bytes() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let kv = host(&server);
    let quota = Quota {
        max_keys: 100,
        max_bytes: 1 << 20,
    };
    // Namespaces that a key could spell the start of, were keys appended.
    let namespaces = ["other", "other:k", "other:kx", "x"];
    for namespace in namespaces {
        for key in HOSTILE_KEYS {
            let value = format!("{namespace}/{key}");
            kv.set(namespace, key, value.as_bytes(), quota, generous())
                .unwrap();
        }
    }
    for namespace in namespaces {
        for key in HOSTILE_KEYS {
            let value = kv.get(namespace, key, generous()).unwrap();
            assert_eq!(
                value,
                Some(format!("{namespace}/{key}").into_bytes()),
                "{namespace:?} {key:?}"
            );
        }
        assert_eq!(kv.get(namespace, "absent", generous()), Ok(None));
    }
    // One Redis key per namespace, nothing else (the FLUSHALL in a key
    // was data, not a command), each counting exactly its own keys.
    let mut raw = inspect(&server);
    let mut keys: Vec<String> = raw.keys("*").unwrap();
    keys.sort();
    assert_eq!(
        keys,
        [
            "plugbox:kv:other",
            "plugbox:kv:other:k",
            "plugbox:kv:other:kx",
            "plugbox:kv:x"
        ]
    );
    for namespace in namespaces {
        let hash = format!("plugbox:kv:{namespace}");
        let fields: usize = raw.hlen(&hash).unwrap();
        assert_eq!(
            fields,
            HOSTILE_KEYS.len() + 1,
            "{hash}: the keys and the total"
        );
        let total: usize = raw.hget(&hash, "#").unwrap();
        let expected: usize = HOSTILE_KEYS
            .iter()
            .map(|key| key.len() + namespace.len() + 1 + key.len())
            .sum();
        assert_eq!(total, expected, "{hash}");
    }
    // Emptying one namespace leaves the others whole.
    for key in HOSTILE_KEYS {
        assert_eq!(kv.delete("other:k", key, generous()), Ok(true), "{key:?}");
    }
    let keys: Vec<String> = raw.keys("plugbox:kv:other:k").unwrap();
    assert!(keys.is_empty(), "{keys:?}");
    for namespace in ["other", "other:kx", "x"] {
        let value = kv.get(namespace, "#", generous()).unwrap();
        assert_eq!(value, Some(format!("{namespace}/#").into_bytes()));
    }
    // Values are bytes: every byte value round-trips.
    let every_byte: Vec<u8> = (0..=255).collect();
    kv.set("x", "bytes", &every_byte, quota, generous())
        .unwrap();
    assert_eq!(kv.get("x", "bytes", generous()), Ok(Some(every_byte)));
}

/// Two hosts (two backends, their own connections), four threads each,
/// writing new keys as fast as they can until the quota refuses them.
fn race(server: &RedisServer, quota: Quota, value: &[u8]) -> (usize, usize) {
    const THREADS_PER_HOST: usize = 4;
    let hosts = [host(server), host(server)];
    let start = Barrier::new(2 * THREADS_PER_HOST);
    let stored: usize = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..2 * THREADS_PER_HOST)
            .map(|thread| {
                let kv = &hosts[thread % 2];
                let start = &start;
                scope.spawn(move || {
                    start.wait();
                    let mut stored = 0;
                    for n in 0.. {
                        // Every key is 5 bytes.
                        let key = format!("{thread}-{n:03}");
                        match kv.set("shared", &key, value, quota, generous()) {
                            Ok(()) => stored += 1,
                            Err(KvError::QuotaExceeded) => break,
                            Err(error) => panic!("{error}"),
                        }
                    }
                    stored
                })
            })
            .collect();
        writers
            .into_iter()
            .map(|writer| writer.join().unwrap())
            .sum()
    });
    let mut raw = inspect(server);
    let fields: usize = raw.hlen("plugbox:kv:shared").unwrap();
    let bytes: usize = raw.hget("plugbox:kv:shared", "#").unwrap();
    assert_eq!(fields - 1, stored, "every success is a key, and only those");
    (stored, bytes)
}

#[test]
fn hosts_racing_past_a_key_quota_stop_exactly_at_it() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let quota = Quota {
        max_keys: 200,
        max_bytes: 1 << 20,
    };
    let (stored, bytes) = race(&server, quota, b"v");
    assert_eq!(stored, 200);
    assert_eq!(bytes, 200 * 6);
}

#[test]
fn hosts_racing_past_a_byte_quota_stop_exactly_at_it() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let quota = Quota {
        max_keys: 1_000_000,
        max_bytes: 1000,
    };
    // 5 bytes of key and 5 of value: exactly 100 fit.
    let (stored, bytes) = race(&server, quota, b"12345");
    assert_eq!(stored, 100);
    assert_eq!(bytes, 1000);
}

#[test]
fn increments_from_two_hosts_all_count_once() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    const N: usize = 1000;
    let quota = Quota {
        max_keys: 1,
        max_bytes: 100,
    };
    let hosts = [host(&server), host(&server)];
    let start = Barrier::new(2);
    let mut seen: Vec<i64> = std::thread::scope(|scope| {
        let counters: Vec<_> = hosts
            .iter()
            .map(|kv| {
                let start = &start;
                scope.spawn(move || {
                    start.wait();
                    (0..N)
                        .map(|_| {
                            kv.increment("shared", "hits", 1, quota, generous())
                                .unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        counters
            .into_iter()
            .flat_map(|counter| counter.join().unwrap())
            .collect()
    });
    assert_eq!(
        hosts[0].get("shared", "hits", generous()),
        Ok(Some((2 * N).to_string().into_bytes()))
    );
    // Each increment saw a value of its own: 1..=2N, each once.
    seen.sort_unstable();
    assert!(seen.iter().copied().eq(1..=(2 * N) as i64), "{seen:?}");
}

#[test]
fn the_urls_password_and_database_are_used() {
    let Some(server) = RedisServer::start_or_skip_with(&["--requirepass", "s3cret"]) else {
        return;
    };
    let quota = Quota {
        max_keys: 10,
        max_bytes: 100,
    };
    let url = |auth: &str, db: u8| format!("redis://{auth}127.0.0.1:{}/{db}", server.port());
    let kv = RedisKv::open(&url(":s3cret@", 3)).unwrap();
    kv.set("ns", "k", b"in db 3", quota, generous()).unwrap();
    assert_eq!(kv.get("ns", "k", generous()), Ok(Some(b"in db 3".to_vec())));
    // Where an operator finds it: database 3, not 0.
    let raw = |db: u8| {
        redis::Client::open(url(":s3cret@", db))
            .unwrap()
            .get_connection()
            .unwrap()
    };
    let in_3: Option<String> = raw(3).hget("plugbox:kv:ns", "kk").unwrap();
    assert_eq!(in_3.as_deref(), Some("in db 3"));
    let in_0: Vec<String> = raw(0).keys("*").unwrap();
    assert!(in_0.is_empty(), "{in_0:?}");
    // A wrong password or none: the server's refusal, as `unavailable`.
    for auth in [":wrong@", ""] {
        let kv = RedisKv::open(&url(auth, 3)).unwrap();
        let error = kv.get("ns", "k", generous()).unwrap_err();
        let KvError::Unavailable(why) = &error else {
            panic!("{auth:?}: {error:?}");
        };
        assert!(
            why.starts_with("redis: WRONGPASS") || why.starts_with("redis: NOAUTH"),
            "{auth:?}: {why}"
        );
        assert!(!why.contains("s3cret"), "{why}");
    }
}
