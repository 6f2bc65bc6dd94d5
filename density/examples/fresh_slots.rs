//! What a never-used pool slot costs a new tenant, next to a reused one:
//! `cargo run --release -p plugbox-density --example fresh_slots [N]`.
//!
//! Starts N `hello` tenants and keeps them live (each in a slot of its own,
//! as in `plugbox density`), then drops them all and starts N again (each
//! in a slot used before, as in the criterion `instantiate+call` bench).
//! For both it prints the median instantiate + first call, the minor page
//! faults per tenant (`getrusage`) and the memory mappings per live tenant
//! (`/proc/self/maps`). Run it with `strace -f -c` to count the system
//! calls, or under `perf record` to see where the time goes.

use std::time::Instant;

use plugbox::{Allocator, Engine, Instance, Plugin};

fn minor_faults() -> i64 {
    // SAFETY: a zeroed rusage is a valid out-parameter.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer; RUSAGE_THREAD counts this thread only.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    usage.ru_minflt
}

fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps").map_or(0, |maps| maps.lines().count())
}

/// Starts `n` tenants, keeping them live: the median µs of instantiate +
/// first call, faults per tenant and mappings per tenant.
fn start(plugin: &Plugin, n: usize, live: &mut Vec<Instance>) -> Result<(f64, f64, f64), String> {
    let mut micros = Vec::with_capacity(n);
    let (faults, maps) = (minor_faults(), mappings());
    for _ in 0..n {
        let begin = Instant::now();
        let mut instance = plugin.instantiate().map_err(|e| e.to_string())?;
        let output = instance
            .call(b"hello, plugbox")
            .map_err(|e| e.to_string())?
            .output;
        micros.push(begin.elapsed().as_secs_f64() * 1e6);
        if output != b"HELLO, PLUGBOX" {
            return Err("wrong answer".into());
        }
        live.push(instance);
    }
    micros.sort_by(f64::total_cmp);
    #[allow(clippy::cast_precision_loss)]
    let per = |total: f64| total / n as f64;
    #[allow(clippy::cast_precision_loss)]
    Ok((
        micros[n / 2],
        per((minor_faults() - faults) as f64),
        per(mappings() as f64 - maps as f64),
    ))
}

fn main() -> Result<(), String> {
    let n: usize = match std::env::args().nth(1) {
        Some(arg) => arg.parse().map_err(|_| format!("not a count: {arg}"))?,
        None => 1_000,
    };
    let capacity = u32::try_from(n).map_err(|e| e.to_string())?;
    let engine = Engine::builder()
        .allocator(Allocator::Pooling { capacity })
        .build()
        .map_err(|e| e.to_string())?;
    let plugin = Plugin::new(&engine, plugbox_artifacts::HELLO.bytes).map_err(|e| e.to_string())?;
    let mut live = Vec::with_capacity(n);
    let (p50, faults, maps) = start(&plugin, n.max(1), &mut live)?;
    println!(
        "fresh slots:  p50 {p50:6.1} µs, {faults:.2} minor faults and {maps:.2} mappings per tenant"
    );
    live.clear();
    let (p50, faults, _) = start(&plugin, n.max(1), &mut live)?;
    println!("reused slots: p50 {p50:6.1} µs, {faults:.2} minor faults per tenant");
    Ok(())
}
