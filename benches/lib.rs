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
