//! Compute overhead: the `fib` plugin's naive recursive Fibonacci, native
//! versus Wasm, with and without fuel.
//!
//! - `native`: the plugin's own request function (`__plugbox_handle`, the
//!   same Rust source the component is built from), called in this process;
//! - `wasm`: the component on plain wasmtime (no fuel, no epochs), with the
//!   memory settings plugbox uses (small reservation, no guard pages,
//!   explicit bounds checks);
//! - `wasm_fuel`: the same with fuel metering on;
//! - `wasm_epoch`: the same with epoch interruption on instead, with a
//!   ticker thread advancing the epoch at plugbox's tick and a deadline
//!   callback run at every tick, as plugbox does (without a ticker the
//!   callback would never run: checks paid, ticks free);
//! - `wasm_fuel_epoch`: both on, as plugbox configures its engine (same
//!   ticker);
//! - `plugbox`: a plugbox `Instance::call` (fuel and epochs on, limits armed:
//!   what an embedder gets);
//! - `plugbox-deadline-only`, `plugbox-fuel-only`: the same on engines
//!   metering only the deadline or only fuel (`EngineBuilder::metering`);
//! - `plugbox-guarded`: the default engine with guard regions instead of
//!   explicit bounds checks (`MemoryProfile::Guarded`; fib touches little
//!   memory, so this shows the profile costs nothing on calls, not what it
//!   saves on memory-heavy code);
//! - `native_twin`: the twin executable as a `process` worker, over pipes
//!   (one round trip; the input is large enough for IPC to be negligible).
//!
//! Each figure is the median of [`REPEATS`] calls after one warm-up call,
//! the variants interleaved round by round.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use plugbox_baseline::{Isolation, Worker};

use plugbox::wasmtime;
use serde::Serialize;

use crate::stats::median;

/// Calls per variant (after one warm-up).
pub const REPEATS: usize = 11;

/// What the compute comparison measured, in milliseconds per call.
#[derive(Debug, Clone, Serialize)]
pub struct Compute {
    /// The Fibonacci index computed.
    pub fib_n: u32,
    /// The epoch tick of the epoch variants and of plugbox, ms.
    pub epoch_tick_ms: f64,
    /// Native, in process.
    pub native_ms: f64,
    /// Wasm, no fuel, no epochs.
    pub wasm_ms: f64,
    /// Wasm with fuel.
    pub wasm_fuel_ms: f64,
    /// Wasm with epoch interruption.
    pub wasm_epoch_ms: f64,
    /// Wasm with fuel and epoch interruption (what plugbox turns on).
    pub wasm_fuel_epoch_ms: f64,
    /// plugbox `Instance::call` (fuel + epochs + limits).
    pub plugbox_ms: f64,
    /// plugbox on an engine metering the deadline only.
    pub plugbox_deadline_only_ms: f64,
    /// plugbox on an engine metering fuel only.
    pub plugbox_fuel_only_ms: f64,
    /// plugbox on the default engine with `MemoryProfile::Guarded`.
    pub plugbox_guarded_ms: f64,
    /// The native twin as a `process` worker, one round trip.
    pub native_twin_ms: Option<f64>,
    /// The fastest of the calls of each variant, ms: less sensitive than
    /// the medians to other load on the machine (on a shared or SMT host a
    /// neighbour's load slows a core down for seconds at a time).
    pub fastest_ms: BTreeMap<String, f64>,
    /// `wasm_ms / native_ms`.
    pub wasm_ratio: f64,
    /// `wasm_fuel_ms / native_ms`.
    pub wasm_fuel_ratio: f64,
    /// `wasm_epoch_ms / native_ms`.
    pub wasm_epoch_ratio: f64,
    /// `plugbox_ms / native_ms`.
    pub plugbox_ratio: f64,
    /// `plugbox_deadline_only_ms / native_ms`.
    pub plugbox_deadline_only_ratio: f64,
    /// `plugbox_fuel_only_ms / native_ms`.
    pub plugbox_fuel_only_ratio: f64,
    /// `plugbox_guarded_ms / native_ms`.
    pub plugbox_guarded_ratio: f64,
}

