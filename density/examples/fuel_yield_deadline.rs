//! A prototype, measured: holding both guarantees (fuel and the deadline)
//! with fuel's code only, checking the deadline where fuel yields instead
//! of compiling epoch checks in.
//!
//! `cargo run --release -p plugbox-density --example fuel_yield_deadline [ROUNDS]`
//!
//! The prototype runs on a `Metering::FuelOnly` engine: every
//! `call_async` there runs on a fiber that yields every
//! `Metering::FUEL_YIELD_INTERVAL` units of fuel; the prototype wraps that
//! future and, whenever it yields, ends it once the wall-clock deadline has
//! passed (the instance is then poisoned). It prints, side by side:
//!
//! 1. fib(32) per call (medians of ROUNDS interleaved rounds, default 21):
//!    native, plugbox default (fuel + epochs), plugbox deadline only, plugbox
//!    fuel only (sync, on the caller's stack), and the prototype (fuel only,
//!    on a fiber, the deadline checked at every yield);
//! 2. a warm `hello` call on the caller's stack and on a fiber (the
//!    prototype needs every call on one);
//! 3. when the prototype stops a spin loop with a 50 ms deadline, and a
//!    guest polling a slow key-value backend (each `get` takes 1 ms: time
//!    in host calls spends no fuel) with a 100 ms deadline — next to the
//!    default engine's epoch deadline for the same guests.

// A measurement, not a library: a failed call is a bug to see at once.
#![allow(clippy::unwrap_used)]

use std::future::{Future, poll_fn};
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use plugbox::{Allocator, Engine, Instance, KvError, KvStore, Limits, Metering, Plugin, Quota};

/// The prototype: `call`, ended at the first yield after `deadline`.
/// `Err(yields)` if it was ended; `Ok((output, yields))` otherwise.
fn until_deadline<F: Future>(call: F, deadline: Instant) -> Result<(F::Output, u64), u64> {
    let mut call = pin!(call);
    let mut yields = 0;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(poll_fn(|cx| {
        if let Poll::Ready(output) = call.as_mut().poll(cx) {
            return Poll::Ready(Ok((output, yields)));
        }
        yields += 1;
        if Instant::now() >= deadline {
            return Poll::Ready(Err(yields));
        }
        Poll::Pending
    }))
}

fn engine(builder: plugbox::EngineBuilder) -> Engine {
    builder
        .allocator(Allocator::Pooling { capacity: 8 })
        .build()
        .expect("engine")
}

