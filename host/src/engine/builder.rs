//! [`EngineBuilder`]: every setting of an engine, with its default, and
//! turning them into a wasmtime configuration and pool.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{Engine, EngineInner, MemoryProfile, Metering};
use crate::cache::Cache;
use crate::error::{Error, ErrorKind, Result};
use crate::kv::{KvStore, MemoryKv};
use crate::ticker::Ticker;

/// How instances get their memory, tables and instance slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Allocator {
    /// Slots reserved up front for `capacity` live instances: instantiation
    /// reuses a slot (copy-on-write memory images, no `mmap` per instance).
    /// The fast and dense choice, and the default (capacity 1,000).
    Pooling {
        /// Most instances alive at once; one more is
        /// [`ErrorKind::PoolExhausted`].
        capacity: u32,
    },
    /// Memory is mapped for each instance when it is created and unmapped when
    /// it is dropped. No capacity limit; slower to instantiate.
    OnDemand,
}

/// Configures an [`Engine`]. Every setting has a documented default.
///
/// ```
/// let engine = plugbox::Engine::builder()
///     .allocator(plugbox::Allocator::Pooling { capacity: 100 })
///     .memory_slot_bytes(4 << 20)
///     .build()?;
/// # Ok::<(), plugbox::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct EngineBuilder {
    pub(super) allocator: Allocator,
    pub(super) memory_slot_bytes: usize,
    pub(super) max_wasm_stack: usize,
    pub(super) epoch_tick: Duration,
    pub(super) keep_resident_bytes: usize,
    pub(super) max_async_calls: Option<u32>,
    pub(super) cache_dir: Option<PathBuf>,
    pub(super) max_component_bytes: usize,
    pub(super) instance_budget: InstanceBudget,
    pub(super) kv_store: KvHandle,
    pub(super) reserve: crate::mapping_budget::Reserve,
    pub(super) component_model_async: bool,
    pub(super) metering: Metering,
    pub(super) memory_profile: MemoryProfile,
    pub(super) backtrace_details: bool,
    pub(super) coredump_on_trap: bool,
    pub(super) call_histograms: bool,
}

/// What one instance may hold of the pool's core instances, memories and
/// tables ([`EngineBuilder::core_instances_per_instance`] and its
/// siblings).
#[derive(Debug, Clone, Copy)]
pub(crate) struct InstanceBudget {
    pub(crate) core_instances: u32,
    pub(crate) memories: u32,
    pub(crate) tables: u32,
}

/// The key-value backend, printable.
#[derive(Clone)]
pub(super) struct KvHandle(pub(super) Arc<dyn KvStore>);

impl std::fmt::Debug for KvHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KvStore")
    }
}

impl Default for EngineBuilder {
    fn default() -> Self {
        Self {
            allocator: Allocator::Pooling { capacity: 1_000 },
            memory_slot_bytes: 16 << 20,
            max_wasm_stack: 512 << 10,
            epoch_tick: Duration::from_millis(1),
            keep_resident_bytes: 256 << 10,
            max_async_calls: None,
            cache_dir: None,
            max_component_bytes: 64 << 20,
            instance_budget: InstanceBudget {
                core_instances: 16,
                memories: 2,
                tables: 16,
            },
            kv_store: KvHandle(Arc::new(MemoryKv::new())),
            reserve: crate::mapping_budget::Reserve::default(),
            component_model_async: false,
            metering: Metering::default(),
            memory_profile: MemoryProfile::default(),
            backtrace_details: false,
            coredump_on_trap: false,
            call_histograms: true,
        }
    }
}

impl EngineBuilder {
    /// The instance allocator. Default: [`Allocator::Pooling`] with capacity
    /// 1,000.
    pub fn allocator(mut self, allocator: Allocator) -> Self {
        self.allocator = allocator;
        self
    }

    /// The largest linear memory of any instance, and so the hard ceiling of
    /// any [`Limits::max_memory_bytes`](crate::Limits::max_memory_bytes);
    /// under [`MemoryProfile::Dense`] also the address space reserved for
    /// each memory. Default: 16 MiB.
    ///
    /// Under the default [`MemoryProfile::Dense`] memory accesses are
    /// bounds-checked explicitly (no multi-GiB guard regions), so a small
    /// slot costs little address space: with 1,000 instances of two 16 MiB
    /// slots each ([`memories_per_instance`](Self::memories_per_instance))
    /// the pool reserves 32 GiB of the 128 TiB available.
    /// The slot must hold a plugin's initial memory (Rust's default 1 MiB
    /// shadow stack included).
    pub fn memory_slot_bytes(mut self, bytes: usize) -> Self {
        self.memory_slot_bytes = bytes;
        self
    }

