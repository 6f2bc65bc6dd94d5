//! The machinery every instance shares, whatever its world: the store with
//! its limiter and epoch handling, arming fuel and the deadline before each
//! call, turning failures into typed errors, and poisoning after a trap.

use std::time::{Duration, Instant};

use wasmtime::{Store, UpdateDeadline};

use crate::engine::{Engine, Metering};
use crate::error::{Error, ErrorKind, Result};
use crate::fiber::Stop;
use crate::host::HostContext;
use crate::limits::{Exceeded, Limits};

/// One instance's store and call discipline.
pub(crate) struct Tenant {
    pub(crate) store: Store<HostContext>,
    // Dropped after the store, whose mappings it stands for.
    charge: crate::mapping_budget::Charge,
    limits: Limits,
    poisoned: Option<Poison>,
    /// A call began and has not ended: if the next call finds this set, the
    /// last one was abandoned (its future dropped mid-call).
    in_call: bool,
    /// Under [`Metering::FuelOnly`], the store yields every
    /// [`Metering::FUEL_YIELD_INTERVAL`] units of fuel, and so only runs wasm
    /// on a fiber from then on ([`on_fiber`](Self::on_fiber)).
    fuel_yields: bool,
    /// When the current call began ([`begin`](Self::begin)).
    began: Option<Instant>,
    /// Unique in the process: names the instance in call spans.
    id: u64,
    /// Instantiated, and so counted in `plugbox_instances_live` until
    /// dropped; `pooled` if in a pooling engine's slot.
    live: bool,
    pooled: bool,
    // Keeps the epoch ticker running while this instance lives.
    engine: Engine,
}

/// Why an instance cannot be called again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Poison {
    /// A call (or instantiation) trapped with this kind.
    Trapped(ErrorKind),
    /// A `call_async` future was dropped before the call finished: the
    /// guest was stopped at an arbitrary point.
    Abandoned,
}

