//! Plugins written in Python, JavaScript, Go and C (`plugins/py-*`,
//! `plugins/js-*`, `plugins/go-*`, `plugins/c-*`, built by
//! `plugbox-artifacts` with componentize-py, componentize-js, `go build` and
//! clang): the shared engine and loader of the polyglot tests, and the
//! `hello` twins. Their real plugins are in `polyglot_twins`, their hostile
//! ones in `polyglot_hostile`, Go's and C's upper-casing in `polyglot_upper`.
//!
//! A plugin whose toolchain is missing on this machine is skipped: the test
//! prints `skipped: <language>: <reason>` and passes (under `CI` the build
//! itself already failed).

use std::io::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use plugbox::{Allocator, Engine, ErrorKind, Limits, Plugin};
use plugbox_artifacts::polyglot;

/// Linear memory slot of the polyglot engines: CPython starts with 12.9 MB
/// and StarlingMonkey with 9.5 MB of linear memory; the memory bombs need
/// room to grow past their limits.
pub const SLOT_BYTES: usize = 64 << 20;

/// An engine for polyglot plugins. Every one has the same settings and the
/// same cache directory (under the target directory), so each 12–18 MB
/// component is compiled once per test run and loaded from the cache by
/// every later engine.
pub fn engine() -> Engine {
    builder()
        .build()
        .expect("polyglot engine settings are valid")
}

/// The settings of [`engine`], for tests that change one (each other
/// configuration compiles, and caches, its own code).
pub fn builder() -> plugbox::EngineBuilder {
    Engine::builder()
        .allocator(Allocator::Pooling { capacity: 16 })
        .memory_slot_bytes(SLOT_BYTES)
        .cache_dir(concat!(env!("CARGO_TARGET_TMPDIR"), "/polyglot-cache"))
}

/// [`engine`] that also hosts component-model async components: QuickJS
/// plugins (componentize-qjs's default runtime uses its built-ins).
pub fn async_engine() -> Engine {
    Engine::builder()
        .allocator(Allocator::Pooling { capacity: 16 })
        .memory_slot_bytes(SLOT_BYTES)
        .cache_dir(concat!(env!("CARGO_TARGET_TMPDIR"), "/polyglot-cache"))
        .component_model_async(true)
        .build()
        .expect("polyglot engine settings are valid")
}

/// The engine a polyglot plugin needs: [`async_engine`] for QuickJS's,
/// [`engine`] for the rest.
pub fn engine_for(name: &str) -> Engine {
    match polyglot::by_name(name).map(|plugin| plugin.language) {
        Some(polyglot::Language::QuickJs) => async_engine(),
        _ => engine(),
    }
}

/// How long loading each component took, the first time in this process.
static LOADS: Mutex<Vec<(&'static str, Duration, bool)>> = Mutex::new(Vec::new());

/// The polyglot plugin `name` on `engine`, or `None` (after printing the
/// `skipped:` line) where its toolchain was missing when it was built.
pub fn plugin(engine: &Engine, name: &str) -> Option<Plugin> {
    let polyglot = polyglot::by_name(name).expect("no such polyglot plugin");
    let path = built(name)?;
    // One load at a time: two tests compiling the same component at once
    // would both spend the many seconds it takes; the second one to get
    // here loads it from the cache instead.
    static LOADING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = LOADING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let started = Instant::now();
    let loaded =
        Plugin::from_file(engine, path).unwrap_or_else(|error| panic!("{name} loads: {error:?}"));
    let mut loads = LOADS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !loads.iter().any(|(seen, ..)| *seen == polyglot.name) {
        loads.push((polyglot.name, started.elapsed(), loaded.loaded_from_cache()));
    }
    Some(loaded)
}

/// The path of the polyglot plugin `name`'s component, or `None` (after
/// printing the `skipped:` line) where its toolchain was missing when it was
/// built. Fails where `CI` is set.
pub fn built(name: &str) -> Option<&'static str> {
    let polyglot = polyglot::by_name(name).expect("no such polyglot plugin");
    match skip_or_fail(polyglot.path(), std::env::var_os("CI").is_some()) {
        Ok(Ok(path)) => Some(path),
        Ok(Err(skipped)) => {
            // Past the test harness's capture, so that the run shows it.
            let _ = writeln!(std::io::stderr(), "{skipped}");
            None
        }
        Err(failure) => panic!("{failure}"),
    }
}

