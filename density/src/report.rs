//! The report: the machine, every run, skipped methods, compute overhead and
//! the claims; written as JSON and printed as a table.

use std::fmt::Write as _;

use serde::Serialize;

use crate::claims::Claim;
use crate::compute::Compute;
use crate::node::Node;
use crate::run::RunReport;

/// The whole report (`target/density/report.json`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Where it ran.
    pub machine: Machine,
    /// How it ran.
    pub settings: Settings,
    /// One entry per method and tenant count.
    pub runs: Vec<RunReport>,
    /// Methods not run here, with the reason.
    pub skipped: Vec<Skipped>,
    /// Per method: the largest tenant count reached and what stopped it.
    pub largest: Vec<Largest>,
    /// Per method: how many tenants fit the node memory budget
    /// ([`Settings::memory_budget_bytes`]), fixed costs included.
    pub nodes: Vec<Node>,
    /// fib native vs Wasm, with and without fuel.
    pub compute: Option<Compute>,
    /// Why `compute` is null, if it is.
    pub compute_error: Option<String>,
    /// The articles' claims next to our figures.
    pub claims: Vec<Claim>,
}

/// The machine the report was measured on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Logical CPUs available.
    pub cpus: usize,
    /// `uname -r`.
    pub kernel: String,
    /// Total RAM, GiB.
    pub memory_gib: f64,
    /// CPU model, from `/proc/cpuinfo`.
    pub cpu_model: Option<String>,
    /// `vm.max_map_count`.
    pub max_map_count: Option<usize>,
    /// Where charged memory is read (or why it is not).
    pub charged_memory_source: String,
    /// `RUST_BACKTRACE` as the harness found it (it should be unset: it
    /// slows error paths).
    pub rust_backtrace: Option<String>,
}

impl Machine {
    /// Reads the machine's description.
    pub fn probe(charged_memory_source: String) -> Self {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let memory_kib: f64 = read("/proc/meminfo")
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        Self {
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            memory_gib: (memory_kib / f64::from(1u32 << 20) * 10.0).round() / 10.0,
            cpu_model: read("/proc/cpuinfo")
                .lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string()),
            max_map_count: crate::memory::max_map_count(),
            charged_memory_source,
            rust_backtrace: std::env::var("RUST_BACKTRACE").ok(),
        }
    }
}

/// The run's settings, as given.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Tenant counts of the ramp.
    pub ramp: Vec<usize>,
    /// Memory budget per run, bytes: also the node memory of "tenants per
    /// node".
    pub memory_budget_bytes: u64,
    /// Harness bound on starting tenants, seconds per run.
    pub start_bound_seconds: f64,
    /// Bound of each call phase (latency, then throughput), seconds.
    pub throughput_seconds: f64,
    /// Bound of each call phase, requests.
    pub throughput_max_requests: usize,
    /// The workload: which language's `hello` every method runs.
    pub workload: crate::Workload,
    /// The plugin every method runs (its directory under `plugins/`).
    pub plugin: String,
    /// What the native workers run (the twin, or the interpreter, its
    /// version and path, and the script).
    pub native: String,
    /// Its request.
    pub request: String,
}

/// A method that did not run.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// Method name.
    pub method: String,
    /// Why.
    pub reason: String,
}

/// The largest tenant count a method reached.
#[derive(Debug, Clone, Serialize)]
pub struct Largest {
    /// Method name.
    pub method: String,
    /// Most tenants live at once.
    pub tenants: usize,
    /// The limit that stopped the ramp (`null`: it completed).
    pub stopped_by: Option<String>,
}

