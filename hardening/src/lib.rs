//! How plugbox is attacked on purpose, as code other crates run:
//!
//! - [`fuzz`]: the entry points the `cargo fuzz` targets (`fuzz/`) and the
//!   stable smoke test (`tests/all/fuzz_smoke.rs`) share;
//! - [`soak`]: a long run of good and hostile calls over many tenants that
//!   checks every answer and that memory comes back (the `soak` binary, and
//!   `tests/all/soak.rs`).
#![warn(missing_docs)]

pub mod fuzz;
pub mod soak;
