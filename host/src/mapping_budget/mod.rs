//! The mapping budget: an engine refuses a new instance with
//! [`ErrorKind::HostResources`] while the host still has room, instead of
//! letting the process reach `vm.max_map_count` (or its address-space
//! limit), where the next allocation anywhere in the host (a `Vec` growing, a
//! backtrace captured for an error, a thread stack) fails and aborts the
//! process, every other tenant with it.
//!
//! Each instance is charged what it maps (measured: 4 mappings per linear
//! memory with copy-on-write images, pooled or not; on demand also the
//! memory's reservation of address space, and 2 mappings plus the stack for
//! the fiber stack an async call caches in its store). The charges of every
//! engine of the process go to one [`ledger`], which reads the kernel rarely
//! (see there) and refuses when the charges, plus what the rest of the
//! process holds, plus the engine's reserve, would pass the limit.
//!
//! A pooled slot keeps its mappings when its instance drops (wasmtime keeps
//! the slot "warm", its image mapped, for the next instance, and takes a
//! never-used slot while it has fewer than 100 warm ones, or when the
//! calling thread's shard of the pool has none), so a pooled instance's
//! charge stays with the engine when it drops, and every new instance is
//! charged as if its slot were new: the ledger never counts less than the
//! pool maps. When the charges pass the ledger's next reading, and before it
//! refuses anyone, every pooled engine gives back what its charges exceed
//! the slots its pool has used (wasmtime's counts of live and warm memories)
//! at 4 mappings each; and while its pool has warm slots, which a
//! new instance will most likely reuse without a new mapping, it may spend
//! up to half of its reserve on instances that do (the next refusal
//! corrects the count again), so reused slots do not turn tenants away and
//! slots that turn out new never take more than half of the reserve.
//!
//! At [`EngineBuilder::build`](crate::EngineBuilder::build) the pool's
//! reservation (memory slots, table slots, fiber stacks) is checked the same
//! way: one that cannot be reserved is an [`ErrorKind::Config`] error naming
//! both numbers, not a failure at the Nth instance.

mod ledger;
mod pool;
mod probe;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, LazyLock, Mutex, OnceLock, Weak};

use crate::error::{Error, ErrorKind, Result};
pub(crate) use ledger::{Footprint, Reserve};
use ledger::{Ledger, Refusal};
use probe::AddressLimit;

/// Which host resource an [`ErrorKind::HostResources`] error ran out of
/// ([`Error::host_resource`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HostResource {
    /// Memory mappings: the process is at (or its engine's reserve below)
    /// `vm.max_map_count`.
    MemoryMappings,
    /// Address space: the process is at (or its engine's reserve below)
    /// `RLIMIT_AS`, or the architecture's user address space.
    AddressSpace,
}

impl std::fmt::Display for HostResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::MemoryMappings => "memory mappings (vm.max_map_count)",
            Self::AddressSpace => "address space",
        })
    }
}

/// The one ledger of this process: the limits are the process's.
static LEDGER: LazyLock<Ledger> =
    LazyLock::new(|| Ledger::new(Box::new(probe::process), Box::new(reconcile_pooled_engines)));

/// The pooled engines of the process, for [`reconcile_pooled_engines`].
static POOLED: Mutex<Vec<Weak<EngineBudget>>> = Mutex::new(Vec::new());

/// Brings every pooled engine's charge down to what its pool maps.
fn reconcile_pooled_engines() {
    let mut engines = POOLED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    engines.retain(|engine| engine.strong_count() > 0);
    for engine in engines.iter().filter_map(Weak::upgrade) {
        engine.reconcile();
    }
}

/// Mappings one linear memory holds with a copy-on-write image: the image,
/// the accessible memory on either side of it, the reserved rest of the slot
/// (measured with `/proc/self/maps`, pooled and on demand; the density
/// crate's tests pin it).
pub(crate) const MAPS_PER_MEMORY: usize = 4;
/// An on-demand fiber stack: the stack and its guard page.
const MAPS_PER_STACK: usize = 2;
/// wasmtime's `async_stack_size`, which the engine leaves at its default.
const ASYNC_STACK_BYTES: u64 = 2 << 20;
/// wasmtime's nominal table element (a function reference).
const TABLE_ELEMENT_BYTES: u64 = 8;
/// Below this, glibc's `malloc` never maps a block of its own: an on-demand
/// table (a heap vector) smaller than this costs no mapping.
const MALLOC_MMAP_THRESHOLD: u64 = 128 << 10;

/// The address space an engine's linear memories take, as its memory
/// profile lays them out.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MemoryLayout {
    /// One slot of the pool: the reservation and its trailing guard region.
    pub(crate) pooled_slot: u64,
    /// One memory mapped on demand, its guard regions included.
    pub(crate) on_demand: u64,
    /// The guard region before a pool's slots, once per pool.
    pub(crate) pool_guard: u64,
    /// The profile and what one slot holds, for messages.
    pub(crate) profile: &'static str,
    /// What makes a pool that does not fit smaller, for messages.
    pub(crate) remedy: &'static str,
}

