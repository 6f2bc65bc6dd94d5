//! The process-wide ledger: what every live instance of every engine is
//! charged, what the process held besides at the last reading, and when to
//! read again.
//!
//! The hot path (one instantiation) is two atomic additions and a compare.
//! The kernel is read (a [`Probe`]) at engine build, when the charges since
//! the last reading pass half of the room that reading left above the
//! default reserve (so a process
//! that fills its room is read about log2(limit / 256) times on the way, never
//! per instantiation), and before a refusal, at most once a second, so that
//! an estimate that ran high (mappings the host unmapped) is corrected before
//! anyone is turned away. Pooled engines' charges that ran high (slots
//! reused) are reconciled with wasmtime's counts, without reading the kernel,
//! on the same occasions.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use super::probe::{AddressLimit, Probe};

/// What one instance (or one fiber stack) costs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Footprint {
    /// Memory mappings.
    pub(crate) maps: usize,
    /// Bytes of address space mapped for it alone (not from a pool).
    pub(crate) bytes: u64,
}

impl Footprint {
    pub(crate) fn plus(self, other: Self) -> Self {
        Self {
            maps: self.maps + other.maps,
            bytes: self.bytes.saturating_add(other.bytes),
        }
    }
}

/// What an engine keeps free for the host; `None`: the adaptive default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Reserve {
    pub(crate) maps: Option<usize>,
    pub(crate) bytes: Option<u64>,
}

/// Default mapping reserve: 1,024 mappings or 5 % of the limit, the larger.
pub(crate) const MIN_RESERVE_MAPS: usize = 1024;
/// Default address-space reserve: 1 GiB or 5 % of the limit, the larger.
pub(crate) const MIN_RESERVE_BYTES: u64 = 1 << 30;

impl Reserve {
    pub(crate) fn maps(self, limit: usize) -> usize {
        self.maps
            .unwrap_or_else(|| MIN_RESERVE_MAPS.max(limit / 20))
    }

    pub(crate) fn bytes(self, limit: u64) -> u64 {
        self.bytes
            .unwrap_or_else(|| MIN_RESERVE_BYTES.max(limit / 20))
    }
}

/// Why an instance was refused: the figures for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `held + needed + reserve` would pass `vm.max_map_count`.
    Mappings {
        held: usize,
        needed: usize,
        reserve: usize,
        limit: usize,
    },
    /// `used + needed + reserve` would pass the address-space limit.
    AddressSpace {
        used: u64,
        needed: u64,
        reserve: u64,
        limit: AddressLimit,
    },
}

/// Reads between two refreshes, at the least (near the limit, half the room
/// would be a handful of instances).
const REFRESH_FLOOR_MAPS: usize = 256;
const REFRESH_FLOOR_BYTES: u64 = 64 << 20;
/// A refusal reads the kernel again at most this often.
const REFUSAL_REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// See the module documentation.
pub(crate) struct Ledger {
    probe: Box<dyn Fn() -> Probe + Send + Sync>,
    /// Brings charges that ran above what is mapped back down (pooled
    /// engines' slots reused): cheap, no reading of the kernel.
    reconcile: Box<dyn Fn() + Send + Sync>,
    /// Charged by live instances of every engine.
    charged_maps: AtomicUsize,
    charged_bytes: AtomicU64,
    /// The last reading less what was charged then: what the rest of the
    /// process holds.
    base_maps: AtomicUsize,
    base_bytes: AtomicU64,
    /// `usize::MAX` until read, or where `vm.max_map_count` is unknown.
    max_maps: AtomicUsize,
    max_bytes: AtomicU64,
    max_bytes_is_rlimit: AtomicBool,
    /// Read again when the charges pass these.
    refresh_maps_at: AtomicUsize,
    refresh_bytes_at: AtomicU64,
    /// When the kernel was last read; held while reading.
    last_read: Mutex<Option<Instant>>,
}

impl Ledger {
    pub(crate) fn new(
        probe: Box<dyn Fn() -> Probe + Send + Sync>,
        reconcile: Box<dyn Fn() + Send + Sync>,
    ) -> Self {
        Self {
            probe,
            reconcile,
            charged_maps: AtomicUsize::new(0),
            charged_bytes: AtomicU64::new(0),
            base_maps: AtomicUsize::new(0),
            base_bytes: AtomicU64::new(0),
            max_maps: AtomicUsize::new(usize::MAX),
            max_bytes: AtomicU64::new(u64::MAX),
            max_bytes_is_rlimit: AtomicBool::new(false),
            refresh_maps_at: AtomicUsize::new(0),
            refresh_bytes_at: AtomicU64::new(0),
            last_read: Mutex::new(None),
        }
    }

    /// Reads the kernel now (engine build).
    pub(crate) fn refresh(&self) {
        (self.reconcile)();
        let mut last = self
            .last_read
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.read(&mut last, Footprint::default());
    }

    /// The last reading's limits and what the process holds by the ledger's
    /// count: `(mappings held, their limit, bytes used, their limit)`.
    pub(crate) fn estimate(&self) -> (usize, usize, u64, AddressLimit) {
        (
            self.maps_held(self.charged_maps.load(Relaxed)),
            self.max_maps.load(Relaxed),
            self.bytes_used(self.charged_bytes.load(Relaxed)),
            self.address_limit(),
        )
    }

