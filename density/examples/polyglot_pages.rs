//! Where a polyglot Wasm tenant's cold start and memory go:
//! `cargo run --release -p plugbox-density --example polyglot_pages --
//! python|js [N] [CACHE_DIR] [SLOT_MIB]`.
//!
//! Starts N tenants of the workload's `hello` component on a pooling engine
//! (defaults, as `plugbox density` sets it up) and keeps them live. Prints,
//! per tenant (medians): the time to instantiate, the first call and a warm
//! call; the minor page faults of each (`getrusage`: each is a 4 KiB page
//! the tenant touched for the first time, copied from the memory image or
//! zero-filled); and the growth of this process's private dirty memory and
//! of its anonymous memory per live tenant (`/proc/self/smaps_rollup`).
//! Then it calls one more tenant alone, up to 50,000 times, and says how
//! many calls it answered before its first failure (a guest whose heap
//! grows per call meets its memory limit: 16 MiB by default, `SLOT_MIB` for
//! a memory slot and limit of another size).

use std::time::Instant;

use plugbox::{Allocator, Engine, Plugin};
use plugbox_density::Workload;

fn minor_faults() -> i64 {
    // SAFETY: a zeroed rusage is a valid out-parameter.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer; RUSAGE_THREAD counts this thread only.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    usage.ru_minflt
}

/// `Private_Dirty` and `Anonymous` of this process, KiB.
fn rollup() -> (f64, f64) {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0)
    };
    (field("Private_Dirty:"), field("Anonymous:"))
}

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples.get(samples.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let workload = Workload::parse(&args.next().unwrap_or_else(|| "python".into()))?;
    let n: usize = match args.next() {
        Some(arg) => arg.parse().map_err(|_| format!("not a count: {arg}"))?,
        None => 100,
    };
    let capacity = u32::try_from(n.max(1) + 1).map_err(|e| e.to_string())?;
    let mut builder = Engine::builder().allocator(Allocator::Pooling { capacity });
    if let Some(dir) = args.next() {
        builder = builder.cache_dir(dir);
    }
    let slot: Option<usize> = match args.next() {
        Some(mib) => Some(
            mib.parse::<usize>()
                .map_err(|_| format!("not a size in MiB: {mib}"))?
                << 20,
        ),
        None => None,
    };
    if let Some(bytes) = slot {
        builder = builder.memory_slot_bytes(bytes);
    }
    let engine = builder.build().map_err(|e| e.to_string())?;
    let mut plugin = Plugin::new(&engine, &workload.component()?).map_err(|e| e.to_string())?;
    if let Some(bytes) = slot {
        // The instances' memory limit up to the slot.
        plugin = plugin.with_limits(plugin.limits().max_memory_bytes(bytes));
    }
    let mut live = Vec::with_capacity(n);
    let (mut instantiate, mut first, mut warm) = (Vec::new(), Vec::new(), Vec::new());
    let (mut instantiate_faults, mut first_faults, mut warm_faults) =
        (Vec::new(), Vec::new(), Vec::new());
    let (dirty_before, anon_before) = rollup();
    for _ in 0..n.max(1) {
        let faults = minor_faults();
        let begin = Instant::now();
        let mut instance = plugin.instantiate().map_err(|e| e.to_string())?;
        instantiate.push(begin.elapsed().as_secs_f64() * 1e6);
        let after_instantiate = minor_faults();
        #[allow(clippy::cast_precision_loss)]
        instantiate_faults.push((after_instantiate - faults) as f64);
        for (times, faults) in [
            (&mut first, &mut first_faults),
            (&mut warm, &mut warm_faults),
        ] {
            let before = minor_faults();
            let begin = Instant::now();
            let output = instance
                .call(b"hello, plugbox")
                .map_err(|e| e.to_string())?
                .output;
            times.push(begin.elapsed().as_secs_f64() * 1e6);
            #[allow(clippy::cast_precision_loss)]
            faults.push((minor_faults() - before) as f64);
            if output != b"HELLO, PLUGBOX" {
                return Err("wrong answer".into());
            }
        }
        live.push(instance);
    }
    let (dirty_after, anon_after) = rollup();
    let mut alone = plugin.instantiate().map_err(|e| e.to_string())?;
    let mut answered = 0;
    let mut failure = String::from("none");
    for _ in 0..50_000 {
        match alone.call(b"hello, plugbox") {
            Ok(response) if response.output == b"HELLO, PLUGBOX" => answered += 1,
            Ok(_) => {
                failure = "a wrong answer".into();
                break;
            }
            Err(error) => {
                failure = format!("{:?}: {}", error.kind(), error.message());
                break;
            }
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let per = |before: f64, after: f64| (after - before) / live.len() as f64;
    println!(
        "{} ({} tenants live): medians per tenant\n\
         instantiate  {:8.1} µs  {:6.0} minor faults\n\
         first call   {:8.1} µs  {:6.0} minor faults\n\
         warm call    {:8.1} µs  {:6.0} minor faults\n\
         per live tenant: {:.0} KiB private dirty, {:.0} KiB anonymous\n\
         one tenant called alone: {answered} answers, then {failure}",
        workload.plugin(),
        live.len(),
        median(&mut instantiate),
        median(&mut instantiate_faults),
        median(&mut first),
        median(&mut first_faults),
        median(&mut warm),
        median(&mut warm_faults),
        per(dirty_before, dirty_after),
        per(anon_before, anon_after),
    );
    Ok(())
}
