//! The per-instance state every store carries.

use std::sync::Arc;

use crate::hostfns::{CallBudget, HostGrants};
use crate::limits::{Limits, StoreLimiter};

/// How the current call spends its epoch ticks.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct EpochBudget {
    /// Async calls yield to the executor at every tick; sync calls run until
    /// their deadline.
    pub(crate) yield_every_tick: bool,
    /// When the running call's deadline passes, by the wall clock (`None`:
    /// a deadline too far away to represent). Checked at every tick, so the
    /// deadline holds on a loaded machine whose ticker thread runs late: a
    /// count of ticks would stretch with it.
    pub(crate) ends_at: Option<std::time::Instant>,
    /// The call stopped because its [`Canceller`](crate::Canceller) asked.
    pub(crate) cancelled: bool,
}

/// The data of every plugbox `Store`: the instance's limiter, the host-call
/// grants of its plugin, its per-call budgets and, for plugins that import
/// WASI, its WASI context.
///
/// Opaque to embedders, who meet it as the `T` of `Store<T>` and
/// `Linker<T>` when they bring their own WIT world ([`CustomWorld`]): they
/// implement their `bindgen!`-generated host traits for it, or link closures
/// that carry their own state.
///
/// [`CustomWorld`]: crate::CustomWorld
pub struct HostContext {
    pub(crate) limiter: StoreLimiter,
    pub(crate) host: Arc<HostGrants>,
    pub(crate) budget: Arc<CallBudget>,
    pub(crate) epoch: EpochBudget,
    pub(crate) canceller: crate::Canceller,
    #[cfg(feature = "wasi")]
    pub(crate) wasi: Option<Box<crate::wasi::WasiState>>,
    /// The profile being recorded ([`Instance::start_profiling`]).
    ///
    /// [`Instance::start_profiling`]: crate::Instance::start_profiling
    #[cfg(feature = "profiling")]
    pub(crate) profile: Option<Box<crate::profile::Recording>>,
}

impl std::fmt::Debug for HostContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostContext")
            .field("limits", self.limiter.limits())
            .field("plugin", &self.host.plugin)
            .finish_non_exhaustive()
    }
}

impl HostContext {
    pub(crate) fn new(limits: Limits, host: Arc<HostGrants>) -> Self {
        Self {
            budget: CallBudget::new(limits.log_bytes(), host.metrics.log_bytes_dropped.clone()),
            epoch: EpochBudget::default(),
            canceller: crate::Canceller::default(),
            limiter: StoreLimiter::new(limits),
            host,
            #[cfg(feature = "wasi")]
            wasi: None,
            #[cfg(feature = "profiling")]
            profile: None,
        }
    }

    /// Starts a call: fresh limiter record and log budget.
    pub(crate) fn start_call(&mut self) {
        self.limiter.reset();
        self.budget.refill(self.limiter.limits().log_bytes());
    }
}

/// What a plugin's policy grants its instances, resolved once: limits,
/// host-function grants and WASI capabilities. Shared by [`Plugin`] and
/// [`CustomPlugin`](crate::CustomPlugin).
///
/// [`Plugin`]: crate::Plugin
#[derive(Debug, Clone)]
pub(crate) struct Authority {
    pub(crate) limits: Limits,
    pub(crate) host: Arc<HostGrants>,
    #[cfg(feature = "wasi")]
    pub(crate) wasi: Arc<crate::wasi::Grants>,
}

impl Authority {
    /// Default limits, nothing granted.
    pub(crate) fn deny_all(engine: &crate::Engine, identity: &crate::plugin::Identity) -> Self {
        Self {
            limits: Limits::default(),
            host: Arc::new(HostGrants::deny_all(engine, identity)),
            #[cfg(feature = "wasi")]
            wasi: Arc::new(crate::wasi::Grants::deny_all()),
        }
    }

    /// Validates and resolves `policy`.
    pub(crate) fn from_policy(
        engine: &crate::Engine,
        policy: &crate::Policy,
        identity: &crate::plugin::Identity,
    ) -> crate::Result<Self> {
        let limits = policy.limits();
        engine.metering().check(&limits, |field| {
            policy.origin.locate(&format!("limits.{field}"))
        })?;
        Ok(Self {
            limits,
            host: Arc::new(HostGrants::configure(engine, policy, identity)?),
            #[cfg(feature = "wasi")]
            wasi: Arc::new(crate::wasi::Grants::configure(policy)?),
        })
    }

    /// A fresh store context for one instance.
    pub(crate) fn context(&self, imports_wasi: bool) -> crate::Result<HostContext> {
        #[cfg_attr(not(feature = "wasi"), allow(unused_mut))]
        let mut context = HostContext::new(self.limits, Arc::clone(&self.host));
        #[cfg(feature = "wasi")]
        if imports_wasi {
            context.wasi = Some(Box::new(
                self.wasi.build(&self.host.plugin, &context.budget)?,
            ));
        }
        let _ = imports_wasi;
        Ok(context)
    }
}
