//! What the engine's plugins report to the installed metrics recorder
//! ([`crate::telemetry`]).

use super::{Engine, EngineBuilder};

impl EngineBuilder {
    /// Whether calls record the `plugbox_call_seconds` and
    /// `plugbox_fuel_used` histograms (the counters and gauges of
    /// [`crate::telemetry`] are always recorded). Default: on.
    ///
    /// A histogram sample is the dearest thing a call records: with
    /// `metrics-exporter-prometheus`'s recorder the two cost about 170 ns
    /// together (a warm call of `hello` went from 0.60 µs to 0.77 µs in the
    /// `warm-call` bench), against a few nanoseconds for the counters. An
    /// embedder whose calls take a microsecond can turn them off and keep
    /// the call counts; one whose calls take milliseconds will not see them.
    /// Takes effect for plugins loaded afterwards (handles are registered
    /// at load). Without a recorder installed, neither setting costs
    /// anything measurable.
    pub fn call_histograms(mut self, enable: bool) -> Self {
        self.call_histograms = enable;
        self
    }
}

impl Engine {
    /// Whether calls record the time and fuel histograms
    /// ([`EngineBuilder::call_histograms`]).
    pub fn call_histograms(&self) -> bool {
        self.inner.settings.call_histograms
    }
}
