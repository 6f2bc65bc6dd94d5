//! Tenants per node: how many tenants of a method fit a node's memory
//! budget, fixed costs included.
//!
//! A method's memory is modelled as a fixed part plus a per-tenant part,
//! both read off its runs: the fixed part is what its first tenant costs in
//! all (the engine and compiled plugin of an in-process host, or what a
//! runtime's first container costs above the next ones), the per-tenant part
//! is the slope between its two largest runs (the cgroup charges of the
//! smallest are noise: the kernel batches them per CPU). The tenants that
//! fit are the first one plus as many more as the budget left after it
//! holds. This is not 1 GiB divided by the memory per idle instance: a
//! method with a large fixed cost fits fewer tenants than that ratio says.

use serde::Serialize;

use crate::run::RunReport;

/// One method's fit on a node.
#[derive(Debug, Clone, Serialize)]
pub struct Node {
    /// Method name.
    pub method: String,
    /// Memory of the first tenant in all (fixed costs included), KiB.
    pub first_tenant_kib: f64,
    /// Memory of each further tenant, KiB.
    pub per_tenant_kib: f64,
    /// Tenants that fit the node's memory budget.
    pub tenants: u64,
    /// The runs the fit is read from, by tenant count: the smallest (the
    /// first tenant), then the two largest (the slope).
    pub from_runs: Vec<usize>,
    /// `charged` (cgroup) or `PSS` (where nothing is charged).
    pub basis: String,
}

/// The fit of every method with runs in `runs`, against `budget_bytes` of
/// node memory, in the order the methods first appear.
pub fn fit(runs: &[RunReport], budget_bytes: u64) -> Vec<Node> {
    let mut methods: Vec<&str> = Vec::new();
    for run in runs {
        if !methods.contains(&run.method.as_str()) {
            methods.push(&run.method);
        }
    }
    methods
        .into_iter()
        .filter_map(|method| fit_method(runs, method, budget_bytes))
        .collect()
}

fn fit_method(runs: &[RunReport], method: &str, budget_bytes: u64) -> Option<Node> {
    let measured: Vec<&RunReport> = runs
        .iter()
        .filter(|run| run.method == method && run.tenants > 0)
        .collect();
    // One basis for all runs of a method: charged if every run has it.
    let charged = measured
        .iter()
        .all(|run| run.fixed_charged_kib.is_some() && run.charged_kib_per_tenant.is_some());
    let total = |run: &RunReport| -> Option<f64> {
        #[allow(clippy::cast_precision_loss)]
        let tenants = run.tenants as f64;
        if charged {
            Some(run.fixed_charged_kib? + run.charged_kib_per_tenant? * tenants)
        } else {
            Some(run.fixed_pss_kib? + run.pss_kib_per_tenant? * tenants)
        }
    };
    let mut by_size = measured.clone();
    by_size.sort_by_key(|run| run.tenants);
    by_size.dedup_by_key(|run| run.tenants);
    let smallest = *by_size.first()?;
    let small_total = total(smallest)?;
    #[allow(clippy::cast_precision_loss)]
    let (per_tenant, first) = if let [.., below, top] = by_size[..] {
        let slope = (total(top)? - total(below)?) / (top.tenants - below.tenants) as f64;
        // The fixed part: the smallest run's total less its further
        // tenants at the slope (its first tenant in all).
        (slope, small_total - slope * (smallest.tenants as f64 - 1.0))
    } else {
        // One run only: its fixed cost before any tenant, and its average.
        let fixed = if charged {
            smallest.fixed_charged_kib?
        } else {
            smallest.fixed_pss_kib?
        };
        let each = (small_total - fixed) / smallest.tenants as f64;
        (each, fixed + each)
    };
    // Noise (cgroup charges are batched per CPU) must not make a tenant
    // free or the fixed part negative.
    let per_tenant = per_tenant.max(1.0);
    let first = first.max(per_tenant);
    Some(Node {
        method: method.to_string(),
        first_tenant_kib: first,
        per_tenant_kib: per_tenant,
        tenants: tenants_within(budget_bytes, first, per_tenant),
        from_runs: {
            let mut counts: Vec<usize> = [smallest.tenants]
                .into_iter()
                .chain(by_size.iter().rev().take(2).rev().map(|run| run.tenants))
                .collect();
            counts.dedup();
            counts
        },
        basis: if charged { "charged" } else { "PSS" }.to_string(),
    })
}

