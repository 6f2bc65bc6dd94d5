//! The articles' claims about Wasm versus containers, next to what this run
//! measured, with a verdict each; for the Python and JavaScript workloads,
//! also issue 13's figures for a polyglot Wasm tenant against its
//! interpreter in a `namespaced` worker ([`polyglot_claims`]).
//!
//! Wasm is plugbox with the pooling allocator; the container is runc (what
//! Docker runs) if it ran, else crun. Cold start and memory per instance are
//! compared at the largest tenant count both reached; tenants per node on
//! each method's fit of the node's memory, fixed costs included
//! ([`crate::node`]).

use serde::Serialize;

use crate::compute::Compute;
use crate::node::Node;
use crate::run::RunReport;
use crate::workload::Workload;

/// How verdicts are decided (printed under the table).
pub const RULE: &str = "verdict: for an advantage claimed as a ratio, `holds` when ours is at \
     least the claimed ratio, `holds by far` at 10× the claimed ratio or more, `does not hold` \
     below it; for the compute overhead, `holds` when ours is at most the claimed overhead";

/// One claim and our figure.
#[derive(Debug, Clone, Serialize)]
pub struct Claim {
    /// What is claimed.
    pub claim: String,
    /// The source's figure.
    pub source: String,
    /// Our figure, in words.
    pub measured: String,
    /// Our figure as a number (a ratio, or the overhead in percent).
    pub value: Option<f64>,
    /// holds / holds by far / does not hold / not measured.
    pub verdict: String,
}

const WASM: &str = "plugbox-pooling";
const CONTAINERS: &[&str] = &["runc", "crun"];

/// The claims, judged on `runs` of `workload`, the methods' fits of a node
/// (`nodes`) and `compute` (the Rust workload's only: its fib is Rust).
pub fn judge(
    runs: &[RunReport],
    nodes: &[Node],
    compute: Option<&Compute>,
    workload: Workload,
) -> Vec<Claim> {
    let pair = CONTAINERS.iter().find_map(|container| {
        let wasm = largest_common(runs, WASM, container)?;
        let other = runs
            .iter()
            .find(|run| run.method == *container && run.tenants == wasm.tenants)?;
        Some((wasm, other, *container))
    });
    let ratio_claim = |claim: &str,
                       source: &str,
                       claimed: f64,
                       pick: fn(&RunReport) -> Option<f64>,
                       unit: &str| {
        let Some((wasm, container, name)) = pair else {
            return unmeasured(claim, source, "no container run to compare with");
        };
        match (pick(wasm), pick(container)) {
            (Some(ours), Some(theirs)) if ours > 0.0 => {
                let ratio = theirs / ours;
                Claim {
                    claim: claim.into(),
                    source: source.into(),
                    measured: format!(
                        "{} {unit} vs {name} {} {unit} at N={}: {ratio:.0}×",
                        crate::report::num(Some(ours)),
                        crate::report::num(Some(theirs)),
                        wasm.tenants
                    ),
                    value: Some(ratio),
                    verdict: ratio_verdict(ratio, claimed).into(),
                }
            }
            _ => unmeasured(claim, source, "a figure is missing"),
        }
    };
    let mut claims = vec![
        ratio_claim(
            "cold start vs container",
            "Wasmtime 0.8 ms vs Docker 300 ms (375×)",
            375.0,
            |run| run.cold_start_us.map(|c| c.p50),
            "µs",
        ),
        ratio_claim(
            "memory per idle instance",
            "Wasmtime 4 MB vs Docker 48 MB (12×)",
            12.0,
            |run| run.charged_kib_per_tenant.or(run.pss_kib_per_tenant),
            "KiB",
        ),
    ];
    claims.push(tenants_per_node(nodes));
    if workload != Workload::Rust {
        claims.extend(polyglot_claims(runs, workload));
        return claims;
    }
    claims.push(match compute {
        Some(c) => {
            let overhead = (c.wasm_ratio - 1.0) * 100.0;
            let fuel = (c.wasm_fuel_ratio - 1.0) * 100.0;
            let plugbox = (c.plugbox_ratio - 1.0) * 100.0;
            Claim {
                claim: "compute overhead".into(),
                source: "Wasmtime +14% vs native, recursive fib".into(),
                measured: format!(
                    "fib({}): wasm {overhead:+.0}%, fuel {fuel:+.0}%, plugbox (fuel+epochs) {plugbox:+.0}%",
                    c.fib_n
                ),
                value: Some(overhead),
                verdict: if overhead <= 14.0 {
                    "holds"
                } else {
                    "does not hold"
                }
                .into(),
            }
        }
        None => unmeasured(
            "compute overhead",
            "Wasmtime +14% vs native, recursive fib",
            "not measured",
        ),
    });
    claims
}

