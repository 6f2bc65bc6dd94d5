//! The soak run (`plugbox_hardening::soak`): a bounded one with its leak
//! check in every test run (a few seconds), the full one (1,000,000 calls
//! over 1,000 tenants) on demand with `cargo test --release -p plugbox-tests
//! --test all soak -- --ignored`.

use std::time::Duration;

use plugbox_hardening::soak::{Config, Plugins, Report, run};

/// Resident memory may grow this much after warm-up (1.10: 10 %).
const MAX_GROWTH: f64 = 1.10;

fn soak(config: &Config) -> Report {
    let bytes = |name| plugbox_artifacts::by_name(name).unwrap().bytes;
    let plugins = Plugins {
        hello: bytes("hello"),
        hostile: bytes("hostile"),
        spin: bytes("spin"),
        grow: bytes("grow"),
        recurse: bytes("recurse"),
    };
    let report = run(&plugins, config).unwrap();
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    assert!(!report.timed_out, "{report:?}");
    assert_eq!(report.calls, config.calls);
    assert_eq!(report.hostile_calls(), config.calls / config.hostile_every);
    report
}

/// Set in the child process of [`a_bounded_soak_answers_every_call_right_and_leaks_nothing`].
const SOAK_CHILD: &str = "PLUGBOX_TEST_SOAK_CHILD";

#[test]
fn a_bounded_soak_answers_every_call_right_and_leaks_nothing() {
    // Resident memory is the whole process's: the soak runs in a child
    // process of its own, so that the tests running beside it in this one
    // do not move it.
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "soak::bounded_soak_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SOAK_CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("leak check passed"), "{stdout}");
}

#[test]
#[ignore = "a child process of a_bounded_soak_answers_every_call_right_and_leaks_nothing"]
fn bounded_soak_child() {
    if std::env::var_os(SOAK_CHILD).is_none() {
        return;
    }
    // A few seconds on 2 cores: every attack runs 800 times, the first
    // tenth of the calls is the warm-up.
    let report = soak(&Config {
        calls: 80_000,
        tenants: 200,
        max_duration: Duration::from_secs(120),
        ..Config::default()
    });
    let growth = report.check_memory(MAX_GROWTH);
    println!(
        "{} calls in {:?}, resident memory {:?} KiB after warm-up, {:?} KiB at the end",
        report.calls, report.elapsed, report.rss_after_warm_up_kib, report.rss_end_kib
    );
    assert!(growth.is_ok(), "{growth:?}: {report:?}");
    println!("leak check passed");
}

#[test]
fn a_soak_whose_memory_cannot_be_read_fails_its_leak_check() {
    let report = soak(&Config {
        calls: 2_000,
        tenants: 10,
        statm: "/nonexistent/statm".into(),
        ..Config::default()
    });
    let error = report.check_memory(MAX_GROWTH).unwrap_err();
    assert!(error.contains("/nonexistent/statm"), "{error}");
}

#[test]
#[ignore = "the full soak: about a minute on 2 cores"]
fn a_million_calls_over_a_thousand_tenants_leak_nothing() {
    let report = soak(&Config::default());
    let growth = report.check_memory(MAX_GROWTH);
    assert!(growth.is_ok(), "{growth:?}: {report:?}");
}
