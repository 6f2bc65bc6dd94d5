//! The process-wide engine: wasmtime configuration, instance allocator, epoch
//! ticker, linkers and the compiled-component cache.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::cache::Cache;
use crate::error::Result;
use crate::host::HostContext;
use crate::kv::KvStore;
use crate::ticker::Ticker;

mod builder;
mod debugging;
mod memory_profile;
mod metering;
mod observability;
mod wasmtime_config;

pub use builder::{Allocator, EngineBuilder};
pub use memory_profile::MemoryProfile;
pub use metering::Metering;

/// The process-wide plugin engine: compiler, instance pool, epoch ticker and
/// cache. Create one per process and share it: `Engine` is a cheap `Clone`
/// (a reference count) and `Send + Sync`.
///
/// The epoch ticker thread runs as long as any handle lives — the `Engine`
/// itself or any [`Plugin`](crate::Plugin) or [`Instance`](crate::Instance)
/// made from it — and is stopped and joined when the last one drops.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    wasmtime: wasmtime::Engine,
    linker: wasmtime::component::Linker<HostContext>,
    #[cfg(feature = "wasi")]
    wasi_linker: wasmtime::component::Linker<HostContext>,
    /// Timers and I/O of WASI plugins' host calls (started on first use).
    #[cfg(feature = "wasi")]
    io: crate::wasi::IoRuntime,
    cache: Option<Cache>,
    settings: EngineBuilder,
    budget: Arc<crate::mapping_budget::EngineBudget>,
    // Declared last: dropped (and joined) after everything else.
    ticker: Ticker,
}

impl Engine {
    /// An engine with the default settings of [`EngineBuilder`].
    ///
    /// # Errors
    ///
    /// As [`EngineBuilder::build`].
    pub fn new() -> Result<Self> {
        Self::builder().build()
    }

    /// Starts configuring an engine.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The instance allocator this engine uses.
    pub fn allocator(&self) -> Allocator {
        self.inner.settings.allocator
    }

    /// The largest linear memory (the ceiling of every memory limit; under
    /// [`MemoryProfile::Dense`] also the bytes reserved per memory).
    pub fn memory_slot_bytes(&self) -> usize {
        self.inner.settings.memory_slot_bytes
    }

    /// Which per-call meters this engine compiles in
    /// ([`EngineBuilder::metering`]).
    pub fn metering(&self) -> Metering {
        self.inner.settings.metering
    }

    /// How this engine reserves linear memories
    /// ([`EngineBuilder::memory_profile`]).
    pub fn memory_profile(&self) -> MemoryProfile {
        self.inner.settings.memory_profile
    }

    /// The largest component this engine loads
    /// ([`EngineBuilder::max_component_bytes`]).
    pub fn max_component_bytes(&self) -> usize {
        self.inner.settings.max_component_bytes
    }

    /// Refuses a component of `len` bytes if it is over the engine's maximum.
    pub(crate) fn check_component_size(&self, len: u64) -> crate::Result<()> {
        let max = self.max_component_bytes();
        if len > max as u64 {
            return Err(crate::Error::new(
                crate::ErrorKind::InvalidComponent,
                format!("{len} bytes is larger than the engine's maximum component size of {max}"),
            ));
        }
        Ok(())
    }

    /// Whether this engine hosts component-model async components
    /// ([`EngineBuilder::component_model_async`]).
    pub fn component_model_async(&self) -> bool {
        self.inner.settings.component_model_async
    }

    /// The epoch tick (deadline precision), on an engine that meters the
    /// deadline.
    pub fn epoch_tick(&self) -> Duration {
        self.inner.settings.epoch_tick
    }

    /// The underlying wasmtime engine, for embedders who need wasmtime APIs
    /// directly.
    pub fn wasmtime(&self) -> &wasmtime::Engine {
        &self.inner.wasmtime
    }

    /// Where the compiled form of the component `bytes` is (or would be)
    /// cached, if this engine has a cache directory.
    pub fn cache_path_for(&self, bytes: &[u8]) -> Option<PathBuf> {
        self.inner
            .cache
            .as_ref()
            .map(|cache| cache.entry_path(bytes))
    }

    pub(crate) fn kv_store(&self) -> Arc<dyn KvStore> {
        Arc::clone(&self.inner.settings.kv_store.0)
    }

    /// The engine's share of the process's mapping budget.
    pub(crate) fn budget(&self) -> &Arc<crate::mapping_budget::EngineBudget> {
        &self.inner.budget
    }

    pub(crate) fn cache(&self) -> Option<&Cache> {
        self.inner.cache.as_ref()
    }

    /// The linker for a component: with WASI if it imports any, else empty.
    pub(crate) fn linker(&self, needs_wasi: bool) -> &wasmtime::component::Linker<HostContext> {
        #[cfg(feature = "wasi")]
        if needs_wasi {
            return &self.inner.wasi_linker;
        }
        let _ = needs_wasi;
        &self.inner.linker
    }

    /// A linker for an embedder's own world: plugbox's host functions and,
    /// with the `wasi` feature, WASI's synchronous bindings (custom worlds are
    /// called synchronously by their embedders).
    pub(crate) fn custom_linker(&self) -> Result<wasmtime::component::Linker<HostContext>> {
        #[cfg(feature = "wasi")]
        let mut linker = crate::wasi::sync_linker(&self.inner.wasmtime)?;
        #[cfg(not(feature = "wasi"))]
        let mut linker = wasmtime::component::Linker::new(&self.inner.wasmtime);
        crate::hostfns::add_to_linker(&mut linker)?;
        Ok(linker)
    }

    /// The runtime that drives WASI plugins' host calls, started on first
    /// use.
    #[cfg(feature = "wasi")]
    pub(crate) fn io_runtime(&self) -> Result<&tokio::runtime::Handle> {
        self.inner.io.handle()
    }

    /// A handle that observes whether the ticker of this engine has stopped,
    /// without keeping the engine alive.
    #[doc(hidden)]
    pub fn ticker_probe(&self) -> crate::ticker::TickerProbe {
        self.inner.ticker.probe()
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}
