//! The per-instance state every store carries.

use crate::limits::{Limits, StoreLimiter};

/// What one instance's `Store` holds: its limiter and, for plugins that
/// import WASI, its WASI context (created on first use, deny-by-default).
pub(crate) struct HostState {
    pub(crate) limiter: StoreLimiter,
    #[cfg(feature = "wasi")]
    pub(crate) wasi: Option<Box<crate::wasi::WasiState>>,
}

impl HostState {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            limiter: StoreLimiter::new(limits),
            #[cfg(feature = "wasi")]
            wasi: None,
        }
    }
}
