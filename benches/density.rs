//! The pieces of the density comparison (`plugbox density`), as criterion
//! benchmarks:
//!
//! - `spawn/<level>/hello`: a baseline tenant's cold start: start a worker
//!   at that isolation level and get its first answer (stopping it is
//!   outside the timed region);
//! - `overhead/<variant>/fib-20`: one naive fib(20) call natively in
//!   process, on plain wasmtime without fuel, with fuel, with epochs, with
//!   both, and through plugbox (fuel + epochs + limits); the epoch variants
//!   with a ticker thread at plugbox's tick, as plugbox has;
//! - `peer/<host>/hello-first-call` and `peer/<host>/hello-warm-call`: a new
//!   tenant's first answer, and a call on a live tenant, for plugbox
//!   (pooling) and for the Extism host on the same logic (with
//!   `--features extism`; otherwise Extism is left out with a line on stderr).
//!
//! Levels whose runtime is not installed are left out, with a line on
//! stderr. Run with `cargo bench -p plugbox-benches --bench density`;
//! `RUST_BACKTRACE` is recorded, then unset.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use plugbox_baseline::{Isolation, Worker};
use plugbox_benches::timed_calls;
use plugbox_density::compute::RawWasm;

const INPUT: &[u8] = b"hello, plugbox";
const DEADLINE: Duration = Duration::from_secs(10);

fn spawn(c: &mut Criterion) {
    let twin = plugbox_artifacts::HELLO
        .native
        .expect("hello has a native twin");
    let mut group = c.benchmark_group("spawn");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    for &level in Isolation::ALL {
        if let Err(error) = level.available() {
            eprintln!("spawn/{}: skipped: {error}", level.name());
            continue;
        }
        group.bench_function(BenchmarkId::new(level.name(), "hello"), |b| {
            b.iter_custom(|iterations| {
                let mut timed = Duration::ZERO;
                for _ in 0..iterations {
                    let start = Instant::now();
                    let mut worker = Worker::start(level, twin).expect("start");
                    let output = worker.call(INPUT, DEADLINE).expect("first call");
                    timed += start.elapsed();
                    assert_eq!(output, b"HELLO, PLUGBOX");
                    worker.stop().expect("stop");
                }
                timed
            });
        });
    }
    group.finish();
}

fn overhead(c: &mut Criterion) {
    let input = b"20";
    let fib = plugbox_artifacts::FIB.bytes;
    let mut group = c.benchmark_group("overhead");
    let expected = b"6765";
    group.bench_function(BenchmarkId::new("native", "fib-20"), |b| {
        b.iter_custom(|iterations| {
            timed_calls(iterations, expected, || {
                plugbox_plugin_fib::__plugbox_handle(black_box(input)).expect("fib")
            })
        });
    });
    let engine = plugbox::Engine::new().expect("engine");
    // The epoch variants tick as plugbox does: a ticker thread at its tick.
    let tick = engine.epoch_tick();
    for (variant, fuel, epochs) in [
        ("wasm", false, None),
        ("wasm+fuel", true, None),
        ("wasm+epochs", false, Some(tick)),
        ("wasm+fuel+epochs", true, Some(tick)),
    ] {
        let mut wasm = RawWasm::new(fib, fuel, epochs).expect("wasm");
        group.bench_function(BenchmarkId::new(variant, "fib-20"), |b| {
            b.iter_custom(|iterations| {
                timed_calls(iterations, expected, || {
                    wasm.call(black_box(input)).expect("call")
                })
            });
        });
    }
    let plugin = plugbox::Plugin::new(&engine, fib).expect("plugin");
    let mut instance = plugin.instantiate().expect("instance");
    group.bench_function(BenchmarkId::new("plugbox", "fib-20"), |b| {
        b.iter_custom(|iterations| {
            timed_calls(iterations, expected, || {
                instance.call(black_box(input)).expect("call").output
            })
        });
    });
    group.finish();
}

fn main() {
    plugbox_benches::record_and_unset_backtrace();
    let mut criterion = Criterion::default().configure_from_args();
    spawn(&mut criterion);
    overhead(&mut criterion);
    peers(&mut criterion);
    criterion.final_summary();
}

/// plugbox and the peer Wasm host through the density harness's own fleets
/// (the code `plugbox density` measures): compilation and stopping are
/// outside the timed region.
fn peers(c: &mut Criterion) {
    const CHUNK: u64 = 1_000;
    let mut group = c.benchmark_group("peer");
    // The Rust `hello`, compiled afresh (no cache), as before `--workload`.
    let setup = plugbox_density::Setup {
        workload: plugbox_density::Workload::Rust,
        cache_dir: None,
    };
    for method in plugbox_density::Method::all()
        .into_iter()
        .filter(|method| ["plugbox-pooling", "extism"].contains(&method.name))
    {
        if let Err(why) = method.available(&setup) {
            eprintln!("peer/{}: skipped: {why}", method.name);
            continue;
        }
        group.bench_function(BenchmarkId::new(method.name, "hello-first-call"), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let chunk = left.min(CHUNK);
                    let mut fleet = method.fleet(chunk as usize, &setup).expect("set up");
                    timed += timed_calls(chunk, b"HELLO, PLUGBOX", || {
                        fleet.start_tenant(INPUT).expect("first call")
                    });
                    fleet.stop_all().expect("stop");
                    left -= chunk;
                }
                timed
            });
        });
        let mut fleet = method.fleet(1, &setup).expect("set up");
        fleet.start_tenant(INPUT).expect("first call");
        group.bench_function(BenchmarkId::new(method.name, "hello-warm-call"), |b| {
            b.iter_custom(|iterations| {
                timed_calls(iterations, b"HELLO, PLUGBOX", || {
                    fleet.call(0, INPUT).expect("call")
                })
            });
        });
    }
    group.finish();
}
