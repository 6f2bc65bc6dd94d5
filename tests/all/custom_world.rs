//! Custom worlds: an embedder's own WIT world (`plugins/scorer/wit`) gets
//! plugbox's limits, policy and typed errors.

use std::time::Duration;

use plugbox::wasmtime::component::HasSelf;
use plugbox::{CustomPlugin, CustomWorld, Engine, ErrorKind, HostContext, Limits};

plugbox::wasmtime::component::bindgen!({
    path: "../plugins/scorer/wit",
    world: "ranker",
    wasmtime_crate: plugbox::wasmtime,
});

use exports::acme::ranking::scorer::Item;

impl RankerImports for HostContext {
    fn boost(&mut self, category: String) -> f64 {
        if category == "books" { 2.0 } else { 1.0 }
    }
}

fn world(engine: &Engine) -> CustomWorld {
    CustomWorld::new(engine, |linker| {
        Ranker::add_to_linker::<_, HasSelf<_>>(linker, |context| context)
    })
    .unwrap()
}

fn score(
    instance: &mut plugbox::CustomInstance,
    category: &str,
    clicks: u32,
) -> plugbox::Result<f64> {
    let item = Item {
        category: category.into(),
        clicks,
        impressions: 90,
    };
    instance
        .call(|store, instance| {
            Ranker::new(&mut *store, instance)?
                .acme_ranking_scorer()
                .call_score(store, &item)
        })
        .map(|response| response.value)
}

#[test]
pub fn scorer() {
    let engine = crate::engine();
    let scorer =
        CustomPlugin::new(&engine, &world(&engine), plugbox_artifacts::SCORER.bytes).unwrap();
    assert!(
        scorer
            .info()
            .imports
            .iter()
            .any(|import| import.name == "boost")
    );
    let mut tenant = scorer.instantiate().unwrap();
    // (9 + 1) / (90 + 10) = 0.1, times the host's boost.
    assert!((score(&mut tenant, "games", 9).unwrap() - 0.1).abs() < 1e-12);
    assert!((score(&mut tenant, "books", 9).unwrap() - 0.2).abs() < 1e-12);
}

#[test]
fn custom_world_plugins_get_limits_and_typed_errors() {
    let engine = crate::engine();
    let scorer = CustomPlugin::new(&engine, &world(&engine), plugbox_artifacts::SCORER.bytes)
        .unwrap()
        .with_limits(
            Limits::default()
                .fuel(u64::MAX)
                .deadline(Duration::from_millis(30)),
        );
    let mut tenant = scorer.instantiate().unwrap();
    let error = score(&mut tenant, "books", u32::MAX).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::DeadlineExceeded);
    assert!(tenant.is_poisoned());
    assert_eq!(
        score(&mut tenant, "books", 1).unwrap_err().kind(),
        ErrorKind::Poisoned
    );
    let fuel = scorer.with_limits(Limits::default().fuel(100_000));
    let error = score(&mut fuel.instantiate().unwrap(), "books", u32::MAX).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::FuelExhausted);
    // A fresh tenant works.
    let mut fresh = scorer.instantiate().unwrap();
    assert!(score(&mut fresh, "games", 9).is_ok());
}

/// The scorer under `policy` (TOML).
fn scorer_with(engine: &Engine, policy: &str) -> CustomPlugin {
    let policy = plugbox::Policy::from_toml_str(policy, "p").unwrap();
    CustomPlugin::new(engine, &world(engine), plugbox_artifacts::SCORER.bytes)
        .unwrap()
        .with_policy(&policy)
        .unwrap()
}

#[test]
fn custom_world_plugins_get_their_policy() {
    // The scorer uses std, so it imports WASI: the policy's capabilities
    // apply as for any plugin; here its limits, each hit by a call that
    // stays within the others.
    let engine = crate::engine();
    let fuel = scorer_with(&engine, "[limits]\nfuel = 50000\n");
    let error = score(&mut fuel.instantiate().unwrap(), "books", u32::MAX).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::FuelExhausted);

    let deadline = scorer_with(
        &engine,
        "[limits]\nfuel = 18446744073709551615\ndeadline_ms = 30\n",
    );
    let mut tenant = deadline.instantiate().unwrap();
    let started = std::time::Instant::now();
    let error = score(&mut tenant, "books", u32::MAX).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::DeadlineExceeded, "{error}");
    assert!(error.message().contains("30ms"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(tenant.is_poisoned());

    // An argument is copied into the guest's memory: one that cannot fit
    // under the policy's memory limit fails as a memory limit. The same
    // item fits the default limit.
    let memory = scorer_with(&engine, "[limits]\nmax_memory_bytes = 2097152\n");
    let huge = "b".repeat(4 << 20);
    let mut tenant = memory.instantiate().unwrap();
    assert!(score(&mut tenant, "books", 9).is_ok(), "a small item fits");
    let error = score(&mut tenant, &huge, 9).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::MemoryLimit, "{error}");
    assert!(error.message().contains("limit 2097152"), "{error}");
    assert!(tenant.is_poisoned());
    let mut roomy = scorer_with(&engine, "").instantiate().unwrap();
    assert!((score(&mut roomy, &huge, 9).unwrap() - 0.1).abs() < 1e-12);
}

#[test]
fn custom_world_sizes_are_checked_with_the_sizes_the_embedder_knows() {
    // plugbox cannot see a typed call's arguments: the embedder checks the
    // sizes it knows against the policy's limits, with plugbox's kinds.
    let engine = crate::engine();
    let scorer = scorer_with(
        &engine,
        "[limits]\nmax_input_bytes = 16\nmax_output_bytes = 8\n",
    );
    let mut tenant = scorer.instantiate().unwrap();
    assert_eq!(tenant.limits().input_bytes(), 16);
    assert!(tenant.check_input(16).is_ok());
    let error = tenant.check_input(17).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InputTooLarge);
    assert_eq!(
        error.message(),
        "17 bytes, limit 16 (Limits::max_input_bytes)"
    );
    assert!(tenant.check_output(8).is_ok());
    let error = tenant.check_output(9).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::OutputTooLarge);
    assert_eq!(
        error.message(),
        "9 bytes, limit 8 (Limits::max_output_bytes)"
    );
    // A refusal is not a trap: the instance goes on serving.
    assert!(!tenant.is_poisoned());
    assert!(score(&mut tenant, "games", 9).is_ok());
}

#[test]
fn a_component_missing_the_worlds_imports_is_a_mismatch() {
    let engine = crate::engine();
    // A world without `boost`: the scorer's import cannot be satisfied.
    let bare = CustomWorld::new(&engine, |_| Ok(())).unwrap();
    let error = CustomPlugin::new(&engine, &bare, plugbox_artifacts::SCORER.bytes).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InterfaceMismatch);
    // And a plugbox-world plugin is not a ranker: it loads (its imports are
    // satisfied) but has no scorer export to call.
    let hello =
        CustomPlugin::new(&engine, &world(&engine), plugbox_artifacts::HELLO.bytes).unwrap();
    let mut instance = hello.instantiate().unwrap();
    let error = score(&mut instance, "books", 1).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Trap);
}
