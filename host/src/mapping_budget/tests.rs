//! The ledger's arithmetic against a kernel it is told about: when it
//! refuses, what it reads and how often.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use super::ledger::{Footprint, Ledger, Refusal, Reserve};
use super::probe::{AddressLimit, Probe};

/// A kernel whose figures the test sets, counting how often it is read:
/// it reports the host's mappings plus those of the instances started.
#[derive(Clone)]
struct Kernel {
    probe: Arc<Mutex<Probe>>,
    instances: Arc<AtomicUsize>,
    instance_bytes: Arc<AtomicU64>,
    overcharged: Arc<AtomicUsize>,
    reconciles: Arc<AtomicUsize>,
    reads: Arc<AtomicUsize>,
}

impl Kernel {
    fn new(max_map_count: usize, maps: usize) -> Self {
        Self {
            probe: Arc::new(Mutex::new(Probe {
                max_map_count: Some(max_map_count),
                maps: Some(maps),
                address_limit: AddressLimit::Architecture(1 << 47),
                address_used: Some(1 << 30),
            })),
            instances: Arc::new(AtomicUsize::new(0)),
            instance_bytes: Arc::new(AtomicU64::new(0)),
            overcharged: Arc::new(AtomicUsize::new(0)),
            reconciles: Arc::new(AtomicUsize::new(0)),
            reads: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn ledger(&self) -> Arc<Ledger> {
        let kernel = self.clone();
        let reconciler = self.clone();
        let this: Arc<OnceLock<Weak<Ledger>>> = Arc::default();
        let that = Arc::clone(&this);
        let ledger = Arc::new(Ledger::new(
            Box::new(move || {
                kernel.reads.fetch_add(1, Relaxed);
                let mut probe = *kernel.probe.lock().unwrap();
                probe.maps = probe.maps.map(|host| host + kernel.instances.load(Relaxed));
                probe.address_used = probe
                    .address_used
                    .map(|host| host + kernel.instance_bytes.load(Relaxed));
                probe
            }),
            // A pool whose charges ran `overcharged` mappings high.
            Box::new(move || {
                reconciler.reconciles.fetch_add(1, Relaxed);
                let maps = reconciler.overcharged.swap(0, Relaxed);
                if let Some(ledger) = that.get().and_then(Weak::upgrade) {
                    ledger.release(Footprint { maps, bytes: 0 });
                }
            }),
        ));
        let _ = this.set(Arc::downgrade(&ledger));
        ledger.refresh();
        ledger
    }

    fn set(&self, change: impl FnOnce(&mut Probe)) {
        change(&mut self.probe.lock().unwrap());
    }

    fn reads(&self) -> usize {
        self.reads.load(Relaxed)
    }

    /// Starts an instance if the ledger lets it: its mappings appear.
    fn start(&self, ledger: &Ledger, cost: Footprint, reserve: Reserve) -> Result<(), Refusal> {
        ledger.charge(cost, reserve)?;
        self.instances.fetch_add(cost.maps, Relaxed);
        self.instance_bytes.fetch_add(cost.bytes, Relaxed);
        Ok(())
    }

    /// Drops an instance: its charge goes, its mappings too if `unmapped`.
    fn stop(&self, ledger: &Ledger, cost: Footprint, unmapped: bool) {
        ledger.release(cost);
        if unmapped {
            self.instances.fetch_sub(cost.maps, Relaxed);
            self.instance_bytes.fetch_sub(cost.bytes, Relaxed);
        }
    }

    /// Starts instances of `cost` until refused: how many, and the refusal.
    fn fill(&self, ledger: &Ledger, cost: Footprint, reserve: Reserve) -> (usize, Refusal) {
        let mut fitted = 0;
        loop {
            match self.start(ledger, cost, reserve) {
                Ok(()) => fitted += 1,
                Err(refusal) => return (fitted, refusal),
            }
            assert!(fitted < 10_000_000, "never refused");
        }
    }
}

const LEAN: Footprint = Footprint { maps: 4, bytes: 0 };

#[test]
fn refuses_while_the_reserve_is_still_free() {
    let kernel = Kernel::new(65_530, 1_000);
    let ledger = kernel.ledger();
    let (fitted, refusal) = kernel.fill(&ledger, LEAN, Reserve::default());
    // 65,530 - 1,000 held - 3,276 reserve (5 %) leaves 61,254: 15,313 × 4.
    assert_eq!(fitted, 15_313);
    assert_eq!(
        refusal,
        Refusal::Mappings {
            held: 1_000 + 15_313 * 4,
            needed: 4,
            reserve: 3_276,
            limit: 65_530,
        }
    );
    // A refusal charges nothing: releasing one makes room for exactly one.
    kernel.stop(&ledger, LEAN, true);
    assert!(kernel.start(&ledger, LEAN, Reserve::default()).is_ok());
    assert!(kernel.start(&ledger, LEAN, Reserve::default()).is_err());
}

#[test]
fn the_reserve_is_the_setting_or_the_larger_of_1024_and_5_percent() {
    assert_eq!(Reserve::default().maps(65_530), 3_276);
    assert_eq!(Reserve::default().maps(10_000), 1_024);
    assert_eq!(Reserve::default().bytes(4 << 30), 1 << 30);
    assert_eq!(Reserve::default().bytes(100 << 30), 5 << 30);
    let set = Reserve {
        maps: Some(7),
        bytes: Some(9),
    };
    assert_eq!((set.maps(65_530), set.bytes(1 << 40)), (7, 9));
    let kernel = Kernel::new(1_000, 100);
    let ledger = kernel.ledger();
    let (fitted, _) = kernel.fill(&ledger, LEAN, set);
    assert_eq!(fitted, (1_000 - 100 - 7) / 4);
}

#[test]
fn the_kernel_is_read_rarely_and_more_often_near_the_limit() {
    let kernel = Kernel::new(65_530, 1_000);
    let ledger = kernel.ledger();
    assert_eq!(kernel.reads(), 1, "read once when the engine is built");
    // Half of the room above the reserve (61,254) is 30,627 mappings:
    // 7,656 instances.
    for _ in 0..7_600 {
        kernel.start(&ledger, LEAN, Reserve::default()).unwrap();
    }
    assert_eq!(kernel.reads(), 1, "no reading far from the limit");
    let (fitted, _) = kernel.fill(&ledger, LEAN, Reserve::default());
    assert_eq!(7_600 + fitted, 15_313);
    // Halving the room each time, down to 256 mappings: a few readings.
    let reads = kernel.reads();
    assert!((5..=12).contains(&reads), "{reads} readings");
    // Refusing again within a second reads nothing more.
    assert!(kernel.start(&ledger, LEAN, Reserve::default()).is_err());
    assert_eq!(kernel.reads(), reads);
}

#[test]
fn mappings_made_elsewhere_are_found_at_the_next_reading() {
    let kernel = Kernel::new(65_530, 1_000);
    let ledger = kernel.ledger();
    // The host maps 20,000 regions of its own while instances start.
    kernel.set(|probe| probe.maps = Some(21_000));
    let (fitted, refusal) = kernel.fill(&ledger, LEAN, Reserve::default());
    let Refusal::Mappings { held, reserve, .. } = refusal else {
        panic!("{refusal:?}");
    };
    // Found before the room was gone: what the kernel holds (the host's
    // plus every instance's) leaves the reserve free.
    let real = 21_000 + fitted * 4;
    assert!(real + reserve <= 65_530, "{real} held");
    assert!(
        held >= real,
        "the estimate ({held}) is not below the truth ({real})"
    );
}

#[test]
fn an_estimate_that_ran_high_is_read_again_before_refusing() {
    let kernel = Kernel::new(65_530, 21_000);
    let ledger = kernel.ledger();
    let (fitted, _) = kernel.fill(&ledger, LEAN, Reserve::default());
    // The host unmaps 20,000 regions of its own: the ledger's figure for
    // the rest of the process is now 20,000 too high.
    kernel.set(|probe| probe.maps = Some(1_000));
    // Within a second of the last reading, a refusal trusts it.
    let reads = kernel.reads();
    assert!(kernel.start(&ledger, LEAN, Reserve::default()).is_err());
    assert_eq!(kernel.reads(), reads);
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    // Later, a refusal reads again first, and finds the room.
    let (more, _) = kernel.fill(&ledger, LEAN, Reserve::default());
    assert!(kernel.reads() > reads);
    assert_eq!(fitted + more, 15_313, "{fitted} + {more}");
}

#[test]
fn address_space_is_budgeted_for_on_demand_memories() {
    let kernel = Kernel::new(65_530, 1_000);
    kernel.set(|probe| {
        probe.address_limit = AddressLimit::Rlimit(8 << 30);
        probe.address_used = Some(1 << 30);
    });
    let ledger = kernel.ledger();
    let on_demand = Footprint {
        maps: 4,
        bytes: 16 << 20,
    };
    let (fitted, refusal) = kernel.fill(&ledger, on_demand, Reserve::default());
    // 8 GiB - 1 GiB used - 1 GiB reserve: 6 GiB of 16 MiB memories.
    assert_eq!(fitted, 384);
    assert_eq!(
        refusal,
        Refusal::AddressSpace {
            used: (1 << 30) + 384 * (16 << 20),
            needed: 16 << 20,
            reserve: 1 << 30,
            limit: AddressLimit::Rlimit(8 << 30),
        }
    );
    // Pooled instances map no address space of their own: never refused
    // for it.
    assert!(ledger.charge(LEAN, Reserve::default()).is_ok());
}

#[test]
fn an_unknown_limit_refuses_nothing() {
    let kernel = Kernel::new(0, 0);
    kernel.set(|probe| {
        probe.max_map_count = None;
        probe.maps = None;
    });
    let ledger = kernel.ledger();
    for _ in 0..100_000 {
        ledger.charge(LEAN, Reserve::default()).unwrap();
    }
}

#[test]
fn charges_that_ran_high_are_reconciled_without_reading_the_kernel() {
    let kernel = Kernel::new(65_530, 1_000);
    let ledger = kernel.ledger();
    // A pooled engine churns: each new instance reuses the slot of the one
    // dropped before it (no new mapping), and is charged 4 all the same.
    for _ in 0..100_000 {
        ledger.charge(LEAN, Reserve::default()).unwrap();
        kernel.overcharged.fetch_add(4, Relaxed);
    }
    // Reconciled each time the charges passed the next reading's mark; the
    // kernel was read no more than once beyond the build (the floor).
    assert!(kernel.reconciles.load(Relaxed) > 10);
    assert!(kernel.reads() <= 2, "{} readings", kernel.reads());
    // All the room is still there for real instances.
    let (fitted, _) = kernel.fill(&ledger, LEAN, Reserve::default());
    assert!(fitted + 1 >= 15_313, "{fitted}");
}

#[test]
fn a_refusal_reconciles_first() {
    let kernel = Kernel::new(65_530, 1_000);
    let ledger = kernel.ledger();
    let (fitted, _) = kernel.fill(&ledger, LEAN, Reserve::default());
    // 100 of them turn out to have reused slots: the next refusal gives
    // their charges back first, and 100 more fit.
    kernel.instances.fetch_sub(400, Relaxed);
    kernel.overcharged.store(400, Relaxed);
    let (more, _) = kernel.fill(&ledger, LEAN, Reserve::default());
    assert_eq!((fitted, more), (15_313, 100));
}