/// A call in progress: started by [`Tenant::begin`], ended by [`Tenant::end`].
pub(crate) struct Started(pub(crate) Instant);

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
        let mut tenant = Self::new(engine, footprint, context)?;
        let instantiated = instantiate(&mut tenant.store);
        let instantiated = tenant.instantiated(instantiated)?;
        Ok((tenant, instantiated))
    }

    /// Charges `footprint` to the engine's mapping budget and creates the
    /// store for `context`, armed for instantiation (the same fuel and
    /// deadline as one call); the caller instantiates into `store` and hands
    /// the outcome to [`instantiated`](Self::instantiated).
    pub(crate) fn new(
        engine: &Engine,
        footprint: crate::mapping_budget::Footprint,
        context: HostContext,
    ) -> Result<Self> {
        let limits = *context.limiter.limits();
        engine
            .metering()
            .check(&limits, |field| format!("{}: ", Limits::setter_of(field)))?;
        let charge = engine.budget().charge(footprint)?;
        let mut store = Store::new(engine.wasmtime(), context);
        store.limiter(|context| &mut context.limiter);
        if engine.metering().meters_deadline() {
            Self::watch_epochs(&mut store);
        }
        let mut tenant = Self {
            store,
            charge,
            limits,
            poisoned: None,
            in_call: false,
            fuel_yields: false,
            began: None,
            id: crate::telemetry::next_instance_id(),
            live: false,
            pooled: matches!(engine.allocator(), crate::Allocator::Pooling { .. }),
            engine: engine.clone(),
        };
        tenant.arm(Mode::Sync)?;
        Ok(tenant)
    }

    /// Installs the callback that runs at every epoch tick of a call:
    /// cancellation, the deadline, and for async calls a yield to the
    /// executor.
    fn watch_epochs(store: &mut Store<HostContext>) {
        store.epoch_deadline_callback(|mut store| {
            let context = store.data_mut();
            if context.canceller.requested() {
                context.epoch.cancelled = true;
                return Ok(UpdateDeadline::Interrupt);
            }
            #[cfg(feature = "profiling")]
            crate::profile::sample(&mut store);
            let context = store.data_mut();
            let epoch = &context.epoch;
            if epoch
                .ends_at
                .is_some_and(|ends_at| Instant::now() >= ends_at)
            {
                return Ok(UpdateDeadline::Interrupt);
            }
            Ok(if epoch.yield_every_tick {
                UpdateDeadline::Yield(1)
            } else {
                UpdateDeadline::Continue(1)
            })
        });
    }

    /// The outcome of instantiating into [`store`](Self::store) as a typed
    /// error.
    pub(crate) fn instantiated<X>(&mut self, result: wasmtime::Result<X>) -> Result<X> {
        let instantiated = result
            .map_err(|error| classify(error, &mut self.store, &self.limits, Stage::Instantiate))?;
        self.live = true;
        self.store.data().host.metrics.instance_born(self.pooled);
        Ok(instantiated)
    }

    /// A span for the next call: its plugin, this instance, and (recorded
    /// by [`call_ended`](Self::call_ended)) its outcome.
    pub(crate) fn call_span(&self) -> tracing::Span {
        self.store.data().host.metrics.call_span(self.id)
    }

    /// Counts a call's outcome in the metrics and records it on its span.
    pub(crate) fn call_ended<T>(&self, span: &tracing::Span, result: &Result<T>) {
        self.store
            .data()
            .host
            .metrics
            .call_ended(span, result.as_ref().err().map(Error::kind));
    }

    /// Prepares the store to run wasm on a fiber: charges the fiber stack
    /// this instance keeps from its first call on one (once; a no-op for
    /// pooled stacks, reserved at build) and, on an engine without epochs,
    /// makes the store yield every [`Metering::FUEL_YIELD_INTERVAL`] units of
    /// fuel, where a cancel can stop the call and an async call gives its
    /// thread back. From then on the store only runs wasm on a fiber
    /// ([`runs_on_fiber`](Self::runs_on_fiber)).
    pub(crate) fn on_fiber(&mut self) -> Result<()> {
        self.charge.async_stack()?;
        if !self.fuel_yields && !self.engine.metering().meters_deadline() {
            self.store
                .fuel_async_yield_interval(Some(Metering::FUEL_YIELD_INTERVAL))
                .map_err(|error| {
                    Error::new(ErrorKind::Config, "wasmtime refused fuel yields")
                        .with_wasmtime(error)
                })?;
            self.fuel_yields = true;
        }
        Ok(())
    }

    /// Whether every call must run on a fiber: the store yields on fuel
    /// ([`on_fiber`](Self::on_fiber)), which wasmtime allows only there.
    /// Such a call is stopped at a yield when cancelled
    /// ([`crate::fiber::until_cancelled`]): no epoch callback sees the
    /// cancel.
    pub(crate) fn runs_on_fiber(&self) -> bool {
        self.fuel_yields
    }

    /// The engine this tenant belongs to.
    #[cfg_attr(not(feature = "wasi"), allow(dead_code))]
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Starts a call: refuses if poisoned, then arms fuel and the deadline.
    pub(crate) fn begin(&mut self, mode: Mode) -> Result<Started> {
        if std::mem::take(&mut self.in_call) {
            self.poisoned.get_or_insert(Poison::Abandoned);
        }
        match self.poisoned {
            Some(Poison::Trapped(cause)) => {
                return Err(Error::new(
                    ErrorKind::Poisoned,
                    format!("an earlier call trapped ({cause}); instantiate a fresh instance"),
                ));
            }
            Some(Poison::Abandoned) => {
                return Err(Error::new(
                    ErrorKind::Poisoned,
                    "an earlier call was abandoned: its future was dropped before the call \
                     finished, stopping the plugin midway; instantiate a fresh instance",
                ));
            }
            None => {}
        }
        if mode != Mode::Sync {
            self.on_fiber()?;
        }
        self.arm(mode)?;
        self.in_call = true;
        let now = Instant::now();
        self.began = Some(now);
        Ok(Started(now))
    }

    /// Ends a call: its value with the fuel used (where the engine meters
    /// fuel) and wall time, or the typed error (poisoning the instance).
    pub(crate) fn end<R>(
        &mut self,
        started: Started,
        result: wasmtime::Result<R>,
    ) -> Result<(R, Option<u64>, Duration)> {
        self.in_call = false;
        let elapsed = started.0.elapsed();
        let fuel_used = self.fuel_used();
        self.store.data().host.metrics.call_cost(elapsed, fuel_used);
        match result {
            Ok(value) => Ok((value, fuel_used, elapsed)),
            Err(error) => {
                let error = classify(error, &mut self.store, &self.limits, Stage::Call);
                // No fiber stack (or no memory for one) for the call: when
                // not one instruction ran, the instance is as good as before.
                // Without fuel to tell, only a full pool of fiber stacks,
                // which wasmtime meets before entering the guest, is known
                // not to have run; memory the OS refused may have been asked
                // for by the guest.
                let never_ran = match fuel_used {
                    Some(used) => {
                        used == 0
                            && matches!(
                                error.kind(),
                                ErrorKind::PoolExhausted | ErrorKind::HostResources
                            )
                    }
                    None => error.kind() == ErrorKind::PoolExhausted,
                };
                if !never_ran {
                    self.poisoned = Some(Poison::Trapped(error.kind()));
                }
                Err(error)
            }
        }
    }

    /// Ends a call (or an instantiation) that was stopped on its fiber:
    /// by the WASI watchdog while the guest waited in a host call, or by a
    /// cancel at a fuel yield. The typed error, and the instance poisoned
    /// (the guest was unwound midway).
    pub(crate) fn stopped(&mut self, stop: Stop) -> Error {
        self.in_call = false;
        if let (true, Some(began)) = (self.live, self.began) {
            let fuel_used = self.fuel_used();
            self.store
                .data()
                .host
                .metrics
                .call_cost(began.elapsed(), fuel_used);
        }
        let (kind, message) = match stop {
            Stop::Cancelled if self.fuel_yields => (
                ErrorKind::Cancelled,
                "cancelled by its embedder (at a fuel yield or while waiting in a WASI host \
                 call)"
                    .to_string(),
            ),
            Stop::Cancelled => (
                ErrorKind::Cancelled,
                "cancelled by its embedder (while waiting in a WASI host call)".to_string(),
            ),
            Stop::Deadline => (
                ErrorKind::DeadlineExceeded,
                format!(
                    "ran past its deadline of {:?} (while waiting in a WASI host call)",
                    self.limits.deadline_per_call()
                ),
            ),
        };
        self.poisoned = Some(Poison::Trapped(kind));
        Error::new(kind, message)
    }

    /// Fuel the current call has used so far, on an engine that meters it.
    fn fuel_used(&self) -> Option<u64> {
        let left = self.store.get_fuel().ok()?;
        Some(self.limits.fuel_per_call().saturating_sub(left))
    }

    /// Refills fuel, re-arms the deadline (where the engine meters each),
    /// clears the limiter's record and refills the per-call host budgets.
    fn arm(&mut self, mode: Mode) -> Result<()> {
        let metering = self.engine.metering();
        let context = self.store.data_mut();
        context.start_call();
        context.epoch.yield_every_tick = mode == Mode::Async;
        context.epoch.ends_at = if metering.meters_deadline() {
            Instant::now().checked_add(self.limits.deadline_per_call())
        } else {
            None
        };
        context.epoch.cancelled = false;
        context.canceller.reset();
        if metering.meters_deadline() {
            self.store.set_epoch_deadline(1);
        }
        if metering.meters_fuel() {
            self.store
                .set_fuel(self.limits.fuel_per_call())
                .map_err(|error| {
                    Error::new(ErrorKind::Config, "the engine has fuel disabled")
                        .with_wasmtime(error)
                })?;
        }
        Ok(())
    }

    /// A handle that cancels this tenant's running call.
    pub(crate) fn canceller(&self) -> crate::Canceller {
        self.store.data().canceller.clone()
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The kind that poisoned the instance; an abandoned call counts as
    /// [`ErrorKind::Cancelled`]. A call abandoned since the last call began
    /// shows only when the next call begins.
    pub(crate) fn poisoned_by(&self) -> Option<ErrorKind> {
        match self.poisoned {
            Some(Poison::Trapped(kind)) => Some(kind),
            Some(Poison::Abandoned) => Some(ErrorKind::Cancelled),
            None if self.in_call => Some(ErrorKind::Cancelled),
            None => None,
        }
    }

    /// The canceller and the watchdog's deadline for a call that began at
    /// `started` (none, in effect, on an engine that does not meter the
    /// deadline).
    #[cfg(feature = "wasi")]
    pub(crate) fn watchdog(&self, started: &Started) -> (crate::Canceller, std::time::Instant) {
        let deadline = if self.engine.metering().meters_deadline() {
            Some(self.limits.deadline_per_call())
        } else {
            None
        };
        let deadline =
            crate::wasi::watchdog_deadline(started.0, deadline, self.engine.epoch_tick());
        (self.canceller(), deadline)
    }
}

