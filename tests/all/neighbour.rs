//! The good neighbour of every hostile case: a `hello` tenant on the same
//! engine, calling in a loop on another thread while the attack runs, with
//! every answer checked.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use plugbox::Engine;

use crate::{assert_engine_still_serves, plugin};

/// Runs `attack` while a `hello` tenant on `engine` calls in a loop on
/// another thread, checking every answer; then checks that the engine still
/// serves and that the neighbour made progress (at least 10 correct calls).
pub fn with_good_neighbour<R>(engine: &Engine, attack: impl FnOnce() -> R) -> R {
    let hello = plugin(engine, "hello");
    let done = AtomicBool::new(false);
    let good_calls = AtomicU64::new(0);
    let result = std::thread::scope(|scope| {
        let neighbour = scope.spawn(|| {
            let mut tenant = hello.instantiate().unwrap();
            let mut call = 0u64;
            // At least a few calls, however fast the attack ends.
            while !done.load(Ordering::Relaxed) || call < 10 {
                let input = format!("good call {call}");
                let output = tenant.call(input.as_bytes()).unwrap().output;
                assert_eq!(output, input.to_uppercase().as_bytes());
                call += 1;
                good_calls.store(call, Ordering::Relaxed);
            }
        });
        // Stops the neighbour however the attack ends: a failed assertion
        // inside it must fail the test, not leave the neighbour looping.
        let stop = Stop(&done);
        let result = attack();
        drop(stop);
        neighbour.join().expect("the good tenant never failed");
        result
    });
    assert!(good_calls.load(Ordering::Relaxed) >= 10);
    assert_engine_still_serves(engine);
    result
}

/// Raises its flag when dropped, unwinding included.
struct Stop<'a>(&'a AtomicBool);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
