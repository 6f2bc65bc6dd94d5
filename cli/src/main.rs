//! `plugbox`: run, inspect and precompile plugbox plugins from the shell.
//!
//! Every failure is one line on stderr and a non-zero exit status: 2 for bad
//! arguments, 1 for everything else (unreadable or invalid plugins, traps,
//! limits). Whatever a plugin says (its error, logs, captured output, the
//! names in its backtrace) is shown escaped (`plugbox::safe_text`), so that
//! it cannot drive the terminal or pass for a line of plugbox's own.

mod args;
mod logs;
mod run;
mod show;
mod watch;

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser as _;
use plugbox::{Allocator, Engine, KvStore, Limits, Plugin, Policy};
use plugbox_kv_redis::RedisKv;

use crate::args::{Cli, Command, Compile, Density, DensityRun, Inspect, PluginSource};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return args::report_usage_error(&error),
    };
    let result = match cli.command {
        Command::Run(run) => run::run_plugin(&run),
        Command::Inspect(inspect) => inspect_plugin(&inspect),
        Command::Compile(compile) => compile_plugin(&compile),
        Command::Density(density) => density_report(&density),
        Command::DensityRun(run) => density_run(&run),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("plugbox: {}", failure.message);
            if let Some(backtrace) = failure.backtrace {
                eprint!("{}", show::backtrace(&backtrace));
            }
            ExitCode::FAILURE
        }
    }
}

/// A failure to report: one line, plus the wasm backtrace if asked for.
#[derive(Debug)]
struct Failure {
    message: String,
    backtrace: Option<String>,
}

impl From<plugbox::Error> for Failure {
    fn from(error: plugbox::Error) -> Self {
        Self {
            message: error.to_string(),
            backtrace: None,
        }
    }
}

impl Failure {
    fn new(message: String) -> Self {
        Self {
            message,
            backtrace: None,
        }
    }

    fn io(what: &str, error: std::io::Error) -> Self {
        Self {
            message: format!("{what}: {error}"),
            backtrace: None,
        }
    }
}

/// The largest linear memory a wasm32 plugin can have: 65,536 pages.
const MAX_WASM32_MEMORY: usize = 1 << 32;

/// The most `run --input-file` reads when no policy bounds the input.
pub(crate) const MAX_INPUT_FILE_BYTES: u64 = 256 << 20;

pub(crate) fn engine_for(
    memory_bytes: usize,
    tenants: u32,
    cache: &args::CacheArgs,
    metering: plugbox::Metering,
    kv: Option<Arc<dyn KvStore>>,
    coredump: bool,
) -> Result<Engine, Failure> {
    if memory_bytes > MAX_WASM32_MEMORY {
        return Err(Failure {
            message: format!(
                "--memory {memory_bytes}: at most 4GiB (the largest wasm32 linear memory)"
            ),
            backtrace: None,
        });
    }
    // A pool of `tenants` (one per version a reload may hold), with memory
    // slots just large enough
    // (whole 64 KiB wasm pages; no overflow below 4 GiB).
    let slot = memory_bytes.max(1).next_multiple_of(64 << 10);
    // Component-model async on: `run` hosts whatever the plugin is built
    // with (componentize-qjs's default runtime uses the async built-ins), and
    // `inspect` checks against the same engine.
    let mut builder = Engine::builder()
        .allocator(Allocator::Pooling { capacity: tenants })
        .memory_slot_bytes(slot)
        .component_model_async(true)
        .metering(metering)
        // A local test tool: backtraces name source lines of plugins built
        // with line tables (no cost for the others).
        .backtrace_details(true)
        .coredump_on_trap(coredump);
    if let Some(dir) = cache.dir() {
        builder = builder.cache_dir(dir);
    }
    if let Some(kv) = kv {
        builder = builder.kv_store(kv);
    }
    Ok(builder.build()?)
}

/// The key-value backend the policy's `[kv] url` names, picked by its
/// scheme: `redis://` and the other Redis schemes get the Redis backend;
/// without a url, the engine's own (in memory). Another scheme is left to
/// the library, which refuses a url its backend does not serve.
pub(crate) fn kv_store(policy: &Policy) -> Result<Option<Arc<dyn KvStore>>, Failure> {
    match policy.kv.as_ref().and_then(|kv| kv.url.as_deref()) {
        Some(url) if RedisKv::handles(url) => {
            let store = RedisKv::from_policy(policy).map_err(|error| {
                Failure::new(match policy.origin.name() {
                    Some(name) => format!("{name}: {error}"),
                    None => error.to_string(),
                })
            })?;
            Ok(Some(Arc::new(store)))
        }
        _ => Ok(None),
    }
}

pub(crate) fn read(engine: &Engine, source: &PluginSource) -> Result<Vec<u8>, Failure> {
    match source.builtin()? {
        Some(artifact) => Ok(artifact.bytes.to_vec()),
        None => Ok(plugbox::read_component(engine, source.path())?),
    }
}

