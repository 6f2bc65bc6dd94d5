//! The density comparison behind `plugbox density`: the same plugin logic
//! (the `hello` plugin, uppercase, in Rust, Python or JavaScript: a
//! [`Workload`]) and the same requests through plugbox
//! (pooling and on-demand allocators) and through every isolation level of
//! `plugbox-baseline` (one native worker process per tenant: the Rust
//! plugin's native twin, or `python3` / `node` running the polyglot
//! plugin's own source), at a ramp
//! of tenant counts. For each method and count: cold start per tenant
//! (p50/p90/p99), memory per live tenant (summed PSS and cgroup-charged
//! memory), call latency (one caller) and throughput (a caller per core)
//! with every tenant live, and the limit that stopped a ramp early; per
//! method, the tenants that fit a node's memory, fixed costs included; plus
//! the compute overhead of Wasm on a CPU-bound function.
//! See `shared/DESIGN.md`, "Measuring density honestly".
//!
//! Methods that cannot run here (a runtime not installed) are listed as
//! skipped with the reason, never faked.
#![warn(missing_docs)]

pub mod baseline_method;
pub mod claims;
pub mod compute;
#[cfg(feature = "extism")]
pub mod extism_method;
pub mod memory;
pub mod method;
pub mod node;
pub mod plugbox_method;
pub mod report;
pub mod run;
pub mod stats;
pub mod svg;
pub mod workload;

use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

pub use method::Method;
pub use report::Report;
use report::{Largest, Machine, Settings, Skipped};
pub use run::Bounds;
pub use workload::{Setup, Workload};

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest tenant count: the ramp is 1, 10, 100, ... up to it.
    pub max_tenants: usize,
    /// Methods to run, by name (`None`: all).
    pub methods: Option<Vec<String>>,
    /// Per-run bounds.
    pub bounds: Bounds,
    /// Fibonacci index for the compute comparison (`None`: skip it).
    pub fib_n: Option<u32>,
    /// Show a progress bar on stderr (when it is a terminal).
    pub progress: bool,
    /// Where each run happens.
    pub runner: Runner,
    /// The workload, and the compiled-code cache of plugbox's engines.
    pub setup: Setup,
}

/// Where each run (one method at one tenant count) happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    /// In this process. Later runs of in-process methods (plugbox, Extism)
    /// may then reuse heap pages earlier runs freed, which neither their PSS
    /// growth nor their cgroup (the pages stay charged to the earlier run's)
    /// counts: use for tests, not for figures.
    InProcess,
    /// In a fresh process per run, so every run starts from the same empty
    /// heap: `program` with `args`, then `--method NAME --tenants N
    /// --memory-budget BYTES --start-bound-ms MS --throughput-ms MS
    /// --throughput-requests COUNT --workload NAME` and `--cache-dir DIR`
    /// if [`Setup::cache_dir`] is set. That command must pass these to
    /// [`run_one`] and print the [`RunReport`](run::RunReport) it returns as
    /// JSON on stdout (`plugbox density-run` does).
    Subprocess {
        /// The program (e.g. `std::env::current_exe()`).
        program: PathBuf,
        /// Arguments before the run's own (e.g. a subcommand).
        args: Vec<String>,
    },
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_tenants: 1_000,
            methods: None,
            bounds: Bounds {
                memory_budget: 1 << 30,
                start_time: Duration::from_secs(30),
                throughput_time: Duration::from_millis(500),
                throughput_requests: 1_000_000,
            },
            fib_n: Some(32),
            progress: true,
            runner: Runner::InProcess,
            setup: Setup::default(),
        }
    }
}

/// 1, 10, 100, ... below `max`, then `max`.
pub fn ramp(max: usize) -> Vec<usize> {
    let mut counts = Vec::new();
    let mut n = 1;
    while n < max {
        counts.push(n);
        n = n.saturating_mul(10);
    }
    counts.push(max.max(1));
    counts
}

/// The methods `names` picks (all when `None`).
///
/// # Errors
///
/// An unknown name, with the known ones.
pub fn select(names: Option<&[String]>) -> Result<Vec<Method>, String> {
    let all = Method::all();
    let Some(names) = names else {
        return Ok(all);
    };
    names
        .iter()
        .map(|name| {
            all.iter()
                .find(|method| method.name == name.trim())
                .copied()
                .ok_or_else(|| {
                    let known: Vec<&str> = all.iter().map(|m| m.name).collect();
                    format!("unknown method `{name}` (known: {})", known.join(", "))
                })
        })
        .collect()
}

