//! One live tenant: a store, its limits, and the calls into it.

use std::time::Duration;

use crate::bindings;
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::host::HostContext;
use crate::limits::Limits;
use crate::plugin::Prelinked;
use crate::tenant::{Mode, Tenant};

/// One plugin instance: its own linear memory, limits and state, isolated
/// from every other instance. Create it with
/// [`Plugin::instantiate`](crate::Plugin::instantiate).
///
/// After a trap (fuel, deadline, memory, stack, any other trap) the instance
/// is *poisoned*: its memory may hold a half-finished state, so every later
/// call fails with [`ErrorKind::Poisoned`]. Drop it and instantiate a fresh
/// one; with the pooling allocator that takes microseconds.
pub struct Instance {
    tenant: Tenant,
    bindings: bindings::Plugin,
    async_bindings: bindings::async_exports::Plugin,
    /// Linked with WASI's async bindings: every call runs on a fiber under
    /// the WASI watchdog (a sync `call` drives it on the caller's thread).
    #[cfg_attr(not(feature = "wasi"), allow(dead_code))]
    watched: bool,
    /// What a profile of this instance names ([`start_profiling`]).
    ///
    /// [`start_profiling`]: Instance::start_profiling
    #[cfg(feature = "profiling")]
    component: wasmtime::component::Component,
}

/// What a successful call returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The plugin's response bytes.
    pub output: Vec<u8>,
    /// Fuel the call consumed (about one unit per wasm instruction), on an
    /// engine that meters fuel; `None` under
    /// [`Metering::DeadlineOnly`](crate::Metering::DeadlineOnly).
    pub fuel_used: Option<u64>,
    /// Wall time of the call, from entering the plugin to getting its result.
    pub elapsed: Duration,
}

impl Instance {
    pub(crate) fn new(engine: &Engine, pre: &Prelinked, context: HostContext) -> Result<Self> {
        let load = |store: &mut wasmtime::Store<HostContext>, instance| {
            let bindings = pre.sync_indices.load(&mut *store, &instance)?;
            let async_bindings = pre.async_indices.load(&mut *store, &instance)?;
            Ok((bindings, async_bindings))
        };
        let mut tenant = Tenant::new(engine, pre.footprint, context)?;
        let (bindings, async_bindings) = if pre.watched {
            Self::instantiate_watched(&mut tenant, pre, load)?
        } else {
            let instantiated = pre
                .sync
                .instance_pre()
                .instantiate(&mut tenant.store)
                .and_then(|instance| load(&mut tenant.store, instance));
            tenant.instantiated(instantiated)?
        };
        Ok(Self {
            tenant,
            bindings,
            async_bindings,
            watched: pre.watched,
            #[cfg(feature = "profiling")]
            component: pre.sync.instance_pre().component().clone(),
        })
    }

    /// The store to profile, the component it runs, the engine's tick and
    /// its metering.
    #[cfg(feature = "profiling")]
    pub(crate) fn profiling_parts(
        &mut self,
    ) -> (
        &mut wasmtime::Store<HostContext>,
        wasmtime::component::Component,
        Duration,
        crate::Metering,
    ) {
        let engine = self.tenant.engine();
        let (tick, metering) = (engine.epoch_tick(), engine.metering());
        (
            &mut self.tenant.store,
            self.component.clone(),
            tick,
            metering,
        )
    }

    /// Instantiates a plugin linked with WASI's async bindings, under the
    /// watchdog (a start function may wait in a WASI host call too).
    #[cfg(feature = "wasi")]
    fn instantiate_watched<X>(
        tenant: &mut Tenant,
        pre: &Prelinked,
        load: impl FnOnce(
            &mut wasmtime::Store<HostContext>,
            wasmtime::component::Instance,
        ) -> wasmtime::Result<X>,
    ) -> Result<X> {
        tenant.on_fiber()?;
        let started = crate::tenant::Started(std::time::Instant::now());
        let (canceller, deadline) = tenant.watchdog(&started);
        let runtime = tenant.engine().io_runtime()?.clone();
        let store = &mut tenant.store;
        let instantiate = async {
            let instance = pre
                .sync
                .instance_pre()
                .instantiate_async(&mut *store)
                .await?;
            load(store, instance)
        };
        let outcome = crate::fiber::block_on(crate::wasi::watch(
            &runtime,
            instantiate,
            deadline,
            &canceller,
        ));
        match outcome {
            Ok(instantiated) => tenant.instantiated(instantiated),
            Err(stop) => Err(tenant.stopped(stop)),
        }
    }

