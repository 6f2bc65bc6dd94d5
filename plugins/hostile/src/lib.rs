//! `hostile`: one plugin, many attacks, picked by the request (`<attack>
//! [argument]`). Each is what a buggy or malicious guest really does; the
//! host must answer each with its typed error and keep serving everyone
//! else. `ok` answers `ok`, to show the same plugin is served normally.
//!
//! Two attacks aim at the people reading what the host prints and logs:
//! `err TEXT` returns TEXT as its error (escape sequences, forged lines,
//! bidi overrides: whatever the request holds), and `nul-flood BYTES`
//! returns an error of BYTES NUL bytes.
#![cfg_attr(target_arch = "wasm32", no_std)]

use core::hint::black_box;

use plugbox_guest::prelude::*;

/// Runs the attack the request names.
#[plugin]
fn attack(input: &str) -> Result<Vec<u8>, String> {
    let (attack, argument) = input.split_once(' ').unwrap_or((input, ""));
    match attack {
        "ok" => Ok(b"ok".to_vec()),
        "unreachable" => trap_unreachable(),
        "divide-by-zero" => Ok(divide(1, 0).to_le_bytes().to_vec()),
        "out-of-bounds" => Ok(vec![read_far_out_of_bounds()]),
        "allocation-storm" => Ok(allocation_storm().to_le_bytes().to_vec()),
        "log-loop" => log_loop(),
        "host-recursion" => Ok(host_recursion(1).to_le_bytes().to_vec()),
        "big-output" => {
            let bytes: usize = argument.parse().map_err(|_| "big-output BYTES")?;
            Ok(vec![b'x'; bytes])
        }
        "err" => Err(argument.into()),
        "nul-flood" => {
            let bytes: usize = argument.parse().map_err(|_| "nul-flood BYTES")?;
            Err("\0".repeat(bytes))
        }
        other => Err(format!("unknown attack `{other}`")),
    }
}

/// The `unreachable` instruction.
#[inline(never)]
fn trap_unreachable() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    unreachable!("the unreachable attack")
}

/// A wasm `i32.div_u` by a zero only known at run time, as a C guest's
/// division compiles. Rust checks a divisor before dividing (and panics),
/// so the check is promised away: the promise is false, which is undefined
/// behaviour in Rust and here the attack. The optimizer drops the check and
/// emits the bare division, which wasm defines to trap with "integer divide
/// by zero" (the test pins that exact trap, so a change in code generation
/// fails it rather than passing as a panic). Natively, it stays a checked
/// division.
#[inline(never)]
fn divide(dividend: u32, divisor: u32) -> u32 {
    // Both unknown to the optimizer (a known dividend of 1 turns `1 / d`
    // into `d == 1`, with no division left).
    let (dividend, divisor) = (black_box(dividend), black_box(divisor));
    // SAFETY: none on wasm: the attack breaks this promise, and wasm
    // confines the consequence to the instance (it traps).
    #[cfg(target_arch = "wasm32")]
    unsafe {
        core::hint::assert_unchecked(divisor != 0);
    }
    dividend / divisor
}

/// A load far past the end of linear memory.
#[inline(never)]
fn read_far_out_of_bounds() -> u8 {
    let address = black_box(0xFFFF_FFF0usize) as *const u8;
    // SAFETY: none; this is the attack. Wasm bounds-checks it and traps.
    #[cfg(target_arch = "wasm32")]
    return unsafe { core::ptr::read_volatile(address) };
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = address;
        unreachable!("the out-of-bounds attack only runs as wasm")
    }
}

/// Allocates 64 KiB blocks through the allocator, touching each, until the
/// allocator cannot get more memory.
fn allocation_storm() -> usize {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = vec![0u8; 64 << 10];
        block[black_box(1000)] = 1;
        blocks.push(block);
        if blocks.len() == usize::MAX {
            return blocks.len();
        }
    }
}

/// Calls the host's log in a loop forever: time passes in host calls, not
/// only in wasm.
fn log_loop() -> Result<Vec<u8>, String> {
    let mut count = 0u64;
    loop {
        plugbox_guest::log::info("spam");
        count = black_box(count + 1);
        if count == u64::MAX {
            return Err("unreachable".into());
        }
    }
}

/// Recursion with a host call at every level. The call (a log of a static
/// message) takes its arguments by value, so nothing lands on the guest's
/// linear-memory stack and it is the wasm stack that overflows. (A host call
/// returning a string needs a return area there, and with Rust's small
/// default stack that stack overflows first: an out-of-bounds trap.)
#[inline(never)]
fn host_recursion(depth: u64) -> u64 {
    if depth == 0 {
        return 0; // never: the depth starts at 1 and only grows
    }
    plugbox_guest::log::trace("deeper");
    let below = host_recursion(depth.wrapping_add(1));
    below.wrapping_mul(31).wrapping_add(depth)
}
