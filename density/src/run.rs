//! One run: N tenants of one method, started one at a time (cold start),
//! measured while all are live (memory), called round-robin by one thread
//! (latency), then by one thread per core at once (throughput), then
//! stopped.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};

use crate::memory::{self, RunCgroup};
use crate::method::{Caller, Failure, Fleet, Limit, Method};
use crate::stats::{Percentiles, summarize};
use crate::workload::Setup;

/// The request every tenant gets, under every method.
pub const INPUT: &[u8] = b"hello, plugbox";
/// What the `hello` plugin answers to [`INPUT`].
pub const EXPECTED: &[u8] = b"HELLO, PLUGBOX";

/// Bounds of one run.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Stop starting tenants once the run's memory exceeds this many bytes;
    /// also the node memory that "tenants per node" is judged against.
    pub memory_budget: u64,
    /// Stop starting tenants after this long (a harness bound, reported as
    /// `time bound`).
    pub start_time: Duration,
    /// Each call phase (latency, then throughput) lasts this long...
    pub throughput_time: Duration,
    /// ...or this many calls, whichever comes first.
    pub throughput_requests: usize,
}

/// What one run measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunReport {
    /// Method name.
    pub method: String,
    /// Tenants live when measured (less than requested if a limit stopped it).
    pub tenants: usize,
    /// Tenants asked for.
    pub requested: usize,
    /// Request to first response, per tenant, in µs.
    pub cold_start_us: Option<Percentiles>,
    /// Growth of summed PSS (harness + workers and their descendants) per
    /// live tenant, KiB.
    pub pss_kib_per_tenant: Option<f64>,
    /// Growth of memory charged to the run's cgroup (plus workers' own
    /// cgroups) per live tenant, KiB.
    pub charged_kib_per_tenant: Option<f64>,
    /// Of the charged memory, kernel memory per tenant (cgroup v1 kmem), KiB.
    pub kmem_kib_per_tenant: Option<f64>,
    /// Why charged memory is null, if it is.
    pub charged_unavailable: Option<String>,
    /// Fixed cost before any tenant (plugbox: engine + compiled plugin), PSS
    /// KiB.
    pub fixed_pss_kib: Option<f64>,
    /// Fixed cost before any tenant, charged KiB.
    pub fixed_charged_kib: Option<f64>,
    /// Calls made in the latency phase: one thread calling every live
    /// tenant in turn, one call at a time.
    pub latency_requests: usize,
    /// Latency of those calls, µs.
    pub latency_us: Option<Percentiles>,
    /// Calls per second over all live tenants with
    /// [`throughput_callers`](Self::throughput_callers) threads calling at
    /// once (each its own share of the tenants, round-robin).
    pub throughput_rps: Option<f64>,
    /// Concurrent callers of the throughput phase: one per core, at most one
    /// per tenant.
    pub throughput_callers: usize,
    /// Calls made in the throughput phase.
    pub throughput_requests: usize,
    /// The limit that stopped the run early, by name.
    pub stopped_by: Option<String>,
    /// The error or measurement behind `stopped_by`.
    pub stop_detail: Option<String>,
    /// Seconds spent starting tenants.
    pub start_seconds: f64,
    /// Seconds spent stopping them (not part of any figure).
    pub stop_seconds: f64,
}

/// Memory of the run so far.
#[derive(Debug, Clone, Copy, Default)]
struct Snapshot {
    pss_kib: Option<u64>,
    charged_bytes: Option<u64>,
    kmem_bytes: Option<u64>,
}

fn snapshot(fleet: Option<&dyn Fleet>, cgroup: Option<&RunCgroup>) -> Snapshot {
    let own = memory::self_pss_kib();
    let (workers, worker_cgroups) = match fleet {
        Some(fleet) => {
            let pids = memory::with_descendants(&fleet.worker_pids());
            let cgroups: Option<u64> = fleet
                .worker_cgroups()
                .iter()
                .map(|relative| memory::worker_cgroup_bytes(relative))
                .sum();
            (memory::summed_pss_kib(&pids), cgroups)
        }
        None => (0, Some(0)),
    };
    let charged = cgroup.and_then(RunCgroup::usage_bytes);
    Snapshot {
        pss_kib: own.map(|kib| kib + workers),
        charged_bytes: charged.zip(worker_cgroups).map(|(a, b)| a + b),
        kmem_bytes: cgroup.and_then(RunCgroup::kmem_bytes),
    }
}

/// Charged bytes (or PSS if nothing is charged) of everything live, for the
/// memory budget. Reads only cgroup counters when they are available (a
/// PSS scan of a thousand workers takes a good part of a second).
fn spent_bytes(fleet: &dyn Fleet, cgroup: Option<&RunCgroup>) -> Option<u64> {
    if let Some(usage) = cgroup.and_then(RunCgroup::usage_bytes) {
        let workers: Option<u64> = fleet
            .worker_cgroups()
            .iter()
            .map(|relative| memory::worker_cgroup_bytes(relative))
            .sum();
        if let Some(workers) = workers {
            return Some(usage + workers);
        }
    }
    snapshot(Some(fleet), cgroup).pss_kib.map(|kib| kib << 10)
}

