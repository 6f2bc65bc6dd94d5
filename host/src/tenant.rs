//! The machinery every instance shares, whatever its world: the store with
//! its limiter and epoch handling, arming fuel and the deadline before each
//! call, turning failures into typed errors, and poisoning after a trap.

use std::time::{Duration, Instant};

use wasmtime::{Store, UpdateDeadline};

use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::host::HostContext;
use crate::limits::{Exceeded, Limits};

/// One instance's store and call discipline.
pub(crate) struct Tenant {
    pub(crate) store: Store<HostContext>,
    // Dropped after the store, whose mappings it stands for.
    charge: crate::mapping_budget::Charge,
    limits: Limits,
    deadline_ticks: u64,
    poisoned: Option<ErrorKind>,
    // Keeps the epoch ticker running while this instance lives.
    _engine: Engine,
}

/// A call in progress: started by [`Tenant::begin`], ended by [`Tenant::end`].
pub(crate) struct Started(Instant);

impl Tenant {
    /// Charges `footprint` to the engine's mapping budget, creates the store
    /// for `context` and instantiates with `instantiate`, under the same fuel
    /// and deadline as one call (start functions run).
    pub(crate) fn instantiate<X>(
        engine: &Engine,
        footprint: crate::mapping_budget::Footprint,
        context: HostContext,
        instantiate: impl FnOnce(&mut Store<HostContext>) -> wasmtime::Result<X>,
    ) -> Result<(Self, X)> {
        let charge = engine.budget().charge(footprint)?;
        let limits = *context.limiter.limits();
        let mut store = Store::new(engine.wasmtime(), context);
        store.limiter(|context| &mut context.limiter);
        // Runs at every epoch tick of a call: cancellation, the deadline, and
        // for async calls a yield to the executor.
        store.epoch_deadline_callback(|mut store| {
            let context = store.data_mut();
            if context.canceller.requested() {
                context.epoch.cancelled = true;
                return Ok(UpdateDeadline::Interrupt);
            }
            let epoch = &mut context.epoch;
            if epoch.ticks_left <= 1 {
                return Ok(UpdateDeadline::Interrupt);
            }
            epoch.ticks_left -= 1;
            Ok(if epoch.yield_every_tick {
                UpdateDeadline::Yield(1)
            } else {
                UpdateDeadline::Continue(1)
            })
        });
        let mut tenant = Self {
            store,
            charge,
            limits,
            deadline_ticks: engine.deadline_ticks(limits.deadline_per_call()),
            poisoned: None,
            _engine: engine.clone(),
        };
        tenant.arm(Mode::Sync)?;
        let instantiated = instantiate(&mut tenant.store)
            .map_err(|error| classify(error, &tenant.store, &limits, Stage::Instantiate))?;
        Ok((tenant, instantiated))
    }

    /// Starts a call: refuses if poisoned, then arms fuel and the deadline.
    pub(crate) fn begin(&mut self, mode: Mode) -> Result<Started> {
        if let Some(cause) = self.poisoned {
            return Err(Error::new(
                ErrorKind::Poisoned,
                format!("an earlier call trapped ({cause}); instantiate a fresh instance"),
            ));
        }
        if mode == Mode::Async {
            self.charge.async_stack()?;
        }
        self.arm(mode)?;
        Ok(Started(Instant::now()))
    }

    /// Ends a call: its value with the fuel used and wall time, or the
    /// typed error (poisoning the instance).
    pub(crate) fn end<R>(
        &mut self,
        started: Started,
        result: wasmtime::Result<R>,
    ) -> Result<(R, u64, Duration)> {
        let elapsed = started.0.elapsed();
        let fuel_used = self
            .limits
            .fuel_per_call()
            .saturating_sub(self.store.get_fuel().unwrap_or(0));
        match result {
            Ok(value) => Ok((value, fuel_used, elapsed)),
            Err(error) => {
                let error = classify(error, &self.store, &self.limits, Stage::Call);
                // No fiber stack for an async call: the plugin never ran, so
                // the instance is as good as before.
                if !matches!(
                    error.kind(),
                    ErrorKind::PoolExhausted | ErrorKind::HostResources
                ) {
                    self.poisoned = Some(error.kind());
                }
                Err(error)
            }
        }
    }

    /// Refills fuel, re-arms the deadline, clears the limiter's record and
    /// refills the per-call host budgets.
    fn arm(&mut self, mode: Mode) -> Result<()> {
        let context = self.store.data_mut();
        context.start_call();
        context.epoch.yield_every_tick = mode == Mode::Async;
        context.epoch.ticks_left = self.deadline_ticks;
        context.epoch.cancelled = false;
        context.canceller.reset();
        self.store.set_epoch_deadline(1);
        self.store
            .set_fuel(self.limits.fuel_per_call())
            .map_err(|error| {
                Error::new(ErrorKind::Config, "the engine has fuel disabled").with_wasmtime(error)
            })
    }

    /// A handle that cancels this tenant's running call.
    pub(crate) fn canceller(&self) -> crate::Canceller {
        self.store.data().canceller.clone()
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    pub(crate) fn poisoned_by(&self) -> Option<ErrorKind> {
        self.poisoned
    }
}

/// How a call runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// On the caller's thread, until done or the deadline.
    Sync,
    /// On a fiber, yielding to the executor at every epoch tick.
    Async,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Instantiate,
    Call,
}

/// Turns a wasmtime error from instantiation or a call into a typed error.
fn classify(
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
        Some(Trap::Interrupt) if store.data().epoch.cancelled => (
            ErrorKind::Cancelled,
            "cancelled by its embedder".to_string(),
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
            (None, _) if crate::error::os_error_in(&error).is_some() => (
                ErrorKind::HostResources,
                format!(
                    "the operating system refused memory for the instance (vm.max_map_count \
                     or the address-space limit): {error}"
                ),
            ),
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
    let typed = Error::new(kind, message);
    let typed = if kind == ErrorKind::HostResources {
        typed.with_host_resource(crate::mapping_budget::diagnose_os_refusal())
    } else {
        typed
    };
    typed.with_wasmtime(error)
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
