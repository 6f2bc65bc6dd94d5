//! The polyglot workloads: their native workers answer as their Wasm
//! components do (a wrong adapter is caught), and a small run of each at
//! every isolation level answers correctly throughout.
//!
//! A level or an interpreter that cannot run here is skipped with
//! `skipped: <what>: <reason>`, except where `CI` is set: there it fails.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use indicatif::ProgressBar;
use plugbox::{Engine, Instance, Plugin};
use plugbox_baseline::{BaselineError, Isolation, Program, Worker};

use super::*;
use crate::method::Method;
use crate::run::{Bounds, run};

/// Where compiled components are cached across test runs: the target
/// directory's `tmp/polyglot-cache` (`OUT_DIR` is
/// `<target>/<profile>/build/<crate>/out`), which the CLI's and the
/// end-to-end polyglot tests use too, so CI compiles each component once.
fn cache() -> std::path::PathBuf {
    let out = Path::new(env!("OUT_DIR"));
    out.ancestors()
        .nth(4)
        .unwrap_or(out)
        .join("tmp/polyglot-cache")
}

const GENEROUS: Duration = Duration::from_secs(30);

/// `Some(value)` to go on; `None` after printing `skipped: <what>:
/// <reason>`; a panic where `CI` is set (CI installs everything).
fn or_skip<T>(what: &str, result: Result<T, String>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(reason) if std::env::var_os("CI").is_some() => {
            panic!("{what}: {reason} (CI is set: it must run)")
        }
        Err(reason) => {
            let _ = writeln!(std::io::stderr(), "skipped: {what}: {reason}");
            None
        }
    }
}

fn setup(workload: Workload) -> Setup {
    Setup {
        workload,
        cache_dir: Some(cache()),
    }
}

fn wasm(workload: Workload) -> Option<Instance> {
    let bytes = or_skip(workload.name(), workload.component())?;
    // One compilation at a time (the small runs' too, under FLEET_TESTS):
    // the second test to load a component finds it in the cache instead of
    // compiling it again alongside.
    let _one_at_a_time = crate::FLEET_TESTS.lock();
    let engine = Engine::builder()
        .cache_dir(cache())
        .build()
        .unwrap_or_else(|error| panic!("{error}"));
    let plugin = Plugin::new(&engine, &bytes).unwrap_or_else(|error| panic!("{error}"));
    Some(
        plugin
            .instantiate()
            .unwrap_or_else(|error| panic!("{error}")),
    )
}

/// Requests of the `hello` contract: ASCII, a case change that grows the
/// text, empty, other scripts, and bytes that are not UTF-8.
const INPUTS: &[&[u8]] = &[
    b"hello, plugbox",
    "straße".as_bytes(),
    b"",
    "ǆ ﬁ σ".as_bytes(),
    b"\xff\xfe",
];

/// Whether `worker` answers each of [`INPUTS`] as `wasm` does: the same
/// bytes, or both a guest error (invalid UTF-8: the message names it; its
/// detail is the decoder's, which differs between runtimes).
fn answers_alike(wasm: &mut Instance, worker: &mut Worker) -> Result<(), String> {
    for input in INPUTS {
        let expected = wasm.call(input);
        let got = worker.call(input, GENEROUS);
        match (expected, got) {
            (Ok(expected), Ok(got)) if expected.output == got => {}
            (Err(expected), Err(BaselineError::Guest(message)))
                if expected.message().starts_with("input is not valid UTF-8")
                    && message.starts_with("input is not valid UTF-8") => {}
            (expected, got) => {
                return Err(format!("{input:?}: wasm {expected:?}, native {got:?}"));
            }
        }
    }
    Ok(())
}

fn adapter_answers_like_the_component(workload: Workload) {
    let Some(mut wasm) = wasm(workload) else {
        return;
    };
    let Some(native) = or_skip(workload.interpreter().unwrap_or("twin"), workload.native()) else {
        return;
    };
    let mut worker = Worker::start_program(Isolation::Process, &native.program)
        .unwrap_or_else(|error| panic!("{error}"));
    answers_alike(&mut wasm, &mut worker).unwrap_or_else(|error| panic!("{error}"));
    assert!(worker.stop().unwrap_or_else(|e| panic!("{e}")).success());
}

#[test]
fn the_python_adapter_answers_like_the_component() {
    adapter_answers_like_the_component(Workload::Python);
}

#[test]
fn the_js_adapter_answers_like_the_component() {
    adapter_answers_like_the_component(Workload::Js);
}

/// `workload`'s native program with its adapter copied into `dir` and
/// broken by replacing `from` with `to` in it.
fn broken(workload: Workload, dir: &Path, from: &str, to: &str) -> Option<Program> {
    let native = or_skip(workload.name(), workload.native())?;
    let (interpreter, args) = native.program.command_line();
    let mut args = args.to_vec();
    let adapter = args
        .iter_mut()
        .find(|arg| arg.to_string_lossy().contains("/native/worker."))
        .unwrap_or_else(|| panic!("no adapter in the arguments"));
    let source = std::fs::read_to_string(&*adapter).unwrap_or_else(|e| panic!("{e}"));
    assert!(source.contains(from), "the adapter no longer has {from:?}");
    let copy = dir.join(
        Path::new(adapter.as_os_str())
            .file_name()
            .unwrap_or_default(),
    );
    std::fs::write(&copy, source.replace(from, to)).unwrap_or_else(|e| panic!("{e}"));
    *adapter = copy.into_os_string();
    Some(
        Program::interpreter(interpreter, &args)
            .and_then(|program| program.bind(dir))
            .unwrap_or_else(|e| panic!("{e}")),
    )
}

