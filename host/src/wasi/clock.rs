//! Time: the host's clocks, or a fixed instant for replayable calls.

use std::time::Duration;

use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtxBuilder};

use crate::error::Result;
use crate::policy::{ClockMode, Policy};

#[derive(Debug)]
pub(super) struct Grant {
    fixed_at: Option<Duration>,
}

impl Grant {
    pub(super) fn configure(policy: &Policy) -> Result<Self> {
        Ok(Self {
            fixed_at: match policy.clock.mode {
                ClockMode::Real => None,
                ClockMode::Fixed => Some(Duration::from_secs(policy.clock.unix_seconds)),
            },
        })
    }

    pub(super) fn grant(&self, builder: &mut WasiCtxBuilder) {
        if let Some(at) = self.fixed_at {
            builder
                .wall_clock(FixedClock(at))
                .monotonic_clock(FixedClock(at));
        }
    }
}

/// A clock that always reads the same instant.
struct FixedClock(Duration);

impl HostWallClock for FixedClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        self.0
    }
}

impl HostMonotonicClock for FixedClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        u64::try_from(self.0.as_nanos()).unwrap_or(u64::MAX)
    }
}