/// One engine's view of the ledger: its reserve, what its instances cost,
/// and how many are live.
pub(crate) struct EngineBudget {
    ledger: &'static Ledger,
    reserve: Reserve,
    /// Pooled: memory comes from the pool's reservation.
    pooled: bool,
    /// Address space of one on-demand linear memory.
    memory_bytes: u64,
    /// Pooled: what this engine's instances, live or dropped (their slots
    /// stay mapped), have charged.
    pool_maps: AtomicUsize,
    /// Pooled: wasmtime's count of warm slots, once the engine exists.
    metrics: OnceLock<wasmtime::PoolingAllocatorMetrics>,
    live: AtomicUsize,
}

impl EngineBudget {
    /// Reads the kernel and checks that `pool` (if pooling) can be reserved
    /// with `reserve` to spare.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when the pool does not fit.
    pub(crate) fn new(
        reserve: Reserve,
        pool: Option<&wasmtime::PoolingAllocationConfig>,
        memory: MemoryLayout,
    ) -> Result<Arc<Self>> {
        let ledger: &'static Ledger = &LEDGER;
        ledger.refresh();
        if let Some(pool) = pool {
            pool::check_pool(ledger, reserve, pool, memory)?;
        }
        let budget = Arc::new(Self {
            ledger,
            reserve,
            pooled: pool.is_some(),
            memory_bytes: memory.on_demand,
            pool_maps: AtomicUsize::new(0),
            metrics: OnceLock::new(),
            live: AtomicUsize::new(0),
        });
        if budget.pooled {
            POOLED
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(Arc::downgrade(&budget));
        }
        Ok(budget)
    }

    /// Reads the kernel again once the engine (its pool) exists.
    pub(crate) fn settle(&self, engine: &wasmtime::Engine) {
        if let Some(metrics) = engine.pooling_allocator_metrics() {
            let _ = self.metrics.set(metrics);
        }
        self.ledger.refresh();
    }

    /// What one instance of `component` costs on this engine.
    pub(crate) fn footprint(&self, component: &wasmtime::component::Component) -> Footprint {
        let (memories, tables, table_elements) = match component.resources_required() {
            Some(required) => (
                required.num_memories as usize,
                required.num_tables as u64,
                required.max_initial_table_size.unwrap_or(0),
            ),
            // Only a component instantiating an imported core module has no
            // static answer, and no plugbox linker provides core modules:
            // such a component does not load. One of each, to be safe.
            None => (1, 1, 0),
        };
        let maps = MAPS_PER_MEMORY * memories;
        if self.pooled {
            // Tables and memories come from the pool's reservations.
            return Footprint { maps, bytes: 0 };
        }
        let table_bytes = table_elements.saturating_mul(TABLE_ELEMENT_BYTES);
        let mapped_tables = if table_bytes >= MALLOC_MMAP_THRESHOLD {
            tables
        } else {
            0
        };
        Footprint {
            maps: maps + usize::try_from(mapped_tables).unwrap_or(usize::MAX),
            bytes: (memories as u64)
                .saturating_mul(self.memory_bytes)
                .saturating_add(mapped_tables.saturating_mul(table_bytes)),
        }
    }

    /// Charges one instance of `cost`; the charge is returned when the
    /// [`Charge`] drops (after the instance's store, declared before it).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::HostResources`] when it would eat into the reserve.
    pub(crate) fn charge(self: &Arc<Self>, cost: Footprint) -> Result<Charge> {
        self.ledger
            .charge(cost, self.reserve)
            .or_else(|refusal| self.charge_pooled_near_the_limit(cost, refusal))
            .map_err(|refusal| self.refused(refusal, "an instance"))?;
        if self.pooled {
            self.pool_maps.fetch_add(cost.maps, Relaxed);
        }
        self.live.fetch_add(1, Relaxed);
        Ok(Charge {
            budget: Arc::clone(self),
            cost,
            stack: false,
        })
    }

    /// Gives back what this pooled engine's charge exceeds the slots its
    /// pool has used (live and warm) at 4 mappings each. Instances being
    /// created meanwhile may be missed (counted a few mappings low until the
    /// next reconciliation): well inside any reserve.
    fn reconcile(&self) {
        let Some(metrics) = self.metrics.get() else {
            return;
        };
        let warm = usize::try_from(metrics.unused_warm_memories()).unwrap_or(usize::MAX);
        let used = metrics.memories().saturating_add(warm);
        let mappable = used.saturating_mul(MAPS_PER_MEMORY);
        let charged = self.pool_maps.load(Relaxed);
        if charged > mappable {
            let excess = charged - mappable;
            self.pool_maps.fetch_sub(excess, Relaxed);
            self.ledger.release(Footprint {
                maps: excess,
                bytes: 0,
            });
        }
    }

