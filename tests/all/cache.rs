//! The on-disk cache of compiled components: hits skip compilation; an
//! entry that is corrupt, stale, swapped, renamed or signed with another key
//! is recompiled, never loaded; a cache directory others could write is
//! refused.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use plugbox::{Engine, ErrorKind, Plugin};

use crate::neighbour::with_good_neighbour;

/// The cache root inside a test's temporary directory: plugbox creates it,
/// so its mode (0700) does not depend on the umask.
fn root(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("cache")
}

fn cached_engine(dir: &Path) -> Engine {
    Engine::builder().cache_dir(dir).build().unwrap()
}

fn load(engine: &Engine) -> Plugin {
    Plugin::new(engine, plugbox_artifacts::HELLO.bytes).unwrap()
}

fn assert_works(plugin: &Plugin) {
    let mut instance = plugin.instantiate().unwrap();
    assert_eq!(instance.call(b"cached").unwrap().output, b"CACHED");
}

fn entry(engine: &Engine, bytes: &[u8]) -> PathBuf {
    engine.cache_path_for(bytes).unwrap()
}

#[test]
fn second_load_comes_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let first = load(&cached_engine(&root(&dir)));
    assert!(!first.loaded_from_cache());
    assert_works(&first);
    // A new engine (as in a restarted process) with the same settings.
    let second = load(&cached_engine(&root(&dir)));
    assert!(second.loaded_from_cache());
    assert_works(&second);
}

#[test]
fn corrupt_entries_are_recompiled_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let engine = cached_engine(&root(&dir));
    load(&engine);
    let path = entry(&engine, plugbox_artifacts::HELLO.bytes);
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

/// Loads `hello` and `fib` on `engine`, checking what each answers and
/// whether it came from the cache.
fn assert_both_answer(engine: &Engine, from_cache: bool) {
    let hello = Plugin::new(engine, plugbox_artifacts::HELLO.bytes).unwrap();
    let fib = Plugin::new(engine, plugbox_artifacts::FIB.bytes).unwrap();
    assert_eq!(hello.loaded_from_cache(), from_cache, "hello");
    assert_eq!(fib.loaded_from_cache(), from_cache, "fib");
    let answer = |plugin: &Plugin| plugin.instantiate().unwrap().call(b"20").unwrap().output;
    // hello uppercases (digits stay), fib computes.
    assert_eq!(answer(&hello), b"20", "hello runs hello's code");
    assert_eq!(answer(&fib), b"6765", "fib runs fib's code");
}

#[test]
fn swapped_or_renamed_entries_are_never_run_as_the_other_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let engine = cached_engine(&root(&dir));
    assert_both_answer(&engine, false);
    let hello = entry(&engine, plugbox_artifacts::HELLO.bytes);
    let fib = entry(&engine, plugbox_artifacts::FIB.bytes);
    let (hello_code, fib_code) = (std::fs::read(&hello).unwrap(), std::fs::read(&fib).unwrap());

    // Swapped: each file holds the other's (validly signed) native code.
    std::fs::write(&hello, &fib_code).unwrap();
    std::fs::write(&fib, &hello_code).unwrap();
    assert_both_answer(&engine, false);
    // Each was recompiled and put back under its own name.
    assert_eq!(std::fs::read(&hello).unwrap(), hello_code);
    assert_eq!(std::fs::read(&fib).unwrap(), fib_code);
    assert_both_answer(&engine, true);

    // Renamed: fib's entry moved into hello's place.
    std::fs::rename(&fib, &hello).unwrap();
    let plugin = load(&engine);
    assert!(!plugin.loaded_from_cache(), "a renamed entry is a miss");
    assert_works(&plugin);
    assert_eq!(std::fs::read(&hello).unwrap(), hello_code);
}

