//! `hello-std`: `hello` built with the Rust standard library (the guest SDK's
//! `std` feature), to measure what `std` — and with it WASI — costs a plugin
//! that does not need it. Same logic, same output as `hello`.

use plugbox_guest::prelude::*;

/// Upper-cases the request (Unicode-aware).
#[plugin]
fn uppercase(input: &str) -> String {
    input.to_uppercase()
}
