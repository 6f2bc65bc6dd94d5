//! Who can write the cache: its directories must be this user's alone, and
//! its entries are signed with a secret key only this user can read.
//!
//! A cache entry is native code that runs in the host once loaded, so the
//! cache trusts an entry only if it carries a BLAKE3 keyed hash made with the
//! cache's secret key. The key lives in [`KEY_FILE`] in the cache root,
//! created on first use (mode 0600, never replacing an existing file) and
//! read once per engine. Whoever cannot read the key cannot forge an entry;
//! a cache directory whose owner or mode let others write it is refused
//! outright, since they could replace the key and entries together.

use std::io::{Read as _, Write as _};
use std::path::Path;

use crate::error::{Error, ErrorKind, Result};

/// Name of the secret key file in the cache root.
pub(crate) const KEY_FILE: &str = "plugbox-cache.key";

/// The cache's secret key (BLAKE3 keyed-hash mode).
pub(crate) type Key = [u8; blake3::KEY_LEN];

/// Creates `dir` (and missing parents) with mode 0700 if it does not exist,
/// then checks that it is private: see [`check_private`].
pub(crate) fn private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|error| Error::io(format!("creating cache directory {}", dir.display()), error))?;
    check_private(dir)
}

/// Refuses a cache directory that is not a directory, is owned by another
/// user than this process's effective user, or that its group or others may
/// write ([`ErrorKind::Config`], naming the directory, its owner and mode,
/// and the fix).
#[cfg(unix)]
pub(crate) fn check_private(dir: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    let metadata = std::fs::metadata(dir)
        .map_err(|error| Error::io(format!("checking cache directory {}", dir.display()), error))?;
    let shown = dir.display();
    if !metadata.is_dir() {
        return Err(Error::new(
            ErrorKind::Config,
            format!("cache directory {shown} is not a directory (EngineBuilder::cache_dir)"),
        ));
    }
    let euid = effective_uid();
    let (owner, mode) = (metadata.uid(), metadata.mode() & 0o7777);
    if owner != euid {
        return Err(Error::new(
            ErrorKind::Config,
            format!(
                "cache directory {shown} is owned by uid {owner} (mode {mode:04o}), not by this \
                 process's effective uid {euid}: its owner could plant native code that this \
                 process would run; give EngineBuilder::cache_dir a directory of your own (plugbox \
                 creates a missing one with mode 0700) or `chown {euid} {shown}`"
            ),
        ));
    }
    if mode & 0o022 != 0 {
        return Err(Error::new(
            ErrorKind::Config,
            format!(
                "cache directory {shown} (owner uid {owner}) has mode {mode:04o}: its group or \
                 others may write it and so plant native code that this process would run; \
                 `chmod go-w {shown}`, or give EngineBuilder::cache_dir a private directory \
                 (plugbox creates a missing one with mode 0700)"
            ),
        ));
    }
    Ok(())
}

/// Without Unix ownership and modes there is nothing to check: the keyed
/// entries still refuse what another key signed.
#[cfg(not(unix))]
pub(crate) fn check_private(_dir: &Path) -> Result<()> {
    Ok(())
}

#[cfg(unix)]
fn effective_uid() -> u32 {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The cache's key from `root`'s [`KEY_FILE`], made on first use: 32 random
/// bytes written to a fresh 0600 file (`O_EXCL`) that is then linked into
/// place without replacing anything, so that processes sharing the cache
/// agree on one key even when they start together.
pub(crate) fn load_or_create_key(root: &Path) -> Result<Key> {
    let path = root.join(KEY_FILE);
    match read_key(&path) {
        Err(KeyError::Absent) => {}
        Ok(key) => return Ok(key),
        Err(KeyError::Refused(error)) => return Err(error),
    }
    let failed = |error| Error::io(format!("creating cache key {}", path.display()), error);
    let mut key = [0; blake3::KEY_LEN];
    getrandom::fill(&mut key).map_err(|error| failed(std::io::Error::other(error)))?;
    // `NamedTempFile` opens with O_CREAT | O_EXCL and mode 0600.
    let mut file = tempfile::Builder::new()
        .prefix(".plugbox-cache-key-")
        .tempfile_in(root)
        .map_err(failed)?;
    file.write_all(&key).map_err(failed)?;
    file.as_file().sync_all().map_err(failed)?;
    match file.persist_noclobber(&path) {
        Ok(_) => Ok(key),
        // Another process made it first: use theirs.
        Err(error) if error.error.kind() == std::io::ErrorKind::AlreadyExists => read_key(&path)
            .map_err(|error| match error {
                KeyError::Refused(error) => error,
                KeyError::Absent => failed(std::io::ErrorKind::NotFound.into()),
            }),
        Err(error) => Err(failed(error.error)),
    }
}

enum KeyError {
    Absent,
    Refused(Error),
}

/// Reads an existing key, checking the opened file itself (not the path):
/// a regular file of this user, readable by no one else, of exactly
/// [`blake3::KEY_LEN`] bytes.
fn read_key(path: &Path) -> std::result::Result<Key, KeyError> {
    let shown = path.display();
    let io = |error| KeyError::Refused(Error::io(format!("reading cache key {shown}"), error));
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(KeyError::Absent);
        }
        Err(error) => return Err(io(error)),
    };
    let metadata = file.metadata().map_err(io)?;
    let refuse = |why: String| KeyError::Refused(Error::new(ErrorKind::Config, why));
    if !metadata.is_file() {
        return Err(refuse(format!("cache key {shown} is not a regular file")));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let euid = effective_uid();
        let (owner, mode) = (metadata.uid(), metadata.mode() & 0o7777);
        if owner != euid || mode & 0o077 != 0 {
            return Err(refuse(format!(
                "cache key {shown} has owner uid {owner} and mode {mode:04o}; it must belong to \
                 this process's effective uid {euid} with mode 0600, since whoever reads it can \
                 sign native code that this process would run: `chown {euid} {shown}; chmod 600 \
                 {shown}`, or delete it (a new key is made, and every entry recompiled once)"
            )));
        }
    }
    let mut key = Vec::with_capacity(blake3::KEY_LEN);
    file.take(blake3::KEY_LEN as u64 + 1)
        .read_to_end(&mut key)
        .map_err(io)?;
    Key::try_from(key.as_slice()).map_err(|_| {
        refuse(format!(
            "cache key {shown} is {} bytes, not {}: delete it (a new key is made, and every \
             entry recompiled once)",
            metadata.len(),
            blake3::KEY_LEN
        ))
    })
}
