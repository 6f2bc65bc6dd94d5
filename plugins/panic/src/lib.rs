//! `panic` (hostile): panics on every call, the way a buggy plugin does (an
//! out-of-bounds index here). The panic traps; the host reports a trap with
//! the wasm backtrace, poisons the instance, and keeps serving.
#![cfg_attr(target_arch = "wasm32", no_std)]

use plugbox_guest::prelude::*;

/// Indexes past the end of the input.
#[plugin]
fn index_out_of_bounds(input: &[u8]) -> Vec<u8> {
    vec![nth_byte(input, input.len() + 1)]
}

#[inline(never)]
fn nth_byte(bytes: &[u8], index: usize) -> u8 {
    bytes[core::hint::black_box(index)]
}
