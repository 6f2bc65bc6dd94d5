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

/// Every clock and random source a WASI guest can read, one probe each.
const SOURCES: [&str; 5] = [
    "now",
    "monotonic",
    "random",
    "secure-random",
    "insecure-random",
];

/// Three rounds of every source, in order: what one instance sees.
fn readings(instance: &mut plugbox::Instance) -> Vec<String> {
    (0..3)
        .flat_map(|_| SOURCES)
        .map(|source| ask(instance, source))
        .collect()
}

#[test]
fn deterministic_policy_replays_bit_for_bit() {
    let engine = crate::engine();
    let first = readings(&mut probe(&engine, REPLAYABLE));
    let second = readings(&mut probe(&engine, REPLAYABLE));
    // Each source, each round, the same in both instances: the wall clock,
    // the monotonic clock, std's hash seed (insecure seed), and the secure
    // and insecure random streams.
    assert_eq!(first, second, "a replay sees what the first run saw");
    let at = |round: usize, source: &str| {
        let index = SOURCES.iter().position(|s| *s == source).unwrap();
        first[round * SOURCES.len() + index].clone()
    };
    for round in 0..3 {
        assert_eq!(at(round, "now"), "1700000000.000000000");
        assert_eq!(at(round, "monotonic"), "1700000000000000000");
    }
    // The random sources are streams, not constants: each call draws the
    // next value (and the secure and insecure streams differ).
    for source in ["secure-random", "insecure-random"] {
        assert_ne!(at(0, source), at(1, source), "{source}: {first:?}");
        assert_eq!(at(0, source).len(), 16, "{source}: a 64-bit value");
    }
    assert_ne!(at(0, "secure-random"), at(0, "insecure-random"));
    // Another seed gives other values from every random source.
    let other = readings(&mut probe(
        &engine,
        &REPLAYABLE.replace("seed = 42", "seed = 43"),
    ));
    for (index, source) in SOURCES.iter().enumerate() {
        let (ours, theirs) = (&first[index], &other[index]);
        if source.contains("random") {
            assert_ne!(ours, theirs, "{source} with another seed");
        } else {
            assert_eq!(ours, theirs, "{source} does not depend on the seed");
        }
    }
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
    for source in ["random", "secure-random", "insecure-random"] {
        assert_ne!(
            ask(&mut first, source),
            ask(&mut second, source),
            "{source}: fresh randomness per instance"
        );
    }
    // The real monotonic clock moves forward.
    let before: u64 = ask(&mut first, "monotonic").parse().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2));
    let after: u64 = ask(&mut first, "monotonic").parse().unwrap();
    assert!(after >= before + 1_000_000, "{before} then {after}");
}