impl Report {
    /// The report as a text table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(
            out,
            "machine: {} CPUs ({}), {} GiB, Linux {}, vm.max_map_count {}; charged memory: {}",
            m.cpus,
            m.cpu_model.as_deref().unwrap_or("?"),
            m.memory_gib,
            m.kernel,
            m.max_map_count.map_or("?".into(), |n| n.to_string()),
            m.charged_memory_source,
        );
        let _ = writeln!(
            out,
            "workload: {} (plugins/{}); native workers: {}",
            self.settings.workload.name(),
            self.settings.plugin,
            self.settings.native,
        );
        let _ = writeln!(
            out,
            "\n{:<17} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9} {:>9} {:>11} {:>4}  stopped by",
            "method",
            "N",
            "cold p50",
            "cold p90",
            "cold p99",
            "PSS/tnt",
            "chg/tnt",
            "lat p50",
            "lat p99",
            "thru req/s",
            "thr"
        );
        let _ = writeln!(
            out,
            "{:<17} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9} {:>9} {:>11} {:>4}",
            "", "", "µs", "µs", "µs", "KiB", "KiB", "µs", "µs", "", ""
        );
        for run in &self.runs {
            let cold = run.cold_start_us;
            let latency = run.latency_us;
            let _ = writeln!(
                out,
                "{:<17} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9} {:>9} {:>11} {:>4}  {}",
                run.method,
                run.tenants,
                num(cold.map(|c| c.p50)),
                num(cold.map(|c| c.p90)),
                num(cold.map(|c| c.p99)),
                num(run.pss_kib_per_tenant),
                num(run.charged_kib_per_tenant),
                num(latency.map(|l| l.p50)),
                num(latency.map(|l| l.p99)),
                num(run.throughput_rps),
                run.throughput_callers,
                match (&run.stopped_by, &run.stop_detail) {
                    (Some(limit), Some(detail)) => format!("{limit} ({detail})"),
                    (Some(limit), None) => limit.clone(),
                    (None, _) => "-".into(),
                }
            );
        }
        let _ = writeln!(
            out,
            "(per tenant: growth after the fixed cost (engine, compiled plugin) divided by N; \
             the kernel batches cgroup charges per CPU, so charged figures at N = 1 and 10 are \
             within a few hundred KiB of noise. lat: one caller calling every tenant in turn; \
             thru: `thr` callers at once, one per core (at most one per tenant), each \
             round-robin over its share of the tenants)"
        );
        if !self.nodes.is_empty() {
            let _ = writeln!(
                out,
                "\ntenants per node ({} MiB of memory, fixed costs included):\n\
                 {:<17} {:>12} {:>12} {:>10}  from runs",
                self.settings.memory_budget_bytes >> 20,
                "method",
                "first KiB",
                "next KiB",
                "tenants"
            );
            for node in &self.nodes {
                let _ = writeln!(
                    out,
                    "{:<17} {:>12} {:>12} {:>10}  N = {} ({})",
                    node.method,
                    num(Some(node.first_tenant_kib)),
                    num(Some(node.per_tenant_kib)),
                    node.tenants,
                    node.from_runs
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    node.basis,
                );
            }
            let _ = writeln!(
                out,
                "(first: the first tenant in all, engine or runtime included, from the \
                 smallest run; next: each further tenant, the slope between the two largest \
                 runs; tenants: 1 + (budget − first) / next)"
            );
        }
        for skipped in &self.skipped {
            let _ = writeln!(out, "skipped {}: {}", skipped.method, skipped.reason);
        }
        if let Some(c) = &self.compute {
            let _ = writeln!(
                out,
                "\ncompute, fib({}) per call: native {:.2} ms; wasm {:.2} ms ({:.2}×); \
                 wasm+fuel {:.2} ms ({:.2}×); wasm+epochs {:.2} ms ({:.2}×); \
                 wasm+fuel+epochs {:.2} ms ({:.2}×); plugbox call {:.2} ms ({:.2}×); \
                 plugbox deadline only {:.2} ms ({:.2}×); plugbox fuel only {:.2} ms \
                 ({:.2}×); plugbox guarded {:.2} ms ({:.2}×); native twin over pipes {} \
                 (epochs: a ticker every {} ms, as plugbox's)",
                c.fib_n,
                c.native_ms,
                c.wasm_ms,
                c.wasm_ratio,
                c.wasm_fuel_ms,
                c.wasm_fuel_ratio,
                c.wasm_epoch_ms,
                c.wasm_epoch_ratio,
                c.wasm_fuel_epoch_ms,
                c.wasm_fuel_epoch_ms / c.native_ms,
                c.plugbox_ms,
                c.plugbox_ratio,
                c.plugbox_deadline_only_ms,
                c.plugbox_deadline_only_ratio,
                c.plugbox_fuel_only_ms,
                c.plugbox_fuel_only_ratio,
                c.plugbox_guarded_ms,
                c.plugbox_guarded_ratio,
                c.native_twin_ms
                    .map_or("-".into(), |ms| format!("{ms:.2} ms")),
                c.epoch_tick_ms,
            );
            let fastest: Vec<String> = c
                .fastest_ms
                .iter()
                .map(|(name, ms)| format!("{name} {ms:.2}"))
                .collect();
            let _ = writeln!(
                out,
                "fastest call of each (ms, less sensitive to other load): {}",
                fastest.join("; ")
            );
        } else if let Some(error) = &self.compute_error {
            let _ = writeln!(out, "\ncompute: not measured: {error}");
        }
        if !self.claims.is_empty() {
            // Columns as wide as their longest entry (at least the
            // articles' claims' widths).
            let width = |pick: fn(&Claim) -> &str, least: usize| {
                self.claims
                    .iter()
                    .map(|claim| pick(claim).chars().count())
                    .max()
                    .unwrap_or(0)
                    .max(least)
            };
            let claim_width = width(|claim| &claim.claim, 26);
            let source_width = width(|claim| &claim.source, 44);
            let measured_width = width(|claim| &claim.measured, 52);
            let _ = writeln!(
                out,
                "\n{:<claim_width$} {:<source_width$} {:<measured_width$} verdict",
                "claim", "source figure", "measured here"
            );
            for claim in &self.claims {
                let _ = writeln!(
                    out,
                    "{:<claim_width$} {:<source_width$} {:<measured_width$} {}",
                    claim.claim, claim.source, claim.measured, claim.verdict
                );
            }
            let _ = writeln!(out, "({})", crate::claims::RULE);
        }
        out
    }
}

/// A number for the table: 3 significant digits at most, `-` when absent.
pub fn num(value: Option<f64>) -> String {
    match value {
        None => "-".into(),
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short() {
        assert_eq!(num(None), "-");
        assert_eq!(num(Some(1234.56)), "1235");
        assert_eq!(num(Some(12.345)), "12.3");
        assert_eq!(num(Some(1.2345)), "1.23");
    }
}