fn instance(engine: &Engine, artifact: plugbox_artifacts::Artifact, limits: Limits) -> Instance {
    Plugin::new(engine, artifact.bytes)
        .expect("plugin")
        .with_limits(limits)
        .instantiate()
        .expect("instance")
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// A backend whose every `get` takes 1 ms.
#[derive(Debug)]
struct Slow;

impl KvStore for Slow {
    fn get(&self, _: &str, _: &str, _: Option<Instant>) -> Result<Option<Vec<u8>>, KvError> {
        std::thread::sleep(Duration::from_millis(1));
        Ok(None)
    }
    fn set(&self, _: &str, _: &str, _: &[u8], _: Quota, _: Option<Instant>) -> Result<(), KvError> {
        Ok(())
    }
    fn delete(&self, _: &str, _: &str, _: Option<Instant>) -> Result<bool, KvError> {
        Ok(false)
    }
    fn increment(
        &self,
        _: &str,
        _: &str,
        _: i64,
        _: Quota,
        _: Option<Instant>,
    ) -> Result<i64, KvError> {
        Ok(0)
    }
}

type Call<'a> = Box<dyn FnMut(&[u8]) -> Vec<u8> + 'a>;

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(21, |text| text.parse().expect("ROUNDS"));
    let fib = plugbox_artifacts::FIB;
    let default = engine(Engine::builder());
    let deadline_only = engine(Engine::builder().metering(Metering::DeadlineOnly));
    let fuel_only = engine(Engine::builder().metering(Metering::FuelOnly));
    let roomy = Limits::default()
        .fuel(u64::MAX)
        .deadline(Duration::from_secs(60));
    let mut both = instance(&default, fib, roomy);
    let mut deadline = instance(
        &deadline_only,
        fib,
        Limits::default().deadline(Duration::from_secs(60)),
    );
    let fuel_limits = Limits::default().fuel(u64::MAX);
    let mut fuel = instance(&fuel_only, fib, fuel_limits);
    let mut prototype = instance(&fuel_only, fib, fuel_limits);
    let mut yields_per_call = 0;
    let input = b"32";
    let expected = plugbox_plugin_fib::__plugbox_handle(input).expect("native fib");
    {
        let mut variants: Vec<(&str, Call<'_>)> = vec![
            (
                "native",
                Box::new(|input| plugbox_plugin_fib::__plugbox_handle(black_box(input)).unwrap()),
            ),
            (
                "plugbox (fuel + epochs)",
                Box::new(|input| both.call(input).unwrap().output),
            ),
            (
                "plugbox deadline only (epochs)",
                Box::new(|input| deadline.call(input).unwrap().output),
            ),
            (
                "plugbox fuel only (sync)",
                Box::new(|input| fuel.call(input).unwrap().output),
            ),
            (
                "prototype: fuel, deadline at fuel yields (fiber)",
                Box::new(|input| {
                    let far = Instant::now() + Duration::from_secs(60);
                    let (response, yields) =
                        until_deadline(prototype.call_async(input), far).expect("in time");
                    yields_per_call = yields;
                    response.unwrap().output
                }),
            ),
        ];
        let mut samples = vec![Vec::new(); variants.len()];
        for round in 0..=rounds {
            for ((name, call), times) in variants.iter_mut().zip(&mut samples) {
                let started = Instant::now();
                let output = call(input);
                let ms = started.elapsed().as_secs_f64() * 1e3;
                assert_eq!(output, expected, "{name}");
                if round > 0 {
                    times.push(ms);
                }
            }
        }
        let native = median(samples[0].clone());
        println!("fib(32), median of {rounds} interleaved rounds:");
        for ((name, _), times) in variants.iter().zip(samples) {
            let ms = median(times);
            println!("  {name:<50} {ms:7.2} ms  {:.2}× native", ms / native);
        }
    }
    println!("  (the prototype yielded {yields_per_call} times per call)");

    // A warm call on the caller's stack and on a fiber.
    let mut sync_hello = instance(&fuel_only, plugbox_artifacts::HELLO, Limits::default());
    let mut fiber_hello = instance(&fuel_only, plugbox_artifacts::HELLO, Limits::default());
    let far = Instant::now() + Duration::from_secs(3600);
    let mut sync_times = Vec::new();
    let mut fiber_times = Vec::new();
    for _ in 0..20_000 {
        let started = Instant::now();
        black_box(sync_hello.call(b"hi").unwrap());
        sync_times.push(started.elapsed().as_secs_f64() * 1e6);
        let started = Instant::now();
        let (response, _) = until_deadline(fiber_hello.call_async(b"hi"), far).unwrap();
        black_box(response.unwrap());
        fiber_times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    println!(
        "warm hello call (median of 20,000): on the caller's stack {:.2} µs, on a fiber {:.2} µs",
        median(sync_times),
        median(fiber_times)
    );

    // Stop latency.
    let spin = plugbox_artifacts::SPIN;
    let mut spinner = instance(&fuel_only, spin, fuel_limits);
    let started = Instant::now();
    let stop = until_deadline(spinner.call_async(b""), started + Duration::from_millis(50));
    let took = started.elapsed();
    println!(
        "spin, 50 ms deadline: prototype stopped it after {took:.1?} ({:?} yields)",
        stop.err()
    );
    let mut spinner = instance(
        &default,
        spin,
        Limits::default().deadline(Duration::from_millis(50)),
    );
    let started = Instant::now();
    let error = spinner.call(b"").unwrap_err();
    println!("  epochs: {} after {:.1?}", error.kind(), started.elapsed());

    let slow_default = engine(Engine::builder().kv_store(Arc::new(Slow)));
    let slow_fuel = engine(
        Engine::builder()
            .metering(Metering::FuelOnly)
            .kv_store(Arc::new(Slow)),
    );
    let probe = |engine: &Engine, policy: &str| {
        let policy = plugbox::Policy::from_toml_str(policy, "policy").unwrap();
        Plugin::new(engine, plugbox_artifacts::HOST_PROBE.bytes)
            .unwrap()
            .with_policy(&policy)
            .unwrap()
            .instantiate()
            .unwrap()
    };
    // Fuel for three yields at most: seconds of polling here.
    let mut poller = probe(&slow_fuel, "[limits]\nfuel = 3000000\n[kv]\n");
    let started = Instant::now();
    let outcome = until_deadline(
        poller.call_async(b"wait flag"),
        started + Duration::from_millis(100),
    );
    let took = started.elapsed();
    let ended = match outcome {
        Err(yields) => format!("stopped at a yield ({yields} yields)"),
        Ok((Ok(_), _)) => "answered".to_string(),
        Ok((Err(error), _)) => format!("{}", error.kind()),
    };
    println!("slow kv poll, 100 ms deadline: prototype {ended} after {took:.1?}");
    let mut poller = probe(&slow_default, "[limits]\ndeadline_ms = 100\n[kv]\n");
    let started = Instant::now();
    let error = poller.call(b"wait flag").unwrap_err();
    println!("  epochs: {} after {:.1?}", error.kind(), started.elapsed());
}
