//! `plugbox run`: one call, or one call per line of stdin (`--each-line`),
//! with the plugin's metrics served in Prometheus format while it runs
//! (`--metrics`).

use std::io::{BufRead as _, IsTerminal as _, Read as _, Write as _};
use std::time::Duration;

use std::sync::Arc;

use plugbox::{Plugin, PluginSet, Policy};

use crate::args::Run;
use crate::{Failure, MAX_INPUT_FILE_BYTES, engine_for, kv_store, logs, read, show};

pub fn run_plugin(run: &Run) -> Result<(), Failure> {
    let rust_log = std::env::var("RUST_LOG").ok();
    logs::install(logs::filter(run.log_level, rust_log.as_deref())?)?;
    // Before any plugin is loaded: plugins register their metrics then.
    if let Some(address) = run.metrics {
        serve_metrics(address)?;
    }
    let policy = match &run.policy {
        Some(path) => Policy::from_file(path)?,
        None => Policy::default(),
    };
    let input = match (&run.input, &run.input_file) {
        (Some(text), _) => text.clone().into_bytes(),
        // With a policy, one byte past its input limit is enough for the
        // call to refuse the input (`InputTooLarge`); without one, a fixed
        // bound keeps `/dev/zero` from filling memory.
        (None, Some(path)) => read_input(
            path,
            match &run.policy {
                Some(_) => policy.limits().input_bytes() as u64 + 1,
                None => MAX_INPUT_FILE_BYTES,
            },
            run.policy.is_none(),
        )?,
        (None, None) => Vec::new(),
    };
    let flags = LimitFlags::of(run);
    let limits = flags.limits(&policy, input.len());
    let engine = engine_for(
        limits.memory_bytes(),
        // A reload instantiates the new version beside the old one's
        // instance.
        if run.watch { 2 } else { 1 },
        &run.cache,
        run.metering,
        kv_store(&policy)?,
        run.coredump.is_some(),
    )?;
    let plugin = Plugin::new(&engine, &read(&engine, &run.plugin)?)?
        .with_policy(&policy)?
        .with_limits(limits);
    if run.each_line {
        let set = Arc::new(PluginSet::with_max_idle(1));
        set.replace(SERVED, plugin)?;
        let _watching = if run.watch {
            if run.plugin.builtin()?.is_some() {
                return Err(Failure::new(
                    "--watch needs a plugin file (WASM) to watch, not a built-in plugin".into(),
                ));
            }
            let (wasm, policy) = (run.plugin.path(), run.policy.clone());
            let paths = std::iter::once(wasm.clone())
                .chain(policy.clone())
                .collect();
            let engine = engine.clone();
            Some(crate::watch::start(&set, SERVED, paths, move || {
                reload(&wasm, policy.as_deref(), &engine, &flags)
            })?)
        } else {
            None
        };
        return each_line(&set);
    }
    let mut instance = plugin.instantiate()?;
    if run.profile.is_some() {
        instance.start_profiling()?;
    }
    let result = instance.call(&input);
    if let Some(path) = &run.profile {
        let failed = |error| Failure::io(&format!("writing the profile {}", path.display()), error);
        let file = std::fs::File::create(path).map_err(failed)?;
        let mut file = std::io::BufWriter::new(file);
        instance.finish_profiling(&mut file)?;
        std::io::Write::flush(&mut file).map_err(failed)?;
        eprintln!("profile written to {}", path.display());
    }
    if let (Some(path), Err(error)) = (&run.coredump, &result) {
        write_core_dump(path, error)?;
    }
    // What the plugin wrote to captured streams, whatever the outcome.
    for (name, captured) in [
        ("stdout", instance.take_stdout()),
        ("stderr", instance.take_stderr()),
    ] {
        eprint!("{}", show::captured(name, &captured));
    }
    let response = result.map_err(|error| Failure {
        backtrace: run
            .backtrace
            .then(|| error.wasm_backtrace().map(str::to_string))
            .flatten(),
        message: error.to_string(),
    })?;
    let mut stdout = std::io::stdout().lock();
    let output = if stdout.is_terminal() {
        show::for_terminal(&response.output)
    } else {
        response.output
    };
    stdout
        .write_all(&output)
        .and_then(|()| {
            if !output.ends_with(b"\n") && !output.is_empty() {
                stdout.write_all(b"\n")?;
            }
            stdout.flush()
        })
        .map_err(|error| Failure::io("writing the output", error))?;
    let fuel = response
        .fuel_used
        .map_or_else(|| "not metered".to_string(), |fuel| fuel.to_string());
    eprintln!(
        "fuel used: {fuel}, time: {:.3} ms",
        response.elapsed.as_secs_f64() * 1e3
    );
    Ok(())
}

