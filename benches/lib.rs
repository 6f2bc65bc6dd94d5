//! Benchmarks live in `instantiate.rs` (run `cargo bench -p plugbox-benches`).