/// Memory mappings one live plugbox tenant holds (with copy-on-write
/// memory images: the accessible memory around the image, the image, and
/// the reserved rest of the slot), measured with `/proc/self/maps`.
pub const MAPPINGS_PER_PLUGBOX_TENANT: usize = 4;

/// The `vm.max_map_count` in force, and a warning when it is too low for
/// `tenants` live plugbox tenants in this process (each holds
/// [`MAPPINGS_PER_PLUGBOX_TENANT`], and the engine keeps its default reserve
/// of mappings free for the host): the sysctl, not memory, would stop the
/// run, and the report would say so.
pub fn map_count_check(tenants: usize) -> (Option<usize>, Option<String>) {
    let Some(max) = memory::max_map_count() else {
        return (None, None);
    };
    let held = memory::map_count().unwrap_or(0);
    let reserve = plugbox::EngineBuilder::default_host_reserve_mappings(max);
    let fit = max.saturating_sub(held).saturating_sub(reserve) / MAPPINGS_PER_PLUGBOX_TENANT;
    let warning = (tenants > fit).then(|| {
        let instances = tenants
            .saturating_mul(MAPPINGS_PER_PLUGBOX_TENANT)
            .saturating_add(held);
        // Enough for the tenants with the default reserve (1,024 or 5 %)
        // of the value set.
        let needed = instances
            .saturating_add(1024)
            .max(instances.saturating_mul(20) / 19 + 1);
        format!(
            "vm.max_map_count is {max}: about {fit} plugbox tenants fit in one process \
             ({MAPPINGS_PER_PLUGBOX_TENANT} mappings each, {reserve} kept free for the host), \
             fewer than {tenants}; `sysctl -w vm.max_map_count={needed}` (as root) lets the \
             run go further"
        )
    });
    (Some(max), warning)
}

/// Runs the comparison.
///
/// # Errors
///
/// An unknown method name.
pub fn run(config: &Config) -> Result<Report, String> {
    let methods = select(config.methods.as_deref())?;
    let ramp = ramp(config.max_tenants);
    let charged_source = match memory::RunCgroup::enter("probe") {
        Ok(cgroup) => {
            let description = cgroup.describe();
            cgroup.leave()?;
            description
        }
        Err(reason) => format!("unavailable: {reason}"),
    };
    let bar = if config.progress {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} {msg}")
            .map_err(|error| error.to_string())?
            .progress_chars("=> "),
    );
    let mut runs = Vec::new();
    let mut skipped = Vec::new();
    let mut largest = Vec::new();
    for method in &methods {
        if let Err(reason) = method.available(&config.setup) {
            skipped.push(Skipped {
                method: method.name.to_string(),
                reason,
            });
            continue;
        }
        let mut most = 0;
        let mut stopped_by = None;
        for &n in &ramp {
            let report = match &config.runner {
                Runner::InProcess => run::run(method, n, &config.bounds, &config.setup, &bar),
                Runner::Subprocess { program, args } => {
                    bar.set_length(1);
                    bar.set_position(0);
                    bar.set_message(format!("{} ×{n} (a process of its own)", method.name));
                    let report =
                        run_in_subprocess(program, args, method, n, &config.bounds, &config.setup)?;
                    bar.inc(1);
                    report
                }
            };
            most = most.max(report.tenants);
            stopped_by.clone_from(&report.stopped_by);
            let stop = report.stopped_by.is_some();
            runs.push(report);
            if stop {
                break;
            }
        }
        largest.push(Largest {
            method: method.name.to_string(),
            tenants: most,
            stopped_by,
        });
    }
    let (compute, compute_error) = match config.fib_n {
        // fib is the Rust plugin: no figure about these workloads.
        Some(_) if config.setup.workload != Workload::Rust => (
            None,
            Some(format!(
                "the compute comparison runs the Rust `fib` plugin: not part of the {} workload",
                config.setup.workload.name()
            )),
        ),
        Some(n) => {
            bar.set_message(format!("compute: fib({n}) native, wasm, wasm+fuel"));
            match compute::measure(n) {
                Ok(compute) => (Some(compute), None),
                Err(error) => (None, Some(error)),
            }
        }
        None => (None, Some("not asked for".into())),
    };
    bar.finish_and_clear();
    let nodes = node::fit(&runs, config.bounds.memory_budget);
    let claims = claims::judge(&runs, &nodes, compute.as_ref(), config.setup.workload);
    let native = match config.setup.workload.native() {
        Ok(native) => native.description,
        Err(reason) => format!("unavailable: {reason}"),
    };
    Ok(Report {
        machine: Machine::probe(charged_source),
        settings: Settings {
            ramp,
            memory_budget_bytes: config.bounds.memory_budget,
            start_bound_seconds: config.bounds.start_time.as_secs_f64(),
            throughput_seconds: config.bounds.throughput_time.as_secs_f64(),
            throughput_max_requests: config.bounds.throughput_requests,
            workload: config.setup.workload,
            plugin: config.setup.workload.plugin().into(),
            native,
            request: String::from_utf8_lossy(run::INPUT).into_owned(),
        },
        runs,
        skipped,
        largest,
        nodes,
        compute,
        compute_error,
        claims,
    })
}

