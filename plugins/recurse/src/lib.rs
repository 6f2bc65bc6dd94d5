//! `recurse` (hostile): recurses without bound. The host's wasm stack limit
//! must stop it.
#![cfg_attr(target_arch = "wasm32", no_std)]

use plugbox_guest::prelude::*;

/// Recurses until the stack overflows.
#[plugin]
fn recurse(input: &[u8]) -> String {
    descend(input.len() as u64 + 1).to_string()
}

/// Not a tail call (the result is combined after the call returns), and the
/// depth never reaches the base case: every call adds a frame to the wasm
/// stack. Nothing here touches linear memory (no `black_box`, which would
/// spill to the shadow stack), so it is the wasm stack that overflows.
#[inline(never)]
fn descend(depth: u64) -> u64 {
    if depth == 0 {
        return 0;
    }
    let below = descend(depth.wrapping_add(1));
    below.wrapping_mul(31).wrapping_add(depth)
}