/// Tenants that fit `budget_bytes` when the first costs `first_kib` and
/// each further one `per_tenant_kib`.
pub fn tenants_within(budget_bytes: u64, first_kib: f64, per_tenant_kib: f64) -> u64 {
    #[allow(clippy::cast_precision_loss)]
    let budget = budget_bytes as f64 / 1024.0;
    if first_kib > budget {
        return 0;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let more = ((budget - first_kib) / per_tenant_kib).floor() as u64;
    1 + more
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(method: &str, tenants: usize, fixed: f64, each: f64) -> RunReport {
        RunReport {
            method: method.into(),
            tenants,
            requested: tenants,
            pss_kib_per_tenant: Some(each),
            charged_kib_per_tenant: Some(each),
            fixed_pss_kib: Some(fixed),
            fixed_charged_kib: Some(fixed),
            ..RunReport::default()
        }
    }

    #[test]
    fn the_fixed_cost_counts_against_the_budget() {
        // 6 MiB of engine, then 24 KiB a tenant (plugbox's shape), 1 GiB.
        let runs = [
            run("wasm", 1, 6144.0, 24.0),
            run("wasm", 1000, 6144.0, 24.0),
        ];
        let node = &fit(&runs, 1 << 30)[0];
        assert!((node.per_tenant_kib - 24.0).abs() < 1e-9, "{node:?}");
        assert!((node.first_tenant_kib - 6168.0).abs() < 1e-9, "{node:?}");
        // (1 GiB − 6,168 KiB) / 24 KiB + 1, not 1 GiB / 24 KiB (43,690).
        assert_eq!(node.tenants, 1 + (1_048_576 - 6168) / 24);
        assert!(node.tenants < (1 << 20) / 24);
    }

    #[test]
    fn a_costly_first_tenant_is_the_fixed_part() {
        // A runtime whose first container costs 4,376 KiB, the next ones
        // about 2,830 KiB each (runc's shape on 2026-12-01).
        let runs = [
            run("oci", 1, 0.0, 4376.0),
            run("oci", 100, 0.0, (4376.0 + 99.0 * 2830.0) / 100.0),
        ];
        let node = &fit(&runs, 1 << 30)[0];
        assert!((node.per_tenant_kib - 2830.0).abs() < 1e-6, "{node:?}");
        assert!((node.first_tenant_kib - 4376.0).abs() < 1e-6, "{node:?}");
        assert_eq!(node.tenants, 1 + (1_048_576 - 4376) / 2830);
        assert_eq!(node.from_runs, [1, 100]);
    }

    #[test]
    fn the_slope_comes_from_the_two_largest_runs() {
        // At N = 1 the charge is noise (0 here); 100 and 1,000 tell.
        let runs = [
            run("wasm", 1, 6000.0, 0.0),
            run("wasm", 100, 6000.0, 30.0),
            run("wasm", 1000, 6000.0, 25.5),
        ];
        let node = &fit(&runs, 1 << 30)[0];
        // (6000 + 25,500 − 6000 − 3,000) / 900 = 25 KiB a tenant.
        assert!((node.per_tenant_kib - 25.0).abs() < 1e-9, "{node:?}");
        // 6,000 at one tenant, at least one tenant's worth.
        assert!((node.first_tenant_kib - 6000.0).abs() < 1e-9, "{node:?}");
        assert_eq!(node.from_runs, [1, 100, 1000]);
    }

    #[test]
    fn a_budget_below_the_fixed_cost_fits_nothing() {
        assert_eq!(tenants_within(1 << 20, 6144.0, 24.0), 0);
        assert_eq!(tenants_within(1 << 20, 1024.0, 24.0), 1);
        let runs = [run("one", 10, 100.0, 10.0)];
        let node = &fit(&runs, 1 << 20)[0];
        assert_eq!(node.first_tenant_kib, 110.0);
        assert_eq!(node.tenants, 1 + (1024 - 110) / 10);
    }
}