/// The decision behind [`plugin`]: `Ok(Ok(path))` to run, `Ok(Err(line))`
/// to skip saying `line`, `Err(why)` to fail (where `CI` is set).
fn skip_or_fail(
    built: Result<&'static str, polyglot::Skipped>,
    ci: bool,
) -> Result<Result<&'static str, String>, String> {
    match built {
        Ok(path) => Ok(Ok(path)),
        Err(skipped) if ci => Err(format!(
            "{skipped} (CI is set: every polyglot plugin must be built)"
        )),
        Err(skipped) => Ok(Err(skipped.to_string())),
    }
}

#[test]
fn a_missing_toolchain_skips_its_plugins_except_on_ci() {
    let skipped = polyglot::Skipped {
        language: polyglot::Language::JavaScript,
        reason: "node not found (PLUGBOX_NODE, PATH)",
    };
    let line = "skipped: javascript: node not found (PLUGBOX_NODE, PATH)";
    assert_eq!(skip_or_fail(Err(skipped), false), Ok(Err(line.to_string())));
    assert_eq!(
        skip_or_fail(Err(skipped), true),
        Err(format!(
            "{line} (CI is set: every polyglot plugin must be built)"
        ))
    );
    assert_eq!(skip_or_fail(Ok("/x.wasm"), true), Ok(Ok("/x.wasm")));
    // Every polyglot plugin is listed, built here or not, and a built one's
    // component is there.
    for plugin in polyglot::ALL {
        assert_eq!(polyglot::by_name(plugin.name).unwrap().name, plugin.name);
        match plugin.path() {
            Ok(path) => {
                assert!(std::fs::read(path).unwrap().starts_with(b"\0asm"));
                assert!(!plugin.toolchain.is_empty());
            }
            Err(skipped) => assert_eq!(skipped.language, plugin.language),
        }
    }
}

/// Asserts that `plugin` answers `hello`'s contract exactly as the Rust
/// `hello` does.
fn assert_hello(name: &str) {
    let engine = engine_for(name);
    let Some(hello) = plugin(&engine, name) else {
        return;
    };
    // Every runtime imports WASI but C's: a C plugin that calls no WASI
    // function imports none.
    let language = polyglot::by_name(name).unwrap().language;
    assert_eq!(
        hello.imports_wasi(),
        language != polyglot::Language::C,
        "{name}: {}",
        hello.info()
    );
    let imports: Vec<&str> = hello
        .info()
        .imports
        .iter()
        .map(|item| item.name.as_str())
        .collect();
    assert!(
        imports.iter().all(|name| !name.starts_with("wasi:http/")),
        "built without outgoing HTTP (the host offers none): {imports:?}"
    );
    let mut instance = hello.instantiate().unwrap();
    let mut rust = crate::plugin(&engine, "hello").instantiate().unwrap();
    for input in [
        "hello, plugbox",
        "straße",
        "",
        "ǆ ﬁ ŉ ΐ",
        "日本語 and émoji 🎉",
        "\0 nul \u{7f} del",
    ] {
        let response = instance.call(input.as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(response.output).unwrap(),
            String::from_utf8(rust.call(input.as_bytes()).unwrap().output).unwrap(),
            "{name} on {input:?}"
        );
        assert!(response.fuel_used.is_some_and(|used| used > 0));
    }
    assert_eq!(instance.call(b"hello").unwrap().output, b"HELLO");
    // Invalid UTF-8 is the plugin's own (guest) error; the instance stays
    // usable.
    let error = instance.call(&[0xff, 0xfe]).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Guest, "{error:?}");
    assert!(
        error.message().starts_with("input is not valid UTF-8"),
        "{error}"
    );
    assert!(!instance.is_poisoned());
    assert_eq!(instance.call(b"ok").unwrap().output, b"OK");
}

#[test]
pub fn py_hello() {
    assert_hello("py-hello");
}

#[test]
pub fn js_hello() {
    assert_hello("js-hello");
}

#[test]
pub fn qjs_hello() {
    assert_hello("qjs-hello");
}

#[test]
pub fn go_hello() {
    assert_hello("go-hello");
}

/// Go's kit serves `cabi_realloc` from a static 1.25 MiB call arena (its
/// allocator must not run there): a request past it, which only a policy
/// raising `max_input_bytes` above the 1 MiB default admits, traps instead
/// of being written anywhere, and a fresh instance answers.
#[test]
fn a_go_request_larger_than_its_call_arena_traps() {
    let engine = engine();
    let Some(hello) = plugin(&engine, "go-hello") else {
        return;
    };
    let hello = hello.with_limits(Limits::default().max_input_bytes(4 << 20));
    let mut instance = hello.instantiate().unwrap();
    let fits = "a".repeat(1 << 20);
    assert_eq!(
        instance.call(fits.as_bytes()).unwrap().output,
        fits.to_uppercase().as_bytes()
    );
    let error = instance.call("a".repeat(2 << 20).as_bytes()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Trap, "{error:?}");
    assert!(error.message().contains("out of bounds"), "{error}");
    assert_eq!(
        hello.instantiate().unwrap().call(b"ok").unwrap().output,
        b"OK"
    );
}