/// The name `--each-line` serves its plugin under.
const SERVED: &str = "plugin";

/// The limit flags of `run`, applied over a policy's limits.
#[derive(Debug, Clone, Copy)]
struct LimitFlags {
    memory: Option<usize>,
    fuel: Option<u64>,
    timeout_ms: Option<u64>,
    with_policy: bool,
}

impl LimitFlags {
    fn of(run: &Run) -> Self {
        Self {
            memory: run.memory,
            fuel: run.fuel,
            timeout_ms: run.timeout,
            with_policy: run.policy.is_some(),
        }
    }

    /// The policy's limits, then the flags on top of them. Only what was
    /// given is set: a limit left at its default is not refused by an
    /// engine that does not meter it.
    fn limits(&self, policy: &Policy, input_bytes: usize) -> plugbox::Limits {
        let base = policy.limits();
        let memory = self.memory.unwrap_or(base.memory_bytes());
        let mut limits = base.max_memory_bytes(memory);
        if let Some(fuel) = self.fuel {
            limits = limits.fuel(fuel);
        }
        if let Some(ms) = self.timeout_ms {
            limits = limits.deadline(Duration::from_millis(ms));
        }
        if !self.with_policy {
            // Without a policy, whatever was given on the command line goes
            // in.
            limits = limits.max_input_bytes(input_bytes.max(base.input_bytes()));
        }
        limits
    }
}

/// The plugin as its files say now, on `engine` (whose settings, taken from
/// the first version, stay).
fn reload(
    wasm: &std::path::Path,
    policy: Option<&std::path::Path>,
    engine: &plugbox::Engine,
    flags: &LimitFlags,
) -> Result<Plugin, plugbox::Error> {
    let policy = match policy {
        Some(path) => Policy::from_file(path)?,
        None => Policy::default(),
    };
    let bytes = plugbox::read_component(engine, wasm)?;
    let limits = flags.limits(&policy, 0);
    Ok(Plugin::new(engine, &bytes)?
        .with_policy(&policy)?
        .with_limits(limits))
}

/// `run --coredump`: the trapped call's core dump to `path`.
fn write_core_dump(path: &std::path::Path, error: &plugbox::Error) -> Result<(), Failure> {
    match error.core_dump() {
        Some(dump) => {
            std::fs::write(path, dump).map_err(|error| {
                Failure::io(&format!("writing the core dump {}", path.display()), error)
            })?;
            eprintln!("core dump written to {}", path.display());
        }
        None => eprintln!(
            "no core dump written: the call failed with {}, which is not a trap",
            error.kind()
        ),
    }
    Ok(())
}

/// At most `max` bytes of `path`; more is an error if `refuse_more`, else
/// left for the call's input limit to refuse.
fn read_input(path: &std::path::Path, max: u64, refuse_more: bool) -> Result<Vec<u8>, Failure> {
    use std::io::Read as _;
    let failed = |error| Failure::io(&format!("reading {}", path.display()), error);
    let mut input = Vec::new();
    std::fs::File::open(path)
        .map_err(failed)?
        .take(max.saturating_add(u64::from(refuse_more)))
        .read_to_end(&mut input)
        .map_err(failed)?;
    if refuse_more && input.len() as u64 > max {
        return Err(Failure {
            message: format!(
                "reading {}: larger than {max} bytes, the most `run` reads without a policy",
                path.display()
            ),
            backtrace: None,
        });
    }
    Ok(input)
}

