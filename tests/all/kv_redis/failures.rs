//! Redis down, frozen or restarted: the guest gets `unavailable` within the
//! operation's deadline (never a hang, never a trap), and the backend
//! serves again as soon as Redis does.

use std::time::{Duration, Instant};

use plugbox::ErrorKind;

use super::engine;
use crate::host_functions::{ask, probe};
use plugbox_tests::redis_server::RedisServer;

/// `command`'s answer and how long it took.
fn timed(instance: &mut plugbox::Instance, command: &str) -> (String, Duration) {
    let started = Instant::now();
    let answer = ask(instance, command);
    (answer, started.elapsed())
}

const ALL_OPERATIONS: [&str; 4] = ["set k w", "get k", "inc n 1", "delete k"];

#[test]
fn a_frozen_redis_is_unavailable_after_the_kv_timeout() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let engine = engine(&server);
    let policy = "[limits]\ndeadline_ms = 10000\n[kv]\nnamespace = \"t\"\ntimeout_ms = 1000\n";
    let mut instance = probe(&engine, policy);
    assert_eq!(ask(&mut instance, "set k v"), "ok");
    // Frozen: connections are accepted by the kernel, nothing answers. The
    // first operation waits on its idle connection, the others on new ones
    // (where each wait of a connection's setup must come out of the same
    // second, not a second each).
    server.freeze();
    for command in ALL_OPERATIONS {
        let (answer, took) = timed(&mut instance, command);
        assert_eq!(
            answer, "error: Error::Unavailable(\"redis: no answer before the deadline\")",
            "{command}"
        );
        assert!(
            took >= Duration::from_millis(1000) && took < Duration::from_millis(1500),
            "{command}: a 1 s kv timeout took {took:?}"
        );
    }
    // The guest handled it: no trap.
    assert!(!instance.is_poisoned());
    server.thaw();
    assert_eq!(ask(&mut instance, "set k x"), "ok");
    assert_eq!(ask(&mut instance, "get k"), "x");
}

/// A kv timeout longer than the call has left is cut at the call's
/// deadline: the backend is given the sooner of the two.
#[test]
fn a_frozen_redis_holds_a_call_no_longer_than_its_deadline() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let engine = engine(&server);
    let policy = "[limits]\ndeadline_ms = 1000\n[kv]\ntimeout_ms = 60000\n";
    let mut instance = probe(&engine, policy);
    server.freeze();
    let started = Instant::now();
    let outcome = instance.call(b"get k");
    let took = started.elapsed();
    // The backend answers at the deadline; the guest may still return its
    // answer before the next epoch tick stops it.
    match outcome {
        Ok(response) => assert_eq!(
            String::from_utf8(response.output).unwrap(),
            "error: Error::Unavailable(\"redis: no answer before the deadline\")"
        ),
        Err(error) => assert_eq!(error.kind(), ErrorKind::DeadlineExceeded, "{error}"),
    }
    assert!(
        took >= Duration::from_millis(1000) && took < Duration::from_millis(1500),
        "a 1 s call took {took:?}"
    );
}

#[test]
fn a_killed_redis_is_unavailable_at_once_and_a_restarted_one_serves_again() {
    let Some(mut server) = RedisServer::start_or_skip() else {
        return;
    };
    let policy = "[limits]\ndeadline_ms = 10000\n[kv]\nnamespace = \"t\"\ntimeout_ms = 500\n";
    // A host starts while Redis is down: its plugins load, and their kv
    // calls are refused until Redis is up.
    server.kill();
    let engine = engine(&server);
    let mut instance = probe(&engine, policy);
    let (answer, took) = timed(&mut instance, "get k");
    assert_eq!(
        answer,
        "error: Error::Unavailable(\"redis: connection refused\")"
    );
    assert!(took < Duration::from_millis(500), "refused after {took:?}");
    server.restart();
    assert_eq!(ask(&mut instance, "set k v"), "ok");
    assert_eq!(ask(&mut instance, "inc n 1"), "1");

    // Killed in the middle: the idle connection is lost, new ones refused,
    // each answered at once, not at the timeout.
    server.kill();
    for command in ALL_OPERATIONS {
        let (answer, took) = timed(&mut instance, command);
        assert!(
            answer == "error: Error::Unavailable(\"redis: connection lost\")"
                || answer == "error: Error::Unavailable(\"redis: connection refused\")",
            "{command}: {answer}"
        );
        assert!(took < Duration::from_millis(500), "{command}: {took:?}");
    }
    assert!(!instance.is_poisoned());
    // Back on the same port (empty: no persistence): the next call connects.
    server.restart();
    assert_eq!(ask(&mut instance, "get k"), "(absent)");
    assert_eq!(ask(&mut instance, "inc n 1"), "1");

    // A restart no call noticed: the idle connection was closed under the
    // backend. `get` is sent again on a fresh connection.
    server.restart();
    assert_eq!(ask(&mut instance, "get n"), "(absent)");
    assert_eq!(ask(&mut instance, "inc n 1"), "1");
    // `increment` never is (it could count twice): on a closed connection it
    // is `unavailable` (unless the connection, idle for a while, was checked
    // first), and it counted once or not at all.
    server.restart();
    let answer = ask(&mut instance, "inc n 1");
    let stored = ask(&mut instance, "get n");
    match answer.as_str() {
        "1" => assert_eq!(stored, "1"),
        "error: Error::Unavailable(\"redis: connection lost\")" => assert_eq!(stored, "(absent)"),
        other => panic!("inc after a restart: {other}"),
    }
    assert_eq!(
        ask(&mut instance, "inc n 1"),
        if stored == "1" { "2" } else { "1" }
    );
}
