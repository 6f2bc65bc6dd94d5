//! `soak`: the soak run from the command line (`cargo run --release -p
//! plugbox-hardening --features artifacts --bin soak -- [CALLS [TENANTS]]`).
//! Prints the figures and exits non-zero if any call went wrong or resident
//! memory grew more than 10 % after warm-up.

use std::process::ExitCode;

use plugbox_hardening::soak::{Config, Plugins, run};

/// Resident memory may grow this much after warm-up (1.10: 10 %).
const MAX_GROWTH: f64 = 1.10;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut config = Config::default();
    if let Some(calls) = args.next().and_then(|calls| calls.parse().ok()) {
        config.calls = calls;
    }
    if let Some(tenants) = args.next().and_then(|tenants| tenants.parse().ok()) {
        config.tenants = tenants;
    }
    if std::env::var_os("RUST_BACKTRACE").is_some() {
        eprintln!(
            "note: RUST_BACKTRACE is set; error paths cost more with it (unset it to measure)"
        );
    }
    let bytes = |name| {
        plugbox_artifacts::by_name(name)
            .map(|artifact| artifact.bytes)
            .unwrap_or_else(|| panic!("{name} is built by plugbox-artifacts"))
    };
    let plugins = Plugins {
        hello: bytes("hello"),
        hostile: bytes("hostile"),
        spin: bytes("spin"),
        grow: bytes("grow"),
        recurse: bytes("recurse"),
    };
    let report = match run(&plugins, &config) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("soak: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "{} calls ({} good, {} hostile) over {} tenants on {} threads in {:.1} s ({:.0} calls/s){}",
        report.calls,
        report.good_calls,
        report.hostile_calls(),
        config.tenants,
        config.threads,
        report.elapsed.as_secs_f64(),
        report.calls as f64 / report.elapsed.as_secs_f64(),
        if report.timed_out {
            ", STOPPED AT THE TIME LIMIT"
        } else {
            ""
        }
    );
    for (kind, count) in &report.hostile_by_kind {
        println!("  hostile → {kind}: {count}");
    }
    let memory = report.check_memory(MAX_GROWTH);
    println!(
        "resident memory: {} KiB after warm-up, {} KiB at the end ({}), peak {} KiB",
        report
            .rss_after_warm_up_kib
            .map_or("?".into(), |kib| kib.to_string()),
        report.rss_end_kib.map_or("?".into(), |kib| kib.to_string()),
        report.rss_growth().map_or("?".into(), |growth| format!(
            "{:+.1} %",
            (growth - 1.0) * 100.0
        )),
        report.rss_peak_kib
    );
    if let Err(error) = &memory {
        println!("FAILED: {error}");
    }
    for failure in &report.failures {
        println!("FAILED: {failure}");
    }
    if report.failures.is_empty() && !report.timed_out && memory.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
