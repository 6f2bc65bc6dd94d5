//! The on-disk cache of precompiled components.
//!
//! Layout: `<root>/<engine key>/<content hash>.cwasm`, and the cache's secret
//! key in `<root>/plugbox-cache.key` ([`trust`]). The engine key hashes
//! wasmtime's precompilation-compatibility hash (its version and every setting
//! that affects generated code) with this crate's version, so an engine never
//! sees another configuration's entries. The content hash is BLAKE3 of the
//! component's bytes.
//!
//! Each entry is a header (magic, format version, the engine key and content
//! hash it was compiled for, the payload length, and a BLAKE3 *keyed* hash
//! of all of these and the payload under the cache's secret key) followed by
//! wasmtime's serialized component. An entry is only handed to wasmtime's
//! (unsafe) deserializer after its keyed hash matches and it names the very
//! component and engine being loaded: an entry renamed or swapped with
//! another, written with another key, or corrupt is a miss, removed, and
//! recompiled by the caller. A load reads the file once and hashes it once.
//! Writes go to a temporary file renamed into place, so readers never see a
//! partial entry.

mod trust;

use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::Result;

const MAGIC: &[u8; 8] = b"PLUGBOX\0";
const FORMAT: u32 = 2;
/// Magic, format, engine key, content hash, payload length: what the keyed
/// hash covers besides the payload.
const BOUND_LEN: usize = MAGIC.len() + 4 + ENGINE_KEY_LEN + 32 + 8;
const HEADER_LEN: usize = BOUND_LEN + blake3::OUT_LEN;
const ENGINE_KEY_LEN: usize = 16;

/// BLAKE3 hash of a component's bytes: the cache key.
pub(crate) type ContentHash = [u8; 32];

/// What an engine's configuration compiles to: entries of one engine key
/// only ever load on engines with that key.
type EngineKey = [u8; ENGINE_KEY_LEN];

pub(crate) fn content_hash(bytes: &[u8]) -> ContentHash {
    *blake3::hash(bytes).as_bytes()
}

pub(crate) struct Cache {
    dir: PathBuf,
    engine_key: EngineKey,
    key: trust::Key,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Cache")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// Why a cache entry was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Miss {
    /// No entry.
    Absent,
    /// Malformed, truncated, or its keyed hash does not match: damaged, or
    /// written by someone without this cache's key.
    Corrupt,
    /// Intact and signed, but for another component or engine: renamed or
    /// swapped.
    Misplaced,
    /// wasmtime refused the payload.
    Incompatible,
}

impl Cache {
    /// Opens (creating with mode 0700) `root` and this engine's directory in
    /// it, after checking that both are this user's alone, and reads (or
    /// makes) the cache's key.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for a directory or key
    /// file that others could write or read (the message names it, its owner
    /// and mode, and the fix); [`ErrorKind::Io`](crate::ErrorKind::Io) when
    /// they cannot be created or read.
    pub(crate) fn open(root: &Path, engine: &wasmtime::Engine) -> Result<Self> {
        trust::private_dir(root)?;
        let key = trust::load_or_create_key(root)?;
        let engine_key = engine_key(engine);
        let dir = root.join(hex(&engine_key));
        trust::private_dir(&dir)?;
        Ok(Self {
            dir,
            engine_key,
            key,
        })
    }

    fn path(&self, key: &ContentHash) -> PathBuf {
        self.dir.join(format!("{}.cwasm", hex(key)))
    }

