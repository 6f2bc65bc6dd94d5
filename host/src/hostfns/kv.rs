//! `kv`: the plugin's private key-value namespace, with quotas.

use std::sync::Arc;

use crate::bindings::plugbox::plugin::kv::{Error as GuestError, Host};
use crate::host::HostContext;
use crate::kv::{KvError, KvStore, Quota};

/// A granted key-value store.
pub(crate) struct Grant {
    pub(crate) store: Arc<dyn KvStore>,
    pub(crate) namespace: String,
    pub(crate) quota: Quota,
    pub(crate) max_key_bytes: usize,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("namespace", &self.namespace)
            .field("quota", &self.quota)
            .finish_non_exhaustive()
    }
}

impl HostContext {
    /// Runs `op` against the granted store, or refuses: no grant, or a key
    /// longer than allowed.
    fn with_kv<T>(
        &self,
        key: &str,
        op: impl FnOnce(&Grant) -> Result<T, KvError>,
    ) -> wasmtime::Result<Result<T, GuestError>> {
        let Some(grant) = &self.host.kv else {
            return Ok(Err(GuestError::Denied));
        };
        if key.len() > grant.max_key_bytes {
            return Ok(Err(GuestError::Invalid(format!(
                "key of {} bytes, limit {}",
                key.len(),
                grant.max_key_bytes
            ))));
        }
        Ok(op(grant).map_err(|error| match error {
            KvError::QuotaExceeded => GuestError::QuotaExceeded,
            KvError::Invalid(why) => GuestError::Invalid(why),
            KvError::Unavailable(why) => GuestError::Unavailable(why),
        }))
    }
}

impl Host for HostContext {
    fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, GuestError>> {
        self.with_kv(&key, |grant| grant.store.get(&grant.namespace, &key))
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), GuestError>> {
        self.with_kv(&key, |grant| {
            grant.store.set(&grant.namespace, &key, &value, grant.quota)
        })
    }

    fn delete(&mut self, key: String) -> wasmtime::Result<Result<bool, GuestError>> {
        self.with_kv(&key, |grant| grant.store.delete(&grant.namespace, &key))
    }

    fn increment(&mut self, key: String, delta: i64) -> wasmtime::Result<Result<i64, GuestError>> {
        self.with_kv(&key, |grant| {
            grant
                .store
                .increment(&grant.namespace, &key, delta, grant.quota)
        })
    }
}
