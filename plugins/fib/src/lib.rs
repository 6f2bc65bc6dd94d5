//! `fib`: CPU-bound work for measuring compute overhead. The input is `n` in
//! decimal; the output is the `n`-th Fibonacci number (wrapping at 2^64),
//! computed by naive double recursion, so the cost grows as φ^n.
#![cfg_attr(target_arch = "wasm32", no_std)]

use plugbox_guest::prelude::*;

/// Parses `n` and returns `fib(n)` in decimal.
#[plugin]
fn fibonacci(input: &str) -> Result<String, Error> {
    let n: u32 = input
        .trim()
        .parse()
        .map_err(|_| Error::new(format!("expected a number, got {input:?}")))?;
    Ok(fib(n).to_string())
}

fn fib(n: u32) -> u64 {
    if n < 2 {
        u64::from(n)
    } else {
        fib(n - 1).wrapping_add(fib(n - 2))
    }
}
