//! Command-line arguments.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::Failure;

/// Run untrusted WebAssembly component plugins under limits.
#[derive(Debug, Parser)]
#[command(name = "plugbox", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Call a plugin once and print its output, the fuel used and the time
    /// (and on stderr its logs and captured output, escaped); or, with
    /// --each-line, once per line of stdin until it closes.
    Run(Run),
    /// Print a component's imports and exports and whether it fits the
    /// plugbox world.
    Inspect(Inspect),
    /// Compile a component into a cache directory, so that loading it later
    /// (with the same cache directory) skips compilation.
    Compile(Compile),
    /// Compare what a tenant costs under plugbox and under process,
    /// namespace and container isolation, running the same plugin logic:
    /// cold start, memory per tenant, tenants per node (fixed costs
    /// included), call latency and throughput (a caller per core), the limit
    /// reached, and compute overhead. Prints a table and writes report.json and
    /// report.svg. Run it with RUST_BACKTRACE unset.
    Density(Density),
    /// One run of `density` (one method, one tenant count) in a process of
    /// its own: what `density` starts for each run. Prints the run's report
    /// as JSON.
    #[command(hide = true)]
    DensityRun(DensityRun),
}

#[derive(Debug, Args)]
pub struct DensityRun {
    #[arg(long)]
    pub method: String,
    #[arg(long)]
    pub tenants: usize,
    #[arg(long)]
    pub memory_budget: u64,
    #[arg(long)]
    pub start_bound_ms: u64,
    #[arg(long)]
    pub throughput_ms: u64,
    #[arg(long)]
    pub throughput_requests: usize,
    #[arg(long, value_parser = parse_workload)]
    pub workload: plugbox_density::Workload,
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

/// Which plugin: a `.wasm` file, or one of the plugins built into this binary.
#[derive(Debug, Args)]
pub struct PluginSource {
    /// Path of the component (`.wasm`). Default: the built-in `hello`.
    #[arg(value_name = "WASM")]
    wasm: Option<PathBuf>,
    /// Use a built-in plugin instead of a file (`plugbox run --builtin x`
    /// lists them all): hello, hello-std, fib, total, discount, http-filter,
    /// host-probe, spin, grow, recurse, panic, hostile, wasi-probe.
    #[arg(long, value_name = "NAME", conflicts_with = "wasm")]
    builtin: Option<String>,
}

impl PluginSource {
    /// The built-in plugin to use, if no file was given.
    pub fn builtin(&self) -> Result<Option<plugbox_artifacts::Artifact>, Failure> {
        if self.wasm.is_some() {
            return Ok(None);
        }
        let name = self.builtin.as_deref().unwrap_or("hello");
        match plugbox_artifacts::by_name(name) {
            Some(artifact) => Ok(Some(artifact)),
            None => {
                let known: Vec<&str> = plugbox_artifacts::ALL.iter().map(|a| a.name).collect();
                Err(Failure {
                    message: format!(
                        "no built-in plugin `{name}` (built in: {})",
                        known.join(", ")
                    ),
                    backtrace: None,
                })
            }
        }
    }