    #[cfg(not(feature = "wasi"))]
    fn instantiate_watched<X>(
        _: &mut Tenant,
        _: &Prelinked,
        _: impl FnOnce(
            &mut wasmtime::Store<HostContext>,
            wasmtime::component::Instance,
        ) -> wasmtime::Result<X>,
    ) -> Result<X> {
        unreachable!("only WASI plugins are watched")
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
        let span = self.tenant.call_span();
        let result = span.in_scope(|| self.call_in_span(input));
        self.tenant.call_ended(&span, &result);
        result
    }

    fn call_in_span(&mut self, input: &[u8]) -> Result<Response> {
        #[cfg(feature = "wasi")]
        if self.watched {
            return crate::fiber::block_on(self.call_watched(input, Mode::SyncOnFiber));
        }
        if self.tenant.runs_on_fiber() {
            return crate::fiber::block_on(self.call_on_fiber(input, Mode::SyncOnFiber));
        }
        self.check_input(input)?;
        let started = self.tenant.begin(Mode::Sync)?;
        let result = self
            .bindings
            .plugbox_plugin_handler()
            .call_handle(&mut self.tenant.store, input);
        let ended = self.tenant.end(started, result)?;
        self.respond(ended)
    }

    /// [`call`](Self::call) for async hosts: the plugin runs on a fiber and
    /// yields to the executor at every epoch tick (1 ms by default), so a
    /// long-running or spinning plugin never holds an executor thread for
    /// longer than that, and thousands of tenants share a few threads. The
    /// deadline, fuel and every other limit apply as for `call`.
    ///
    /// The first async call takes a fiber stack from the engine's pool and
    /// the instance keeps it until dropped
    /// ([`EngineBuilder::max_async_calls`](crate::EngineBuilder::max_async_calls)).
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call), and [`ErrorKind::PoolExhausted`] when every
    /// fiber stack is held by other instances (the plugin did not run; the
    /// instance is not poisoned).
    pub async fn call_async(&mut self, input: &[u8]) -> Result<Response> {
        use tracing::Instrument as _;
        let span = self.tenant.call_span();
        let result = self
            .call_async_in_span(input)
            .instrument(span.clone())
            .await;
        self.tenant.call_ended(&span, &result);
        result
    }

    async fn call_async_in_span(&mut self, input: &[u8]) -> Result<Response> {
        #[cfg(feature = "wasi")]
        if self.watched {
            return self.call_watched(input, Mode::Async).await;
        }
        self.call_on_fiber(input, Mode::Async).await
    }

    /// A call of a plugin without WASI on a fiber: every `call_async`, and
    /// on an engine without epochs every call after the first `call_async`
    /// (the store then yields on fuel, which only a fiber can). Without
    /// epochs a cancel stops it at a fuel yield.
    async fn call_on_fiber(&mut self, input: &[u8], mode: Mode) -> Result<Response> {
        self.check_input(input)?;
        let started = self.tenant.begin(mode)?;
        let canceller = self.tenant.canceller();
        let at_yields = self.tenant.runs_on_fiber();
        let call = self
            .async_bindings
            .plugbox_plugin_handler()
            .call_handle(&mut self.tenant.store, input);
        let result = if at_yields {
            match crate::fiber::until_cancelled(call, &canceller).await {
                Ok(result) => result,
                Err(stop) => return Err(self.tenant.stopped(stop)),
            }
        } else {
            call.await
        };
        let ended = self.tenant.end(started, result)?;
        self.respond(ended)
    }

    /// A call of a plugin linked with WASI's async bindings: on a fiber,
    /// under the watchdog that stops it at the deadline or on cancel even
    /// while it waits in a WASI host call.
    #[cfg(feature = "wasi")]
    async fn call_watched(&mut self, input: &[u8], mode: Mode) -> Result<Response> {
        self.check_input(input)?;
        let started = self.tenant.begin(mode)?;
        let (canceller, deadline) = self.tenant.watchdog(&started);
        let runtime = self.tenant.engine().io_runtime()?.clone();
        let call = self
            .async_bindings
            .plugbox_plugin_handler()
            .call_handle(&mut self.tenant.store, input);
        let outcome = crate::wasi::watch(&runtime, call, deadline, &canceller).await;
        let ended = match outcome {
            Ok(result) => self.tenant.end(started, result)?,
            Err(stop) => return Err(self.tenant.stopped(stop)),
        };
        self.respond(ended)
    }

    fn check_input(&self, input: &[u8]) -> Result<()> {
        let limit = self.tenant.limits().input_bytes();
        if input.len() > limit {
            return Err(Error::new(
                ErrorKind::InputTooLarge,
                format!("{} bytes, limit {limit}", input.len()),
            ));
        }
        Ok(())
    }

    /// The plugin's answer as a response, or its error (bounded) as a guest
    /// error.
    fn respond(
        &self,
        (answer, fuel_used, elapsed): (std::result::Result<Vec<u8>, String>, Option<u64>, Duration),
    ) -> Result<Response> {
        let limit = self.tenant.limits().output_bytes();
        match answer {
            Ok(output) if output.len() > limit => Err(Error::new(
                ErrorKind::OutputTooLarge,
                format!("{} bytes, limit {limit}", output.len()),
            )),
            Ok(output) => Ok(Response {
                output,
                fuel_used,
                elapsed,
            }),
            Err(mut message) => {
                if message.len() > limit {
                    let mut end = limit;
                    while !message.is_char_boundary(end) {
                        end -= 1;
                    }
                    message.truncate(end);
                }
                Err(Error::new(ErrorKind::Guest, message))
            }
        }
    }

    /// Whether an earlier call trapped, making this instance unusable.
    pub fn is_poisoned(&self) -> bool {
        self.tenant.poisoned_by().is_some()
    }

    /// A handle that cancels this instance's running call from another
    /// thread or task (see [`Canceller`](crate::Canceller)).
    pub fn canceller(&self) -> crate::Canceller {
        self.tenant.canceller()
    }

    /// The kind of the trap that poisoned this instance, if one did.
    pub fn poisoned_by(&self) -> Option<ErrorKind> {
        self.tenant.poisoned_by()
    }

    /// The limits this instance runs under.
    pub fn limits(&self) -> &Limits {
        self.tenant.limits()
    }

    /// Log events (`log` messages, lines of stdio in `tracing` mode) dropped
    /// so far because a call exceeded its
    /// [`Limits::max_log_bytes`](crate::Limits::max_log_bytes).
    pub fn logs_dropped(&self) -> u64 {
        self.tenant.store.data().budget.logs_dropped()
    }

    /// Takes what the plugin has written to stdout since the last take, if
    /// its policy captures stdout (`[stdio] stdout = "capture"`); empty
    /// otherwise.
    #[cfg(feature = "wasi")]
    pub fn take_stdout(&mut self) -> crate::Captured {
        self.take_output(|outputs| outputs.stdout.as_ref())
    }

    /// As [`take_stdout`](Self::take_stdout), for stderr.
    #[cfg(feature = "wasi")]
    pub fn take_stderr(&mut self) -> crate::Captured {
        self.take_output(|outputs| outputs.stderr.as_ref())
    }

    #[cfg(feature = "wasi")]
    fn take_output(
        &mut self,
        stream: impl FnOnce(
            &crate::wasi::Outputs,
        ) -> Option<&std::sync::Arc<std::sync::Mutex<crate::Captured>>>,
    ) -> crate::Captured {
        let wasi = self.tenant.store.data().wasi.as_ref();
        crate::wasi::Outputs::take(wasi.and_then(|wasi| stream(&wasi.outputs)))
    }
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("limits", self.tenant.limits())
            .field("poisoned", &self.tenant.poisoned_by())
            .finish_non_exhaustive()
    }
}