/// Where the polyglot workloads' interpreters are compared.
const INTERPRETER_LEVEL: &str = "namespaced";

/// Issue 13's figures for a Python or JavaScript Wasm tenant: cold start
/// ≤ 1 ms p50 and ≥ 20× faster than its interpreter (`python3`, `node`) in
/// a `namespaced` worker; ≤ 2 MiB charged per live tenant and ≥ 5× denser
/// (charged memory per live tenant) than the interpreter there. Absolute
/// figures are judged on the Wasm run at the largest tenant count it
/// reached, ratios at the largest count both reached.
pub fn polyglot_claims(runs: &[RunReport], workload: Workload) -> Vec<Claim> {
    const SOURCE: &str = "issue 13";
    let interpreter = workload.interpreter().unwrap_or("the native twin");
    let language = match workload {
        Workload::Python => "Python",
        Workload::Js => "JavaScript",
        Workload::Rust => "Rust",
    };
    let largest = runs
        .iter()
        .filter(|run| run.method == WASM && run.tenants > 0)
        .max_by_key(|run| run.tenants);
    let pair = largest_common(runs, WASM, INTERPRETER_LEVEL).and_then(|wasm| {
        let other = runs
            .iter()
            .find(|run| run.method == INTERPRETER_LEVEL && run.tenants == wasm.tenants)?;
        Some((wasm, other))
    });
    let at_most = |claim: String, goal: f64, unit: &str, pick: fn(&RunReport) -> Option<f64>| {
        let source = format!("{SOURCE}: ≤ {} {unit}", crate::report::num(Some(goal)));
        match largest.and_then(|run| Some((run, pick(run)?))) {
            Some((run, ours)) => Claim {
                measured: if ours <= goal {
                    format!(
                        "{} {unit} at N={}",
                        crate::report::num(Some(ours)),
                        run.tenants
                    )
                } else {
                    format!(
                        "{} {unit} at N={}: missed by {:.1}×",
                        crate::report::num(Some(ours)),
                        run.tenants,
                        ours / goal
                    )
                },
                claim,
                source,
                value: Some(ours),
                verdict: if ours <= goal {
                    "holds"
                } else {
                    "does not hold"
                }
                .into(),
            },
            None => unmeasured(&claim, &source, "plugbox-pooling measured no tenant"),
        }
    };
    let ratio = |claim: String, claimed: f64, unit: &str, pick: fn(&RunReport) -> Option<f64>| {
        let source = format!("{SOURCE}: ≥ {claimed:.0}×");
        let Some((wasm, other)) = pair else {
            return unmeasured(
                &claim,
                &source,
                &format!("no {INTERPRETER_LEVEL} run at a tenant count plugbox-pooling reached"),
            );
        };
        match (pick(wasm), pick(other)) {
            (Some(ours), Some(theirs)) if ours > 0.0 => {
                let ratio = theirs / ours;
                Claim {
                    measured: format!(
                        "{} {unit} vs {interpreter} in {INTERPRETER_LEVEL} {} {unit} at N={}: {ratio:.1}×",
                        crate::report::num(Some(ours)),
                        crate::report::num(Some(theirs)),
                        wasm.tenants
                    ),
                    claim,
                    source,
                    value: Some(ratio),
                    verdict: ratio_verdict(ratio, claimed).into(),
                }
            }
            _ => unmeasured(&claim, &source, "a figure is missing"),
        }
    };
    let cold = |run: &RunReport| run.cold_start_us.map(|c| c.p50);
    let charged = |run: &RunReport| run.charged_kib_per_tenant;
    vec![
        at_most(
            format!("{language} Wasm tenant cold start (p50)"),
            1000.0,
            "µs",
            cold,
        ),
        ratio(
            format!("{language} cold start vs {interpreter} in {INTERPRETER_LEVEL}"),
            20.0,
            "µs",
            cold,
        ),
        at_most(
            format!("{language} Wasm tenant charged memory"),
            2048.0,
            "KiB",
            charged,
        ),
        ratio(
            format!("{language} memory per tenant vs {interpreter} in {INTERPRETER_LEVEL}"),
            5.0,
            "KiB",
            charged,
        ),
    ]
}