    /// The file to load (only meaningful when [`builtin`](Self::builtin) is
    /// `None`).
    pub fn path(&self) -> PathBuf {
        self.wasm.clone().unwrap_or_default()
    }
}

#[derive(Debug, Args)]
pub struct Run {
    #[command(flatten)]
    pub plugin: PluginSource,
    /// The request, as text.
    #[arg(long, value_name = "TEXT", conflicts_with = "input_file")]
    pub input: Option<String>,
    /// Serve requests from stdin until it closes: each line (without its
    /// line ending) is one call, answered by one line on stdout, the
    /// response escaped as plugin text always is (so that a response is
    /// exactly one line). A failed call answers an empty line and reports
    /// `request N: ERROR` on stderr; a trapped instance is replaced by a
    /// fresh one. Exits 1 if any call failed.
    #[arg(long, conflicts_with_all = ["input", "input_file", "profile", "coredump"])]
    pub each_line: bool,
    /// With --each-line: reload the plugin when its file (or the policy
    /// file) changes. The new version serves the next request; one that
    /// fails to load or instantiate is reported on stderr and the previous
    /// version keeps serving. Replace files atomically (write elsewhere,
    /// then rename over).
    #[arg(long, requires = "each_line")]
    pub watch: bool,
    /// While running, serve the metrics (calls by outcome, call time and
    /// fuel, instances, kv operations, dropped log bytes) in Prometheus
    /// text format at http://ADDR/metrics, e.g. 127.0.0.1:9100. Most useful
    /// with --each-line.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
    /// The request, read from a file.
    #[arg(long, value_name = "PATH")]
    pub input_file: Option<PathBuf>,
    /// A policy file (TOML, or JSON if it ends in .json): limits and
    /// capabilities. The flags below override its limits. With `[kv] url =
    /// "redis://..."`, the plugin's key-value data is kept in that Redis.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Fuel for the call (default 1000000000; needs a metering with fuel).
    #[arg(long, value_name = "N")]
    pub fuel: Option<u64>,
    /// Wall-clock deadline for the call, in milliseconds (default 1000;
    /// needs a metering with the deadline).
    #[arg(long, value_name = "MS")]
    pub timeout: Option<u64>,
    /// What the engine meters: fuel-and-deadline (default), deadline-only
    /// (no fuel counted) or fuel-only (no deadline: nothing bounds the
    /// call's wall-clock time). A --fuel, --timeout or policy limit the
    /// engine does not meter is refused.
    #[arg(long, value_name = "MODE", default_value = "fuel-and-deadline", value_parser = parse_metering)]
    pub metering: plugbox::Metering,
    /// Largest linear memory: bytes, or with a unit (64KiB, 16MiB, 1GiB;
    /// default 16MiB).
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub memory: Option<usize>,
    /// On a trap, also print the wasm backtrace (with file:line for plugins
    /// built with DWARF line tables).
    #[arg(long)]
    pub backtrace: bool,
    /// On a trap, write a Wasm core dump of the instance (its memories,
    /// globals and stack) to FILE, for a core dump reader such as wasmgdb.
    /// It holds the plugin's memory: its input and whatever it read.
    #[arg(long, value_name = "FILE")]
    pub coredump: Option<PathBuf>,
    /// Sample the call's stack at every epoch tick (1 ms) and write the
    /// profile to FILE, for the Firefox Profiler (profiler.firefox.com);
    /// written whatever the call's outcome.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<std::path::PathBuf>,
    /// Show the plugin's logs (its `log` calls, stdio in `tracing` mode) from
    /// this level up on stderr: trace, debug, info, warn, error or off.
    /// Default: info, or what RUST_LOG says (`target=level` directives;
    /// plugin logs have the targets plugbox::plugin and plugbox::guest).
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<tracing_subscriber::filter::LevelFilter>,
    #[command(flatten)]
    pub cache: CacheArgs,
}

#[derive(Debug, Args)]
pub struct Inspect {
    #[command(flatten)]
    pub plugin: PluginSource,
    #[command(flatten)]
    pub cache: CacheArgs,
}

/// Where compiled code is cached between runs.
#[derive(Debug, Args)]
pub struct CacheArgs {
    /// Cache compiled components in DIR (default: $XDG_CACHE_HOME/plugbox,
    /// else ~/.cache/plugbox), so a large component compiles once. The
    /// directory must be private to you (mode 0700).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Compile every time; read and write no cache.
    #[arg(long, conflicts_with = "cache_dir")]
    pub no_cache: bool,
}

impl CacheArgs {
    /// The cache directory to use, if any.
    pub fn dir(&self) -> Option<PathBuf> {
        if self.no_cache {
            return None;
        }
        if let Some(dir) = &self.cache_dir {
            return Some(dir.clone());
        }
        let nonempty = |name| std::env::var_os(name).filter(|value| !value.is_empty());
        nonempty("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| nonempty("HOME").map(|home| PathBuf::from(home).join(".cache")))
            .map(|root| root.join("plugbox"))
    }
}

#[derive(Debug, Args)]
pub struct Compile {
    #[command(flatten)]
    pub plugin: PluginSource,
    /// The cache directory to compile into.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct Density {
    /// Largest tenant count: the ramp is 1, 10, 100, ... up to N.
    #[arg(long, value_name = "N", default_value_t = 1_000)]
    pub tenants: usize,
    /// Methods to run, comma-separated (default: all): plugbox-pooling,
    /// plugbox-ondemand, then every baseline level (process, namespaced,
    /// bwrap, crun, runc), extism.
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    pub methods: Option<Vec<String>>,
    /// Stop a method's ramp once a run's memory exceeds this (bytes, or
    /// 512MiB, 1GiB...); also the node memory that "tenants per node" is
    /// judged against.
    #[arg(long, value_name = "BYTES", default_value = "1GiB", value_parser = parse_bytes)]
    pub memory_budget: usize,
    /// Stop starting tenants after this many seconds per run (reported as
    /// `time bound`).
    #[arg(long, value_name = "S", default_value_t = 30)]
    pub start_bound: u64,
    /// Each call phase with every tenant live lasts this many milliseconds
    /// per run (at least one call per tenant): latency (one caller calling
    /// the tenants in turn), then throughput (one caller per core at once).
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub throughput_ms: u64,
    /// Fibonacci index for the compute comparison; 0 skips it.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub fib: u32,
    /// Directory for report.json and report.svg.
    #[arg(long, value_name = "DIR", default_value = "target/density")]
    pub out: PathBuf,
    /// Which `hello` every method runs: `rust` (plugins/hello and its native
    /// twin), `python` (plugins/py-hello: componentize-py's component, and
    /// python3 running app.py natively) or `js` (plugins/js-hello:
    /// componentize-js's component, and node running plugin.js natively).
    #[arg(long, value_name = "NAME", default_value = "rust", value_parser = parse_workload)]
    pub workload: plugbox_density::Workload,
    #[command(flatten)]
    pub cache: CacheArgs,
}

/// A `--workload` name.
/// `--metering`: the name of a [`plugbox::Metering`] in kebab case.
pub fn parse_metering(text: &str) -> Result<plugbox::Metering, String> {
    match text {
        "fuel-and-deadline" => Ok(plugbox::Metering::FuelAndDeadline),
        "deadline-only" => Ok(plugbox::Metering::DeadlineOnly),
        "fuel-only" => Ok(plugbox::Metering::FuelOnly),
        other => Err(format!(
            "unknown metering `{other}`: fuel-and-deadline, deadline-only or fuel-only"
        )),
    }
}

pub fn parse_workload(text: &str) -> Result<plugbox_density::Workload, String> {
    plugbox_density::Workload::parse(text)
}

/// `4096`, `64KiB`, `16MiB`, `1GiB` (also `K`/`M`/`G` and `KB`/`MB`/`GB`,
/// all binary).
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: usize = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size (try 16MiB)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        other => return Err(format!("unknown size unit `{other}` (use KiB, MiB or GiB)")),
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// Prints a clap error as one line (help and version print in full) and
/// returns the exit code clap would use.
pub fn report_usage_error(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // Best effort: there is nowhere to report a failure to print help.
            let _ = error.print();
            ExitCode::from(if error.use_stderr() { 2 } else { 0 })
        }
        _ => {
            let rendered = error.render().to_string();
            let mut lines = rendered.lines();
            let first = lines.next().unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            // What clap lists under the first line (the missing arguments),
            // on the same line.
            let listed: Vec<&str> = lines
                .take_while(|line| line.starts_with("  "))
                .map(str::trim)
                .collect();
            let first = match listed.as_slice() {
                [] => first.to_string(),
                listed => format!("{first} {}", listed.join(", ")),
            };
            eprintln!("plugbox: {first} (see `plugbox --help`)");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert_eq!(parse_bytes("64KiB"), Ok(64 << 10));
        assert_eq!(parse_bytes("16MiB"), Ok(16 << 20));
        assert_eq!(parse_bytes("16m"), Ok(16 << 20));
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert!(parse_bytes("sixteen").is_err());
        assert!(parse_bytes("16 parsecs").is_err());
        assert!(parse_bytes("").is_err());
        assert!(parse_bytes("99999999999999999999GiB").is_err());
    }

    #[test]
    fn arguments_are_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
