//! The on-disk cache of compiled components: hits skip compilation; corrupt
//! or stale entries are recompiled, never loaded.

use plugbox::{Engine, Plugin};

use crate::neighbour::with_good_neighbour;

fn cached_engine(dir: &std::path::Path) -> Engine {
    Engine::builder().cache_dir(dir).build().unwrap()
}

fn load(engine: &Engine) -> Plugin {
    Plugin::new(engine, plugbox_artifacts::HELLO.bytes).unwrap()
}

fn assert_works(plugin: &Plugin) {
    let mut instance = plugin.instantiate().unwrap();
    assert_eq!(instance.call(b"cached").unwrap().output, b"CACHED");
}

#[test]
fn second_load_comes_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let first = load(&cached_engine(dir.path()));
    assert!(!first.loaded_from_cache());
    assert_works(&first);
    // A new engine (as in a restarted process) with the same settings.
    let second = load(&cached_engine(dir.path()));
    assert!(second.loaded_from_cache());
    assert_works(&second);
}

#[test]
fn corrupt_entries_are_recompiled_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let engine = cached_engine(dir.path());
    load(&engine);
    let path = engine
        .cache_path_for(plugbox_artifacts::HELLO.bytes)
        .unwrap();
    let pristine = std::fs::read(&path).unwrap();

    let mut flipped = pristine.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    let truncated = pristine[..pristine.len() / 3].to_vec();
    let garbage = b"not a cache entry at all".to_vec();
    // A tenant of a plugin loaded before the tampering answers throughout.
    with_good_neighbour(&engine, || {
        for (what, tampered) in [
            ("bit flip", &flipped),
            ("truncated", &truncated),
            ("garbage", &garbage),
        ] {
            std::fs::write(&path, tampered).unwrap();
            let plugin = load(&engine);
            assert!(
                !plugin.loaded_from_cache(),
                "{what}: must not load a corrupt entry"
            );
            assert_works(&plugin);
            // The entry was rewritten: the next load hits again.
            assert_eq!(std::fs::read(&path).unwrap(), pristine, "{what}");
            assert!(load(&engine).loaded_from_cache(), "{what}");
        }
    });
}

#[test]
fn engines_with_other_settings_do_not_share_entries() {
    let dir = tempfile::tempdir().unwrap();
    load(&cached_engine(dir.path()));
    let other = Engine::builder()
        .cache_dir(dir.path())
        .memory_slot_bytes(8 << 20)
        .build()
        .unwrap();
    let plugin = load(&other);
    assert!(!plugin.loaded_from_cache());
    assert_works(&plugin);
    assert_ne!(
        other.cache_path_for(plugbox_artifacts::HELLO.bytes),
        cached_engine(dir.path()).cache_path_for(plugbox_artifacts::HELLO.bytes)
    );
}
