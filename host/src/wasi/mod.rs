//! WASI preview 2 for plugins that import it, granting exactly what the
//! plugin's [`Policy`](crate::Policy) allows and nothing else.
//!
//! Each capability is one module with the same shape: `configure` validates
//! its part of the policy and resolves it into a grant, once, when the policy
//! is applied to a plugin; `grant` adds it to one instance's WASI context.
//! With an empty policy every capability is denied: no directories, no
//! environment, no arguments, discarded output, closed stdin, no network.
//!
//! Plugins that import no WASI are linked without it and never build a
//! context.

mod clock;
mod env;
mod fs;
mod network;
mod random;
mod stdio;
mod watchdog;

use std::sync::Arc;

use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

pub use stdio::Captured;
pub(crate) use stdio::Outputs;
pub(crate) use watchdog::{IoRuntime, watch, watchdog_deadline};

use crate::error::{Error, ErrorKind, Result};
use crate::host::HostContext;
use crate::hostfns::CallBudget;
use crate::policy::Policy;

/// A policy's capabilities, resolved once per plugin.
#[derive(Debug)]
pub(crate) struct Grants {
    env: env::Grant,
    fs: fs::Grant,
    stdio: stdio::Grant,
    clock: clock::Grant,
    random: random::Grant,
    network: network::Grant,
}

impl Grants {
    /// Validates and resolves every capability of `policy`.
    pub(crate) fn configure(policy: &Policy) -> Result<Self> {
        Ok(Self {
            env: env::Grant::configure(policy)?,
            fs: fs::Grant::configure(policy)?,
            stdio: stdio::Grant::configure(policy)?,
            clock: clock::Grant::configure(policy)?,
            random: random::Grant::configure(policy)?,
            network: network::Grant::configure(policy)?,
        })
    }

    /// Nothing granted.
    pub(crate) fn deny_all() -> Self {
        Self::configure(&Policy::default()).unwrap_or_else(|_| unreachable!("empty policy"))
    }

    /// A fresh WASI context for one instance of the plugin named `plugin`
    /// (in logs), whose traced output spends `budget`.
    pub(crate) fn build(&self, plugin: &str, budget: &Arc<CallBudget>) -> Result<WasiState> {
        let mut builder = WasiCtxBuilder::new();
        self.env.grant(&mut builder);
        self.fs.grant(&mut builder)?;
        let outputs = self.stdio.grant(&mut builder, plugin, budget);
        self.clock.grant(&mut builder);
        self.random.grant(&mut builder);
        self.network.grant(&mut builder);
        Ok(WasiState {
            ctx: builder.build(),
            table: ResourceTable::new(),
            outputs,
        })
    }
}

/// One instance's WASI context, resource table and captured output.
pub(crate) struct WasiState {
    ctx: WasiCtx,
    table: ResourceTable,
    pub(crate) outputs: stdio::Outputs,
}

impl WasiView for HostContext {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        // Built at instantiation for every plugin linked with WASI; the
        // fallback only keeps this infallible.
        let (plugin, budget) = (&self.host.plugin, &self.budget);
        let state = self.wasi.get_or_insert_with(|| {
            Box::new(
                Grants::deny_all()
                    .build(plugin, budget)
                    .unwrap_or_else(|_| unreachable!("an empty policy opens nothing")),
            )
        });
        WasiCtxView {
            ctx: &mut state.ctx,
            table: &mut state.table,
        }
    }
}

/// The linker holding every WASI preview 2 interface with wasmtime-wasi's
/// async bindings, for [`Plugin`](crate::Plugin)s: a host call that waits
/// parks the call's fiber, and the [`watch`]dog keeps it under the deadline.
pub(crate) fn linker(engine: &wasmtime::Engine) -> Result<Linker<HostContext>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|error| {
        Error::new(ErrorKind::Config, "linking WASI preview 2").with_wasmtime(error)
    })?;
    Ok(linker)
}

/// The same interfaces with the synchronous bindings, for
/// [`CustomWorld`](crate::CustomWorld)s, whose embedders call their exports
/// synchronously: there a WASI host call that waits blocks the calling
/// thread, outside the deadline.
pub(crate) fn sync_linker(engine: &wasmtime::Engine) -> Result<Linker<HostContext>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|error| {
        Error::new(ErrorKind::Config, "linking WASI preview 2").with_wasmtime(error)
    })?;
    Ok(linker)
}
