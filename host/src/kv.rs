//! Key-value storage for plugins: the backend trait embedders implement, and
//! the in-memory default.
//!
//! Every operation names a namespace, chosen by the host per plugin (the
//! guest never sees it), so one plugin can never reach another's keys.
//! Quotas are passed with each write and enforced by the backend atomically
//! with the write, so concurrent instances cannot overshoot them together.
//!
//! Every operation also carries a deadline: the running call's, or sooner
//! the policy's `[kv] timeout_ms` from when the operation started. A backend
//! that can block (a network store) answers by then, with
//! [`KvError::Unavailable`] if it cannot, so that the guest gets an error it
//! handles instead of a call that hangs. (Past the call's own deadline the
//! call fails with [`DeadlineExceeded`](crate::ErrorKind::DeadlineExceeded)
//! at the next epoch tick, whatever the backend answers.)

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// Limits of one namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Most keys.
    pub max_keys: usize,
    /// Most bytes, counting every key and value.
    pub max_bytes: usize,
}

/// Why a key-value operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvError {
    /// The write would take the namespace over its [`Quota`].
    QuotaExceeded,
    /// The request is not acceptable (e.g. `increment` on a value that is not
    /// a decimal integer, or an overflow).
    Invalid(String),
    /// The backend failed; a retry may succeed.
    Unavailable(String),
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::QuotaExceeded => f.write_str("quota exceeded"),
            Self::Invalid(why) => write!(f, "invalid: {why}"),
            Self::Unavailable(why) => write!(f, "unavailable: {why}"),
        }
    }
}

impl std::error::Error for KvError {}

/// A key-value backend. Implement it to keep plugin data in your own store;
/// [`MemoryKv`] is the default.
///
/// `deadline` is when the operation must have answered (`None`: no deadline
/// can be represented, with limits too large for an [`Instant`]). A backend
/// that may block bounds its waits by it and answers
/// [`KvError::Unavailable`] once it has passed; one that never blocks (such
/// as [`MemoryKv`]) may ignore it.
pub trait KvStore: Send + Sync + 'static {
    /// The value of `key` in `namespace`.
    ///
    /// # Errors
    ///
    /// [`KvError::Unavailable`] if the backend fails.
    fn get(
        &self,
        namespace: &str,
        key: &str,
        deadline: Option<Instant>,
    ) -> Result<Option<Vec<u8>>, KvError>;

    /// Stores `value` under `key`, unless that would exceed `quota`.
    ///
    /// # Errors
    ///
    /// [`KvError::QuotaExceeded`], or [`KvError::Unavailable`].
    fn set(
        &self,
        namespace: &str,
        key: &str,
        value: &[u8],
        quota: Quota,
        deadline: Option<Instant>,
    ) -> Result<(), KvError>;

    /// Removes `key`; whether it existed.
    ///
    /// # Errors
    ///
    /// [`KvError::Unavailable`] if the backend fails.
    fn delete(
        &self,
        namespace: &str,
        key: &str,
        deadline: Option<Instant>,
    ) -> Result<bool, KvError>;

    /// Adds `delta` to the decimal integer under `key` (0 if absent) and
    /// returns the new value, atomically.
    ///
    /// # Errors
    ///
    /// [`KvError::Invalid`] if the value is not an integer or overflows,
    /// [`KvError::QuotaExceeded`], or [`KvError::Unavailable`].
    fn increment(
        &self,
        namespace: &str,
        key: &str,
        delta: i64,
        quota: Quota,
        deadline: Option<Instant>,
    ) -> Result<i64, KvError>;

    /// Whether this backend is the store that a policy's `[kv] url` names.
    /// A policy with a `url` that the engine's backend does not serve is
    /// refused when it is applied ([`ErrorKind::Config`](crate::ErrorKind::Config)),
    /// so that a plugin's data never silently lands in another store.
    /// Policies without a `url` use whatever backend the engine has.
    /// Default: `false` (a backend that no url names, as [`MemoryKv`]).
    fn serves_url(&self, url: &str) -> bool {
        let _ = url;
        false
    }
}

/// The in-memory backend: one map per namespace behind one lock. Data lives
/// as long as the [`Engine`](crate::Engine) that owns it.
#[derive(Debug, Default)]
pub struct MemoryKv {
    namespaces: Mutex<HashMap<String, Namespace>>,
}

#[derive(Debug, Default)]
struct Namespace {
    entries: HashMap<String, Vec<u8>>,
    bytes: usize,
}

