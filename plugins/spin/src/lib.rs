//! `spin` (hostile): never returns. The host must stop it with its deadline or
//! its fuel limit.
#![cfg_attr(target_arch = "wasm32", no_std)]

use plugbox_guest::prelude::*;

/// Loops forever, doing work the optimizer cannot remove.
#[plugin]
fn spin(input: &[u8]) -> Vec<u8> {
    let mut state = input.len() as u64;
    loop {
        state = core::hint::black_box(state.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}