/// Measures every variant computing `fib(n)`.
///
/// # Errors
///
/// When a variant fails or answers differently from the native function.
pub fn measure(n: u32) -> Result<Compute, String> {
    let input = n.to_string().into_bytes();
    let expected = plugbox_plugin_fib::__plugbox_handle(&input)
        .map_err(|error| format!("native fib: {error}"))?;
    let bytes = plugbox_artifacts::FIB.bytes;
    let instance_on = |builder: plugbox::EngineBuilder| -> Result<plugbox::Instance, String> {
        let engine = builder
            .allocator(plugbox::Allocator::Pooling { capacity: 1 })
            .build()
            .map_err(|error| format!("plugbox engine: {error}"))?;
        plugbox::Plugin::new(&engine, bytes)
            .and_then(|plugin| plugin.instantiate())
            .map_err(|error| format!("plugbox: {error}"))
    };
    let mut instance = instance_on(plugbox::Engine::builder())?;
    let mut deadline_only =
        instance_on(plugbox::Engine::builder().metering(plugbox::Metering::DeadlineOnly))?;
    let mut fuel_only =
        instance_on(plugbox::Engine::builder().metering(plugbox::Metering::FuelOnly))?;
    let mut guarded =
        instance_on(plugbox::Engine::builder().memory_profile(plugbox::MemoryProfile::Guarded))?;
    let tick = plugbox::Engine::builder()
        .allocator(plugbox::Allocator::Pooling { capacity: 1 })
        .build()
        .map_err(|error| format!("plugbox engine: {error}"))?
        .epoch_tick();
    let mut wasm = RawWasm::new(bytes, false, None)?;
    let mut wasm_fuel = RawWasm::new(bytes, true, None)?;
    let mut wasm_epoch = RawWasm::new(bytes, false, Some(tick))?;
    let mut wasm_both = RawWasm::new(bytes, true, Some(tick))?;
    let mut twin = plugbox_artifacts::FIB
        .native
        .and_then(|twin| Worker::start(Isolation::Process, twin).ok());
    let mut variants: Vec<(&str, Variant<'_>)> = vec![
        (
            "native",
            Box::new(|input: &[u8]| {
                plugbox_plugin_fib::__plugbox_handle(black_box(input))
                    .map_err(|error| format!("native fib: {error}"))
            }),
        ),
        ("wasm", Box::new(|input: &[u8]| wasm.call(black_box(input)))),
        (
            "wasm+fuel",
            Box::new(|input: &[u8]| wasm_fuel.call(black_box(input))),
        ),
        (
            "wasm+epochs",
            Box::new(|input: &[u8]| wasm_epoch.call(black_box(input))),
        ),
        (
            "wasm+fuel+epochs",
            Box::new(|input: &[u8]| wasm_both.call(black_box(input))),
        ),
        ("plugbox", plugbox_call(&mut instance)),
        ("plugbox-deadline-only", plugbox_call(&mut deadline_only)),
        ("plugbox-fuel-only", plugbox_call(&mut fuel_only)),
        ("plugbox-guarded", plugbox_call(&mut guarded)),
    ];
    if let Some(worker) = twin.as_mut() {
        variants.push((
            "native twin",
            Box::new(|input: &[u8]| {
                worker
                    .call(input, Duration::from_secs(30))
                    .map_err(|error| error.to_string())
            }),
        ));
    }
    // Interleaved rounds: on a shared or SMT machine the speed of a core
    // changes with its neighbours' load, so every variant sees the same
    // conditions instead of one variant getting a quiet minute.
    let mut samples = vec![Vec::with_capacity(REPEATS); variants.len()];
    for round in 0..=REPEATS {
        for ((name, variant), times) in variants.iter_mut().zip(&mut samples) {
            let start = Instant::now();
            let output = variant(&input)?;
            let elapsed = start.elapsed().as_secs_f64() * 1e3;
            check(&output, &expected, name)?;
            // Round 0 warms up.
            if round > 0 {
                times.push(elapsed);
            }
        }
    }
    let fastest_ms = variants
        .iter()
        .zip(&samples)
        .filter_map(|((name, _), times)| {
            let fastest = times.iter().copied().min_by(f64::total_cmp)?;
            Some(((*name).to_string(), fastest))
        })
        .collect();
    let names: Vec<&str> = variants.iter().map(|(name, _)| *name).collect();
    drop(variants);
    if let Some(worker) = twin {
        let _ = worker.stop();
    }
    let medians: BTreeMap<&str, f64> = names
        .iter()
        .zip(samples.iter_mut())
        .filter_map(|(name, times)| Some((*name, median(times)?)))
        .collect();
    let get = |name: &str| -> Result<f64, String> {
        medians
            .get(name)
            .copied()
            .ok_or_else(|| format!("no samples of {name}"))
    };
    let native_ms = get("native")?;
    let (wasm_ms, wasm_fuel_ms, wasm_epoch_ms, wasm_fuel_epoch_ms) = (
        get("wasm")?,
        get("wasm+fuel")?,
        get("wasm+epochs")?,
        get("wasm+fuel+epochs")?,
    );
    let (plugbox_ms, plugbox_deadline_only_ms, plugbox_fuel_only_ms, plugbox_guarded_ms) = (
        get("plugbox")?,
        get("plugbox-deadline-only")?,
        get("plugbox-fuel-only")?,
        get("plugbox-guarded")?,
    );
    Ok(Compute {
        fib_n: n,
        epoch_tick_ms: tick.as_secs_f64() * 1e3,
        native_ms,
        wasm_ms,
        wasm_fuel_ms,
        wasm_epoch_ms,
        wasm_fuel_epoch_ms,
        plugbox_ms,
        plugbox_deadline_only_ms,
        plugbox_fuel_only_ms,
        plugbox_guarded_ms,
        native_twin_ms: get("native twin").ok(),
        fastest_ms,
        wasm_ratio: wasm_ms / native_ms,
        wasm_fuel_ratio: wasm_fuel_ms / native_ms,
        wasm_epoch_ratio: wasm_epoch_ms / native_ms,
        plugbox_ratio: plugbox_ms / native_ms,
        plugbox_deadline_only_ratio: plugbox_deadline_only_ms / native_ms,
        plugbox_fuel_only_ratio: plugbox_fuel_only_ms / native_ms,
        plugbox_guarded_ratio: plugbox_guarded_ms / native_ms,
    })
}