fn per_tenant(before: Option<u64>, after: Option<u64>, tenants: usize, scale: f64) -> Option<f64> {
    let (before, after) = (before?, after?);
    #[allow(clippy::cast_precision_loss)]
    let delta = after as f64 - before as f64;
    #[allow(clippy::cast_precision_loss)]
    (tenants > 0).then(|| delta / scale / tenants as f64)
}

/// Runs `method` with `n` tenants.
pub fn run(
    method: &Method,
    n: usize,
    bounds: &Bounds,
    setup: &Setup,
    bar: &ProgressBar,
) -> RunReport {
    let (cgroup, charged_unavailable) = match RunCgroup::enter(&format!("{}-{n}", method.name)) {
        Ok(cgroup) => (Some(cgroup), None),
        Err(reason) => (None, Some(reason)),
    };
    let mut report = RunReport {
        method: method.name.to_string(),
        requested: n,
        charged_unavailable,
        ..RunReport::default()
    };
    let mut cold = Vec::with_capacity(n);
    let empty = snapshot(None, cgroup.as_ref());
    let mut fleet = match method.fleet(n, setup) {
        Ok(fleet) => fleet,
        Err(failure) => {
            stop(&mut report, failure);
            finish(cgroup, &mut report);
            return report;
        }
    };
    let fixed = snapshot(Some(&*fleet), cgroup.as_ref());
    report.fixed_pss_kib = per_tenant(empty.pss_kib, fixed.pss_kib, 1, 1.0);
    report.fixed_charged_kib = per_tenant(empty.charged_bytes, fixed.charged_bytes, 1, 1024.0);

    bar.set_length(n as u64);
    bar.set_position(0);
    bar.set_message(format!("{} ×{n}: starting", method.name));
    let check_every = (n / 50).max(1);
    let started = Instant::now();
    for index in 0..n {
        let begin = Instant::now();
        let result = fleet.start_tenant(INPUT);
        let elapsed = begin.elapsed();
        match result {
            Ok(output) if output == EXPECTED => cold.push(elapsed.as_secs_f64() * 1e6),
            Ok(output) => {
                stop(
                    &mut report,
                    Failure::other(format!(
                        "wrong answer: {:?}",
                        String::from_utf8_lossy(&output)
                    )),
                );
                break;
            }
            Err(failure) => {
                stop(&mut report, failure);
                break;
            }
        }
        bar.inc(1);
        if (index + 1) % check_every == 0 && index + 1 < n {
            if let Some(spent) = spent_bytes(&*fleet, cgroup.as_ref())
                && spent > bounds.memory_budget
            {
                stop(
                    &mut report,
                    Failure {
                        limit: Limit::MemoryBudget,
                        detail: format!(
                            "{} MiB in use after {} tenants, budget {} MiB",
                            spent >> 20,
                            index + 1,
                            bounds.memory_budget >> 20
                        ),
                    },
                );
                break;
            }
            if started.elapsed() > bounds.start_time {
                stop(
                    &mut report,
                    Failure {
                        limit: Limit::TimeBound,
                        detail: format!(
                            "{} tenants started in {:?}, the harness's bound",
                            index + 1,
                            bounds.start_time
                        ),
                    },
                );
                break;
            }
        }
    }
    report.start_seconds = started.elapsed().as_secs_f64();
    let live = fleet.len();
    report.tenants = live;
    report.cold_start_us = summarize(&mut cold);

    let full = snapshot(Some(&*fleet), cgroup.as_ref());
    report.pss_kib_per_tenant = per_tenant(fixed.pss_kib, full.pss_kib, live, 1.0);
    report.charged_kib_per_tenant =
        per_tenant(fixed.charged_bytes, full.charged_bytes, live, 1024.0);
    report.kmem_kib_per_tenant = per_tenant(fixed.kmem_bytes, full.kmem_bytes, live, 1024.0);

    if live > 0 {
        bar.set_message(format!("{} ×{live}: latency (one caller)", method.name));
        latency(&mut *fleet, bounds, &mut report);
    }
    if live > 0 && report.stop_detail.is_none() {
        bar.set_message(format!(
            "{} ×{live}: throughput (a caller per core)",
            method.name
        ));
        throughput(&mut *fleet, bounds, &mut report);
    }
    bar.set_message(format!("{} ×{live}: stopping", method.name));
    let stopping = Instant::now();
    if let Err(error) = fleet.stop_all()
        && report.stop_detail.is_none()
    {
        report.stop_detail = Some(format!("stopping: {error}"));
    }
    drop(fleet);
    report.stop_seconds = stopping.elapsed().as_secs_f64();
    finish(cgroup, &mut report);
    report
}

