//! `kv`: the plugin's private key-value namespace, with quotas, each
//! operation bounded by a deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bindings::plugbox::plugin::kv::{Error as GuestError, Host};
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::host::HostContext;
use crate::kv::{KvError, KvStore, Quota};
use crate::policy::{KvPolicy, Policy};
use crate::telemetry::{KvOp, KvResult};

/// A granted key-value store.
pub(crate) struct Grant {
    pub(crate) store: Arc<dyn KvStore>,
    pub(crate) namespace: String,
    pub(crate) quota: Quota,
    pub(crate) max_key_bytes: usize,
    /// The most one operation may take (`[kv] timeout_ms`).
    pub(crate) timeout: Duration,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("namespace", &self.namespace)
            .field("quota", &self.quota)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Grant {
    /// The grant of `kv` (the `[kv]` table of `policy`) on `engine`; the
    /// namespace is `kv.namespace`, else `private()`.
    pub(crate) fn configure(
        engine: &Engine,
        policy: &Policy,
        kv: &KvPolicy,
        private: impl FnOnce() -> String,
    ) -> Result<Self> {
        let zero = [
            ("max_keys", kv.max_keys as u64, " (omit [kv] to deny it)"),
            ("max_bytes", kv.max_bytes as u64, " (omit [kv] to deny it)"),
            ("timeout_ms", kv.timeout_ms, ""),
        ]
        .into_iter()
        .find(|&(_, value, _)| value == 0);
        if let Some((field, _, hint)) = zero {
            return Err(Error::new(
                ErrorKind::InvalidPolicy,
                format!(
                    "{}must be non-zero{hint}",
                    policy.origin.locate(&format!("kv.{field}"))
                ),
            ));
        }
        let store = engine.kv_store();
        if let Some(url) = &kv.url
            && !store.serves_url(url)
        {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "{}this engine's key-value backend does not serve `{}`: give the engine \
                     (`EngineBuilder::kv_store`) the backend of that url; for `redis://`, \
                     `RedisKv` of crate `plugbox-kv-redis` (the `plugbox` CLI has it)",
                    policy.origin.locate("kv.url"),
                    without_credentials(url)
                ),
            ));
        }
        Ok(Self {
            store,
            namespace: kv.namespace.clone().unwrap_or_else(private),
            quota: Quota {
                max_keys: kv.max_keys,
                max_bytes: kv.max_bytes,
            },
            max_key_bytes: kv.max_key_bytes,
            timeout: Duration::from_millis(kv.timeout_ms),
        })
    }

    /// When an operation starting now must have answered: after the grant's
    /// timeout, and never past the call's deadline (`call_ends`).
    fn deadline(&self, call_ends: Option<Instant>) -> Option<Instant> {
        let timeout = Instant::now().checked_add(self.timeout);
        match (timeout, call_ends) {
            (Some(timeout), Some(call_ends)) => Some(timeout.min(call_ends)),
            (timeout, call_ends) => timeout.or(call_ends),
        }
    }
}

/// `url` for an error message, without the user and password it may carry
/// (`redis://user:secret@host` → `redis://…@host`).
fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_ends = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_ends].rfind('@') {
        Some(at) => format!("{scheme}://…{}", &rest[at..]),
        None => url.to_owned(),
    }
}

impl HostContext {
    /// Runs `op` against the granted store with the operation's deadline,
    /// or refuses: no grant, or a key longer than allowed.
    /// Counted in `plugbox_kv_ops_total` as `kind`.
    fn with_kv<T>(
        &self,
        kind: KvOp,
        key: &str,
        op: impl FnOnce(&Grant, Option<Instant>) -> Result<T, KvError>,
    ) -> wasmtime::Result<Result<T, GuestError>> {
        let result = self.run_kv(key, op);
        self.host.metrics.kv_op(
            kind,
            match &result {
                Ok(_) => KvResult::Ok,
                Err(GuestError::Denied) => KvResult::Denied,
                Err(GuestError::Invalid(_)) => KvResult::Invalid,
                Err(GuestError::QuotaExceeded) => KvResult::QuotaExceeded,
                Err(GuestError::Unavailable(_)) => KvResult::Unavailable,
            },
        );
        Ok(result)
    }

    fn run_kv<T>(
        &self,
        key: &str,
        op: impl FnOnce(&Grant, Option<Instant>) -> Result<T, KvError>,
    ) -> Result<T, GuestError> {
        let Some(grant) = &self.host.kv else {
            return Err(GuestError::Denied);
        };
        if key.len() > grant.max_key_bytes {
            return Err(GuestError::Invalid(format!(
                "key of {} bytes, limit {}",
                key.len(),
                grant.max_key_bytes
            )));
        }
        let deadline = grant.deadline(self.epoch.ends_at);
        op(grant, deadline).map_err(|error| match error {
            KvError::QuotaExceeded => GuestError::QuotaExceeded,
            KvError::Invalid(why) => GuestError::Invalid(why),
            KvError::Unavailable(why) => GuestError::Unavailable(why),
        })
    }
}

impl Host for HostContext {
    fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, GuestError>> {
        self.with_kv(KvOp::Get, &key, |grant, deadline| {
            grant.store.get(&grant.namespace, &key, deadline)
        })
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), GuestError>> {
        self.with_kv(KvOp::Set, &key, |grant, deadline| {
            grant
                .store
                .set(&grant.namespace, &key, &value, grant.quota, deadline)
        })
    }

    fn delete(&mut self, key: String) -> wasmtime::Result<Result<bool, GuestError>> {
        self.with_kv(KvOp::Delete, &key, |grant, deadline| {
            grant.store.delete(&grant.namespace, &key, deadline)
        })
    }

    fn increment(&mut self, key: String, delta: i64) -> wasmtime::Result<Result<i64, GuestError>> {
        self.with_kv(KvOp::Increment, &key, |grant, deadline| {
            grant
                .store
                .increment(&grant.namespace, &key, delta, grant.quota, deadline)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::without_credentials;

    #[test]
    fn urls_in_errors_lose_their_credentials() {
        assert_eq!(
            without_credentials("redis://user:secret@db.internal:6379/0"),
            "redis://…@db.internal:6379/0"
        );
        assert_eq!(
            without_credentials("redis://:p@ss@10.0.0.1/2?x=@"),
            "redis://…@10.0.0.1/2?x=@"
        );
        assert_eq!(
            without_credentials("redis://127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
        assert_eq!(without_credentials("not a url"), "not a url");
    }
}
