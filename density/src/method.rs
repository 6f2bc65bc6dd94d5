//! The isolation methods compared, what each must offer the harness, and the
//! limits that can stop a run.

use plugbox::Allocator;
use plugbox_baseline::Isolation;

use crate::workload::{Setup, Workload};

/// A limit that stopped a run before it reached its tenant count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Limit {
    /// The harness's `--memory-budget` was reached.
    MemoryBudget,
    /// The process ran out of memory mappings (`vm.max_map_count`).
    MaxMapCount,
    /// Every slot of the plugbox pool was in use.
    PoolCapacity,
    /// No more processes or threads (`fork`/`clone` failed with `EAGAIN`:
    /// pids cgroup, `RLIMIT_NPROC` or `kernel.threads-max`).
    Pids,
    /// The kernel refused more memory or address space (`ENOMEM`).
    AddressSpace,
    /// Out of file descriptors (`EMFILE`/`ENFILE`).
    OpenFiles,
    /// The harness's own time bound for starting tenants (not a system limit).
    TimeBound,
    /// Anything else: the error, as it was reported.
    Other(String),
}

impl Limit {
    /// The limit's name in the report.
    pub fn name(&self) -> &str {
        match self {
            Self::MemoryBudget => "memory budget",
            Self::MaxMapCount => "vm.max_map_count",
            Self::PoolCapacity => "pool capacity",
            Self::Pids => "pids",
            Self::AddressSpace => "address space",
            Self::OpenFiles => "open files",
            Self::TimeBound => "time bound",
            Self::Other(_) => "error",
        }
    }
}

/// Why a tenant could not be started or called: the limit and the error.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The limit, as classified from the error.
    pub limit: Limit,
    /// The error as reported.
    pub detail: String,
}

impl Failure {
    /// A failure that is not one of the named limits.
    pub fn other(detail: impl Into<String>) -> Self {
        let detail = detail.into();
        Self {
            limit: Limit::Other(detail.clone()),
            detail,
        }
    }
}

/// Classifies an OS error number into a named limit. `ENOMEM` is told apart
/// by counting this process's mappings against `vm.max_map_count`.
pub fn limit_of_errno(errno: i32) -> Option<Limit> {
    const EAGAIN: i32 = 11;
    const ENOMEM: i32 = 12;
    const ENFILE: i32 = 23;
    const EMFILE: i32 = 24;
    match errno {
        EAGAIN => Some(Limit::Pids),
        ENOMEM if near_map_limit() => Some(Limit::MaxMapCount),
        ENOMEM => Some(Limit::AddressSpace),
        ENFILE | EMFILE => Some(Limit::OpenFiles),
        _ => None,
    }
}

/// Whether this process holds (nearly) as many mappings as it may.
pub fn near_map_limit() -> bool {
    match (crate::memory::map_count(), crate::memory::max_map_count()) {
        (Some(count), Some(max)) => count + 16 >= max,
        _ => false,
    }
}

/// One set of live tenants of a method: started one at a time, called by
/// index, stopped together.
pub trait Fleet {
    /// Starts one more tenant and sends it its first request: returns the
    /// first response. The harness times this call as the cold start.
    ///
    /// # Errors
    ///
    /// The limit that stopped the tenant from starting, or another error.
    fn start_tenant(&mut self, input: &[u8]) -> Result<Vec<u8>, Failure>;

    /// Calls live tenant `index` with `input`.
    ///
    /// # Errors
    ///
    /// The call's failure.
    fn call(&mut self, index: usize, input: &[u8]) -> Result<Vec<u8>, Failure>;

    /// Live tenants.
    fn len(&self) -> usize;

    /// Whether no tenant is live.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Process ids of the workers (their descendants are found from them);
    /// empty for in-process methods.
    fn worker_pids(&self) -> Vec<u32>;

    /// Per-tenant cgroups (relative to the controller root) whose charges
    /// are not in the run's cgroup.
    fn worker_cgroups(&self) -> Vec<String>;

    /// Splits the live tenants into at most `parts` disjoint groups (none
    /// empty), each callable from a thread of its own while the others are
    /// called: the throughput phase's callers.
    fn split(&mut self, parts: usize) -> Vec<Box<dyn Caller + '_>>;

    /// Stops every tenant.
    ///
    /// # Errors
    ///
    /// The first failure to stop one (the others are still stopped).
    fn stop_all(&mut self) -> Result<(), String>;
}

/// Some of a fleet's live tenants, lent to one calling thread.
pub trait Caller: Send {
    /// Calls tenant `index` of this group with `input`.
    ///
    /// # Errors
    ///
    /// The call's failure.
    fn call(&mut self, index: usize, input: &[u8]) -> Result<Vec<u8>, Failure>;

