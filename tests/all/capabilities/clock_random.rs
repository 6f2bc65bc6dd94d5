//! Clocks and randomness: real by default, fixed and seeded on request, so
//! that a call can be replayed bit for bit.

use super::{ask, probe};

const REPLAYABLE: &str = r#"
[clock]
mode = "fixed"
unix_seconds = 1700000000
[random]
mode = "seeded"
seed = 42
"#;

#[test]
fn deterministic_policy_replays_bit_for_bit() {
    let engine = crate::engine();
    let mut first = probe(&engine, REPLAYABLE);
    let mut second = probe(&engine, REPLAYABLE);
    assert_eq!(ask(&mut first, "now"), "1700000000.000000000");
    assert_eq!(ask(&mut second, "now"), "1700000000.000000000");
    let random = ask(&mut first, "random");
    assert_eq!(random, ask(&mut second, "random"), "same seed, same values");
    // Another seed gives other values.
    let mut other = probe(&engine, &REPLAYABLE.replace("seed = 42", "seed = 43"));
    assert_ne!(ask(&mut other, "random"), random);
}

#[test]
fn real_clock_and_randomness_by_default() {
    let engine = crate::engine();
    let mut first = probe(&engine, "");
    let mut second = probe(&engine, "");
    let now: f64 = ask(&mut first, "now").parse().unwrap();
    let host = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - host).abs() < 60.0, "guest {now}, host {host}");
    assert_ne!(
        ask(&mut first, "random"),
        ask(&mut second, "random"),
        "fresh randomness per instance"
    );
}
