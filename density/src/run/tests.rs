//! The run of one method at one N: what it measures and what stops it.

use super::*;
use crate::method::Kind;
use plugbox::Allocator;

fn pooling() -> Method {
    Method {
        name: "plugbox-pooling",
        kind: Kind::Plugbox(Allocator::Pooling { capacity: 1 }),
    }
}

fn bounds() -> Bounds {
    Bounds {
        memory_budget: 1 << 40,
        start_time: Duration::from_secs(60),
        throughput_time: Duration::from_millis(10),
        throughput_requests: 100,
    }
}

#[test]
fn a_full_run_measures_everything_and_names_no_limit() {
    let _serial = crate::FLEET_TESTS.lock();
    let report = run(
        &pooling(),
        37,
        &bounds(),
        &Setup::default(),
        &ProgressBar::hidden(),
    );
    assert_eq!(report.stopped_by, None, "{:?}", report.stop_detail);
    assert_eq!(report.tenants, 37);
    assert!(report.cold_start_us.is_some_and(|c| c.p50 > 0.0));
    assert!(report.pss_kib_per_tenant.is_some());
    assert!(report.latency_us.is_some_and(|l| l.p50 > 0.0));
    assert!(report.latency_requests >= 37, "every tenant called");
    assert!(
        report.throughput_rps.is_some_and(|rps| rps > 0.0),
        "{:?}",
        report.stop_detail
    );
    assert!(report.throughput_requests >= 37, "every tenant called");
    assert_eq!(report.throughput_callers, callers(37));
}

#[test]
fn the_memory_budget_stops_a_run_and_is_named() {
    let _serial = crate::FLEET_TESTS.lock();
    let bounds = Bounds {
        memory_budget: 0,
        ..bounds()
    };
    let report = run(
        &pooling(),
        73,
        &bounds,
        &Setup::default(),
        &ProgressBar::hidden(),
    );
    assert_eq!(report.stopped_by.as_deref(), Some("memory budget"));
    assert!(report.tenants < 73, "{} tenants", report.tenants);
    let detail = report.stop_detail.unwrap_or_default();
    assert!(detail.contains("budget 0 MiB"), "{detail}");
    // What was started is still measured.
    assert!(report.cold_start_us.is_some());
}

#[test]
fn the_start_bound_stops_a_run_and_is_named() {
    let _serial = crate::FLEET_TESTS.lock();
    let bounds = Bounds {
        start_time: Duration::ZERO,
        ..bounds()
    };
    let report = run(
        &pooling(),
        59,
        &bounds,
        &Setup::default(),
        &ProgressBar::hidden(),
    );
    assert_eq!(report.stopped_by.as_deref(), Some("time bound"));
    assert!(report.tenants < 59);
}

/// Tenants that take 5 ms a call (sleeping, so the machine's load does
/// not matter) and record which threads called them.
struct Sleepy {
    tenants: Vec<std::sync::Arc<std::sync::Mutex<Vec<std::thread::ThreadId>>>>,
}

fn sleepy_call(
    tenant: &mut std::sync::Arc<std::sync::Mutex<Vec<std::thread::ThreadId>>>,
    _: &[u8],
) -> Result<Vec<u8>, Failure> {
    std::thread::sleep(Duration::from_millis(5));
    if let Ok(mut seen) = tenant.lock() {
        seen.push(std::thread::current().id());
    }
    Ok(EXPECTED.to_vec())
}

impl Fleet for Sleepy {
    fn start_tenant(&mut self, _: &[u8]) -> Result<Vec<u8>, Failure> {
        self.tenants.push(std::sync::Arc::default());
        Ok(EXPECTED.to_vec())
    }
    fn call(&mut self, index: usize, input: &[u8]) -> Result<Vec<u8>, Failure> {
        sleepy_call(&mut self.tenants[index], input)
    }
    fn len(&self) -> usize {
        self.tenants.len()
    }
    fn worker_pids(&self) -> Vec<u32> {
        Vec::new()
    }
    fn worker_cgroups(&self) -> Vec<String> {
        Vec::new()
    }
    fn split(&mut self, parts: usize) -> Vec<Box<dyn Caller + '_>> {
        crate::method::split_into(&mut self.tenants, parts, sleepy_call)
    }
    fn stop_all(&mut self) -> Result<(), String> {
        self.tenants.clear();
        Ok(())
    }
}

#[test]
fn throughput_calls_from_a_thread_per_core_at_once() {
    let mut fleet = Sleepy {
        tenants: Vec::new(),
    };
    for _ in 0..8 {
        fleet.start_tenant(INPUT).unwrap();
    }
    let bounds = Bounds {
        throughput_time: Duration::from_millis(200),
        ..bounds()
    };
    let mut report = run_report_for_test();
    throughput(&mut fleet, &bounds, &mut report);
    let callers = callers(8);
    assert_eq!(report.throughput_callers, callers);
    // One caller makes at most 200 calls a second here; `callers` at
    // once make about `callers` times that.
    let rps = report.throughput_rps.unwrap_or_default();
    #[allow(clippy::cast_precision_loss)]
    let floor = 0.75 * 200.0 * callers as f64;
    assert!(
        rps >= floor && rps <= 200.0 * callers as f64 * 1.05,
        "{rps} calls/s"
    );
    // Every tenant was called, each by one thread only (its group's).
    let mut threads = std::collections::HashSet::new();
    for tenant in &fleet.tenants {
        let seen = tenant.lock().unwrap();
        assert!(!seen.is_empty());
        assert!(seen.iter().all(|id| *id == seen[0]));
        threads.insert(seen[0]);
    }
    assert_eq!(threads.len(), callers);
}

fn run_report_for_test() -> RunReport {
    RunReport {
        method: "sleepy".into(),
        ..RunReport::default()
    }
}

#[test]
fn a_full_pool_is_named_as_the_pool_capacity() {
    let _serial = crate::FLEET_TESTS.lock();
    let mut fleet = crate::plugbox_method::PlugboxFleet::new(
        Allocator::Pooling { capacity: 2 },
        2,
        &Setup::default(),
    )
    .unwrap_or_else(|failure| panic!("{}", failure.detail));
    for _ in 0..2 {
        assert!(fleet.start_tenant(INPUT).is_ok_and(|out| out == EXPECTED));
    }
    let failure = fleet.start_tenant(INPUT).err();
    assert_eq!(failure.map(|f| f.limit), Some(Limit::PoolCapacity));
}