#[test]
pub fn c_hello() {
    assert_hello("c-hello");
}

/// Not a check: prints, for every polyglot plugin built here, its size, the
/// time its load took (compiling, or from the cache), a fresh instance (the
/// median of nine after the first) and its first and a warm call, so that a run with `--nocapture` shows what
/// they cost on this machine. (`polyglot` tests run in parallel with the
/// rest: the figures are what a busy machine shows.)
#[test]
fn polyglot_costs_are_reported() {
    let mut report = String::from("polyglot plugin costs:\n");
    for polyglot in polyglot::ALL {
        let engine = engine_for(polyglot.name);
        let Some(plugin) = plugin(&engine, polyglot.name) else {
            continue;
        };
        let size = std::fs::metadata(polyglot.path().unwrap()).unwrap().len();
        let loaded = LOADS
            .lock()
            .unwrap()
            .iter()
            .find(|(name, ..)| *name == polyglot.name)
            .map(|(_, took, cached)| format!("{took:.1?}{}", if *cached { " (cache)" } else { "" }))
            .unwrap_or_default();
        // Past the first instance, which also pays for the runtime's
        // one-time setup in the host: the median of nine more (each dropped
        // before the next, so its pool slot is reused).
        drop(plugin.instantiate());
        let mut times: Vec<Duration> = (0..9)
            .map(|_| {
                let started = Instant::now();
                let instance = plugin.instantiate().unwrap();
                let took = started.elapsed();
                drop(instance);
                took
            })
            .collect();
        times.sort();
        let instantiated = times[times.len() / 2];
        let mut instance = plugin.instantiate().unwrap();
        let input: &[u8] = match polyglot.name {
            "py-discount" => br#"{"lines":[{"id":"a","quantity":10,"price_cents":999}]}"#,
            "js-http-filter" => br#"{"method":"GET","path":"/","headers":[],"now_ms":0}"#,
            "py-hostile" | "js-hostile" | "qjs-hostile" | "go-hostile" | "c-hostile" => b"noop",
            "go-host-probe" => b"config greeting",
            _ => b"hello",
        };
        let first = instance.call(input).map(|response| response.elapsed);
        let warm = instance.call(input).map(|response| response.elapsed);
        report.push_str(&format!(
            "  {:<16} {:>5.1} MB  load {loaded:<16} instantiate {instantiated:>9.1?}  \
             first call {:>9.1?}  warm call {:>9.1?}\n",
            polyglot.name,
            size as f64 / 1e6,
            first.unwrap_or_default(),
            warm.unwrap_or_default(),
        ));
    }
    let _ = write!(std::io::stderr(), "{report}");
}

/// What each runtime needs of an instance's limits, as docs/guests/ says:
/// CPython 14 core instances and 13 MiB of linear memory, StarlingMonkey 4
/// and 10 MiB, Go 4 and 4 MiB, C 2 and 1 MiB (one memory and at most two
/// tables each). One less of either is refused, naming the limit.
#[test]
fn the_runtimes_need_what_their_pages_say() {
    for (name, instances, memory_mib) in [
        ("py-hello", 14, 13),
        ("js-hello", 4, 10),
        ("go-hello", 4, 4),
        ("c-hello", 2, 1),
    ] {
        let engine = engine_for(name);
        let Some(hello) = plugin(&engine, name) else {
            continue;
        };
        let needs = Limits::default()
            .max_instances(instances)
            .max_memories(1)
            .max_tables(2)
            .max_memory_bytes(memory_mib << 20);
        let mut fits = hello.with_limits(needs).instantiate().unwrap();
        assert_eq!(fits.call(b"fits").unwrap().output, b"FITS");

        let error = hello
            .with_limits(needs.max_instances(instances - 1))
            .instantiate()
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InstanceLimit, "{name}: {error:?}");
        assert!(error.message().contains("max_instances"), "{error}");
        let error = hello
            .with_limits(needs.max_memory_bytes((memory_mib - 1) << 20))
            .instantiate()
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::MemoryLimit, "{name}: {error:?}");
    }
}