#[test]
fn a_wrong_adapter_answer_is_caught() {
    for (workload, from, to) in [
        // One byte short.
        (
            Workload::Python,
            "status, answer = 0, bytes(handler.handle(payload))",
            "status, answer = 0, bytes(handler.handle(payload))[:-1]",
        ),
        // A guest error answered as output.
        (
            Workload::Js,
            "reply(1, Buffer.from(error, \"utf8\"));",
            "reply(0, Buffer.from(error, \"utf8\"));",
        ),
    ] {
        let Some(mut wasm) = wasm(workload) else {
            continue;
        };
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let Some(program) = broken(workload, dir.path(), from, to) else {
            continue;
        };
        let mut worker = Worker::start_program(Isolation::Process, &program)
            .unwrap_or_else(|error| panic!("{error}"));
        let error = answers_alike(&mut wasm, &mut worker).err();
        assert!(
            error.is_some(),
            "{}: the broken adapter passed",
            workload.name()
        );
    }
}

/// A run of `n` tenants of `workload` under `method` that answers correctly
/// throughout: every tenant started and called, no limit or error.
fn small_run(workload: Workload, method: &str, n: usize) {
    let methods = crate::select(Some(&[method.to_string()])).unwrap_or_default();
    let method: &Method = &methods[0];
    let setup = setup(workload);
    if or_skip(
        &format!("{}: {}", method.name, workload.name()),
        method.available(&setup),
    )
    .is_none()
    {
        return;
    }
    let bounds = Bounds {
        memory_budget: 1 << 40,
        start_time: Duration::from_secs(120),
        throughput_time: Duration::from_millis(10),
        throughput_requests: 20,
    };
    let _serial = crate::FLEET_TESTS.lock();
    let report = run(method, n, &bounds, &setup, &ProgressBar::hidden());
    assert_eq!(
        (report.tenants, &report.stopped_by, &report.stop_detail),
        (n, &None, &None),
        "{} {}",
        workload.name(),
        method.name
    );
    assert!(report.cold_start_us.is_some_and(|cold| cold.p50 > 0.0));
    assert!(report.latency_requests >= n && report.throughput_requests >= n);
}

macro_rules! small_runs {
    ($($test:ident: $workload:expr, $method:literal;)*) => {
        $(
            #[test]
            fn $test() {
                small_run($workload, $method, 2);
            }
        )*
    };
}

small_runs! {
    python_wasm_tenants_answer: Workload::Python, "plugbox-pooling";
    python_in_process_answers: Workload::Python, "process";
    python_namespaced_answers: Workload::Python, "namespaced";
    python_in_bwrap_answers: Workload::Python, "bwrap";
    python_in_crun_answers: Workload::Python, "crun";
    python_in_runc_answers: Workload::Python, "runc";
    js_wasm_tenants_answer: Workload::Js, "plugbox-pooling";
    js_in_process_answers: Workload::Js, "process";
    js_namespaced_answers: Workload::Js, "namespaced";
    js_in_bwrap_answers: Workload::Js, "bwrap";
    js_in_crun_answers: Workload::Js, "crun";
    js_in_runc_answers: Workload::Js, "runc";
}

#[test]
fn every_level_has_a_small_run_of_each_workload() {
    // The list above, against the baseline's levels: a new level without
    // a polyglot run fails here.
    let source = include_str!("tests.rs");
    for level in Isolation::ALL {
        for workload in ["Python", "Js"] {
            let line = format!("Workload::{workload}, \"{}\";", level.name());
            assert!(source.contains(&line), "no small run for {line}");
        }
    }
}

#[test]
fn workloads_are_parsed_by_name() {
    for workload in Workload::ALL {
        assert_eq!(Workload::parse(workload.name()), Ok(workload));
    }
    let error = Workload::parse("go").unwrap_err();
    assert_eq!(error, "unknown workload `go` (known: rust, python, js)");
}

#[test]
fn an_interpreter_root_holds_its_standard_library_and_the_plugin() {
    let Some(native) = or_skip("python3", Workload::Python.native()) else {
        return;
    };
    let targets: Vec<&Path> = native.program.binds().map(|(_, target)| target).collect();
    let has = |suffix: &str| {
        targets
            .iter()
            .any(|target| target.to_string_lossy().ends_with(suffix))
    };
    assert!(has("/plugins/py-hello"), "{targets:?}");
    assert!(has("/guest-sdk/python"), "{targets:?}");
    assert!(has("libc.so.6"), "{targets:?}");
    assert!(
        targets.iter().any(|target| target.join("os.py").is_file()),
        "no standard library: {targets:?}"
    );
}
