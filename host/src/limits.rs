//! Per-instance and per-call limits, and the `ResourceLimiter` that enforces
//! the memory and table ones.

use std::time::Duration;

/// Fuel per call unless set.
const DEFAULT_FUEL: u64 = 1_000_000_000;
/// Deadline per call unless set.
const DEFAULT_DEADLINE: Duration = Duration::from_secs(1);

/// What one plugin instance may consume. Every field has a documented default
/// ([`Limits::default`]); set fields with the `#[must_use]` setters.
///
/// Fuel and the deadline apply **per call** (fuel is refilled and the deadline
/// re-armed at the start of each [`Instance::call`](crate::Instance::call));
/// the memory, table and instance counts apply to the instance for its whole
/// life. Instantiation itself (which may run a start function) runs under the
/// same fuel and deadline as one call.
///
/// Two `Limits` are equal when they set the same limits: a fuel limit or
/// deadline set to its default value differs from one left unset, as only a
/// set one is refused by an engine that does not meter it
/// ([`Metering`](crate::Metering)).
///
/// ```
/// use std::time::Duration;
/// let limits = plugbox::Limits::default()
///     .fuel(11_000_000)
///     .deadline(Duration::from_millis(5))
///     .max_memory_bytes(10 << 20)
///     .max_input_bytes(128 << 10)
///     .max_output_bytes(20 << 10);
/// assert_eq!(limits.fuel_per_call(), 11_000_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `None`: the default, enforced where the engine meters fuel; set, it
    /// is refused by an engine that does not ([`Metering`]).
    ///
    /// [`Metering`]: crate::Metering
    fuel: Option<u64>,
    /// As `fuel`, for the deadline.
    deadline: Option<Duration>,
    max_memory_bytes: usize,
    max_table_elements: usize,
    max_instances: usize,
    max_tables: usize,
    max_memories: usize,
    max_input_bytes: usize,
    max_output_bytes: usize,
    max_log_bytes: usize,
}

impl Default for Limits {
    /// The defaults, chosen for request-sized work in a multi-tenant host:
    ///
    /// | limit | default |
    /// |---|---|
    /// | fuel per call | 1,000,000,000 (about 0.1–0.2 s of compute on a current x86 core) |
    /// | deadline per call | 1 s |
    ///
    /// The default fuel and deadline apply where the engine meters them
    /// ([`Metering`](crate::Metering)); on an engine that meters only one,
    /// the other default is not enforced, and setting it is an error.
    /// | max linear memory | 16 MiB (and never more than the engine's memory slot) |
    /// | max table elements | 10,000 |
    /// | max core instances | 16 |
    /// | max tables | 16 |
    /// | max memories | 4 |
    /// | max input | 1 MiB |
    /// | max output | 1 MiB |
    /// | max log bytes per call | 64 KiB |
    fn default() -> Self {
        Self {
            fuel: None,
            deadline: None,
            max_memory_bytes: 16 << 20,
            max_table_elements: 10_000,
            max_instances: 16,
            max_tables: 16,
            max_memories: 4,
            max_input_bytes: 1 << 20,
            max_output_bytes: 1 << 20,
            max_log_bytes: 64 << 10,
        }
    }
}

impl Limits {
    /// Fuel per call: roughly one unit per wasm instruction. Exhausting it
    /// traps with [`ErrorKind::FuelExhausted`](crate::ErrorKind::FuelExhausted).
    ///
    /// Needs an engine that meters fuel ([`Metering::FuelAndDeadline`], the
    /// default, or [`Metering::FuelOnly`]); on a [`Metering::DeadlineOnly`]
    /// engine a plugin with this limit set is refused with
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when the limits are
    /// applied ([`Plugin::with_policy`](crate::Plugin::with_policy), or
    /// instantiation for [`Plugin::with_limits`](crate::Plugin::with_limits)).
    ///
    /// [`Metering::FuelAndDeadline`]: crate::Metering::FuelAndDeadline
    /// [`Metering::FuelOnly`]: crate::Metering::FuelOnly
    /// [`Metering::DeadlineOnly`]: crate::Metering::DeadlineOnly
    #[must_use]
    pub fn fuel(mut self, fuel: u64) -> Self {
        self.fuel = Some(fuel);
        self
    }

