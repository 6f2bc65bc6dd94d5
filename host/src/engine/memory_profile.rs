//! [`MemoryProfile`]: how linear memories are reserved, and so whether
//! compiled code checks every access's bounds.

/// How an engine reserves address space for linear memories
/// ([`EngineBuilder::memory_profile`](crate::EngineBuilder::memory_profile)):
/// density or compute speed.
///
/// | | `Dense` (default) | `Guarded` |
/// |---|---|---|
/// | address space per memory | [`memory_slot_bytes`] (16 MiB) | 4 GiB + a 32 MiB guard region |
/// | bounds checks | explicit, on every load and store | elided: an access past the memory faults in the guard region and traps |
/// | memories in one pool (x86-64) | millions: mappings bind first (`vm.max_map_count`: about 15,500 live ones at the default 65,530) | about 21,800 (capacity 10,900 at 2 memories per instance; fewer under `RLIMIT_AS`) |
///
/// Both enforce the same limits; [`Limits::max_memory_bytes`] still caps
/// growth (and [`memory_slot_bytes`] still caps it engine-wide). The pool's
/// reservation is checked when the engine is built: one that does not fit
/// the address space left (with
/// [`host_reserve_address_space`](crate::EngineBuilder::host_reserve_address_space)
/// kept free), or whose memory slots (one reservation) do not fit the
/// largest free range of it — on x86-64 about 86 TiB of the 128, which the
/// program, its libraries, heap and stacks split — is an
/// [`ErrorKind::Config`](crate::ErrorKind::Config) error naming the capacity
/// and the profile. Mappings per live memory are the
/// same in both profiles (the guard regions are part of the memory's
/// reservation), so the map-count budget
/// ([`host_reserve_mappings`](crate::EngineBuilder::host_reserve_mappings))
/// holds as it is.
///
/// [`memory_slot_bytes`]: crate::EngineBuilder::memory_slot_bytes
/// [`Limits::max_memory_bytes`]: crate::Limits::max_memory_bytes
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemoryProfile {
    /// Reserve only [`memory_slot_bytes`](crate::EngineBuilder::memory_slot_bytes)
    /// per memory, no guard region, and bounds-check every access
    /// explicitly. For many tenants per process. The default.
    #[default]
    Dense,
    /// Reserve 4 GiB per memory (all a 32-bit memory can address) and a
    /// 32 MiB guard region after it (and one before the pool), as wasmtime
    /// does by default: Cranelift drops the bounds check of every access
    /// whose static offset fits the guard. For a few hundred memory-heavy
    /// tenants per process.
    Guarded,
}

/// What [`MemoryProfile::Guarded`] reserves per memory.
const GUARDED_RESERVATION: u64 = 4 << 30;
/// Its guard region.
const GUARDED_GUARD: u64 = 32 << 20;

impl MemoryProfile {
    /// Address space one pooled memory slot of at most `slot` bytes takes:
    /// the reservation and the guard region after it (wasmtime's pool lays
    /// slots out back to back).
    pub(crate) fn pooled_slot_bytes(self, slot: u64) -> u64 {
        match self {
            Self::Dense => slot,
            Self::Guarded => slot.max(GUARDED_RESERVATION).saturating_add(GUARDED_GUARD),
        }
    }

    /// Address space one memory mapped on demand takes: a pooled slot's,
    /// and its own leading guard region.
    pub(crate) fn on_demand_bytes(self, slot: u64) -> u64 {
        self.pooled_slot_bytes(slot)
            .saturating_add(self.leading_guard_bytes())
    }

    /// The guard region before the memories: once per pool, once per memory
    /// on demand.
    pub(crate) fn leading_guard_bytes(self) -> u64 {
        match self {
            Self::Dense => 0,
            Self::Guarded => GUARDED_GUARD,
        }
    }

    /// The profile's settings, for memories of at most `slot` bytes.
    pub(crate) fn configure(self, config: &mut wasmtime::Config, slot: u64) {
        config.memory_reservation_for_growth(0);
        match self {
            Self::Dense => {
                config
                    .memory_reservation(slot)
                    .memory_guard_size(0)
                    .guard_before_linear_memory(false);
            }
            Self::Guarded => {
                config
                    .memory_reservation(slot.max(GUARDED_RESERVATION))
                    .memory_guard_size(GUARDED_GUARD)
                    .guard_before_linear_memory(true);
            }
        }
    }

    /// How the message of a pool that does not fit describes one slot.
    pub(crate) fn describe_slot(self) -> &'static str {
        match self {
            Self::Dense => "MemoryProfile::Dense: the memory slot, no guard region",
            Self::Guarded => {
                "MemoryProfile::Guarded: a 4 GiB reservation and a 32 MiB guard region"
            }
        }
    }

    /// What makes a pool that does not fit smaller under this profile.
    pub(crate) fn remedy(self) -> &'static str {
        match self {
            Self::Dense => {
                "Lower the pool capacity, EngineBuilder::memory_slot_bytes or \
                 EngineBuilder::memories_per_instance"
            }
            Self::Guarded => {
                "Lower the pool capacity or EngineBuilder::memories_per_instance, use \
                 MemoryProfile::Dense (EngineBuilder::memory_profile)"
            }
        }
    }
}
