//! Instantiation and call costs of plugbox, with the real `hello` and `fib`
//! plugins:
//!
//! - `instantiate/<allocator>/hello`: a fresh instance from the pre-linked
//!   plugin (`InstancePre`), dropped again (the slot goes back to the pool);
//! - `instantiate+call/<allocator>/hello`: the same plus the first call
//!   (`"hello, plugbox"` → `"HELLO, PLUGBOX"`): the cost of a new tenant's
//!   first answer;
//! - `instantiate+call/pooling/hello-std`: the same logic built with Rust's
//!   `std` (so importing WASI and getting a WASI context): the price of `std`;
//! - `keep-resident/<bytes>/hello`: instantiate + first call with pooled
//!   slots keeping that many bytes resident between tenants;
//! - `warm-call/pooling/hello`: one call on a live instance (every answer
//!   checked: compared in the timed loop, asserted after it);
//! - `warm-call/pooling/fib-20`: a CPU-bound call (naive fib(20));
//! - `warm-call/pooling-async/hello`: `call_async` on a live instance, driven
//!   by a current-thread tokio runtime's `block_on` (included in the time);
//! - `warm-call/pooling-cm-async/hello` and `warm-call/pooling-cm-async-async/hello`:
//!   the same sync and async calls on an engine with component-model async
//!   on (`EngineBuilder::component_model_async(true)`): what hosting async
//!   components costs the sync plugins of the same engine;
//! - `warm-call/pooling-prometheus/hello`: the warm call with a Prometheus
//!   recorder installed (`plugbox::telemetry`), against `pooling/hello`
//!   without one; `pooling-prometheus-no-histograms/hello` the same on an
//!   engine with `call_histograms(false)` (counters and gauges only).
//!
//! Run with `cargo bench -p plugbox-benches`. `RUST_BACKTRACE` is recorded
//! and unset before anything runs: it makes error paths that capture
//! backtraces several times slower and would skew any error-path bench.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion};
use plugbox::{Allocator, Engine, Plugin};
use plugbox_benches::timed_calls;

const INPUT: &[u8] = b"hello, plugbox";

fn engine(allocator: Allocator) -> Engine {
    Engine::builder()
        .allocator(allocator)
        .build()
        .expect("engine")
}

fn allocators() -> [(&'static str, Allocator); 2] {
    [
        ("on-demand", Allocator::OnDemand),
        ("pooling", Allocator::Pooling { capacity: 1_000 }),
    ]
}

fn instantiate(c: &mut Criterion) {
    let mut group = c.benchmark_group("instantiate");
    for (name, allocator) in allocators() {
        let engine = engine(allocator);
        let hello = Plugin::new(&engine, plugbox_artifacts::HELLO.bytes).expect("hello loads");
        group.bench_function(BenchmarkId::new(name, "hello"), |b| {
            b.iter(|| black_box(hello.instantiate().expect("instantiate")));
        });
    }
    group.finish();
}

fn instantiate_and_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("instantiate+call");
    for (name, allocator) in allocators() {
        let engine = engine(allocator);
        let hello = Plugin::new(&engine, plugbox_artifacts::HELLO.bytes).expect("hello loads");
        group.bench_function(BenchmarkId::new(name, "hello"), |b| {
            b.iter(|| first_call(&hello));
        });
        if let Allocator::Pooling { .. } = allocator {
            let hello_std =
                Plugin::new(&engine, plugbox_artifacts::HELLO_STD.bytes).expect("hello-std loads");
            group.bench_function(BenchmarkId::new(name, "hello-std"), |b| {
                b.iter(|| first_call(&hello_std));
            });
        }
    }
    group.finish();
}

/// A fresh instance and its first answer; the instance is dropped (its slot
/// returned) inside the measurement.
fn first_call(plugin: &Plugin) {
    let mut instance = plugin.instantiate().expect("instantiate");
    let response = instance.call(black_box(INPUT)).expect("call");
    assert_eq!(response.output, b"HELLO, PLUGBOX");
}

fn keep_resident(c: &mut Criterion) {
    let mut group = c.benchmark_group("keep-resident");
    for (name, bytes) in [("0", 0), ("64KiB", 64 << 10), ("256KiB", 256 << 10)] {
        let engine = Engine::builder()
            .keep_resident_bytes(bytes)
            .build()
            .expect("engine");
        let hello = Plugin::new(&engine, plugbox_artifacts::HELLO.bytes).expect("hello loads");
        group.bench_function(BenchmarkId::new(name, "hello"), |b| {
            b.iter(|| first_call(&hello));
        });
    }
    group.finish();
}