/// One thread calls every live tenant in turn, one call at a time: the
/// latency of a call with all tenants live.
fn latency(fleet: &mut dyn Fleet, bounds: &Bounds, report: &mut RunReport) {
    let live = fleet.len();
    // At least one call per tenant, so every tenant is exercised.
    let most = bounds.throughput_requests.max(live);
    let mut latencies = Vec::with_capacity(most.min(1 << 20));
    let began = Instant::now();
    for request in 0..most {
        if request >= live && began.elapsed() >= bounds.throughput_time {
            break;
        }
        let start = Instant::now();
        match fleet.call(request % live, INPUT) {
            Ok(output) if output == EXPECTED => {
                latencies.push(start.elapsed().as_secs_f64() * 1e6);
            }
            Ok(_) => {
                report.stop_detail = Some("wrong answer during the latency phase".into());
                break;
            }
            Err(failure) => {
                report.stop_detail = Some(format!("latency phase: {}", failure.detail));
                break;
            }
        }
    }
    report.latency_requests = latencies.len();
    report.latency_us = summarize(&mut latencies);
}

/// Callers of the throughput phase: one per core, at most one per tenant.
pub fn callers(live: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    cores.min(live).max(1)
}

/// One thread per core calls at once, each round-robin over its own share
/// of the live tenants, every answer checked: calls per second over all of
/// them, from the moment all callers are released to the moment the last
/// one stops.
fn throughput(fleet: &mut dyn Fleet, bounds: &Bounds, report: &mut RunReport) {
    let groups = fleet.split(callers(fleet.len()));
    let threads = groups.len();
    let per_thread = bounds.throughput_requests.div_ceil(threads.max(1));
    let start = Barrier::new(threads + 1);
    let outcomes = std::thread::scope(|scope| {
        let handles: Vec<_> = groups
            .into_iter()
            .map(|mut group| {
                let start = &start;
                scope.spawn(move || {
                    start.wait();
                    let began = Instant::now();
                    let outcome = call_group(&mut *group, per_thread, bounds.throughput_time);
                    (outcome, began, Instant::now())
                })
            })
            .collect();
        start.wait();
        handles
            .into_iter()
            .map(|handle| {
                handle.join().unwrap_or_else(|_| {
                    let now = Instant::now();
                    (Err("a caller panicked".to_string()), now, now)
                })
            })
            .collect::<Vec<_>>()
    });
    // Timed from the first caller's start to the last caller's end, as the
    // callers saw them: the coordinating thread may be scheduled after the
    // callers finished (a loaded machine), so its own clock would give an
    // empty or negative span.
    let first = outcomes.iter().map(|(_, began, _)| *began).min();
    let last = outcomes.iter().map(|(_, _, ended)| *ended).max();
    let mut calls = 0;
    for (outcome, _, _) in outcomes {
        match outcome {
            Ok(made) => calls += made,
            Err(detail) => {
                report.stop_detail = Some(format!("throughput phase: {detail}"));
                return;
            }
        }
    }
    let seconds = match (first, last) {
        (Some(first), Some(last)) => last.duration_since(first).as_secs_f64(),
        _ => 0.0,
    };
    report.throughput_callers = threads;
    report.throughput_requests = calls;
    #[allow(clippy::cast_precision_loss)]
    let rps = calls as f64 / seconds;
    report.throughput_rps = (seconds > 0.0 && calls > 0).then_some(rps);
}

/// Calls the tenants of `group` in turn, at least once each, until `time`
/// has passed or `most` calls were made: the calls made, or what went wrong.
fn call_group(group: &mut dyn Caller, most: usize, time: Duration) -> Result<usize, String> {
    let tenants = group.len();
    let most = most.max(tenants);
    let began = Instant::now();
    let mut made = 0;
    while made < most {
        if made >= tenants && began.elapsed() >= time {
            break;
        }
        match group.call(made % tenants, INPUT) {
            Ok(output) if output == EXPECTED => made += 1,
            Ok(output) => {
                return Err(format!(
                    "wrong answer: {:?}",
                    String::from_utf8_lossy(&output)
                ));
            }
            Err(failure) => return Err(failure.detail),
        }
    }
    Ok(made)
}

fn stop(report: &mut RunReport, failure: Failure) {
    report.stopped_by = Some(failure.limit.name().to_string());
    report.stop_detail = Some(failure.detail);
}

fn finish(cgroup: Option<RunCgroup>, report: &mut RunReport) {
    if let Some(cgroup) = cgroup
        && let Err(error) = cgroup.leave()
    {
        let detail = report.stop_detail.take().unwrap_or_default();
        report.stop_detail = Some(format!("{detail} (cgroup: {error})"));
    }
}

#[cfg(test)]
mod tests;
