//! The host functions of the plugbox world: `log`, `config` and `kv`.
//!
//! Each returns `wasmtime::Result<T>`: an `Err` is a fault and traps, while a
//! refusal the guest should handle (no grant, quota exceeded) is the WIT-level
//! error inside `T`. Everything is denied unless the plugin's policy grants
//! it; the grants are resolved once per plugin into [`HostGrants`].

mod config;
mod kv;
mod log;

use std::collections::BTreeMap;

use wasmtime::component::{HasSelf, Linker};

use crate::bindings;
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::host::HostContext;
use crate::kv::Quota;
use crate::plugin::Identity;
use crate::policy::Policy;

/// What a plugin's policy grants its host calls, resolved once per plugin.
#[derive(Debug)]
pub(crate) struct HostGrants {
    /// Name in log events: the policy's `name`, or the plugin's content hash.
    pub(crate) plugin: String,
    pub(crate) config: BTreeMap<String, String>,
    pub(crate) kv: Option<kv::Grant>,
}

impl HostGrants {
    /// Nothing granted; logs name the plugin by `default_name`.
    pub(crate) fn deny_all(default_name: &str) -> Self {
        Self {
            plugin: default_name.to_owned(),
            config: BTreeMap::new(),
            kv: None,
        }
    }

    /// The grants of `policy` for one load of a plugin (`identity`). The
    /// default key-value namespace is private to that load (and, within it,
    /// to the policy's `name`): only an explicit `namespace` is shared.
    pub(crate) fn configure(engine: &Engine, policy: &Policy, identity: &Identity) -> Result<Self> {
        let plugin = policy
            .name
            .clone()
            .unwrap_or_else(|| identity.default_name.clone());
        let kv = match &policy.kv {
            None => None,
            Some(kv) => {
                let zero = [("max_keys", kv.max_keys), ("max_bytes", kv.max_bytes)]
                    .into_iter()
                    .find(|&(_, value)| value == 0);
                if let Some((field, _)) = zero {
                    return Err(Error::new(
                        ErrorKind::InvalidPolicy,
                        format!(
                            "{}must be non-zero (omit [kv] to deny it)",
                            policy.origin.locate(&format!("kv.{field}"))
                        ),
                    ));
                }
                Some(kv::Grant {
                    store: engine.kv_store(),
                    namespace: kv
                        .namespace
                        .clone()
                        .unwrap_or_else(|| identity.private_namespace(&plugin)),
                    quota: Quota {
                        max_keys: kv.max_keys,
                        max_bytes: kv.max_bytes,
                    },
                    max_key_bytes: kv.max_key_bytes,
                })
            }
        };
        Ok(Self {
            plugin,
            config: policy.config.clone(),
            kv,
        })
    }
}

/// Adds the plugbox host functions to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostContext>) -> Result<()> {
    bindings::Plugin::add_to_linker::<HostContext, HasSelf<HostContext>>(linker, |state| state)
        .map_err(|error| {
            Error::new(ErrorKind::Config, "linking the plugbox host functions").with_wasmtime(error)
        })
}

/// Per-instance accounting of host calls, reset at every call.
#[derive(Debug)]
pub(crate) struct CallBudget {
    /// Log bytes this call may still emit.
    pub(crate) log_bytes_left: usize,
    /// Log messages dropped over the instance's life (budget exhausted).
    pub(crate) logs_dropped: u64,
}
