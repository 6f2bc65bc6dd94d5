//! End-to-end tests live in `all/` (run `cargo test -p plugbox-tests`).