/// A plugbox call of `instance`, as a variant.
fn plugbox_call(instance: &mut plugbox::Instance) -> Variant<'_> {
    Box::new(|input: &[u8]| {
        instance
            .call(black_box(input))
            .map(|response| response.output)
            .map_err(|error| format!("plugbox call: {error}"))
    })
}

/// The typed `handle` export.
type Handle = wasmtime::component::TypedFunc<(Vec<u8>,), (Result<Vec<u8>, String>,)>;

/// One way of computing the answer.
type Variant<'a> = Box<dyn FnMut(&[u8]) -> Result<Vec<u8>, String> + 'a>;

fn check(output: &[u8], expected: &[u8], what: &str) -> Result<(), String> {
    if output == expected {
        Ok(())
    } else {
        Err(format!(
            "{what} answered {:?}, native {:?}",
            String::from_utf8_lossy(output),
            String::from_utf8_lossy(expected)
        ))
    }
}

/// The plugin's `handle` on a plain wasmtime engine configured like
/// plugbox's (memory settings: small reservation, no guard pages, explicit
/// bounds checks), with fuel and epoch interruption on or off: the
/// reference points of the fuel and epoch overheads.
///
/// With epochs, a ticker thread advances the engine's epoch every tick and
/// the store's deadline callback runs at every tick (and lets the call go
/// on), as plugbox's does: the checks and the ticks are both paid.
pub struct RawWasm {
    store: wasmtime::Store<()>,
    handle: Handle,
    fuel: bool,
    // Dropped after the store: stops and joins the ticker thread.
    ticker: Option<Ticker>,
}

impl std::fmt::Debug for RawWasm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawWasm")
            .field("fuel", &self.fuel)
            .field("ticks", &self.ticks())
            .finish_non_exhaustive()
    }
}