/// Tenants per node: 30 containers vs 500+ Wasm modules (16.7×), as the
/// tenants of each that fit the node's memory, fixed costs included.
fn tenants_per_node(nodes: &[Node]) -> Claim {
    const CLAIM: &str = "tenants per node";
    const SOURCE: &str = "30 containers vs 500+ Wasm modules (17×)";
    let node = |method: &str| nodes.iter().find(|node| node.method == method);
    let Some(wasm) = node(WASM) else {
        return unmeasured(CLAIM, SOURCE, "plugbox-pooling did not run");
    };
    let Some((container, name)) = CONTAINERS
        .iter()
        .find_map(|name| Some((node(name)?, *name)))
    else {
        return unmeasured(CLAIM, SOURCE, "no container run to compare with");
    };
    if container.tenants == 0 {
        return unmeasured(CLAIM, SOURCE, "not one container fits the node's memory");
    }
    #[allow(clippy::cast_precision_loss)]
    let ratio = wasm.tenants as f64 / container.tenants as f64;
    Claim {
        claim: CLAIM.into(),
        source: SOURCE.into(),
        measured: format!(
            "{} vs {name} {} in the node's memory: {ratio:.0}×",
            wasm.tenants, container.tenants
        ),
        value: Some(ratio),
        verdict: ratio_verdict(ratio, 500.0 / 30.0).into(),
    }
}

fn ratio_verdict(ratio: f64, claimed: f64) -> &'static str {
    if ratio >= claimed * 10.0 {
        "holds by far"
    } else if ratio >= claimed {
        "holds"
    } else {
        "does not hold"
    }
}

fn unmeasured(claim: &str, source: &str, why: &str) -> Claim {
    Claim {
        claim: claim.into(),
        source: source.into(),
        measured: why.into(),
        value: None,
        verdict: "not measured".into(),
    }
}