impl Drop for Tenant {
    fn drop(&mut self) {
        if self.live {
            self.store.data().host.metrics.instance_died(self.pooled);
        }
    }
}

/// How a call runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// On the caller's thread, until done or the deadline.
    Sync,
    /// On a fiber, yielding to the executor at every epoch tick.
    Async,
    /// On a fiber driven to completion on the caller's thread (a sync call
    /// of a WASI plugin): no yields, but a fiber stack like `Async`.
    #[cfg_attr(not(feature = "wasi"), allow(dead_code))]
    SyncOnFiber,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Instantiate,
    Call,
}

/// Turns a wasmtime error from instantiation or a call into a typed error.
fn classify(
    error: wasmtime::Error,
    store: &mut Store<HostContext>,
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
        None => match error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>() {
            Some(full) => (ErrorKind::PoolExhausted, pool_full_message(full)),
            None => other_failure(&error, limits, stage, exceeded),
        },
    };
    let typed = Error::new(kind, message);
    let typed = if kind == ErrorKind::HostResources {
        typed.with_host_resource(crate::mapping_budget::diagnose_os_refusal())
    } else {
        typed
    };
    #[cfg(feature = "coredump")]
    let typed = match error.downcast_ref::<wasmtime::WasmCoreDump>() {
        Some(dump) => {
            let name = store.data().host.plugin.clone();
            typed.with_core_dump(dump.serialize(&mut *store, &name))
        }
        None => typed,
    };
    typed.with_wasmtime(error)
}

