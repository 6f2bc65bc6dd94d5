//! `hello`: the smallest useful plugin. It returns its input in upper case.
#![cfg_attr(target_arch = "wasm32", no_std)]

use plugbox_guest::prelude::*;

/// Upper-cases the request (Unicode-aware).
#[plugin]
fn uppercase(input: &str) -> String {
    input.to_uppercase()
}
