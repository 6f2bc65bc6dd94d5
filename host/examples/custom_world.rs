//! Bring your own WIT world: a ranking service whose tenants' plugins export
//! `acme:ranking/scorer` and import the host's `boost` function
//! (`plugins/scorer/wit/ranker.wit`). plugbox still provides the engine,
//! pooling, limits, policy and typed errors.
//!
//! `cargo run --release -p plugbox --example custom_world`
use std::time::Duration;

use plugbox::wasmtime::component::HasSelf;
use plugbox::{CustomPlugin, CustomWorld, Engine, ErrorKind, HostContext, Limits};

plugbox::wasmtime::component::bindgen!({
    path: "../plugins/scorer/wit",
    world: "ranker",
    wasmtime_crate: plugbox::wasmtime,
});

use exports::acme::ranking::scorer::Item;

/// The host side of the embedder's world.
impl RankerImports for HostContext {
    fn boost(&mut self, category: String) -> f64 {
        if category == "books" { 2.0 } else { 1.0 }
    }
}

fn main() -> Result<(), plugbox::Error> {
    let engine = Engine::new()?;
    let world = CustomWorld::new(&engine, |linker| {
        Ranker::add_to_linker::<_, HasSelf<_>>(linker, |context| context)
    })?;
    let limits = Limits::default().deadline(Duration::from_millis(20));
    let scorer =
        CustomPlugin::new(&engine, &world, plugbox_artifacts::SCORER.bytes)?.with_limits(limits);
    let mut tenant = scorer.instantiate()?;

    let items = [
        ("books", 30, 100),
        ("games", 30, 100),
        ("books", u32::MAX, 1),
    ];
    for (category, clicks, impressions) in items {
        let item = Item {
            category: category.into(),
            clicks,
            impressions,
        };
        let scored = tenant.call(|store, instance| {
            Ranker::new(&mut *store, instance)?
                .acme_ranking_scorer()
                .call_score(store, &item)
        });
        match scored {
            Ok(response) => println!(
                "{category:>5}: {:.3} ({} fuel)",
                response.value,
                response.fuel_used.unwrap_or_default()
            ),
            Err(error) if error.kind() == ErrorKind::DeadlineExceeded => {
                println!("{category:>5}: stopped ({error})");
                tenant = scorer.instantiate()?; // the old one is poisoned
            }
            Err(error) => return Err(error),
        }
    }
    Ok(())
}