    /// Which per-call meters are compiled into plugins' code: fuel, the
    /// wall-clock deadline, or both. Default: [`Metering::FuelAndDeadline`].
    ///
    /// A limit the engine does not meter, when set (an explicit
    /// [`Limits::fuel`](crate::Limits::fuel) on [`Metering::DeadlineOnly`],
    /// an explicit [`Limits::deadline`](crate::Limits::deadline) on
    /// [`Metering::FuelOnly`], or the same in a policy), is refused with
    /// [`ErrorKind::Config`] by [`Plugin::with_policy`](crate::Plugin::with_policy)
    /// and by instantiation, never ignored; see [`Metering`] for what each
    /// mode costs and what cancellation does in it.
    pub fn metering(mut self, metering: Metering) -> Self {
        self.metering = metering;
        self
    }

    /// How linear memories are reserved: [`MemoryProfile::Dense`] (the
    /// default: [`memory_slot_bytes`](Self::memory_slot_bytes) each,
    /// explicit bounds checks) or [`MemoryProfile::Guarded`] (4 GiB and guard
    /// regions each, no bounds checks), density against memory-heavy
    /// compute. [`build`](Self::build) refuses a pool whose reservation
    /// does not fit the address space, naming the capacity and the profile.
    pub fn memory_profile(mut self, profile: MemoryProfile) -> Self {
        self.memory_profile = profile;
        self
    }

    /// Largest native stack wasm code may use, engine-wide (wasmtime fixes it
    /// per engine). Deeper recursion traps with [`ErrorKind::StackOverflow`].
    /// Default: 512 KiB.
    pub fn max_wasm_stack(mut self, bytes: usize) -> Self {
        self.max_wasm_stack = bytes;
        self
    }

    /// Period of the epoch ticker, and so the precision of call deadlines.
    /// Default: 1 ms.
    pub fn epoch_tick(mut self, tick: Duration) -> Self {
        self.epoch_tick = tick;
        self
    }

    /// Bytes of each pooled memory slot kept resident (reset with `memset`
    /// instead of being returned to the OS with `madvise`) when an instance is
    /// dropped. Sized to what a plugin touches, it saves the page faults and
    /// TLB shootdowns of the next instance in that slot; the price is up to
    /// that much resident memory per *free* slot that was once used. Ignored
    /// by [`Allocator::OnDemand`]. Default: 256 KiB.
    ///
    /// The `keep-resident` group of `cargo bench -p plugbox-benches` measures
    /// the effect (README: several times faster first calls with 256 KiB
    /// than with none).
    pub fn keep_resident_bytes(mut self, bytes: usize) -> Self {
        self.keep_resident_bytes = bytes;
        self
    }

    /// Fiber stacks, reserved up front by the pooling allocator (2 MiB of
    /// address space and a guard page each). A call runs on one when it is
    /// an [`Instance::call_async`](crate::Instance::call_async), and every
    /// call of a plugin that imports WASI does (sync or async: a WASI host
    /// call that waits parks the fiber, which is how the deadline reaches
    /// it). An instance takes a stack at its first such call and keeps it,
    /// for its next calls, until it is dropped (wasmtime caches the last
    /// stack per store): this is the most live instances of WASI plugins,
    /// plus instances of lean plugins that use `call_async`, at once. A call
    /// that finds no stack free fails with [`ErrorKind::PoolExhausted`]
    /// without running (the instance is not poisoned). Ignored by
    /// [`Allocator::OnDemand`], which maps stacks per call. Default: the
    /// pool's capacity, at most 1,000.
    pub fn max_async_calls(mut self, calls: u32) -> Self {
        self.max_async_calls = Some(calls);
        self
    }

