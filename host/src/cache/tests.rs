use super::*;
use crate::ErrorKind;

fn open(root: &Path) -> Cache {
    Cache::open(root, &wasmtime::Engine::default()).unwrap()
}

fn entry(cache: &Cache, content: &ContentHash, payload: &[u8]) -> Vec<u8> {
    let mut entry = cache.header(content, payload);
    entry.extend_from_slice(payload);
    entry
}

#[test]
fn verify_accepts_only_intact_entries_for_this_component_engine_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cache = open(&dir.path().join("cache"));
    let content = content_hash(b"component");
    let payload = b"serialized component".to_vec();
    let entry = entry(&cache, &content, &payload);
    assert_eq!(cache.verify(&entry, &content), Ok(&payload[..]));

    for at in [
        0,
        8,
        12,
        30,
        60,
        BOUND_LEN + 3,
        HEADER_LEN + 1,
        entry.len() - 1,
    ] {
        let mut flipped = entry.clone();
        flipped[at] ^= 1;
        assert!(
            cache.verify(&flipped, &content).is_err(),
            "bit flip at {at}"
        );
    }
    let corrupt = Err(Miss::Corrupt);
    assert_eq!(cache.verify(&entry[..entry.len() - 1], &content), corrupt);
    assert_eq!(cache.verify(&entry[..10], &content), corrupt, "short");
    assert_eq!(cache.verify(b"", &content), corrupt, "empty");

    // Renamed: the entry of one component under another's name.
    let other = content_hash(b"another component");
    assert_eq!(cache.verify(&entry, &other), Err(Miss::Misplaced));
    // Another engine configuration, same key.
    let engine = Cache {
        engine_key: [7; ENGINE_KEY_LEN],
        ..open(&dir.path().join("cache"))
    };
    assert_eq!(engine.verify(&entry, &content), Err(Miss::Misplaced));
    // Another cache's key: forged, as far as this cache can tell.
    let stranger = open(&dir.path().join("elsewhere"));
    assert_ne!(stranger.key, cache.key, "each cache makes its own key");
    assert_eq!(stranger.verify(&entry, &content), corrupt);
    let forged = self::entry(&stranger, &content, &payload);
    assert_eq!(cache.verify(&forged, &content), corrupt);
}

#[test]
fn intact_entry_that_wasmtime_rejects_is_a_stale_miss_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let engine = wasmtime::Engine::default();
    let cache = Cache::open(&dir.path().join("cache"), &engine).unwrap();
    let key = content_hash(b"some component");
    // A well-formed, signed entry whose payload is not a compiled component
    // for this engine, as after a wasmtime upgrade that kept the
    // compatibility key.
    let payload = b"\x7fELF not a wasmtime artifact".to_vec();
    std::fs::write(cache.path(&key), entry(&cache, &key, &payload)).unwrap();
    assert_eq!(cache.load(&engine, &key).err(), Some(Miss::Incompatible));
    assert!(!cache.path(&key).exists(), "a stale entry is removed");
    assert_eq!(cache.load(&engine, &key).err(), Some(Miss::Absent));
}

#[test]
fn the_key_is_made_once_private_and_then_reused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("cache");
    let first = open(&root);
    let path = root.join(trust::KEY_FILE);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    for created in [&root, &first.dir] {
        let mode = std::fs::metadata(created).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", created.display());
    }
    assert_eq!(open(&root).key, first.key, "a restarted process reads it");
    assert_eq!(std::fs::read(&path).unwrap(), first.key);

    // Readable by others: refused, naming the file, its mode and the fix.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let error = Cache::open(&root, &wasmtime::Engine::default()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    let shown = path.display().to_string();
    assert!(error.message().contains(&shown), "{}", error.message());
    assert!(error.message().contains("mode 0644"), "{}", error.message());
    assert!(error.message().contains("chmod 600"), "{}", error.message());

    // Not a key: refused, never replaced behind the user's back.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&path, b"short").unwrap();
    let error = Cache::open(&root, &wasmtime::Engine::default()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config);
    assert!(
        error.message().contains("is 5 bytes, not 32"),
        "{}",
        error.message()
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"short");
}

#[test]
fn hex_is_lowercase_two_digits_per_byte() {
    assert_eq!(hex(&[0x00, 0xab, 0x0f]), "00ab0f");
}
