//! The pieces of the density comparison (`plugbox density`), as criterion
//! benchmarks:
//!
//! - `spawn/<level>/hello`: a baseline tenant's cold start: start a worker
//!   at that isolation level and get its first answer (stopping it is
//!   outside the timed region);
//! - `overhead/<variant>/fib-20`: one naive fib(20) call natively in
//!   process, on plain wasmtime without fuel, with fuel, with epochs, with
//!   both, and through plugbox (fuel + epochs + limits).
//!
//! Levels whose runtime is not installed are left out, with a line on
//! stderr. Run with `cargo bench -p plugbox-benches --bench density`;
//! `RUST_BACKTRACE` is recorded and should be unset.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use plugbox_baseline::{Isolation, Worker};
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
    group.bench_function(BenchmarkId::new("native", "fib-20"), |b| {
        b.iter(|| plugbox_plugin_fib::__plugbox_handle(black_box(input)));
    });
    for (variant, fuel, epochs) in [
        ("wasm", false, false),
        ("wasm+fuel", true, false),
        ("wasm+epochs", false, true),
        ("wasm+fuel+epochs", true, true),
    ] {
        let mut wasm = RawWasm::new(fib, fuel, epochs).expect("wasm");
        group.bench_function(BenchmarkId::new(variant, "fib-20"), |b| {
            b.iter(|| wasm.call(black_box(input)).expect("call"));
        });
    }
    let engine = plugbox::Engine::new().expect("engine");
    let plugin = plugbox::Plugin::new(&engine, fib).expect("plugin");
    let mut instance = plugin.instantiate().expect("instance");
    group.bench_function(BenchmarkId::new("plugbox", "fib-20"), |b| {
        b.iter(|| instance.call(black_box(input)).expect("call"));
    });
    group.finish();
}

fn main() {
    eprintln!(
        "RUST_BACKTRACE={}",
        std::env::var("RUST_BACKTRACE").unwrap_or_else(|_| "(unset)".into())
    );
    let mut criterion = Criterion::default().configure_from_args();
    spawn(&mut criterion);
    overhead(&mut criterion);
    criterion.final_summary();
}