impl Namespace {
    /// Replaces `key`'s value if the quota allows.
    fn put(&mut self, key: &str, value: Vec<u8>, quota: Quota) -> Result<(), KvError> {
        let old = self.entries.get(key).map(|old| key.len() + old.len());
        let keys = self.entries.len() + usize::from(old.is_none());
        let bytes = self.bytes - old.unwrap_or(0) + key.len() + value.len();
        if keys > quota.max_keys || bytes > quota.max_bytes {
            return Err(KvError::QuotaExceeded);
        }
        self.entries.insert(key.to_owned(), value);
        self.bytes = bytes;
        Ok(())
    }
}

impl MemoryKv {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, namespace: &str, f: impl FnOnce(&mut Namespace) -> T) -> T {
        let mut namespaces = self
            .namespaces
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(namespaces.entry(namespace.to_owned()).or_default())
    }
}

impl KvStore for MemoryKv {
    fn get(
        &self,
        namespace: &str,
        key: &str,
        _: Option<Instant>,
    ) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.with(namespace, |ns| ns.entries.get(key).cloned()))
    }

    fn set(
        &self,
        namespace: &str,
        key: &str,
        value: &[u8],
        quota: Quota,
        _: Option<Instant>,
    ) -> Result<(), KvError> {
        self.with(namespace, |ns| ns.put(key, value.to_vec(), quota))
    }

    fn delete(&self, namespace: &str, key: &str, _: Option<Instant>) -> Result<bool, KvError> {
        Ok(self.with(namespace, |ns| match ns.entries.remove(key) {
            Some(old) => {
                ns.bytes -= key.len() + old.len();
                true
            }
            None => false,
        }))
    }

    fn increment(
        &self,
        namespace: &str,
        key: &str,
        delta: i64,
        quota: Quota,
        _: Option<Instant>,
    ) -> Result<i64, KvError> {
        self.with(namespace, |ns| {
            let current = match ns.entries.get(key) {
                None => 0,
                Some(bytes) => std::str::from_utf8(bytes)
                    .ok()
                    .and_then(|text| text.parse::<i64>().ok())
                    .ok_or_else(|| KvError::Invalid(format!("`{key}` is not an integer")))?,
            };
            let next = current
                .checked_add(delta)
                .ok_or_else(|| KvError::Invalid(format!("`{key}` would overflow")))?;
            ns.put(key, next.to_string().into_bytes(), quota)?;
            Ok(next)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUOTA: Quota = Quota {
        max_keys: 2,
        max_bytes: 20,
    };

    #[test]
    fn namespaces_are_separate() {
        let kv = MemoryKv::new();
        kv.set("a", "k", b"from a", QUOTA, None).unwrap();
        assert_eq!(kv.get("a", "k", None).unwrap(), Some(b"from a".to_vec()));
        assert_eq!(kv.get("b", "k", None).unwrap(), None);
        assert!(!kv.delete("b", "k", None).unwrap());
        assert!(kv.delete("a", "k", None).unwrap());
    }

    #[test]
    fn quotas_count_keys_and_bytes() {
        let kv = MemoryKv::new();
        kv.set("n", "a", b"1234", QUOTA, None).unwrap(); // 5 bytes
        kv.set("n", "b", b"1234", QUOTA, None).unwrap(); // 10 bytes, 2 keys
        assert_eq!(
            kv.set("n", "c", b"", QUOTA, None),
            Err(KvError::QuotaExceeded)
        );
        // Overwriting counts the difference only.
        kv.set("n", "a", b"123456789012", QUOTA, None).unwrap(); // 13 + 5 = 18 bytes
        assert_eq!(
            kv.set("n", "b", b"12345678", QUOTA, None),
            Err(KvError::QuotaExceeded)
        );
        kv.delete("n", "a", None).unwrap();
        kv.set("n", "c", b"x", QUOTA, None).unwrap();
    }

    #[test]
    fn increment_counts_and_refuses_non_integers() {
        let kv = MemoryKv::new();
        assert_eq!(kv.increment("n", "hits", 1, QUOTA, None), Ok(1));
        assert_eq!(kv.increment("n", "hits", 41, QUOTA, None), Ok(42));
        assert_eq!(kv.get("n", "hits", None).unwrap(), Some(b"42".to_vec()));
        kv.set("n", "text", b"abc", QUOTA, None).unwrap();
        assert!(matches!(
            kv.increment("n", "text", 1, QUOTA, None),
            Err(KvError::Invalid(_))
        ));
        kv.set(
            "n",
            "hits",
            i64::MAX.to_string().as_bytes(),
            Quota {
                max_keys: 2,
                max_bytes: 100,
            },
            None,
        )
        .unwrap();
        assert!(matches!(
            kv.increment("n", "hits", 1, QUOTA, None),
            Err(KvError::Invalid(_))
        ));
    }
}