    /// Charges `cost` if it fits with `reserve` to spare; otherwise charges
    /// nothing and says why.
    pub(crate) fn charge(&self, cost: Footprint, reserve: Reserve) -> Result<(), Refusal> {
        let maps = self.charged_maps.fetch_add(cost.maps, Relaxed) + cost.maps;
        let bytes = self.charged_bytes.fetch_add(cost.bytes, Relaxed) + cost.bytes;
        if maps >= self.refresh_maps_at.load(Relaxed)
            || bytes >= self.refresh_bytes_at.load(Relaxed)
        {
            // Charges that only ran high come down without a reading.
            (self.reconcile)();
            if self.charged_maps.load(Relaxed) >= self.refresh_maps_at.load(Relaxed)
                || self.charged_bytes.load(Relaxed) >= self.refresh_bytes_at.load(Relaxed)
            {
                // Whoever holds the lock is reading already.
                if let Ok(mut last) = self.last_read.try_lock() {
                    self.read(&mut last, cost);
                }
            }
        }
        if self.refusal(maps, bytes, cost, reserve).is_none() {
            return Ok(());
        }
        // About to refuse: make sure, on reconciled charges and a fresh
        // reading (rate-limited).
        (self.reconcile)();
        {
            let mut last = self
                .last_read
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.is_none_or(|at| at.elapsed() >= REFUSAL_REFRESH_INTERVAL) {
                self.read(&mut last, cost);
            }
        }
        let maps = self.charged_maps.load(Relaxed);
        let bytes = self.charged_bytes.load(Relaxed);
        match self.refusal(maps, bytes, cost, reserve) {
            None => Ok(()),
            Some(refusal) => {
                self.release(cost);
                Err(refusal)
            }
        }
    }

    /// Returns what [`charge`](Self::charge) took.
    pub(crate) fn release(&self, cost: Footprint) {
        self.charged_maps.fetch_sub(cost.maps, Relaxed);
        self.charged_bytes.fetch_sub(cost.bytes, Relaxed);
    }

    fn maps_held(&self, charged: usize) -> usize {
        self.base_maps.load(Relaxed).saturating_add(charged)
    }

    fn bytes_used(&self, charged: u64) -> u64 {
        self.base_bytes.load(Relaxed).saturating_add(charged)
    }

    fn address_limit(&self) -> AddressLimit {
        let bytes = self.max_bytes.load(Relaxed);
        if self.max_bytes_is_rlimit.load(Relaxed) {
            AddressLimit::Rlimit(bytes)
        } else {
            AddressLimit::Architecture(bytes)
        }
    }

    /// With `maps` and `bytes` charged (`cost` among them), whether the
    /// reserve is still free.
    fn refusal(
        &self,
        maps: usize,
        bytes: u64,
        cost: Footprint,
        reserve: Reserve,
    ) -> Option<Refusal> {
        let limit = self.max_maps.load(Relaxed);
        let held = self.maps_held(maps);
        if limit != usize::MAX && cost.maps > 0 {
            let reserve = reserve.maps(limit);
            if held.saturating_add(reserve) > limit {
                return Some(Refusal::Mappings {
                    held: held.saturating_sub(cost.maps),
                    needed: cost.maps,
                    reserve,
                    limit,
                });
            }
        }
        let limit = self.address_limit();
        let used = self.bytes_used(bytes);
        if cost.bytes > 0 {
            let reserve = reserve.bytes(limit.bytes());
            if used.saturating_add(reserve) > limit.bytes() {
                return Some(Refusal::AddressSpace {
                    used: used.saturating_sub(cost.bytes),
                    needed: cost.bytes,
                    reserve,
                    limit,
                });
            }
        }
        None
    }

    /// Reads the kernel and schedules the next reading. What the kernel
    /// shows is the rest of the process plus the charged instances, except
    /// `in_flight` (charged by the caller, not mapped yet); charges moving
    /// while the kernel is read are subtracted at their lower value, so the
    /// base errs high (the safe side). Other threads' instantiations in
    /// flight (charged, not yet mapped) make it err low by their cost: a few
    /// mappings, well inside any reserve.
    fn read(&self, last: &mut Option<Instant>, in_flight: Footprint) {
        let before = (
            self.charged_maps.load(Relaxed),
            self.charged_bytes.load(Relaxed),
        );
        let probe = (self.probe)();
        let maps = self.charged_maps.load(Relaxed).min(before.0);
        let bytes = self.charged_bytes.load(Relaxed).min(before.1);
        let mapped = maps.saturating_sub(in_flight.maps);
        let mapped_bytes = bytes.saturating_sub(in_flight.bytes);
        let max_maps = probe.max_map_count.unwrap_or(usize::MAX);
        self.max_maps.store(max_maps, Relaxed);
        if let Some(held) = probe.maps {
            self.base_maps.store(held.saturating_sub(mapped), Relaxed);
        }
        self.max_bytes.store(probe.address_limit.bytes(), Relaxed);
        self.max_bytes_is_rlimit.store(
            matches!(probe.address_limit, AddressLimit::Rlimit(_)),
            Relaxed,
        );
        if let Some(used) = probe.address_used {
            self.base_bytes
                .store(used.saturating_sub(mapped_bytes), Relaxed);
        }
        // The room instances have under the default reserve.
        let free_maps = max_maps
            .saturating_sub(self.maps_held(maps))
            .saturating_sub(Reserve::default().maps(max_maps));
        self.refresh_maps_at.store(
            maps.saturating_add((free_maps / 2).max(REFRESH_FLOOR_MAPS)),
            Relaxed,
        );
        let free_bytes = probe
            .address_limit
            .bytes()
            .saturating_sub(self.bytes_used(bytes))
            .saturating_sub(Reserve::default().bytes(probe.address_limit.bytes()));
        self.refresh_bytes_at.store(
            bytes.saturating_add((free_bytes / 2).max(REFRESH_FLOOR_BYTES)),
            Relaxed,
        );
        *last = Some(Instant::now());
    }
}
