//! `grow` (hostile): allocates without bound. The host's memory limit must
//! stop it; the allocator's failure then traps.
#![cfg_attr(target_arch = "wasm32", no_std)]

use plugbox_guest::prelude::*;

/// Keeps allocating (and touching) 1 MiB blocks until memory runs out.
#[plugin]
fn grow(_input: &[u8]) -> Vec<u8> {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        let block = vec![0x5a_u8; 1 << 20];
        blocks.push(core::hint::black_box(block));
    }
}