impl RawWasm {
    /// Compiles and instantiates the plugin component `bytes`, with fuel
    /// metering if `fuel`, and epoch interruption ticking every
    /// `epoch_tick` if given.
    ///
    /// # Errors
    ///
    /// When wasmtime rejects the configuration or the component, or the
    /// ticker thread cannot start.
    pub fn new(bytes: &[u8], fuel: bool, epoch_tick: Option<Duration>) -> Result<Self, String> {
        let fail =
            |what: &'static str| move |error: wasmtime::Error| format!("wasm ({what}): {error:#}");
        let mut config = wasmtime::Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(fuel)
            .epoch_interruption(epoch_tick.is_some())
            .max_wasm_stack(512 << 10)
            .memory_init_cow(true)
            .memory_reservation(16 << 20)
            .memory_guard_size(0)
            .memory_reservation_for_growth(0)
            .guard_before_linear_memory(false);
        let engine = wasmtime::Engine::new(&config).map_err(fail("engine"))?;
        let component =
            wasmtime::component::Component::new(&engine, bytes).map_err(fail("compile"))?;
        let linker = wasmtime::component::Linker::<()>::new(&engine);
        let mut store = wasmtime::Store::new(&engine, ());
        let ticker = match epoch_tick {
            Some(tick) => {
                // Every tick ends the deadline; the callback lets the call
                // go on for one more, as plugbox's does (it counts the
                // ticks left and checks for cancellation there).
                store.set_epoch_deadline(1);
                store.epoch_deadline_callback(|_| Ok(wasmtime::UpdateDeadline::Continue(1)));
                Some(Ticker::start(engine.clone(), tick)?)
            }
            None => None,
        };
        let instance = linker
            .instantiate(&mut store, &component)
            .map_err(fail("instantiate"))?;
        let interface = instance
            .get_export_index(&mut store, None, plugbox::HANDLER_INTERFACE)
            .ok_or("no handler export")?;
        let function = instance
            .get_export_index(&mut store, Some(&interface), plugbox::HANDLE_FUNCTION)
            .ok_or("no handle function")?;
        let handle = instance
            .get_typed_func(&mut store, function)
            .map_err(fail("typed function"))?;
        Ok(Self {
            store,
            handle,
            fuel,
            ticker,
        })
    }

    /// Epoch ticks so far (0 without epochs).
    pub fn ticks(&self) -> u64 {
        self.ticker.as_ref().map_or(0, Ticker::ticks)
    }

    /// Calls `handle(input)`, with unlimited fuel if fuel is on.
    ///
    /// # Errors
    ///
    /// A trap or the plugin's own error.
    pub fn call(&mut self, input: &[u8]) -> Result<Vec<u8>, String> {
        if self.fuel {
            self.store
                .set_fuel(u64::MAX)
                .map_err(|error| format!("fuel: {error}"))?;
        }
        let (answer,) = self
            .handle
            .call(&mut self.store, (input.to_vec(),))
            .map_err(|error| format!("wasm call: {error:#}"))?;
        answer.map_err(|error| format!("wasm guest error: {error}"))
    }
}

/// A thread advancing an engine's epoch every tick (as plugbox's ticker
/// does: a full tick between increments); stopped and joined on drop.
struct Ticker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    ticks: Arc<AtomicU64>,
}

impl Ticker {
    fn start(engine: wasmtime::Engine, tick: Duration) -> Result<Self, String> {
        let (stop, stopped) = mpsc::channel::<()>();
        let ticks = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&ticks);
        let thread = std::thread::Builder::new()
            .name("raw-wasm-epoch".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                    engine.increment_epoch();
                    counted.fetch_add(1, Ordering::Relaxed);
                }
            })
            .map_err(|error| format!("starting the epoch ticker: {error}"))?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
            ticks,
        })
    }

    fn ticks(&self) -> u64 {
        self.ticks.load(Ordering::Relaxed)
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The epoch variants pay the ticks plugbox pays: their epoch advances
    /// while they run, and every tick reaches the deadline callback (a
    /// store whose deadline never comes would not trap; this one traps
    /// when its callback says so).
    #[test]
    fn raw_wasm_with_epochs_ticks_while_it_runs() {
        let tick = Duration::from_millis(1);
        let mut wasm = RawWasm::new(plugbox_artifacts::FIB.bytes, false, Some(tick)).unwrap();
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(50) {
            assert_eq!(wasm.call(b"20").unwrap(), b"6765");
        }
        assert!(wasm.ticks() >= 10, "{} ticks in 50 ms", wasm.ticks());
        // The callback runs at a tick: make it trap, and a long call traps.
        wasm.store
            .epoch_deadline_callback(|_| Err(wasmtime::Error::msg("tick reached")));
        wasm.store.set_epoch_deadline(1);
        let error = wasm.call(b"40").unwrap_err();
        assert!(error.contains("tick reached"), "{error}");
        let without = RawWasm::new(plugbox_artifacts::FIB.bytes, false, None).unwrap();
        assert_eq!(without.ticks(), 0);
    }
}
