//! One live tenant: a store, its limits, and the calls into it.

use std::time::{Duration, Instant};

use wasmtime::{Store, UpdateDeadline};

use crate::bindings;
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::host::HostContext;
use crate::limits::{Exceeded, Limits};
use crate::plugin::Prelinked;

/// One plugin instance: its own linear memory, limits and state, isolated
/// from every other instance. Create it with
/// [`Plugin::instantiate`](crate::Plugin::instantiate).
///
/// After a trap (fuel, deadline, memory, stack, any other trap) the instance
/// is *poisoned*: its memory may hold a half-finished state, so every later
/// call fails with [`ErrorKind::Poisoned`]. Drop it and instantiate a fresh
/// one; with the pooling allocator that takes microseconds.
pub struct Instance {
    store: Store<HostContext>,
    bindings: bindings::Plugin,
    async_bindings: bindings::async_exports::Plugin,
    limits: Limits,
    deadline_ticks: u64,
    poisoned: Option<ErrorKind>,
    // Keeps the epoch ticker running while this instance lives.
    _engine: Engine,
}

/// What a successful call returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The plugin's response bytes.
    pub output: Vec<u8>,
    /// Fuel the call consumed (about one unit per wasm instruction).
    pub fuel_used: u64,
    /// Wall time of the call, from entering the plugin to getting its result.
    pub elapsed: Duration,
}

impl Instance {
    pub(crate) fn new(engine: &Engine, pre: &Prelinked, state: HostContext) -> Result<Self> {
        let (mut store, limits, deadline_ticks) = new_store(engine, state);
        // A start function runs under the same budget as one call.
        arm(&mut store, &limits, deadline_ticks, Mode::Sync)?;
        let instantiated = pre
            .sync
            .instance_pre()
            .instantiate(&mut store)
            .and_then(|instance| {
                let bindings = pre.sync_indices.load(&mut store, &instance)?;
                let async_bindings = pre.async_indices.load(&mut store, &instance)?;
                Ok((bindings, async_bindings))
            });
        let (bindings, async_bindings) =
            instantiated.map_err(|error| classify(error, &store, &limits, Stage::Instantiate))?;
        Ok(Self {
            store,
            bindings,
            async_bindings,
            limits,
            deadline_ticks,
            poisoned: None,
            _engine: engine.clone(),
        })
    }

    /// Calls the plugin's `handle` with `input`, under this instance's fuel,
    /// deadline and memory limits.
    ///
    /// # Errors
    ///
    /// - [`ErrorKind::InputTooLarge`] (checked before the plugin runs) and
    ///   [`ErrorKind::OutputTooLarge`]; the instance stays usable;
    /// - [`ErrorKind::Guest`]: the plugin returned an error; it stays usable;
    /// - a trap: [`ErrorKind::FuelExhausted`], [`ErrorKind::DeadlineExceeded`],
    ///   [`ErrorKind::MemoryLimit`], [`ErrorKind::TableLimit`],
    ///   [`ErrorKind::StackOverflow`] or [`ErrorKind::Trap`] (with
    ///   [`Error::wasm_backtrace`]); the instance is poisoned;
    /// - [`ErrorKind::Poisoned`]: an earlier call trapped.
    pub fn call(&mut self, input: &[u8]) -> Result<Response> {
        self.admit(input)?;
        arm(
            &mut self.store,
            &self.limits,
            self.deadline_ticks,
            Mode::Sync,
        )?;
        let start = Instant::now();
        let result = self
            .bindings
            .plugbox_plugin_handler()
            .call_handle(&mut self.store, input);
        self.finish(result, start.elapsed())
    }