    /// Wall-clock deadline per call, enforced through epoch interruption at the
    /// engine's tick granularity (1 ms by default). Passing it traps with
    /// [`ErrorKind::DeadlineExceeded`](crate::ErrorKind::DeadlineExceeded).
    ///
    /// The call is measured by the wall clock, checked at every tick: it
    /// never stops before `deadline`, and stops at the first tick after it,
    /// so a loaded machine whose ticker thread runs late delays the stop by
    /// that lateness only, not by a lateness per tick.
    ///
    /// Needs an engine that meters the deadline
    /// ([`Metering::FuelAndDeadline`], the default, or
    /// [`Metering::DeadlineOnly`]); on a [`Metering::FuelOnly`] engine a
    /// plugin with this limit set is refused with
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when the limits are
    /// applied ([`Plugin::with_policy`](crate::Plugin::with_policy), or
    /// instantiation for [`Plugin::with_limits`](crate::Plugin::with_limits)).
    ///
    /// [`Metering::FuelAndDeadline`]: crate::Metering::FuelAndDeadline
    /// [`Metering::FuelOnly`]: crate::Metering::FuelOnly
    /// [`Metering::DeadlineOnly`]: crate::Metering::DeadlineOnly
    #[must_use]
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Largest linear memory, in bytes, including the module's initial memory.
    /// Growth beyond it fails (`memory.grow` returns -1); the resulting trap is
    /// reported as [`ErrorKind::MemoryLimit`](crate::ErrorKind::MemoryLimit).
    #[must_use]
    pub fn max_memory_bytes(mut self, bytes: usize) -> Self {
        self.max_memory_bytes = bytes;
        self
    }

    /// Largest table, in elements.
    #[must_use]
    pub fn max_table_elements(mut self, elements: usize) -> Self {
        self.max_table_elements = elements;
        self
    }

    /// Most core module instances one plugin instance may create (a lean
    /// plugbox plugin needs 1; a WASI `std` plugin a handful).
    #[must_use]
    pub fn max_instances(mut self, count: usize) -> Self {
        self.max_instances = count;
        self
    }

    /// Most tables one plugin instance may create.
    #[must_use]
    pub fn max_tables(mut self, count: usize) -> Self {
        self.max_tables = count;
        self
    }

    /// Most linear memories one plugin instance may create.
    #[must_use]
    pub fn max_memories(mut self, count: usize) -> Self {
        self.max_memories = count;
        self
    }

    /// Largest request, in bytes; a larger one is refused before the plugin
    /// runs, with [`ErrorKind::InputTooLarge`](crate::ErrorKind::InputTooLarge).
    #[must_use]
    pub fn max_input_bytes(mut self, bytes: usize) -> Self {
        self.max_input_bytes = bytes;
        self
    }

    /// Largest response (or guest error message), in bytes; a larger one is
    /// refused with [`ErrorKind::OutputTooLarge`](crate::ErrorKind::OutputTooLarge).
    #[must_use]
    pub fn max_output_bytes(mut self, bytes: usize) -> Self {
        self.max_output_bytes = bytes;
        self
    }

    /// Bytes of `log` messages and of stdio lines in `tracing` mode one call
    /// may emit (each message or line costs at least one byte); once one does
    /// not fit, the call's later ones are dropped and counted
    /// ([`Instance::logs_dropped`](crate::Instance::logs_dropped)).
    #[must_use]
    pub fn max_log_bytes(mut self, bytes: usize) -> Self {
        self.max_log_bytes = bytes;
        self
    }

    /// Fuel per call (the default unless [`fuel`](Self::fuel) set it), on an
    /// engine that meters fuel.
    pub fn fuel_per_call(&self) -> u64 {
        self.fuel.unwrap_or(DEFAULT_FUEL)
    }

    /// Deadline per call (the default unless [`deadline`](Self::deadline)
    /// set it), on an engine that meters the deadline.
    pub fn deadline_per_call(&self) -> Duration {
        self.deadline.unwrap_or(DEFAULT_DEADLINE)
    }

    /// The fuel limit if [`fuel`](Self::fuel) set one, `None` for the
    /// default.
    pub fn fuel_setting(&self) -> Option<u64> {
        self.fuel
    }

