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
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use wasmtime::component::{HasSelf, Linker};

use crate::bindings;
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::host::HostContext;
use crate::plugin::Identity;
use crate::policy::Policy;
use crate::telemetry::PluginMetrics;

/// What a plugin's policy grants its host calls, resolved once per plugin.
#[derive(Debug)]
pub(crate) struct HostGrants {
    /// Name in log events: the policy's `name`, or the plugin's content hash.
    pub(crate) plugin: String,
    pub(crate) config: BTreeMap<String, String>,
    pub(crate) kv: Option<kv::Grant>,
    /// Its metric handles, labelled with `plugin` and its digest.
    pub(crate) metrics: PluginMetrics,
}

impl HostGrants {
    /// Nothing granted; logs and metrics name the plugin by its default
    /// name.
    pub(crate) fn deny_all(engine: &Engine, identity: &Identity) -> Self {
        Self {
            plugin: identity.default_name.clone(),
            config: BTreeMap::new(),
            kv: None,
            metrics: PluginMetrics::register(
                &identity.default_name,
                &identity.digest,
                engine.call_histograms(),
            ),
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
            Some(kv) => Some(kv::Grant::configure(engine, policy, kv, || {
                identity.private_namespace(&plugin)
            })?),
        };
        Ok(Self {
            metrics: PluginMetrics::register(&plugin, &identity.digest, engine.call_histograms()),
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

/// Per-instance accounting of what a call logs, refilled at every call and
/// shared by the `log` host function and stdio in `tracing` mode (which
/// writes from WASI's output streams, hence atomics behind an `Arc`).
#[derive(Debug)]
pub(crate) struct CallBudget {
    /// Log bytes this call may still emit.
    log_bytes_left: AtomicUsize,
    /// Log events dropped over the instance's life (budget exhausted).
    logs_dropped: AtomicU64,
    /// `plugbox_log_bytes_dropped_total` of the instance's plugin.
    bytes_dropped: metrics::Counter,
}

impl CallBudget {
    pub(crate) fn new(log_bytes: usize, bytes_dropped: metrics::Counter) -> Arc<Self> {
        Arc::new(Self {
            log_bytes_left: AtomicUsize::new(log_bytes),
            logs_dropped: AtomicU64::new(0),
            bytes_dropped,
        })
    }

    /// A new call may log `log_bytes`.
    pub(crate) fn refill(&self, log_bytes: usize) {
        self.log_bytes_left.store(log_bytes, Ordering::Relaxed);
    }

    /// Takes an event of `bytes` out of the budget, or counts it as dropped
    /// (`false`). Every event costs at least one byte, so that empty ones
    /// are bounded too. An event that does not fit empties the budget: the
    /// call's later events are dropped as well, so that what reaches the
    /// logs is a prefix of what the plugin said.
    pub(crate) fn charge(&self, bytes: usize) -> bool {
        let cost = bytes.max(1);
        // Never `Err`: the closure always gives a new value.
        let before = self
            .log_bytes_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                Some(left.saturating_sub(cost))
            })
            .unwrap_or(0);
        let charged = before >= cost;
        if !charged {
            self.logs_dropped.fetch_add(1, Ordering::Relaxed);
            self.bytes_dropped.increment(bytes as u64);
        }
        charged
    }

    /// Log events dropped so far.
    pub(crate) fn logs_dropped(&self) -> u64 {
        self.logs_dropped.load(Ordering::Relaxed)
    }
}
