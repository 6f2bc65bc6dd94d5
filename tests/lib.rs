//! End-to-end tests live in `all/` (run `cargo test -p plugbox-tests`);
//! this library holds what other crates' tests share with them.

pub mod redis_server;
