//! The good neighbour of every hostile case: a `hello` tenant on the same
//! engine, calling in a loop on another thread while the attack runs, with
//! every answer checked. Only calls that overlap the attack count: the
//! attack starts after the neighbour's first answer, and the neighbour stops
//! as soon as the attack ends.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use plugbox::Engine;

use crate::{assert_engine_still_serves, plugin};

/// Good calls that must overlap the attack.
pub const OVERLAPPING_CALLS: u64 = 3;

/// How long an attack may be repeated to reach [`OVERLAPPING_CALLS`] (an
/// attack shorter than a call, such as refusing empty bytes, is repeated
/// until enough calls ran during its runs).
const REPEAT_FOR: Duration = Duration::from_secs(20);

/// Runs `attack` (again and again if it is short, so `FnMut`) while a
/// `hello` tenant on `engine` calls in a loop on
/// another thread, checking every answer; requires at least
/// [`OVERLAPPING_CALLS`] correct calls that ran while the attack ran (the
/// attack is run again until there were, each run expected to behave the
/// same); then checks that the engine still serves. Returns what the last
/// run of the attack returned.
pub fn with_good_neighbour<R>(engine: &Engine, mut attack: impl FnMut() -> R) -> R {
    let hello = plugin(engine, "hello");
    let done = AtomicBool::new(false);
    let answered = AtomicBool::new(false);
    // When the latest run of the attack began and ended (ns since `base`;
    // an end before the beginning: it is running).
    let base = Instant::now();
    let run_began = AtomicU64::new(0);
    let run_ended = AtomicU64::new(0);
    let overlapping = AtomicU64::new(0);
    let nanos = |at: Instant| u64::try_from(at.duration_since(base).as_nanos()).unwrap_or(u64::MAX);
    let (result, runs) = std::thread::scope(|scope| {
        let neighbour = scope.spawn(|| {
            let mut tenant = hello.instantiate().unwrap();
            let mut call = 0u64;
            while !done.load(Ordering::SeqCst) {
                let input = format!("good call {call}");
                let began = nanos(Instant::now());
                let output = tenant.call(input.as_bytes()).unwrap().output;
                let ended = nanos(Instant::now());
                assert_eq!(output, input.to_uppercase().as_bytes());
                // The call overlaps the latest run if that run began before
                // the call ended, and had not ended before the call began.
                let (run_began, run_ended) = (
                    run_began.load(Ordering::SeqCst),
                    run_ended.load(Ordering::SeqCst),
                );
                let running = run_ended < run_began;
                if run_began > 0 && run_began < ended && (running || run_ended > began) {
                    overlapping.fetch_add(1, Ordering::SeqCst);
                }
                answered.store(true, Ordering::SeqCst);
                call += 1;
            }
        });
        // Stops the neighbour however the attack ends: a failed assertion
        // inside it must fail the test, not leave the neighbour looping.
        let stop = Stop(&done);
        // The attack starts after the neighbour's first answer.
        while !answered.load(Ordering::SeqCst) {
            assert!(!neighbour.is_finished(), "the good tenant never answered");
            std::thread::yield_now();
        }
        let started = Instant::now();
        let mut runs = 0u32;
        let result = loop {
            run_began.store(nanos(Instant::now()).max(1), Ordering::SeqCst);
            let result = attack();
            run_ended.store(nanos(Instant::now()), Ordering::SeqCst);
            runs += 1;
            if overlapping.load(Ordering::SeqCst) >= OVERLAPPING_CALLS
                || neighbour.is_finished()
                || started.elapsed() > REPEAT_FOR
            {
                break result;
            }
        };
        drop(stop);
        neighbour.join().expect("the good tenant never failed");
        (result, runs)
    });
    let overlapping = overlapping.load(Ordering::SeqCst);
    assert!(
        overlapping >= OVERLAPPING_CALLS,
        "only {overlapping} good calls ran while {runs} runs of the attack ran (in {REPEAT_FOR:?})"
    );
    assert_engine_still_serves(engine);
    result
}

/// Raises its flag when dropped, unwinding included.
struct Stop<'a>(&'a AtomicBool);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}