/// The buckets of `plugbox_call_seconds`: 10 µs to 10 s, by decades and
/// their halves (histograms, unlike summaries, add up across hosts).
const SECONDS_BUCKETS: [f64; 13] = [
    1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1, 0.5, 1.0, 5.0, 10.0,
];

/// The buckets of `plugbox_fuel_used`: a thousand to ten billion units.
const FUEL_BUCKETS: [f64; 8] = [1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10];

/// `--metrics ADDR`: installs the Prometheus recorder, served at
/// `http://ADDR/metrics` from a thread of its own.
fn serve_metrics(address: std::net::SocketAddr) -> Result<(), Failure> {
    use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder};
    let failed = |error: BuildError| Failure::new(format!("--metrics {address}: {error}"));
    PrometheusBuilder::new()
        .with_http_listener(address)
        .set_buckets_for_metric(
            Matcher::Full(plugbox::telemetry::CALL_SECONDS.into()),
            &SECONDS_BUCKETS,
        )
        .map_err(failed)?
        .set_buckets_for_metric(
            Matcher::Full(plugbox::telemetry::FUEL_USED.into()),
            &FUEL_BUCKETS,
        )
        .map_err(failed)?
        .install()
        .map_err(failed)?;
    plugbox::telemetry::describe();
    eprintln!("metrics at http://{address}/metrics");
    Ok(())
}

/// `--each-line`: one call per line of stdin, one line of answer each, by
/// the version of the plugin `set` holds when the line arrives.
fn each_line(set: &PluginSet) -> Result<(), Failure> {
    let mut input = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    let (mut served, mut failed) = (0_u64, 0_u64);
    loop {
        // One byte past the limit is enough for the call to refuse a line
        // (`InputTooLarge`); the rest of it is skipped unread into memory.
        let most = set
            .get(SERVED)
            .map_or(0, |plugin| plugin.limits().input_bytes() as u64 + 1);
        let mut line = Vec::new();
        let reading = |error| Failure::io("reading stdin", error);
        let read = (&mut input)
            .take(most + 1)
            .read_until(b'\n', &mut line)
            .map_err(reading)?;
        if read == 0 {
            break;
        }
        if line.ends_with(b"\n") {
            line.pop();
            if line.ends_with(b"\r") {
                line.pop();
            }
        } else if line.len() as u64 > most {
            skip_line(&mut input).map_err(reading)?;
        }
        served += 1;
        let answer = call_current(set, &line);
        let shown = match answer {
            Ok(output) => plugbox::safe_text::escape_bytes(&output).to_string(),
            Err(error) => {
                failed += 1;
                eprintln!("plugbox: request {served}: {error}");
                String::new()
            }
        };
        let written = writeln!(stdout, "{shown}").and_then(|()| stdout.flush());
        match written {
            Ok(()) => {}
            // No one is reading the answers any more.
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => break,
            Err(error) => return Err(Failure::io("writing the output", error)),
        }
    }
    if failed > 0 {
        return Err(Failure::new(format!(
            "{failed} of {served} requests failed"
        )));
    }
    Ok(())
}

/// Calls `line` on an instance of the current version (the set replaces
/// one that trapped); what the plugin wrote to captured streams goes to
/// stderr.
fn call_current(set: &PluginSet, line: &[u8]) -> Result<Vec<u8>, plugbox::Error> {
    let mut instance = set.lease(SERVED)?;
    let result = instance.call(line);
    for (name, captured) in [
        ("stdout", instance.take_stdout()),
        ("stderr", instance.take_stderr()),
    ] {
        eprint!("{}", show::captured(name, &captured));
    }
    result.map(|response| response.output)
}

/// Reads and drops the rest of a line, in bounded pieces.
fn skip_line(input: &mut impl std::io::BufRead) -> std::io::Result<()> {
    loop {
        let buffer = input.fill_buf()?;
        if buffer.is_empty() {
            return Ok(());
        }
        match buffer.iter().position(|&byte| byte == b'\n') {
            Some(end) => {
                input.consume(end + 1);
                return Ok(());
            }
            None => {
                let all = buffer.len();
                input.consume(all);
            }
        }
    }
}
