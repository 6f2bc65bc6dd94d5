//! Hot reload (`PluginSet`): versions swapped while calls run, on a lean and
//! a WASI plugin; a new version that cannot instantiate; old versions
//! draining their instances.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use plugbox::{Allocator, Engine, ErrorKind, Limits, Plugin, PluginSet, Policy};

/// `plugin` under `policy` (TOML).
fn version(engine: &Engine, plugin: &str, policy: &str) -> Plugin {
    let policy = Policy::from_toml_str(policy, "test policy").unwrap();
    crate::plugin(engine, plugin).with_policy(&policy).unwrap()
}

/// Swaps `name` between two versions `swaps` times while four threads call
/// it; every call must succeed with the answer of the version whose
/// generation it reports (odd generations are `versions.0`, even ones
/// `versions.1`).
fn swap_under_load(
    engine: &Engine,
    versions: (Plugin, Plugin),
    request: &'static [u8],
    answers: (&'static str, &'static str),
) {
    let set = Arc::new(PluginSet::with_max_idle(4));
    assert_eq!(set.replace("tenant", versions.0.clone()).unwrap(), 1);
    let stop = Arc::new(AtomicBool::new(false));
    let by_version = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (set, stop, by_version) = (set.clone(), stop.clone(), by_version.clone());
            std::thread::spawn(move || {
                let mut generations = std::collections::BTreeSet::new();
                while !stop.load(Ordering::Relaxed) {
                    let answer = set.call("tenant", request).expect("no call fails");
                    let text = String::from_utf8(answer.response.output).unwrap();
                    let odd = answer.generation % 2 == 1;
                    let expected = if odd { answers.0 } else { answers.1 };
                    assert_eq!(
                        text, expected,
                        "generation {} answered as the other version",
                        answer.generation
                    );
                    by_version[usize::from(!odd)].fetch_add(1, Ordering::Relaxed);
                    generations.insert(answer.generation);
                }
                generations.len()
            })
        })
        .collect();
    let swaps = 40;
    for swap in 0..swaps {
        std::thread::sleep(Duration::from_millis(3));
        let next = if swap % 2 == 0 {
            &versions.1
        } else {
            &versions.0
        };
        assert_eq!(set.replace("tenant", next.clone()).unwrap(), swap + 2);
    }
    std::thread::sleep(Duration::from_millis(3));
    stop.store(true, Ordering::Relaxed);
    let seen: Vec<usize> = callers.into_iter().map(|c| c.join().unwrap()).collect();
    let (first, second) = (
        by_version[0].load(Ordering::Relaxed),
        by_version[1].load(Ordering::Relaxed),
    );
    assert!(
        first > 0 && second > 0,
        "both versions answered: {first}, {second}"
    );
    assert!(
        seen.iter().any(|&generations| generations > 2),
        "callers saw the swaps: {seen:?}"
    );
    // Every old version drained: with the set gone, every pool slot is free.
    drop(set);
    let hello = crate::plugin(engine, "hello");
    let all: Vec<_> = (0..32).map(|_| hello.instantiate().unwrap()).collect();
    assert_eq!(all.len(), 32);
}

#[test]
fn lean_versions_swapped_under_load_fail_no_call_and_never_mix() {
    let engine = crate::engine();
    let one = version(&engine, "host-probe", "[config]\nversion = \"one\"\n");
    let two = version(&engine, "host-probe", "[config]\nversion = \"two\"\n");
    swap_under_load(&engine, (one, two), b"config version", ("one", "two"));
}

#[test]
fn wasi_versions_swapped_under_load_fail_no_call_and_never_mix() {
    let engine = crate::engine();
    let one = version(
        &engine,
        "wasi-probe",
        "[env]\nvars = { VERSION = \"one\" }\n",
    );
    let two = version(
        &engine,
        "wasi-probe",
        "[env]\nvars = { VERSION = \"two\" }\n",
    );
    assert!(one.imports_wasi());
    swap_under_load(
        &engine,
        (one, two),
        b"env",
        ("VERSION=one\n", "VERSION=two\n"),
    );
}

#[test]
fn a_new_version_that_cannot_instantiate_leaves_the_old_one_serving() {
    let engine = crate::engine();
    let set = PluginSet::new();
    let hello = crate::plugin(&engine, "hello");
    assert_eq!(set.replace("greeter", hello.clone()).unwrap(), 1);
    // Its initial memory does not fit a 64 KiB limit.
    let cramped = hello.with_limits(Limits::default().max_memory_bytes(64 << 10));
    let error = set.replace("greeter", cramped).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::MemoryLimit, "{error}");
    assert!(
        error.message().starts_with(
            "the new version of `greeter` failed to instantiate (generation 1 keeps serving)"
        ),
        "{error}"
    );
    assert_eq!(set.generation("greeter"), Some(1));
    let answer = set.call("greeter", b"still").unwrap();
    assert_eq!(
        (answer.response.output, answer.generation),
        (b"STILL".to_vec(), 1)
    );
    // A first version that cannot instantiate installs nothing.
    let error = set
        .replace(
            "other",
            hello.with_limits(Limits::default().max_memory_bytes(64 << 10)),
        )
        .unwrap_err();
    assert!(
        error.message().contains("(nothing was installed)"),
        "{error}"
    );
    assert_eq!(set.names(), ["greeter"]);
    let error = set.call("other", b"x").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(error.message().contains("installed: greeter"), "{error}");
}

#[test]
fn a_trapped_instance_is_not_reused_and_the_next_call_gets_a_fresh_one() {
    let engine = crate::engine();
    let set = PluginSet::new();
    let probe = version(&engine, "wasi-probe", "");
    set.replace("probe", probe).unwrap();
    let error = set.call("probe", b"panic on purpose").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Trap, "{error}");
    let answer = set.call("probe", b"args").unwrap();
    assert_eq!(answer.response.output, b"");
}

#[test]
fn replacing_drops_the_old_versions_idle_instances_and_busy_ones_finish() {
    let engine = Engine::builder()
        .allocator(Allocator::Pooling { capacity: 3 })
        .build()
        .unwrap();
    let set = Arc::new(PluginSet::with_max_idle(2));
    let probe = version(&engine, "wasi-probe", "")
        .with_limits(Limits::default().deadline(Duration::from_secs(10)));
    set.replace("probe", probe.clone()).unwrap();
    // Generation 1: one instance busy for a second, one idle.
    let busy = {
        let set = set.clone();
        std::thread::spawn(move || set.call("probe", b"sleep 1000").unwrap())
    };
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(set.call("probe", b"args").unwrap().generation, 1);
    assert_eq!(set.replace("probe", probe).unwrap(), 2);
    // The busy call holds a slot and generation 2 its first instance; the
    // idle instance of generation 1 was dropped at once: one slot is free.
    let hello = crate::plugin(&engine, "hello");
    let free = hello.instantiate().unwrap();
    assert_eq!(
        hello.instantiate().unwrap_err().kind(),
        ErrorKind::PoolExhausted,
        "only one slot is free while the old version's call runs"
    );
    drop(free);
    let answer = busy.join().unwrap();
    assert_eq!(
        (answer.response.output, answer.generation),
        (b"slept".to_vec(), 1),
        "the running call finished on its version"
    );
    // Its instance was dropped when its call ended, not kept: two free.
    let first = hello.instantiate().unwrap();
    let second = hello.instantiate().unwrap();
    assert_eq!(
        hello.instantiate().unwrap_err().kind(),
        ErrorKind::PoolExhausted
    );
    drop((first, second));
    assert_eq!(set.call("probe", b"args").unwrap().generation, 2);
}