/// What a full pool is full of. wasmtime's error names it only in its text
/// ("maximum concurrent limit of 1000 for component instances reached").
fn pool_full_message(full: &wasmtime::PoolConcurrencyLimitError) -> String {
    let text = full.to_string();
    let (limit, what) = text
        .strip_prefix("maximum concurrent limit of ")
        .and_then(|rest| rest.strip_suffix(" reached"))
        .and_then(|rest| rest.split_once(" for "))
        .unwrap_or(("?", "instance slots"));
    match what {
        "component instances" => format!(
            "every one of the engine's {limit} instance slots is in use by a live instance \
             (Allocator::Pooling capacity)"
        ),
        "fibers" => format!(
            "every one of the engine's {limit} fiber stacks is held by a live instance \
             (EngineBuilder::max_async_calls)"
        ),
        other => format!("the pool's {limit} {other} are all held by live instances"),
    }
}

/// A failure that is neither a trap nor a full pool.
fn other_failure(
    error: &wasmtime::Error,
    limits: &Limits,
    stage: Stage,
    exceeded: Option<Exceeded>,
) -> (ErrorKind, String) {
    match (exceeded, stage) {
        (Some(exceeded), _) => limit_message(exceeded, None),
        (None, _) if crate::error::os_error_in(error).is_some() => (
            ErrorKind::HostResources,
            format!(
                "the operating system refused memory for the instance (vm.max_map_count \
                     or the address-space limit): {error}"
            ),
        ),
        (None, Stage::Instantiate) => match count_exceeded(error, limits) {
            Some(message) => (ErrorKind::InstanceLimit, message),
            // Not a limit of ours: wasmtime could not instantiate the
            // component on this engine; its reason is the source.
            None => (
                ErrorKind::InvalidComponent,
                format!("the engine could not instantiate the component: {error}"),
            ),
        },
        (None, Stage::Call) => (ErrorKind::Trap, error.to_string()),
    }
}

/// The message for wasmtime's refusal of a component that needs more core
/// instances, memories or tables than [`Limits`] allows one instance, if
/// that is what `error` is. wasmtime 48 reports it only as text ("resource
/// limit exceeded: {memory} count too high at {n}"); the wording is pinned
/// by the instance-count tests.
fn count_exceeded(error: &wasmtime::Error, limits: &Limits) -> Option<String> {
    let text = error.to_string();
    let rest = text.strip_prefix("resource limit exceeded: ")?;
    let (what, needed) = rest.split_once(" count too high at ")?;
    let (noun, limit, setting) = match what {
        "instance" => (
            "core instances",
            limits.instances(),
            "Limits::max_instances",
        ),
        "memory" => ("memories", limits.memories(), "Limits::max_memories"),
        "table" => ("tables", limits.tables(), "Limits::max_tables"),
        _ => return None,
    };
    Some(format!(
        "the component needs at least {needed} {noun}, limit {limit} (raise {setting}, \
         or `{}` in a policy's [limits])",
        setting.trim_start_matches("Limits::")
    ))
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
