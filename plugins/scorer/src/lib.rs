//! `scorer`: a guest of an embedder's own world (`wit/ranker.wit`), written
//! with `wit-bindgen` directly rather than plugbox's guest SDK: plugbox runs
//! components of any world. It uses the Rust standard library, so it also
//! imports WASI, which the host denies by default.
//!
//! Score: click-through rate (with a prior of 1 click in 10 impressions)
//! times the host's boost for the item's category. An item with `u32::MAX`
//! clicks makes it loop forever, to show the host's limits apply here too.

// Component exports only exist on wasm: native linkers reject their
// `package:name/interface#function` symbol names.
#[cfg(target_arch = "wasm32")]
mod guest {
    wit_bindgen::generate!({
        path: "wit",
        world: "ranker",
    });

    use exports::acme::ranking::scorer::{Guest, Item};

    struct Scorer;

    impl Guest for Scorer {
        fn score(item: Item) -> f64 {
            if item.clicks == u32::MAX {
                let mut spins = 0u64;
                loop {
                    spins = std::hint::black_box(spins.wrapping_add(1));
                }
            }
            let ctr = (f64::from(item.clicks) + 1.0) / (f64::from(item.impressions) + 10.0);
            ctr * boost(&item.category)
        }
    }

    export!(Scorer);
}
