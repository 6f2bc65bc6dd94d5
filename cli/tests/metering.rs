//! `plugbox run --metering`: the engine meters what the flag says, reports
//! fuel only where it counts it, and refuses a limit it does not meter.

#![allow(clippy::unwrap_used)]

mod common;

use common::{assert_one_line_failure, plugbox, stderr, stdout};

#[test]
fn deadline_only_counts_no_fuel_and_refuses_a_fuel_limit() {
    let output = plugbox(&["run", "--metering", "deadline-only", "--input", "hi"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "HI\n");
    let stats = stderr(&output);
    assert!(stats.starts_with("fuel used: not metered,"), "{stats}");
    let spin = plugbox(&[
        "run",
        "--metering",
        "deadline-only",
        "--builtin",
        "spin",
        "--timeout",
        "50",
    ]);
    assert_one_line_failure(&spin, 1, "deadline exceeded");
    let refused = plugbox(&["run", "--metering", "deadline-only", "--fuel", "1000"]);
    assert_one_line_failure(
        &refused,
        1,
        "Limits::fuel: a fuel limit of 1000 per call is set, but this engine does not meter \
         fuel: it was built with EngineBuilder::metering(Metering::DeadlineOnly)",
    );
}

#[test]
fn fuel_only_enforces_fuel_and_refuses_a_timeout() {
    let spin = plugbox(&[
        "run",
        "--metering",
        "fuel-only",
        "--builtin",
        "spin",
        "--fuel",
        "1000000",
    ]);
    assert_one_line_failure(&spin, 1, "fuel exhausted");
    let refused = plugbox(&["run", "--metering", "fuel-only", "--timeout", "50"]);
    assert_one_line_failure(&refused, 1, "Metering::FuelOnly");
    let output = plugbox(&["run", "--metering", "fuel-only", "--input", "hi"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        !stderr(&output).contains("not metered"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_unknown_metering_is_a_usage_error() {
    let output = plugbox(&["run", "--metering", "sideways"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("unknown metering `sideways`"),
        "{}",
        stderr(&output)
    );
}
