//! Benchmarks live in `instantiate.rs` and `density.rs` (run `cargo bench -p
//! plugbox-benches`); this library holds what both share.

/// Records `RUST_BACKTRACE` on stderr, then unsets it (and
/// `RUST_LIB_BACKTRACE`) for the rest of the run: a set variable makes every
/// error capture a backtrace, which can triple the cost of error paths.
///
/// Call it first in `main`, before any thread starts.
pub fn record_and_unset_backtrace() {
    let recorded = std::env::var("RUST_BACKTRACE").ok();
    eprintln!(
        "RUST_BACKTRACE was {}; benchmarks run with it unset",
        recorded
            .as_deref()
            .map_or("unset".to_string(), |v| format!("`{v}`"))
    );
    // SAFETY: called first in `main`, so no other thread reads the
    // environment yet.
    unsafe {
        std::env::remove_var("RUST_BACKTRACE");
        std::env::remove_var("RUST_LIB_BACKTRACE");
    }
}

/// Times `iterations` calls of `call` (criterion's `iter_custom`), checking
/// every answer against `expected`: compared inside the loop (a few
/// nanoseconds each), asserted once after it, so that a bench of wrong
/// answers fails instead of timing them. `debug_assert` would be compiled
/// out of a bench.
///
/// # Panics
///
/// If any answer differs from `expected`.
pub fn timed_calls<O: AsRef<[u8]>>(
    iterations: u64,
    expected: &[u8],
    mut call: impl FnMut() -> O,
) -> std::time::Duration {
    let mut wrong = 0u64;
    let mut last_wrong = None;
    let start = std::time::Instant::now();
    for _ in 0..iterations {
        let output = std::hint::black_box(call());
        if output.as_ref() != expected {
            wrong += 1;
            last_wrong = Some(output.as_ref().to_vec());
        }
    }
    let elapsed = start.elapsed();
    assert!(
        wrong == 0,
        "{wrong} of {iterations} answers were not {:?} (one was {:?})",
        String::from_utf8_lossy(expected),
        last_wrong.map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    );
    elapsed
}