    /// Directory for precompiled components. Loading a component already
    /// compiled by an engine with the same configuration and wasmtime version
    /// then skips compilation. Default: no cache.
    ///
    /// Entries are native code, so each is signed with a BLAKE3 keyed hash
    /// under a secret key kept in `plugbox-cache.key` in the directory (made
    /// on first use, mode 0600), and names the component and engine
    /// configuration it was compiled for: an entry that is corrupt, stale,
    /// renamed, swapped with another or written with another key is compiled
    /// again and replaced, never loaded.
    ///
    /// The directory and its per-engine subdirectory must belong to this
    /// process's effective user and be writable by no one else (missing ones
    /// are created with mode 0700). Otherwise [`build`](Self::build) fails
    /// with [`ErrorKind::Config`], naming the directory, its owner and mode
    /// and the fix, rather than warning and running without a cache: whoever
    /// else can write it could replace the key and the code together, and a
    /// cache silently switched off would only show as slow starts.
    pub fn cache_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cache_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// The largest component this engine loads; larger bytes (or files) are
    /// refused with [`ErrorKind::InvalidComponent`] before they are hashed,
    /// parsed or read. Default: 64 MiB.
    ///
    /// [`ErrorKind::InvalidComponent`]: crate::ErrorKind::InvalidComponent
    pub fn max_component_bytes(mut self, bytes: usize) -> Self {
        self.max_component_bytes = bytes;
        self
    }

    /// Most core (module) instances one instance of a component may create,
    /// under [`Allocator::Pooling`]: the pool holds capacity × this many. A
    /// component that needs more is refused when it is loaded
    /// ([`ErrorKind::InstanceLimit`], naming both numbers). At least 1;
    /// default: 16.
    ///
    /// Measured needs: a lean Rust plugin 1, a `std` Rust plugin 4 (its
    /// WASI adapter and shims), QuickJS (componentize-qjs) 8, CPython
    /// (componentize-py) 14. [`Limits::max_instances`](crate::Limits::max_instances)
    /// bounds each plugin's instances below this.
    pub fn core_instances_per_instance(mut self, count: u32) -> Self {
        self.instance_budget.core_instances = count;
        self
    }

    /// Most linear memories one instance may create, under
    /// [`Allocator::Pooling`] (the pool holds capacity × this many memory
    /// slots of [`memory_slot_bytes`](Self::memory_slot_bytes) each; address
    /// space only, until touched). A component that needs more is refused
    /// when it is loaded. At least 1; default: 2 (QuickJS needs 2; Rust, C, Go, CPython
    /// and StarlingMonkey components 1).
    pub fn memories_per_instance(mut self, count: u32) -> Self {
        self.instance_budget.memories = count;
        self
    }

    /// Most tables one instance may create, under [`Allocator::Pooling`]
    /// (the pool holds capacity × this many). A component that needs more is
    /// refused when it is loaded. At least 1; default: 16.
    pub fn tables_per_instance(mut self, count: u32) -> Self {
        self.instance_budget.tables = count;
        self
    }

    /// The backend of the `kv` host function, shared by every plugin of the
    /// engine (each in its own namespace). Default: a [`MemoryKv`].
    pub fn kv_store(mut self, store: Arc<dyn KvStore>) -> Self {
        self.kv_store = KvHandle(store);
        self
    }

    /// Memory mappings kept free for the rest of the process below
    /// `vm.max_map_count`: an instantiation (or an on-demand instance's
    /// first async call, which maps a fiber stack) that would leave fewer
    /// free fails with [`ErrorKind::HostResources`], so that the host's own
    /// allocations, threads and error paths (a backtrace captured with
    /// `RUST_BACKTRACE=1`) still find room and the process never aborts at
    /// the kernel's limit. Default: 1,024 or 5 % of `vm.max_map_count`,
    /// whichever is larger (3,276 of the default 65,530: about 15,500 lean
    /// instances fit in one process).
    ///
    /// The budget charges each instance what it maps (4 mappings per linear
    /// memory with copy-on-write images; 2 more on demand for a cached fiber
    /// stack) against a count of the process's mappings read at build and
    /// then rarely (when the charges since the last reading pass half of the
    /// room it left, and before refusing, at most once a second), never per
    /// instantiation. The count is process-wide: every engine's instances
    /// and the host's own mappings share it. Raise the limit with `sysctl -w
    /// vm.max_map_count=...`; a reserve of 0 turns the protection off.
    pub fn host_reserve_mappings(mut self, mappings: usize) -> Self {
        self.reserve.maps = Some(mappings);
        self
    }

    /// The default of [`host_reserve_mappings`](Self::host_reserve_mappings)
    /// under a `vm.max_map_count` of `max_map_count`: 1,024 or 5 %, whichever
    /// is larger.
    pub fn default_host_reserve_mappings(max_map_count: usize) -> usize {
        crate::mapping_budget::Reserve::default().maps(max_map_count)
    }

