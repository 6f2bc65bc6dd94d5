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
    /// Ticks left before the deadline (async calls).
    pub(crate) ticks_left: u64,
}

/// What one instance's `Store` holds: its limiter, the host-call grants of
/// its plugin, its per-call budget and, for plugins that import WASI, its
/// WASI context.
pub(crate) struct HostState {
    pub(crate) limiter: StoreLimiter,
    pub(crate) host: Arc<HostGrants>,
    pub(crate) budget: CallBudget,
    pub(crate) epoch: EpochBudget,
    #[cfg(feature = "wasi")]
    pub(crate) wasi: Option<Box<crate::wasi::WasiState>>,
}

impl HostState {
    pub(crate) fn new(limits: Limits, host: Arc<HostGrants>) -> Self {
        Self {
            budget: CallBudget {
                log_bytes_left: limits.log_bytes(),
                logs_dropped: 0,
            },
            epoch: EpochBudget::default(),
            limiter: StoreLimiter::new(limits),
            host,
            #[cfg(feature = "wasi")]
            wasi: None,
        }
    }

    /// Starts a call: fresh limiter record and log budget.
    pub(crate) fn start_call(&mut self) {
        self.limiter.reset();
        self.budget.log_bytes_left = self.limiter.limits().log_bytes();
    }
}