#[test]
fn an_entry_signed_with_another_caches_key_is_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let (ours, theirs) = (dir.path().join("ours"), dir.path().join("theirs"));
    let our_engine = cached_engine(&ours);
    let their_engine = cached_engine(&theirs);
    assert!(!load(&their_engine).loaded_from_cache());
    // Same settings, so the same engine key and entry name; another key.
    let (our_entry, their_entry) = (
        entry(&our_engine, plugbox_artifacts::HELLO.bytes),
        entry(&their_engine, plugbox_artifacts::HELLO.bytes),
    );
    assert_eq!(
        our_entry.strip_prefix(&ours),
        their_entry.strip_prefix(&theirs)
    );
    assert_ne!(
        std::fs::read(ours.join("plugbox-cache.key")).unwrap(),
        std::fs::read(theirs.join("plugbox-cache.key")).unwrap()
    );
    let planted = std::fs::read(&their_entry).unwrap();
    std::fs::write(&our_entry, &planted).unwrap();
    let plugin = load(&our_engine);
    assert!(
        !plugin.loaded_from_cache(),
        "an entry this cache's key did not sign is never loaded"
    );
    assert_works(&plugin);
    // Replaced by one of our own, which then hits.
    assert_ne!(std::fs::read(&our_entry).unwrap(), planted);
    assert!(load(&our_engine).loaded_from_cache());
}

/// `Engine::build` with a cache at `dir`: its error.
fn refused(dir: &Path) -> plugbox::Error {
    Engine::builder().cache_dir(dir).build().unwrap_err()
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_cache_directory_others_can_write_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = root(&dir);
    for mode in [0o777, 0o770, 0o722, 0o1777] {
        std::fs::create_dir_all(&root).unwrap();
        set_mode(&root, mode);
        let error = refused(&root);
        assert_eq!(error.kind(), ErrorKind::Config, "{mode:o}: {error}");
        let message = error.message();
        assert!(message.contains(&root.display().to_string()), "{message}");
        assert!(message.contains(&format!("mode {mode:04o}")), "{message}");
        assert!(message.contains("chmod go-w"), "{message}");
    }
    // Fixed as the message says, it works.
    set_mode(&root, 0o755);
    let engine = cached_engine(&root);
    assert_works(&load(&engine));

    // The engine's own directory is checked too.
    let engine_dir = entry(&engine, plugbox_artifacts::HELLO.bytes)
        .parent()
        .unwrap()
        .to_path_buf();
    set_mode(&engine_dir, 0o775);
    let error = refused(&root);
    assert_eq!(error.kind(), ErrorKind::Config, "{error}");
    assert!(
        error.message().contains(&engine_dir.display().to_string()),
        "{error}"
    );
    set_mode(&engine_dir, 0o700);
    assert!(load(&cached_engine(&root)).loaded_from_cache());
}

#[test]
fn a_cache_directory_of_another_user_is_refused() {
    // Changing a directory's owner takes root (this test's machines run as
    // root; elsewhere there is no other user's directory to make).
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"skipped: not root, cannot make a directory of another user\n",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = root(&dir);
    std::fs::create_dir(&root).unwrap();
    set_mode(&root, 0o700);
    std::os::unix::fs::chown(&root, Some(65534), Some(65534)).unwrap();
    let error = refused(&root);
    assert_eq!(error.kind(), ErrorKind::Config, "{error}");
    let message = error.message();
    assert!(message.contains("owned by uid 65534"), "{message}");
    assert!(message.contains("effective uid 0"), "{message}");
    assert!(
        message.contains(&format!("chown 0 {}", root.display())),
        "{message}"
    );
}

#[test]
fn engines_with_other_settings_do_not_share_entries() {
    let dir = tempfile::tempdir().unwrap();
    let root = root(&dir);
    load(&cached_engine(&root));
    let other = Engine::builder()
        .cache_dir(&root)
        .memory_slot_bytes(8 << 20)
        .build()
        .unwrap();
    let plugin = load(&other);
    assert!(!plugin.loaded_from_cache());
    assert_works(&plugin);
    assert_ne!(
        other.cache_path_for(plugbox_artifacts::HELLO.bytes),
        cached_engine(&root).cache_path_for(plugbox_artifacts::HELLO.bytes)
    );
}