    /// [`call`](Self::call) for async hosts: the plugin runs on a fiber and
    /// yields to the executor at every epoch tick (1 ms by default), so a
    /// long-running or spinning plugin never holds an executor thread for
    /// longer than that, and thousands of tenants share a few threads. The
    /// deadline, fuel and every other limit apply as for `call`.
    ///
    /// Each call in flight needs a fiber stack from the engine's pool
    /// ([`EngineBuilder::max_async_calls`](crate::EngineBuilder::max_async_calls)).
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call), and [`ErrorKind::PoolExhausted`] when every
    /// fiber stack is in use.
    pub async fn call_async(&mut self, input: &[u8]) -> Result<Response> {
        self.admit(input)?;
        arm(
            &mut self.store,
            &self.limits,
            self.deadline_ticks,
            Mode::Async,
        )?;
        let start = Instant::now();
        let result = self
            .async_bindings
            .plugbox_plugin_handler()
            .call_handle(&mut self.store, input)
            .await;
        self.finish(result, start.elapsed())
    }

    /// Refuses a call to a poisoned instance or with an oversized input.
    fn admit(&self, input: &[u8]) -> Result<()> {
        if let Some(cause) = self.poisoned {
            return Err(Error::new(
                ErrorKind::Poisoned,
                format!("an earlier call trapped ({cause}); instantiate a fresh instance"),
            ));
        }
        if input.len() > self.limits.input_bytes() {
            return Err(Error::new(
                ErrorKind::InputTooLarge,
                format!("{} bytes, limit {}", input.len(), self.limits.input_bytes()),
            ));
        }
        Ok(())
    }

    /// Turns what the plugin returned into a response or a typed error,
    /// poisoning the instance on a trap.
    fn finish(
        &mut self,
        result: wasmtime::Result<std::result::Result<Vec<u8>, String>>,
        elapsed: Duration,
    ) -> Result<Response> {
        let fuel_used = self
            .limits
            .fuel_per_call()
            .saturating_sub(self.store.get_fuel().unwrap_or(0));
        match result {
            Ok(Ok(output)) => {
                if output.len() > self.limits.output_bytes() {
                    return Err(Error::new(
                        ErrorKind::OutputTooLarge,
                        format!(
                            "{} bytes, limit {}",
                            output.len(),
                            self.limits.output_bytes()
                        ),
                    ));
                }
                Ok(Response {
                    output,
                    fuel_used,
                    elapsed,
                })
            }
            Ok(Err(mut message)) => {
                if message.len() > self.limits.output_bytes() {
                    let mut end = self.limits.output_bytes();
                    while !message.is_char_boundary(end) {
                        end -= 1;
                    }
                    message.truncate(end);
                }
                Err(Error::new(ErrorKind::Guest, message))
            }
            Err(error) => {
                let error = classify(error, &self.store, &self.limits, Stage::Call);
                self.poisoned = Some(error.kind());
                Err(error)
            }
        }
    }

    /// Whether an earlier call trapped, making this instance unusable.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.is_some()
    }

    /// The kind of the trap that poisoned this instance, if one did.
    pub fn poisoned_by(&self) -> Option<ErrorKind> {
        self.poisoned
    }

    /// The limits this instance runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// `log` messages dropped so far because a call exceeded its
    /// [`Limits::max_log_bytes`](crate::Limits::max_log_bytes).
    pub fn logs_dropped(&self) -> u64 {
        self.store.data().budget.logs_dropped
    }

    /// Takes what the plugin has written to stdout since the last take, if
    /// its policy captures stdout (`[stdio] stdout = "capture"`); empty
    /// otherwise.
    #[cfg(feature = "wasi")]
    pub fn take_stdout(&mut self) -> crate::Captured {
        let outputs = self.store.data().wasi.as_ref().map(|wasi| &wasi.outputs);
        crate::wasi::Outputs::take(outputs.and_then(|outputs| outputs.stdout.as_ref()))
    }

    /// As [`take_stdout`](Self::take_stdout), for stderr.
    #[cfg(feature = "wasi")]
    pub fn take_stderr(&mut self) -> crate::Captured {
        let outputs = self.store.data().wasi.as_ref().map(|wasi| &wasi.outputs);
        crate::wasi::Outputs::take(outputs.and_then(|outputs| outputs.stderr.as_ref()))
    }
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("limits", &self.limits)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

