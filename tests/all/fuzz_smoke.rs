//! The fuzz targets' entry points (`plugbox-hardening`) on stable: a few
//! thousand inputs each, random and mutated from real ones, with a fixed
//! seed so a failure replays. The long runs are `cargo fuzz` (see README).

use std::sync::OnceLock;

use plugbox::ErrorKind;
use plugbox_hardening::fuzz::{Harness, Outcome};

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let bytes = |name| plugbox_artifacts::by_name(name).unwrap().bytes;
        Harness::new(
            bytes("hello"),
            (
                bytes("discount"),
                include_str!("../../plugins/discount/policy.toml"),
            ),
            (
                bytes("http-filter"),
                include_str!("../../plugins/http-filter/policy.toml"),
            ),
        )
        .unwrap()
    })
}

/// xorshift64*: enough randomness for mutations, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }

    /// `seed` with a few random edits: byte flips, insertions, deletions,
    /// truncation, or fully random bytes.
    fn mutate(&mut self, seed: &[u8]) -> Vec<u8> {
        let mut bytes = seed.to_vec();
        match self.below(6) {
            0 => (0..self.below(64)).map(|_| self.next() as u8).collect(),
            1 => {
                bytes.truncate(self.below(bytes.len() + 1));
                bytes
            }
            _ => {
                for _ in 0..=self.below(8) {
                    let at = self.below(bytes.len() + 1);
                    match self.below(3) {
                        0 if at < bytes.len() => bytes[at] ^= 1 << self.below(8),
                        1 => bytes.insert(at, self.next() as u8),
                        _ if at < bytes.len() => {
                            bytes.remove(at);
                        }
                        _ => {}
                    }
                }
                bytes
            }
        }
    }
}

#[test]
fn loading_mutated_components_gives_typed_errors() {
    let mut rng = Rng(0x5EED_0001);
    let seeds: Vec<&[u8]> = ["hello", "fib", "hostile"]
        .iter()
        .map(|name| plugbox_artifacts::by_name(name).unwrap().bytes)
        .collect();
    let mut refused = 0;
    let mut not_instantiated = 0;
    let mut called = 0;
    for round in 0..1000 {
        let input = rng.mutate(seeds[round % seeds.len()]);
        // Each step's error kinds are asserted inside.
        match harness().load_component(&input) {
            Outcome::Refused(_) => refused += 1,
            Outcome::NotInstantiated(_) => not_instantiated += 1,
            Outcome::Called(_) => called += 1,
        }
    }
    eprintln!("{refused} refused, {not_instantiated} not instantiated, {called} called");
    // The mutations reach every step: many are refused at load, and some
    // load, instantiate and get called.
    assert!(
        refused >= 100 && called >= 10,
        "{refused} refused, {not_instantiated} not instantiated, {called} called"
    );
    // The seeds themselves load and answer ("fuzz" is not a number for fib
    // nor an attack hostile knows: their own guest errors).
    let guest = Some(ErrorKind::Guest);
    for (name, expected) in [("hello", None), ("fib", guest), ("hostile", guest)] {
        let bytes = plugbox_artifacts::by_name(name).unwrap().bytes;
        assert_eq!(
            harness().load_component(bytes),
            Outcome::Called(expected),
            "{name}"
        );
    }
    // Hostile components take the trap paths (each checked for poisoning
    // inside) and the refused instantiation.
    for name in ["spin", "recurse", "grow", "panic"] {
        let bytes = plugbox_artifacts::by_name(name).unwrap().bytes;
        let outcome = harness().load_component(bytes);
        assert!(
            matches!(outcome, Outcome::Called(Some(kind)) if kind.is_trap()),
            "{name}: {outcome:?}"
        );
    }
    let outcome = harness().load_component(plugbox_artifacts::wat::START_LOOP.bytes);
    assert!(
        matches!(
            outcome,
            Outcome::NotInstantiated(ErrorKind::FuelExhausted | ErrorKind::DeadlineExceeded)
        ),
        "{outcome:?}"
    );
}

#[test]
fn parsing_mutated_policies_gives_typed_errors() {
    let mut rng = Rng(0x5EED_0002);
    let seeds = [
        include_str!("../../plugins/discount/policy.toml"),
        include_str!("../../plugins/http-filter/policy.toml"),
        r#"{"name":"x","limits":{"fuel":10},"env":{"vars":{"A":"b"}},"mounts":[{"host":".","guest":"/d"}]}"#,
    ];
    for round in 0..20_000 {
        plugbox_hardening::fuzz::parse_policy(&rng.mutate(seeds[round % seeds.len()].as_bytes()));
    }
}

#[test]
fn mutated_call_inputs_never_trap_the_real_plugins() {
    let mut rng = Rng(0x5EED_0003);
    let seeds = [
        r#"{"lines":[{"id":"gid://shop/CartLine/1","quantity":3,"price_cents":1999}],"customer":{"tags":["vip"]}}"#,
        r#"{"method":"GET","path":"/orders","headers":[["x-api-key","k1"]],"now_ms":1000}"#,
        "hello, plugbox",
        "",
    ];
    for round in 0..3000 {
        harness().call_plugins(&rng.mutate(seeds[round % seeds.len()].as_bytes()));
    }
}
