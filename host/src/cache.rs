//! The on-disk cache of precompiled components.
//!
//! Layout: `<dir>/<engine key>/<content hash>.cwasm`. The engine key hashes
//! wasmtime's precompilation-compatibility hash (its version and every setting
//! that affects generated code) with this crate's version, so an engine never
//! sees another configuration's entries. The content hash is BLAKE3 of the
//! component's bytes.
//!
//! Each entry is a header (magic, format version, payload length, BLAKE3 of
//! the payload) followed by wasmtime's serialized component. An entry is only
//! handed to wasmtime's (unsafe) deserializer after its checksum matches;
//! anything else is treated as a miss, removed, and recompiled by the caller.
//! Writes go to a temporary file renamed into place, so readers never see a
//! partial entry.

use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"PLUGBOX\0";
const FORMAT: u32 = 1;
const HEADER_LEN: usize = MAGIC.len() + 4 + 8 + 32;

/// BLAKE3 hash of a component's bytes: the cache key.
pub(crate) type ContentHash = [u8; 32];

pub(crate) fn content_hash(bytes: &[u8]) -> ContentHash {
    *blake3::hash(bytes).as_bytes()
}

#[derive(Debug)]
pub(crate) struct Cache {
    dir: PathBuf,
}

/// Why a cache entry was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Miss {
    Absent,
    Corrupt,
    Incompatible,
}

impl Cache {
    pub(crate) fn open(root: &Path, engine: &wasmtime::Engine) -> Result<Self> {
        let dir = root.join(engine_key(engine));
        std::fs::create_dir_all(&dir).map_err(|error| {
            Error::io(format!("creating cache directory {}", dir.display()), error)
        })?;
        Ok(Self { dir })
    }

    fn path(&self, key: &ContentHash) -> PathBuf {
        self.dir.join(format!("{}.cwasm", hex(key)))
    }

    /// The cached component for `key`, or why there is none. A corrupt or
    /// incompatible entry is deleted.
    pub(crate) fn load(
        &self,
        engine: &wasmtime::Engine,
        key: &ContentHash,
    ) -> std::result::Result<wasmtime::component::Component, Miss> {
        let path = self.path(key);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(_) => return Err(Miss::Absent),
        };
        let Some(payload) = verify(&bytes) else {
            tracing::warn!(path = %path.display(), "corrupt plugbox cache entry; recompiling");
            let _ = std::fs::remove_file(&path);
            return Err(Miss::Corrupt);
        };
        // SAFETY: the payload is byte-for-byte what `store` wrote from
        // `Component::serialize` on an engine with the same compatibility key
        // (the checksum covers every byte). wasmtime additionally checks its
        // own header for version and configuration compatibility.
        match unsafe { wasmtime::component::Component::deserialize(engine, payload) } {
            Ok(component) => Ok(component),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "stale plugbox cache entry; recompiling");
                let _ = std::fs::remove_file(&path);
                Err(Miss::Incompatible)
            }
        }
    }

    /// Writes `component` under `key`. Failures are logged, not returned: the
    /// cache only ever saves time.
    pub(crate) fn store(&self, key: &ContentHash, component: &wasmtime::component::Component) {
        if let Err(error) = self.try_store(key, component) {
            tracing::warn!(dir = %self.dir.display(), %error, "could not write plugbox cache entry");
        }
    }

    fn try_store(
        &self,
        key: &ContentHash,
        component: &wasmtime::component::Component,
    ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let payload = component.serialize()?;
        let mut file = tempfile::NamedTempFile::new_in(&self.dir)?;
        file.write_all(&header(&payload))?;
        file.write_all(&payload)?;
        file.as_file().sync_data()?;
        file.persist(self.path(key))?;
        Ok(())
    }

    /// Path of the entry for a component's bytes.
    pub(crate) fn entry_path(&self, bytes: &[u8]) -> PathBuf {
        self.path(&content_hash(bytes))
    }
}

fn header(payload: &[u8]) -> Vec<u8> {
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&FORMAT.to_le_bytes());
    header.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    header.extend_from_slice(blake3::hash(payload).as_bytes());
    header
}

/// The payload of a well-formed entry whose checksum matches, else `None`.
fn verify(entry: &[u8]) -> Option<&[u8]> {
    let (header, payload) = entry.split_at_checked(HEADER_LEN)?;
    let (magic, rest) = header.split_at(MAGIC.len());
    let (format, rest) = rest.split_at(4);
    let (length, checksum) = rest.split_at(8);
    let length = u64::from_le_bytes(length.try_into().ok()?);
    let valid = magic == MAGIC
        && u32::from_le_bytes(format.try_into().ok()?) == FORMAT
        && length == payload.len() as u64
        && blake3::hash(payload).as_bytes() == checksum;
    valid.then_some(payload)
}

/// A stable key for everything about the engine that affects compiled code.
fn engine_key(engine: &wasmtime::Engine) -> String {
    let mut hasher = Blake3Hasher(blake3::Hasher::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    hex(&hasher.0.finalize().as_bytes()[..16])
}

/// Feeds `Hash` impls into BLAKE3, which (unlike `DefaultHasher`) is stable.
struct Blake3Hasher(blake3::Hasher);

impl Hasher for Blake3Hasher {
    fn finish(&self) -> u64 {
        let digest = self.0.finalize();
        let mut first = [0; 8];
        first.copy_from_slice(&digest.as_bytes()[..8]);
        u64::from_le_bytes(first)
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_accepts_only_intact_entries() {
        let payload = b"serialized component".to_vec();
        let mut entry = header(&payload);
        entry.extend_from_slice(&payload);
        assert_eq!(verify(&entry), Some(&payload[..]));

        let mut flipped = entry.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(verify(&flipped), None, "payload bit flip");

        assert_eq!(verify(&entry[..entry.len() - 1]), None, "truncated");
        assert_eq!(verify(&entry[..10]), None, "shorter than the header");
        assert_eq!(verify(b""), None, "empty");

        let mut wrong_magic = entry.clone();
        wrong_magic[0] = b'X';
        assert_eq!(verify(&wrong_magic), None, "magic");
    }

    #[test]
    fn intact_entry_that_wasmtime_rejects_is_a_stale_miss_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let engine = wasmtime::Engine::default();
        let cache = Cache::open(dir.path(), &engine).unwrap();
        let key = content_hash(b"some component");
        // A well-formed entry (checksum matches) whose payload is not a
        // compiled component for this engine, as after a wasmtime upgrade
        // that kept the compatibility key.
        let payload = b"\x7fELF not a wasmtime artifact".to_vec();
        let mut entry = header(&payload);
        entry.extend_from_slice(&payload);
        std::fs::write(cache.path(&key), &entry).unwrap();
        assert_eq!(cache.load(&engine, &key).err(), Some(Miss::Incompatible));
        assert!(!cache.path(&key).exists(), "a stale entry is removed");
        assert_eq!(cache.load(&engine, &key).err(), Some(Miss::Absent));
    }

    #[test]
    fn hex_is_lowercase_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0xab, 0x0f]), "00ab0f");
    }
}
