//! The soak run (`plugbox_hardening::soak`): a short one in every test run,
//! the full one (1,000,000 calls over 1,000 tenants) on demand with
//! `cargo test --release -p plugbox-tests --test all soak -- --ignored`.

use plugbox_hardening::soak::{Config, Plugins, Report, run};

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

#[test]
fn a_short_soak_answers_every_call_right() {
    soak(&Config {
        calls: 20_000,
        tenants: 100,
        ..Config::default()
    });
}

#[test]
#[ignore = "the full soak: about a minute on 2 cores"]
fn a_million_calls_over_a_thousand_tenants_leak_nothing() {
    let report = soak(&Config::default());
    assert!(
        report.rss_growth() <= 1.10,
        "resident memory grew {:.1} % after warm-up: {report:?}",
        (report.rss_growth() - 1.0) * 100.0
    );
}
