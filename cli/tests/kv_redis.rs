//! `plugbox run --policy` with `[kv] url = "redis://..."`: the CLI picks the
//! Redis backend by the url's scheme, so runs (separate processes, as on
//! separate hosts) share a plugin's state; a url it has no backend for is a
//! one-line error. Against a real `redis-server` the test starts (skipped
//! where it is missing, except under `CI`).

#![allow(clippy::unwrap_used)]

mod common;

use common::{assert_one_line_failure, plugbox, stderr, stdout};
use plugbox_tests::redis_server::RedisServer;

#[test]
fn runs_with_a_redis_policy_share_the_plugins_state() {
    let Some(mut server) = RedisServer::start_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    let text = format!(
        "[limits]\ndeadline_ms = 5000\n[kv]\nurl = \"{}\"\nnamespace = \"counters\"\n",
        server.url()
    );
    std::fs::write(&policy, text).unwrap();
    let run = |input: &str| {
        let output = plugbox(&[
            "run",
            "--builtin",
            "host-probe",
            "--policy",
            policy.to_str().unwrap(),
            "--input",
            input,
        ]);
        assert!(output.status.success(), "{input}: {}", stderr(&output));
        stdout(&output)
    };
    assert_eq!(run("inc hits 1"), "1\n");
    assert_eq!(run("inc hits 2"), "3\n");
    assert_eq!(run("get hits"), "3\n");
    // Redis down: the plugin is told, and answers.
    server.kill();
    assert_eq!(
        run("get hits"),
        "error: Error::Unavailable(\"redis: connection refused\")\n"
    );
}

#[test]
fn a_kv_url_the_cli_has_no_backend_for_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run = |url: &str| {
        let policy = dir.path().join("policy.toml");
        std::fs::write(&policy, format!("[kv]\nurl = \"{url}\"\n")).unwrap();
        plugbox(&[
            "run",
            "--builtin",
            "host-probe",
            "--policy",
            policy.to_str().unwrap(),
            "--input",
            "get k",
        ])
    };
    assert_one_line_failure(
        &run("memcached://127.0.0.1:11211"),
        1,
        "policy.toml:2: kv.url: this engine's key-value backend does not serve \
         `memcached://127.0.0.1:11211`",
    );
    let tls = run("rediss://user:secret@127.0.0.1:6379/0");
    assert_one_line_failure(
        &tls,
        1,
        "policy.toml: kv.url: `rediss://…@127.0.0.1:6379/0` is not a Redis url this build can use",
    );
    assert!(!stderr(&tls).contains("secret"), "{}", stderr(&tls));
}