    /// Tenants in this group.
    fn len(&self) -> usize;

    /// Whether the group has no tenant.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A group of tenants of type `T` and the function that calls one.
struct Group<'a, T> {
    tenants: &'a mut [T],
    call: fn(&mut T, &[u8]) -> Result<Vec<u8>, Failure>,
}

impl<T: Send> Caller for Group<'_, T> {
    fn call(&mut self, index: usize, input: &[u8]) -> Result<Vec<u8>, Failure> {
        let tenant = self
            .tenants
            .get_mut(index)
            .ok_or_else(|| Failure::other(format!("no tenant {index} in this group")))?;
        (self.call)(tenant, input)
    }

    fn len(&self) -> usize {
        self.tenants.len()
    }
}

/// `tenants` in at most `parts` groups of nearly equal size, none empty,
/// each called with `call`: what a [`Fleet::split`] returns.
pub fn split_into<'a, T: Send>(
    tenants: &'a mut [T],
    parts: usize,
    call: fn(&mut T, &[u8]) -> Result<Vec<u8>, Failure>,
) -> Vec<Box<dyn Caller + 'a>> {
    let size = tenants.len().div_ceil(parts.max(1)).max(1);
    tenants
        .chunks_mut(size)
        .map(|tenants| Box::new(Group { tenants, call }) as Box<dyn Caller + 'a>)
        .collect()
}

/// How a method runs tenants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// plugbox in this process, with this allocator.
    Plugbox(Allocator),
    /// One native worker process per tenant at this isolation level (the
    /// Rust twin, or the interpreter running the polyglot plugin's source).
    Baseline(Isolation),
    /// The Extism host (`extism` crate) running the same logic written with
    /// `extism-pdk`: the peer Wasm host (cargo feature `extism`).
    Extism,
}

/// One method of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Method {
    /// The name in the report, and for `--methods`.
    pub name: &'static str,
    /// How it runs tenants.
    pub kind: Kind,
}

impl Method {
    /// Every method, in report order: plugbox's allocators, every baseline
    /// isolation level the baseline crate knows, then the peer hosts.
    pub fn all() -> Vec<Self> {
        let mut methods = vec![
            Self {
                name: "plugbox-pooling",
                kind: Kind::Plugbox(Allocator::Pooling { capacity: 1 }),
            },
            Self {
                name: "plugbox-ondemand",
                kind: Kind::Plugbox(Allocator::OnDemand),
            },
        ];
        methods.extend(Isolation::ALL.iter().map(|&isolation| Self {
            name: isolation.name(),
            kind: Kind::Baseline(isolation),
        }));
        methods.push(Self {
            name: "extism",
            kind: Kind::Extism,
        });
        methods
    }

    /// Whether the method can run here: `Err` says why not.
    ///
    /// # Errors
    ///
    /// The reason, for the report's `skipped` list.
    pub fn available(&self, setup: &Setup) -> Result<(), String> {
        match self.kind {
            Kind::Plugbox(_) => setup.workload.component().map(drop),
            Kind::Baseline(isolation) => {
                isolation.available().map_err(|error| error.to_string())?;
                setup.workload.native().map(drop)
            }
            _ if setup.workload != Workload::Rust => Err(format!(
                "the Extism peer runs the Rust `hello` only (no {} plugin for its PDK)",
                setup.workload.name()
            )),
            #[cfg(feature = "extism")]
            Kind::Extism => Ok(()),
            #[cfg(not(feature = "extism"))]
            Kind::Extism => Err("built without the `extism` feature (cargo run --release \
                 -p plugbox-cli --features extism -- density)"
                .into()),
        }
    }

    /// A fleet for up to `capacity` tenants of `setup`'s workload. Its fixed
    /// cost (engine, compiled plugin) is paid here, before any tenant starts.
    ///
    /// # Errors
    ///
    /// When the method cannot be set up (for plugbox: the engine or the
    /// compilation failed, e.g. the pool's address space).
    pub fn fleet(&self, capacity: usize, setup: &Setup) -> Result<Box<dyn Fleet>, Failure> {
        match self.kind {
            Kind::Plugbox(allocator) => Ok(Box::new(crate::plugbox_method::PlugboxFleet::new(
                allocator, capacity, setup,
            )?)),
            Kind::Baseline(isolation) => Ok(Box::new(crate::baseline_method::BaselineFleet::new(
                isolation,
                setup.workload.native().map_err(Failure::other)?.program,
            ))),
            #[cfg(feature = "extism")]
            Kind::Extism => Ok(Box::new(crate::extism_method::ExtismFleet::new(capacity)?)),
            #[cfg(not(feature = "extism"))]
            Kind::Extism => Err(Failure::other("Extism is not built in")),
        }
    }
}