    /// The deadline if [`deadline`](Self::deadline) set one, `None` for the
    /// default.
    pub fn deadline_setting(&self) -> Option<Duration> {
        self.deadline
    }

    /// The setter of a policy's `[limits]` field, for messages about limits
    /// given in code.
    pub(crate) fn setter_of(field: &str) -> &'static str {
        match field {
            "fuel" => "Limits::fuel",
            "deadline_ms" => "Limits::deadline",
            _ => "Limits",
        }
    }

    /// Largest linear memory in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.max_memory_bytes
    }

    /// Largest table in elements.
    pub fn table_elements(&self) -> usize {
        self.max_table_elements
    }

    /// Most core instances one instance may create.
    pub fn instances(&self) -> usize {
        self.max_instances
    }

    /// Most tables one instance may create.
    pub fn tables(&self) -> usize {
        self.max_tables
    }

    /// Most linear memories one instance may create.
    pub fn memories(&self) -> usize {
        self.max_memories
    }

    /// Largest request in bytes.
    pub fn input_bytes(&self) -> usize {
        self.max_input_bytes
    }

    /// Largest response in bytes.
    pub fn output_bytes(&self) -> usize {
        self.max_output_bytes
    }

    /// Log bytes per call.
    pub fn log_bytes(&self) -> usize {
        self.max_log_bytes
    }
}

/// A limit the guest ran into, recorded so that the trap that follows (the
/// guest's allocator gives up) is reported as what it really is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exceeded {
    Memory { desired: usize, limit: usize },
    Table { desired: usize, limit: usize },
}

/// The `ResourceLimiter` of one instance's store.
#[derive(Debug)]
pub(crate) struct StoreLimiter {
    limits: Limits,
    exceeded: Option<Exceeded>,
}

impl StoreLimiter {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            limits,
            exceeded: None,
        }
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The limit hit since the last [`reset`](Self::reset), if any.
    pub(crate) fn exceeded(&self) -> Option<Exceeded> {
        self.exceeded
    }

    pub(crate) fn reset(&mut self) {
        self.exceeded = None;
    }
}

impl wasmtime::ResourceLimiter for StoreLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let limit = maximum.map_or(self.limits.max_memory_bytes, |maximum| {
            maximum.min(self.limits.max_memory_bytes)
        });
        if desired > limit {
            self.exceeded = Some(Exceeded::Memory { desired, limit });
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let limit = maximum.map_or(self.limits.max_table_elements, |maximum| {
            maximum.min(self.limits.max_table_elements)
        });
        if desired > limit {
            self.exceeded = Some(Exceeded::Table { desired, limit });
            return Ok(false);
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.limits.max_instances
    }

    fn tables(&self) -> usize {
        self.limits.max_tables
    }

    fn memories(&self) -> usize {
        self.limits.max_memories
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn memory_growth_past_the_limit_is_refused_and_recorded() {
        let mut limiter = StoreLimiter::new(Limits::default().max_memory_bytes(1 << 20));
        assert!(limiter.memory_growing(0, 1 << 20, None).unwrap());
        assert_eq!(limiter.exceeded(), None);
        assert!(!limiter.memory_growing(1 << 20, 2 << 20, None).unwrap());
        assert_eq!(
            limiter.exceeded(),
            Some(Exceeded::Memory {
                desired: 2 << 20,
                limit: 1 << 20
            })
        );
        limiter.reset();
        assert_eq!(limiter.exceeded(), None);
    }

    #[test]
    fn the_smaller_of_limit_and_slot_applies() {
        let mut limiter = StoreLimiter::new(Limits::default().max_memory_bytes(8 << 20));
        assert!(!limiter.memory_growing(0, 5 << 20, Some(4 << 20)).unwrap());
        assert_eq!(
            limiter.exceeded(),
            Some(Exceeded::Memory {
                desired: 5 << 20,
                limit: 4 << 20
            })
        );
    }

    #[test]
    fn table_growth_past_the_limit_is_refused_and_recorded() {
        let mut limiter = StoreLimiter::new(Limits::default().max_table_elements(10));
        assert!(limiter.table_growing(0, 10, None).unwrap());
        assert!(!limiter.table_growing(10, 11, None).unwrap());
        assert_eq!(
            limiter.exceeded(),
            Some(Exceeded::Table {
                desired: 11,
                limit: 10
            })
        );
    }
}