    /// Bytes of address space kept free for the rest of the process below
    /// `RLIMIT_AS` (or the architecture's user address space, 128 TiB on
    /// x86-64, without one): an on-demand instance whose memory reservation
    /// ([`memory_slot_bytes`](Self::memory_slot_bytes)) would leave less
    /// free fails with [`ErrorKind::HostResources`], and a pool whose
    /// reservation would fails [`build`](Self::build) with
    /// [`ErrorKind::Config`]. Default: 1 GiB or 5 % of the limit, whichever
    /// is larger. The limit is read when an engine is built (and at the
    /// budget's rare readings): lower `RLIMIT_AS` before building.
    pub fn host_reserve_address_space(mut self, bytes: u64) -> Self {
        self.reserve.bytes = Some(bytes);
        self
    }

    /// Whether the engine hosts components that use component-model async
    /// (its built-ins: `task.return`, `task.cancel`, waitable sets, streams,
    /// futures, backpressure). componentize-qjs's default runtime is one:
    /// QuickJS plugins built as its README says. Default: off, so that an
    /// engine that never sees one keeps wasmtime's plain stores (no
    /// concurrency state per store, calls on wasmtime's direct path).
    ///
    /// On such an engine those plugins run under every limit a plugin has
    /// (fuel, deadline, cancel, memory, tables, stack), sync and async
    /// calls alike, and other plugins run as on any engine. Without it,
    /// loading one fails with [`ErrorKind::InvalidComponent`] naming this
    /// setting and quoting wasmtime's reason.
    ///
    /// Needs the `component-model-async` cargo feature (on by default);
    /// without it [`build`](Self::build) refuses `true` with
    /// [`ErrorKind::Config`].
    pub fn component_model_async(mut self, enable: bool) -> Self {
        self.component_model_async = enable;
        self
    }

    /// Creates the engine and starts its epoch ticker.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when the settings are inconsistent (zero
    /// capacity, zero tick), when the pool's reservation (memory slots,
    /// table slots and fiber stacks) does not fit in the address space or
    /// the mappings left with the reserves kept free (the message names both
    /// numbers), when wasmtime rejects them, or when the cache directory or
    /// its key is not private to this user ([`cache_dir`](Self::cache_dir));
    /// [`ErrorKind::Io`] when the cache directory or its key cannot be
    /// created or read.
    pub fn build(self) -> Result<Engine> {
        if self.epoch_tick.is_zero() {
            return Err(Error::new(ErrorKind::Config, "epoch tick must be non-zero"));
        }
        let budget = self.instance_budget;
        for (count, setting) in [
            (budget.core_instances, "core_instances_per_instance"),
            (budget.memories, "memories_per_instance"),
            (budget.tables, "tables_per_instance"),
        ] {
            if count == 0 {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("EngineBuilder::{setting} must be at least 1"),
                ));
            }
        }
        if self.component_model_async && !cfg!(feature = "component-model-async") {
            return Err(Error::new(
                ErrorKind::Config,
                "EngineBuilder::component_model_async needs plugbox's \
                 `component-model-async` cargo feature, which this build lacks",
            ));
        }
        self.check_debugging()?;
        if let Allocator::Pooling { capacity: 0 } = self.allocator {
            return Err(Error::new(
                ErrorKind::Config,
                "pool capacity must be non-zero",
            ));
        }
        let pool = self.pool_config();
        let budget = crate::mapping_budget::EngineBudget::new(
            self.reserve,
            pool.as_ref(),
            self.memory_reservation(),
        )?;
        let config = self.wasmtime_config(pool);
        let wasmtime = wasmtime::Engine::new(&config).map_err(|error| {
            Error::new(
                ErrorKind::Config,
                "wasmtime rejected the engine configuration",
            )
            .with_wasmtime(error)
        })?;
        let cache = match &self.cache_dir {
            Some(dir) => Some(Cache::open(dir, &wasmtime)?),
            None => None,
        };
        let mut linker = wasmtime::component::Linker::new(&wasmtime);
        crate::hostfns::add_to_linker(&mut linker)?;
        #[cfg(feature = "wasi")]
        let wasi_linker = {
            let mut linker = crate::wasi::linker(&wasmtime)?;
            crate::hostfns::add_to_linker(&mut linker)?;
            linker
        };
        let ticker = if self.metering.meters_deadline() {
            Ticker::start(wasmtime.clone(), self.epoch_tick)?
        } else {
            Ticker::none()
        };
        budget.settle(&wasmtime);
        Ok(Engine {
            inner: Arc::new(EngineInner {
                wasmtime,
                linker,
                #[cfg(feature = "wasi")]
                wasi_linker,
                #[cfg(feature = "wasi")]
                io: crate::wasi::IoRuntime::default(),
                cache,
                settings: self,
                budget,
                ticker,
            }),
        })
    }
}