fn warm_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("warm-call");
    let engine = engine(Allocator::Pooling { capacity: 1_000 });
    let hello = Plugin::new(&engine, plugbox_artifacts::HELLO.bytes).expect("hello loads");
    let mut instance = hello.instantiate().expect("instantiate");
    group.bench_function(BenchmarkId::new("pooling", "hello"), |b| {
        b.iter_custom(|iterations| {
            timed_calls(iterations, b"HELLO, PLUGBOX", || {
                instance.call(black_box(INPUT)).expect("call").output
            })
        });
    });
    let fib = Plugin::new(&engine, plugbox_artifacts::FIB.bytes).expect("fib loads");
    let mut instance = fib.instantiate().expect("instantiate");
    group.bench_function(BenchmarkId::new("pooling", "fib-20"), |b| {
        b.iter_custom(|iterations| {
            timed_calls(iterations, b"6765", || {
                instance.call(black_box(b"20")).expect("call").output
            })
        });
    });
    let mut instance = hello.instantiate().expect("instantiate");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    group.bench_function(BenchmarkId::new("pooling-async", "hello"), |b| {
        b.iter_custom(|iterations| {
            timed_calls(iterations, b"HELLO, PLUGBOX", || {
                runtime
                    .block_on(instance.call_async(black_box(INPUT)))
                    .expect("call")
                    .output
            })
        });
    });
    // The same plugin on an engine that also hosts async components.
    let cm_async = Engine::builder()
        .allocator(Allocator::Pooling { capacity: 1_000 })
        .component_model_async(true)
        .build()
        .expect("engine");
    let hello = Plugin::new(&cm_async, plugbox_artifacts::HELLO.bytes).expect("hello loads");
    let mut instance = hello.instantiate().expect("instantiate");
    group.bench_function(BenchmarkId::new("pooling-cm-async", "hello"), |b| {
        b.iter_custom(|iterations| {
            timed_calls(iterations, b"HELLO, PLUGBOX", || {
                instance.call(black_box(INPUT)).expect("call").output
            })
        });
    });
    group.bench_function(BenchmarkId::new("pooling-cm-async-async", "hello"), |b| {
        b.iter_custom(|iterations| {
            timed_calls(iterations, b"HELLO, PLUGBOX", || {
                runtime
                    .block_on(instance.call_async(black_box(INPUT)))
                    .expect("call")
                    .output
            })
        });
    });
    group.finish();
}

/// `warm-call/pooling-prometheus/hello`: the warm call with metrics-rs's
/// Prometheus recorder installed (for this thread) before the plugin loads,
/// so every call records its outcome, time and fuel; beside
/// `warm-call/pooling/hello`, where no recorder is installed.
fn warm_call_with_metrics(c: &mut Criterion) {
    let mut group = c.benchmark_group("warm-call");
    let engine = engine(Allocator::Pooling { capacity: 1_000 });
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        let hello = Plugin::new(&engine, plugbox_artifacts::HELLO.bytes).expect("hello loads");
        let mut instance = hello.instantiate().expect("instantiate");
        group.bench_function(BenchmarkId::new("pooling-prometheus", "hello"), |b| {
            b.iter_custom(|iterations| {
                timed_calls(iterations, b"HELLO, PLUGBOX", || {
                    instance.call(black_box(INPUT)).expect("call").output
                })
            });
        });
        // Counters and gauges only (`EngineBuilder::call_histograms(false)`).
        let counters_only = Engine::builder()
            .allocator(Allocator::Pooling { capacity: 1_000 })
            .call_histograms(false)
            .build()
            .expect("engine");
        let hello =
            Plugin::new(&counters_only, plugbox_artifacts::HELLO.bytes).expect("hello loads");
        let mut instance = hello.instantiate().expect("instantiate");
        group.bench_function(
            BenchmarkId::new("pooling-prometheus-no-histograms", "hello"),
            |b| {
                b.iter_custom(|iterations| {
                    timed_calls(iterations, b"HELLO, PLUGBOX", || {
                        instance.call(black_box(INPUT)).expect("call").output
                    })
                });
            },
        );
    });
    group.finish();
    // The recorder saw the calls: the bench measured what it says.
    let scraped = handle.render();
    let counted = scraped
        .lines()
        .find(|line| line.starts_with("plugbox_calls_total{") && line.contains("outcome=\"ok\""))
        .and_then(|line| line.rsplit_once(' '))
        .and_then(|(_, value)| value.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(counted > 0.0, "no call was recorded:\n{scraped}");
}

fn main() {
    plugbox_benches::record_and_unset_backtrace();
    let mut criterion = Criterion::default().configure_from_args();
    instantiate(&mut criterion);
    instantiate_and_call(&mut criterion);
    keep_resident(&mut criterion);
    warm_call(&mut criterion);
    warm_call_with_metrics(&mut criterion);
    criterion.final_summary();
}