/// A store for one instance, with its limiter and epoch handling installed;
/// also its limits and the epoch ticks of its deadline.
pub(crate) fn new_store(engine: &Engine, state: HostContext) -> (Store<HostContext>, Limits, u64) {
    let limits = *state.limiter.limits();
    let mut store = Store::new(engine.wasmtime(), state);
    store.limiter(|state| &mut state.limiter);
    store.epoch_deadline_callback(|mut store| {
        let epoch = &mut store.data_mut().epoch;
        if !epoch.yield_every_tick || epoch.ticks_left <= 1 {
            return Ok(UpdateDeadline::Interrupt);
        }
        epoch.ticks_left -= 1;
        Ok(UpdateDeadline::Yield(1))
    });
    let deadline_ticks = engine.deadline_ticks(limits.deadline_per_call());
    (store, limits, deadline_ticks)
}

/// How a call runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// On the caller's thread, until done or the deadline.
    Sync,
    /// On a fiber, yielding to the executor at every epoch tick.
    Async,
}

/// Refills fuel, re-arms the deadline, clears the limiter's record and
/// refills the per-call host budgets.
pub(crate) fn arm(
    store: &mut Store<HostContext>,
    limits: &Limits,
    deadline_ticks: u64,
    mode: Mode,
) -> Result<()> {
    let state = store.data_mut();
    state.start_call();
    state.epoch.yield_every_tick = mode == Mode::Async;
    state.epoch.ticks_left = deadline_ticks;
    store.set_epoch_deadline(match mode {
        Mode::Sync => deadline_ticks,
        Mode::Async => 1,
    });
    store.set_fuel(limits.fuel_per_call()).map_err(|error| {
        Error::new(ErrorKind::Config, "the engine has fuel disabled").with_wasmtime(error)
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    Instantiate,
    Call,
}

/// Turns a wasmtime error from instantiation or a call into a typed error.
pub(crate) fn classify(
    error: wasmtime::Error,
    store: &Store<HostContext>,
    limits: &Limits,
    stage: Stage,
) -> Error {
    use wasmtime::Trap;
    let exceeded = store.data().limiter.exceeded();
    let (kind, message) = match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => (
            ErrorKind::FuelExhausted,
            format!("used all {} units of fuel", limits.fuel_per_call()),
        ),
        Some(Trap::Interrupt) => (
            ErrorKind::DeadlineExceeded,
            format!("ran past its deadline of {:?}", limits.deadline_per_call()),
        ),
        Some(Trap::StackOverflow) => (
            ErrorKind::StackOverflow,
            "exhausted the wasm stack".to_string(),
        ),
        Some(trap) => match exceeded {
            Some(exceeded) => limit_message(exceeded, Some(*trap)),
            None => (ErrorKind::Trap, trap.to_string()),
        },
        None if error.is::<wasmtime::PoolConcurrencyLimitError>() => (
            ErrorKind::PoolExhausted,
            "every instance slot of the engine's pool is in use".to_string(),
        ),
        None => match (exceeded, stage) {
            (Some(exceeded), _) => limit_message(exceeded, None),
            (None, Stage::Instantiate) => (
                ErrorKind::InstanceLimit,
                format!(
                    "instantiation needs more instances, memories or tables than the \
                     limits allow: {error}"
                ),
            ),
            (None, Stage::Call) => (ErrorKind::Trap, error.to_string()),
        },
    };
    Error::new(kind, message).with_wasmtime(error)
}

fn limit_message(exceeded: Exceeded, trap: Option<wasmtime::Trap>) -> (ErrorKind, String) {
    let then = trap
        .map(|trap| format!(" (then the plugin trapped: {trap})"))
        .unwrap_or_default();
    match exceeded {
        Exceeded::Memory { desired, limit } => (
            ErrorKind::MemoryLimit,
            format!("linear memory of {desired} bytes requested, limit {limit}{then}"),
        ),
        Exceeded::Table { desired, limit } => (
            ErrorKind::TableLimit,
            format!("table of {desired} elements requested, limit {limit}{then}"),
        ),
    }
}