/// Describes the component, then runs the checks `run` runs (the world,
/// linking against what the host provides, the engine's budgets): exits
/// non-zero with the same reason when `run` would refuse the component.
fn inspect_plugin(inspect: &Inspect) -> Result<(), Failure> {
    let engine = engine_for(
        Limits::default().memory_bytes(),
        1,
        &inspect.cache,
        plugbox::Metering::default(),
        None,
        false,
    )?;
    let bytes = read(&engine, &inspect.plugin)?;
    let info = plugbox::inspect(&engine, &bytes)?;
    say(&info.to_string())?;
    let checked = info
        .check_plugbox_world(true)
        .and_then(|_| Plugin::new(&engine, &bytes));
    match checked {
        Ok(plugin) => {
            let imports = if plugin.imports_wasi() {
                " (imports WASI: gets a deny-by-default WASI context)"
            } else {
                " (imports nothing)"
            };
            say(&format!(
                "plugbox world {}: fits{imports}\n",
                plugbox::WORLD
            ))
        }
        Err(error) => {
            say(&format!(
                "plugbox world {}: does not fit: {}\n",
                plugbox::WORLD,
                plugbox::safe_text::escape(error.message())
            ))?;
            Err(error.into())
        }
    }
}

/// Writes `text` to stdout. A reader that has gone (`plugbox inspect | head`)
/// is not an error: there is no one left to tell.
fn say(text: &str) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::io("writing to stdout", error))
        }
        _ => Ok(()),
    }
}

fn compile_plugin(compile: &Compile) -> Result<(), Failure> {
    // Compiled code depends on the engine's settings: compile with the
    // defaults that `Engine::new` (and so an embedder's default engine) uses.
    let engine = Engine::builder().cache_dir(&compile.cache_dir).build()?;
    let bytes = read(&engine, &compile.plugin)?;
    let plugin = Plugin::new(&engine, &bytes)?;
    let path = engine
        .cache_path_for(&bytes)
        .map(|path| path.display().to_string())
        .unwrap_or_default();
    println!(
        "{} {path}",
        if plugin.loaded_from_cache() {
            "already cached:"
        } else {
            "compiled to"
        }
    );
    Ok(())
}

fn density_report(density: &Density) -> Result<(), Failure> {
    let failure = |message: String| Failure {
        message,
        backtrace: None,
    };
    let config = plugbox_density::Config {
        max_tenants: density.tenants.max(1),
        methods: density.methods.clone(),
        bounds: plugbox_density::Bounds {
            memory_budget: density.memory_budget as u64,
            start_time: Duration::from_secs(density.start_bound),
            throughput_time: Duration::from_millis(density.throughput_ms),
            throughput_requests: 1_000_000,
        },
        // fib is the Rust plugin: the polyglot workloads skip it.
        fib_n: (density.fib > 0).then_some(density.fib),
        progress: true,
        // Every run in a fresh process: no run reuses memory an earlier one
        // freed.
        runner: plugbox_density::Runner::Subprocess {
            program: std::env::current_exe()
                .map_err(|error| failure(format!("finding this program: {error}")))?,
            args: vec!["density-run".into()],
        },
        setup: plugbox_density::Setup {
            workload: density.workload,
            cache_dir: density.cache.dir(),
        },
    };
    // Checked before anything runs, so that a typo fails at once.
    plugbox_density::select(config.methods.as_deref()).map_err(failure)?;
    if let Ok(value) = std::env::var("RUST_BACKTRACE") {
        eprintln!(
            "warning: RUST_BACKTRACE={value} is set (recorded in the report); it slows \
             error paths: measure with `env -u RUST_BACKTRACE plugbox density`"
        );
    }
    let (max_map_count, map_warning) = plugbox_density::map_count_check(config.max_tenants);
    eprintln!(
        "density: workload {}, ramp {:?}, memory budget {} MiB per run, at most {} s starting tenants \
         per run, {} ms of latency and {} ms of throughput calls per run ({} callers), \
         vm.max_map_count {}",
        config.setup.workload.name(),
        plugbox_density::ramp(config.max_tenants),
        config.bounds.memory_budget >> 20,
        config.bounds.start_time.as_secs(),
        config.bounds.throughput_time.as_millis(),
        config.bounds.throughput_time.as_millis(),
        std::thread::available_parallelism().map_or(1, usize::from),
        max_map_count.map_or("unknown".into(), |max| max.to_string()),
    );
    if let Some(warning) = map_warning {
        eprintln!("warning: {warning}");
    }
    let report = plugbox_density::run(&config).map_err(failure)?;
    print!("{}", report.table());
    let (json, svg) = plugbox_density::write(&report, &density.out).map_err(failure)?;
    println!("\nwrote {} and {}", json.display(), svg.display());
    Ok(())
}

fn density_run(run: &DensityRun) -> Result<(), Failure> {
    let failure = |message: String| Failure {
        message,
        backtrace: None,
    };
    let bounds = plugbox_density::Bounds {
        memory_budget: run.memory_budget,
        start_time: Duration::from_millis(run.start_bound_ms),
        throughput_time: Duration::from_millis(run.throughput_ms),
        throughput_requests: run.throughput_requests,
    };
    let setup = plugbox_density::Setup {
        workload: run.workload,
        cache_dir: run.cache_dir.clone(),
    };
    let report =
        plugbox_density::run_one(&run.method, run.tenants, &bounds, &setup).map_err(failure)?;
    let json = serde_json::to_string(&report).map_err(|error| failure(error.to_string()))?;
    println!("{json}");
    Ok(())
}