/// The run of `a` at the largest tenant count that `b` also reached.
fn largest_common<'r>(runs: &'r [RunReport], a: &str, b: &str) -> Option<&'r RunReport> {
    runs.iter()
        .filter(|run| run.method == a && run.tenants > 0)
        .filter(|run| {
            runs.iter()
                .any(|other| other.method == b && other.tenants == run.tenants)
        })
        .max_by_key(|run| run.tenants)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        assert_eq!(ratio_verdict(400.0, 375.0), "holds");
        assert_eq!(ratio_verdict(4000.0, 375.0), "holds by far");
        assert_eq!(ratio_verdict(100.0, 375.0), "does not hold");
    }

    #[test]
    fn tenants_per_node_counts_fixed_costs() {
        let node = |method: &str, first: f64, next: f64| Node {
            method: method.into(),
            first_tenant_kib: first,
            per_tenant_kib: next,
            tenants: crate::node::tenants_within(1 << 30, first, next),
            from_runs: vec![1, 100],
            basis: "charged".into(),
        };
        // Equal per-tenant ratio (100×), but Wasm's engine costs 512 MiB:
        // half the node, so half the Wasm tenants, and 50× the tenants.
        let nodes = [
            node(WASM, 512.0 * 1024.0, 10.0),
            node("runc", 1000.0, 1000.0),
        ];
        let claim = tenants_per_node(&nodes);
        let ratio = claim.value.unwrap_or_default();
        assert!((ratio - 52_429.0 / 1_048.0).abs() < 0.01, "{claim:?}");
        assert!(claim.measured.contains("52429 vs runc 1048"), "{claim:?}");
        assert_eq!(claim.verdict, "holds");
    }

    #[test]
    fn no_container_means_not_measured() {
        let claims = judge(&[], &[], None, Workload::Rust);
        assert_eq!(claims.len(), 4);
        assert!(claims.iter().all(|claim| claim.verdict == "not measured"));
    }

    fn run(method: &str, tenants: usize, cold_us: f64, charged_kib: f64) -> RunReport {
        RunReport {
            method: method.into(),
            tenants,
            requested: tenants,
            cold_start_us: Some(crate::stats::Percentiles {
                p50: cold_us,
                p90: cold_us,
                p99: cold_us,
            }),
            pss_kib_per_tenant: Some(charged_kib),
            charged_kib_per_tenant: Some(charged_kib),
            ..RunReport::default()
        }
    }

    #[test]
    fn polyglot_figures_are_judged_and_a_miss_says_by_how_much() {
        let runs = [
            run(WASM, 10, 900.0, 1024.0),
            run(WASM, 100, 2500.0, 3072.0),
            run(INTERPRETER_LEVEL, 10, 36_000.0, 8192.0),
            run(INTERPRETER_LEVEL, 100, 40_000.0, 9216.0),
        ];
        let claims = polyglot_claims(&runs, Workload::Python);
        let verdicts: Vec<(&str, &str)> = claims
            .iter()
            .map(|claim| (claim.claim.as_str(), claim.verdict.as_str()))
            .collect();
        assert_eq!(
            verdicts,
            [
                ("Python Wasm tenant cold start (p50)", "does not hold"),
                (
                    "Python cold start vs python3 in namespaced",
                    "does not hold"
                ),
                ("Python Wasm tenant charged memory", "does not hold"),
                (
                    "Python memory per tenant vs python3 in namespaced",
                    "does not hold"
                ),
            ]
        );
        // Judged at N = 100, the largest both reached.
        assert!(
            claims[0].measured.contains("missed by 2.5×"),
            "{:?}",
            claims[0]
        );
        assert_eq!(claims[1].value, Some(16.0));
        assert!(
            claims[2].measured.contains("missed by 1.5×"),
            "{:?}",
            claims[2]
        );
        assert_eq!(claims[3].value, Some(3.0));
        // At N = 10 only, every figure holds.
        let claims = polyglot_claims(&[runs[0].clone(), runs[2].clone()], Workload::Js);
        assert!(
            claims.iter().all(|claim| claim.verdict == "holds"),
            "{claims:?}"
        );
        assert!(claims[1].claim.contains("node"), "{claims:?}");
        assert_eq!(claims[1].value, Some(40.0));
        // No interpreter run: the ratios are not measured.
        let claims = polyglot_claims(&runs[..2], Workload::Python);
        assert_eq!(claims[1].verdict, "not measured");
        assert_eq!(claims[0].verdict, "does not hold");
        // The Rust workload keeps the articles' claims; the others get these.
        assert_eq!(judge(&runs, &[], None, Workload::Rust).len(), 4);
        assert_eq!(judge(&runs, &[], None, Workload::Python).len(), 7);
    }
}
