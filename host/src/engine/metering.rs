//! [`Metering`]: which per-call meters an engine compiles into plugins'
//! code, and refusing limits that ask for a meter the engine lacks.

use crate::error::{Error, ErrorKind, Result};
use crate::limits::Limits;

/// Which per-call meters an engine compiles into every plugin's code
/// ([`EngineBuilder::metering`](crate::EngineBuilder::metering)).
///
/// Each meter costs compute on every call (measured on `fib(32)` by the
/// density harness's compute comparison; docs/engine-profiles.md has the
/// figures): fuel adds a counter update per basic block and a check at
/// every function entry and loop header, the deadline a load and compare of
/// the epoch at the same places. An embedder that bills by instruction
/// needs fuel; one that bounds latency needs the deadline.
///
/// A [`Limits`] that *sets* a limit the engine does not meter (with
/// [`Limits::fuel`] or [`Limits::deadline`], or `fuel`/`deadline_ms` in a
/// policy) is refused with [`ErrorKind::Config`] where it is applied, never
/// silently ignored; the default limits work on every engine (an unmetered
/// default is simply not enforced).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Metering {
    /// Fuel and the wall-clock deadline, both per call. The default.
    ///
    /// Calls stop at [`ErrorKind::FuelExhausted`] or
    /// [`ErrorKind::DeadlineExceeded`], whichever comes first;
    /// [`Canceller::cancel`](crate::Canceller::cancel) stops any call at the
    /// next epoch tick; async calls yield at every tick.
    #[default]
    FuelAndDeadline,
    /// The wall-clock deadline only: no fuel is counted
    /// ([`Response::fuel_used`](crate::Response::fuel_used) is `None`), and
    /// an explicit [`Limits::fuel`] is refused.
    ///
    /// Cancellation and async yields work as with
    /// [`FuelAndDeadline`](Self::FuelAndDeadline).
    DeadlineOnly,
    /// Fuel only: no epoch checks in the compiled code and no ticker
    /// thread, and an explicit [`Limits::deadline`] is refused. A call's
    /// compute is bounded by its fuel, its wall-clock time by nothing: time
    /// spent waiting in host calls (a WASI sleep, a slow
    /// [`KvStore`](crate::KvStore)) costs no fuel.
    ///
    /// Without epochs, [`Canceller::cancel`](crate::Canceller::cancel) and
    /// async yields work only for calls on a fiber (every call of a WASI
    /// plugin, and [`Instance::call_async`](crate::Instance::call_async)):
    /// such a call yields every [`FUEL_YIELD_INTERVAL`](Self::FUEL_YIELD_INTERVAL)
    /// units of fuel, and at a yield, or while it waits in a WASI host call,
    /// a cancel stops it with [`ErrorKind::Cancelled`]. A synchronous
    /// [`Instance::call`](crate::Instance::call) of a plugin without WASI
    /// runs on the caller's stack, where nothing can interrupt it: it runs
    /// until it returns or its fuel runs out, cancel or not.
    FuelOnly,
}

impl Metering {
    /// Fuel between two yields of a call on a fiber under
    /// [`FuelOnly`](Self::FuelOnly), where no epoch tick makes it yield:
    /// about 0.17 ms of `fib` on the machine of docs/engine-profiles.md (92
    /// yields in a 15 ms `fib(32)` call, which took within 2 % of the same
    /// call on the caller's stack without yields).
    pub const FUEL_YIELD_INTERVAL: u64 = 1_000_000;

    /// Whether the engine counts fuel.
    pub fn meters_fuel(self) -> bool {
        matches!(self, Self::FuelAndDeadline | Self::FuelOnly)
    }

    /// Whether the engine enforces the wall-clock deadline (epoch
    /// interruption and its ticker thread).
    pub fn meters_deadline(self) -> bool {
        matches!(self, Self::FuelAndDeadline | Self::DeadlineOnly)
    }

    /// The setting's name in messages: `Metering::DeadlineOnly`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::FuelAndDeadline => "Metering::FuelAndDeadline",
            Self::DeadlineOnly => "Metering::DeadlineOnly",
            Self::FuelOnly => "Metering::FuelOnly",
        }
    }

    /// Refuses `limits` when they set a limit this engine does not meter.
    /// `named` turns a limit's policy field (`fuel`, `deadline_ms`) into the
    /// start of the message (`Limits::fuel: `, or `policy.toml:3:
    /// limits.fuel: ` for a policy's).
    pub(crate) fn check(self, limits: &Limits, named: impl Fn(&str) -> String) -> Result<()> {
        if let (Some(fuel), false) = (limits.fuel_setting(), self.meters_fuel()) {
            return Err(self.refusal(
                &named("fuel"),
                &format!("a fuel limit of {fuel} per call"),
                "fuel",
                "Metering::FuelAndDeadline or Metering::FuelOnly",
            ));
        }
        if let (Some(deadline), false) = (limits.deadline_setting(), self.meters_deadline()) {
            return Err(self.refusal(
                &named("deadline_ms"),
                &format!("a deadline of {deadline:?} per call"),
                "the deadline",
                "Metering::FuelAndDeadline or Metering::DeadlineOnly",
            ));
        }
        Ok(())
    }

    fn refusal(self, limit: &str, asked: &str, meter: &str, instead: &str) -> Error {
        Error::new(
            ErrorKind::Config,
            format!(
                "{limit}{asked} is set, but this engine does not meter {meter}: it was built \
                 with EngineBuilder::metering({}). Build the engine with {instead}, or leave \
                 the limit unset",
                self.name()
            ),
        )
    }
}