    /// A pooled engine's second chance after `refusal` (the ledger has
    /// reconciled every pool): with warm slots to reuse, half of the
    /// reserve (see the module documentation).
    fn charge_pooled_near_the_limit(
        &self,
        cost: Footprint,
        refusal: Refusal,
    ) -> std::result::Result<(), Refusal> {
        let Some(metrics) = self.metrics.get() else {
            return Err(refusal);
        };
        let Refusal::Mappings { limit, .. } = refusal else {
            return Err(refusal);
        };
        if metrics.unused_warm_memories() == 0 {
            return Err(refusal);
        }
        let half = Reserve {
            maps: Some(self.reserve.maps(limit) / 2),
            bytes: self.reserve.bytes,
        };
        self.ledger.charge(cost, half).map_err(|_| refusal)
    }

    /// What the fiber stack an async call caches in its store costs: nothing
    /// pooled (the pool's stacks are mapped at build), a mapped stack on
    /// demand.
    fn stack_footprint(&self) -> Footprint {
        if self.pooled {
            return Footprint::default();
        }
        Footprint {
            maps: MAPS_PER_STACK,
            bytes: ASYNC_STACK_BYTES + probe::page_size(),
        }
    }

    fn refused(&self, refusal: Refusal, what: &str) -> Error {
        let live = self.live.load(Relaxed);
        let (resource, message) = match refusal {
            Refusal::Mappings {
                held,
                needed,
                reserve,
                limit,
            } => (
                HostResource::MemoryMappings,
                format!(
                    "refused {what} needing {needed} memory mappings: the process holds about \
                     {held} of the {limit} that vm.max_map_count allows, and {reserve} are kept \
                     free for the host (EngineBuilder::host_reserve_mappings); this engine has \
                     {live} live instances. Drop instances, or raise the limit: \
                     `sysctl -w vm.max_map_count={}`",
                    limit.saturating_mul(2)
                ),
            ),
            Refusal::AddressSpace {
                used,
                needed,
                reserve,
                limit,
            } => (
                HostResource::AddressSpace,
                format!(
                    "refused {what} needing {} of address space: the process uses about {} of \
                     the {} that {} allows, and {} are kept free for the host \
                     (EngineBuilder::host_reserve_address_space); this engine has {live} live \
                     instances. Drop instances, lower EngineBuilder::memory_slot_bytes, or {}",
                    bytes(needed),
                    bytes(used),
                    bytes(limit.bytes()),
                    limit.name(),
                    bytes(reserve),
                    raise_address_limit(limit),
                ),
            ),
        };
        Error::new(ErrorKind::HostResources, message).with_host_resource(resource)
    }
}

impl Drop for EngineBudget {
    /// The engine's pool is unmapped with it: its charges go too.
    fn drop(&mut self) {
        self.ledger.release(Footprint {
            maps: self.pool_maps.load(Relaxed),
            bytes: 0,
        });
    }
}

/// One live instance's charge, returned on drop.
pub(crate) struct Charge {
    budget: Arc<EngineBudget>,
    cost: Footprint,
    stack: bool,
}

impl Charge {
    /// Charges the fiber stack of the instance's first async call (wasmtime
    /// keeps it in the store until the store drops); later calls are free.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::HostResources`] as for [`EngineBudget::charge`].
    pub(crate) fn async_stack(&mut self) -> Result<()> {
        if self.stack {
            return Ok(());
        }
        let stack = self.budget.stack_footprint();
        if stack != Footprint::default() {
            self.budget
                .ledger
                .charge(stack, self.budget.reserve)
                .map_err(|refusal| self.budget.refused(refusal, "an async call's fiber stack"))?;
            self.cost = self.cost.plus(stack);
        }
        self.stack = true;
        Ok(())
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        // A pooled slot stays mapped (warm) for the next instance: its
        // charge stays with the engine.
        if !self.budget.pooled {
            self.budget.ledger.release(self.cost);
        }
        self.budget.live.fetch_sub(1, Relaxed);
    }
}

/// Which resource an `mmap` the OS refused (`ENOMEM`) ran out of: the map
/// count if the process is within 256 mappings of `vm.max_map_count`, else
/// address space. Reads `/proc/self/maps` through a stack buffer: an error
/// path, and one that allocates nothing.
pub(crate) fn diagnose_os_refusal() -> HostResource {
    match (probe::max_map_count(), probe::map_count()) {
        (Some(max), Some(held)) if held.saturating_add(256) >= max => HostResource::MemoryMappings,
        _ => HostResource::AddressSpace,
    }
}

/// How to get more address space under `limit`.
fn raise_address_limit(limit: AddressLimit) -> &'static str {
    match limit {
        AddressLimit::Rlimit(_) => "raise the limit (`ulimit -v`, setrlimit RLIMIT_AS)",
        AddressLimit::Architecture(_) => "run fewer instances per process",
    }
}

/// `bytes` exactly and in binary units: "17179869184 bytes (16.0 GiB)".
fn bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{bytes} bytes ({value:.1} {})", UNITS[unit])
    }
}