/// One run of the method named `method` with `n` tenants of `setup`'s
/// workload, in this process, without a progress bar: what a
/// [`Runner::Subprocess`] command calls.
///
/// # Errors
///
/// An unknown or unavailable method.
pub fn run_one(
    method: &str,
    n: usize,
    bounds: &Bounds,
    setup: &Setup,
) -> Result<run::RunReport, String> {
    let methods = select(Some(&[method.to_string()]))?;
    let method = methods.first().ok_or("no method")?;
    method.available(setup)?;
    Ok(run::run(method, n, bounds, setup, &ProgressBar::hidden()))
}

fn run_in_subprocess(
    program: &Path,
    args: &[String],
    method: &Method,
    n: usize,
    bounds: &Bounds,
    setup: &Setup,
) -> Result<run::RunReport, String> {
    let mut command = std::process::Command::new(program);
    command.args(args);
    if let Some(dir) = &setup.cache_dir {
        command.arg("--cache-dir").arg(dir);
    }
    let output = command
        .args(["--method", method.name])
        .args(["--tenants", &n.to_string()])
        .args(["--memory-budget", &bounds.memory_budget.to_string()])
        .args([
            "--start-bound-ms",
            &bounds.start_time.as_millis().to_string(),
        ])
        .args([
            "--throughput-ms",
            &bounds.throughput_time.as_millis().to_string(),
        ])
        .args([
            "--throughput-requests",
            &bounds.throughput_requests.to_string(),
        ])
        .args(["--workload", setup.workload.name()])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|error| format!("starting {}: {error}", program.display()))?;
    if !output.status.success() {
        return Err(format!(
            "the run of {} with {n} tenants failed ({})",
            method.name, output.status
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|error| {
        format!(
            "the run of {} with {n} tenants printed no report: {error}",
            method.name
        )
    })
}

/// Writes `report.json` and `report.svg` into `dir` (created if needed) and
/// returns their paths.
///
/// # Errors
///
/// When a file cannot be written.
pub fn write(report: &Report, dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let json = dir.join("report.json");
    let text = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
    std::fs::write(&json, text + "\n").map_err(|e| format!("writing {}: {e}", json.display()))?;
    let svg = dir.join("report.svg");
    std::fs::write(&svg, svg::plot(&report.runs))
        .map_err(|e| format!("writing {}: {e}", svg.display()))?;
    Ok((json, svg))
}

/// Serializes the tests that start plugbox tenants: one of them counts this
/// process's mappings, which the others change.
#[cfg(test)]
pub(crate) static FLEET_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_count_check_names_the_sysctl() {
        let (max, warning) = map_count_check(1);
        assert!(max.is_some_and(|max| max > 0), "Linux has the sysctl");
        assert_eq!(warning, None, "one tenant always fits");
        let (_, warning) = map_count_check(usize::MAX / 8);
        let warning = warning.unwrap_or_default();
        assert!(warning.contains("sysctl -w vm.max_map_count="), "{warning}");
    }

    #[test]
    fn a_plugbox_tenant_holds_the_mappings_the_check_assumes() {
        use method::Fleet as _;
        let _serial = FLEET_TESTS.lock();
        let tenants = 200;
        let mut fleet = plugbox_method::PlugboxFleet::new(
            plugbox::Allocator::Pooling { capacity: 1 },
            tenants,
            &Setup::default(),
        )
        .unwrap_or_else(|failure| panic!("{}", failure.detail));
        let before = memory::map_count().unwrap_or_default();
        for _ in 0..tenants {
            assert!(fleet.start_tenant(run::INPUT).is_ok());
        }
        let after = memory::map_count().unwrap_or_default();
        let per_tenant = (after - before) as f64 / tenants as f64;
        assert!(
            (per_tenant - MAPPINGS_PER_PLUGBOX_TENANT as f64).abs() < 0.1,
            "{per_tenant} mappings per tenant"
        );
    }

    /// The guarded profile's guard regions are part of each memory's
    /// reservation: a live tenant holds as many mappings as in the dense
    /// profile, so the map-count budget holds for both.
    #[test]
    fn a_guarded_tenant_holds_as_many_mappings_as_a_dense_one() {
        let _serial = FLEET_TESTS.lock();
        let tenants = 200;
        for profile in [
            plugbox::MemoryProfile::Dense,
            plugbox::MemoryProfile::Guarded,
        ] {
            let engine = plugbox::Engine::builder()
                .allocator(plugbox::Allocator::Pooling { capacity: 256 })
                .memory_profile(profile)
                .build()
                .unwrap();
            let plugin = plugbox::Plugin::new(&engine, plugbox_artifacts::HELLO.bytes).unwrap();
            let before = memory::map_count().unwrap_or_default();
            let live: Vec<plugbox::Instance> = (0..tenants)
                .map(|_| {
                    let mut instance = plugin.instantiate().unwrap();
                    assert_eq!(instance.call(b"hi").unwrap().output, b"HI");
                    instance
                })
                .collect();
            let after = memory::map_count().unwrap_or_default();
            let per_tenant = (after - before) as f64 / tenants as f64;
            assert!(
                (per_tenant - MAPPINGS_PER_PLUGBOX_TENANT as f64).abs() < 0.1,
                "{profile:?}: {per_tenant} mappings per tenant"
            );
            drop(live);
        }
    }

    #[test]
    fn ramps() {
        assert_eq!(ramp(1), vec![1]);
        assert_eq!(ramp(10), vec![1, 10]);
        assert_eq!(ramp(50), vec![1, 10, 50]);
        assert_eq!(ramp(1_000), vec![1, 10, 100, 1_000]);
        assert_eq!(ramp(2_500), vec![1, 10, 100, 1_000, 2_500]);
        assert_eq!(ramp(0), vec![1]);
    }

    #[test]
    fn methods_are_selected_by_name() {
        let all = select(None).unwrap_or_default();
        assert!(all.iter().any(|m| m.name == "plugbox-pooling"));
        assert!(all.iter().any(|m| m.name == "process"));
        assert!(all.iter().any(|m| m.name == "extism"));
        let picked =
            select(Some(&["process".into(), "plugbox-ondemand".into()])).unwrap_or_default();
        assert_eq!(
            picked.iter().map(|m| m.name).collect::<Vec<_>>(),
            ["process", "plugbox-ondemand"]
        );
        assert!(select(Some(&["docker".into()])).is_err());
    }

    #[test]
    fn report_has_the_issue_shape() {
        let report = Report {
            machine: Machine::probe("test".into()),
            settings: Settings {
                ramp: vec![1],
                memory_budget_bytes: 1,
                start_bound_seconds: 1.0,
                throughput_seconds: 1.0,
                throughput_max_requests: 1,
                workload: Workload::Rust,
                plugin: "hello".into(),
                native: "twin".into(),
                request: "x".into(),
            },
            runs: Vec::new(),
            skipped: vec![Skipped {
                method: "crun".into(),
                reason: "not installed".into(),
            }],
            largest: Vec::new(),
            nodes: Vec::new(),
            compute: None,
            compute_error: None,
            claims: Vec::new(),
        };
        let value = serde_json::to_value(&report).unwrap_or_default();
        for key in ["machine", "runs", "skipped", "compute"] {
            assert!(value.get(key).is_some(), "{key} missing");
        }
        for key in ["cpus", "kernel", "memory_gib"] {
            assert!(value["machine"].get(key).is_some(), "machine.{key} missing");
        }
        assert_eq!(value["skipped"][0]["method"], "crun");
        assert!(
            value["machine"]["cpus"]
                .as_u64()
                .is_some_and(|cpus| cpus > 0)
        );
    }
}