    /// The cached component for `content`, or why there is none. An entry
    /// that is not used is deleted.
    pub(crate) fn load(
        &self,
        engine: &wasmtime::Engine,
        content: &ContentHash,
    ) -> std::result::Result<wasmtime::component::Component, Miss> {
        let path = self.path(content);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(_) => return Err(Miss::Absent),
        };
        let payload = match self.verify(&bytes, content) {
            Ok(payload) => payload,
            Err(miss) => {
                tracing::warn!(path = %path.display(), ?miss, "unusable plugbox cache entry; recompiling");
                let _ = std::fs::remove_file(&path);
                return Err(miss);
            }
        };
        // SAFETY: the payload is byte-for-byte what `store` wrote from
        // `Component::serialize` of this very component (content hash) on an
        // engine with the same compatibility key: the keyed hash, which only
        // holders of this cache's secret key can make, covers every byte and
        // both bindings. wasmtime additionally checks its own header for
        // version and configuration compatibility.
        match unsafe { wasmtime::component::Component::deserialize(engine, payload) } {
            Ok(component) => Ok(component),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "stale plugbox cache entry; recompiling");
                let _ = std::fs::remove_file(&path);
                Err(Miss::Incompatible)
            }
        }
    }

    /// Writes `component` under `content`. Failures are logged, not
    /// returned: the cache only ever saves time.
    pub(crate) fn store(&self, content: &ContentHash, component: &wasmtime::component::Component) {
        if let Err(error) = self.try_store(content, component) {
            tracing::warn!(dir = %self.dir.display(), %error, "could not write plugbox cache entry");
        }
    }

    fn try_store(
        &self,
        content: &ContentHash,
        component: &wasmtime::component::Component,
    ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let payload = component.serialize()?;
        let mut file = tempfile::NamedTempFile::new_in(&self.dir)?;
        file.write_all(&self.header(content, &payload))?;
        file.write_all(&payload)?;
        file.as_file().sync_data()?;
        file.persist(self.path(content))?;
        Ok(())
    }

    /// Path of the entry for a component's bytes.
    pub(crate) fn entry_path(&self, bytes: &[u8]) -> PathBuf {
        self.path(&content_hash(bytes))
    }

    /// The bound fields of an entry for `content` with `payload_len` bytes.
    fn bound(&self, content: &ContentHash, payload_len: usize) -> [u8; BOUND_LEN] {
        let mut bound = [0; BOUND_LEN];
        let fields: [&[u8]; 5] = [
            MAGIC,
            &FORMAT.to_le_bytes(),
            &self.engine_key,
            content,
            &(payload_len as u64).to_le_bytes(),
        ];
        let mut at = 0;
        for field in fields {
            bound[at..at + field.len()].copy_from_slice(field);
            at += field.len();
        }
        bound
    }

    fn mac(&self, bound: &[u8], payload: &[u8]) -> blake3::Hash {
        let mut hasher = blake3::Hasher::new_keyed(&self.key);
        hasher.update(bound);
        hasher.update(payload);
        hasher.finalize()
    }

    fn header(&self, content: &ContentHash, payload: &[u8]) -> Vec<u8> {
        let bound = self.bound(content, payload.len());
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(&bound);
        header.extend_from_slice(self.mac(&bound, payload).as_bytes());
        header
    }

    /// The payload of an entry made with this cache's key for `content` on
    /// this engine, or why it is not one.
    fn verify<'a>(
        &self,
        entry: &'a [u8],
        content: &ContentHash,
    ) -> std::result::Result<&'a [u8], Miss> {
        let (header, payload) = entry.split_at_checked(HEADER_LEN).ok_or(Miss::Corrupt)?;
        let (bound, mac) = header.split_at(BOUND_LEN);
        let expected = self.bound(content, payload.len());
        // Magic, format and length first: anything else is damage.
        let prefix = MAGIC.len() + 4;
        if bound[..prefix] != expected[..prefix]
            || bound[BOUND_LEN - 8..] != expected[BOUND_LEN - 8..]
        {
            return Err(Miss::Corrupt);
        }
        // `blake3::Hash` compares in constant time.
        if self.mac(bound, payload) != *mac {
            return Err(Miss::Corrupt);
        }
        if bound != expected {
            return Err(Miss::Misplaced);
        }
        Ok(payload)
    }
}

/// A stable key for everything about the engine that affects compiled code.
fn engine_key(engine: &wasmtime::Engine) -> EngineKey {
    let mut hasher = Blake3Hasher(blake3::Hasher::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    let mut key = [0; ENGINE_KEY_LEN];
    key.copy_from_slice(&hasher.0.finalize().as_bytes()[..ENGINE_KEY_LEN]);
    key
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
mod tests;
