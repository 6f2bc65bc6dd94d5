//! What plugins cost and do, as metrics and `tracing` spans.
//!
//! plugbox reports through the [`metrics`](https://docs.rs/metrics) facade:
//! install any recorder (Prometheus, StatsD, OpenTelemetry, ...) before
//! loading plugins and it receives the metrics below. Without one, each
//! recording is a branch on a handle that records nothing: handles are
//! registered once per [`Plugin::new`](crate::Plugin::new) (and
//! `with_policy`), so a recorder installed after a plugin was loaded does
//! not see that plugin.
//!
//! The two histograms cost most (about 170 ns a call together with the
//! Prometheus recorder); [`EngineBuilder::call_histograms`] turns them off.
//!
//! [`EngineBuilder::call_histograms`]: crate::EngineBuilder::call_histograms
//!
//! Every per-plugin metric has the labels `plugin` (the policy's `name`, or
//! `plugin-<hash>`) and `digest` (`blake3:<hex>` of the component's bytes).
//!
//! | metric | kind | labels | what |
//! |---|---|---|---|
//! | `plugbox_calls_total` | counter | `outcome` | calls, by `ok` or the [`ErrorKind::label`] of their error |
//! | `plugbox_call_seconds` | histogram | | wall time of calls that entered the plugin, whatever their outcome |
//! | `plugbox_fuel_used` | histogram | | fuel of calls that entered the plugin, on engines that meter fuel |
//! | `plugbox_instantiations_total` | counter | `outcome` | instantiations, by `ok` or their error's label |
//! | `plugbox_instances_live` | gauge | | instances alive now |
//! | `plugbox_pool_exhausted_total` | counter | | instantiations refused because the pool was full |
//! | `plugbox_kv_ops_total` | counter | `op`, `result` | key-value operations (`get`, `set`, `delete`, `increment`) by result (`ok`, `denied`, `invalid`, `quota_exceeded`, `unavailable`) |
//! | `plugbox_log_bytes_dropped_total` | counter | | bytes of log events dropped over [`Limits::max_log_bytes`](crate::Limits::max_log_bytes) |
//! | `plugbox_pool_slots_in_use` | gauge | none | instance slots of pooling engines held by live instances, all plugins together |
//!
//! Each call also runs in a `tracing` span (target `plugbox::call`, level
//! debug, name `call`) with the fields `plugin`, `instance` (a number unique
//! in the process) and `outcome`; the plugin's own log events are inside it.

use std::sync::atomic::{AtomicU64, Ordering};

use metrics::{Counter, Gauge, Histogram, Label};

use crate::error::ErrorKind;

/// `plugbox_calls_total`.
pub const CALLS_TOTAL: &str = "plugbox_calls_total";
/// `plugbox_call_seconds`.
pub const CALL_SECONDS: &str = "plugbox_call_seconds";
/// `plugbox_fuel_used`.
pub const FUEL_USED: &str = "plugbox_fuel_used";
/// `plugbox_instantiations_total`.
pub const INSTANTIATIONS_TOTAL: &str = "plugbox_instantiations_total";
/// `plugbox_instances_live`.
pub const INSTANCES_LIVE: &str = "plugbox_instances_live";
/// `plugbox_pool_exhausted_total`.
pub const POOL_EXHAUSTED_TOTAL: &str = "plugbox_pool_exhausted_total";
/// `plugbox_kv_ops_total`.
pub const KV_OPS_TOTAL: &str = "plugbox_kv_ops_total";
/// `plugbox_log_bytes_dropped_total`.
pub const LOG_BYTES_DROPPED_TOTAL: &str = "plugbox_log_bytes_dropped_total";
/// `plugbox_pool_slots_in_use`.
pub const POOL_SLOTS_IN_USE: &str = "plugbox_pool_slots_in_use";

/// Gives the installed recorder each metric's unit and help text (the
/// `# HELP` lines of a Prometheus scrape). Optional; call it once after
/// installing the recorder.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        CALLS_TOTAL,
        "Plugin calls, by outcome (ok or the error kind)."
    );
    describe_histogram!(
        CALL_SECONDS,
        Unit::Seconds,
        "Wall time of plugin calls that entered the plugin."
    );
    describe_histogram!(
        FUEL_USED,
        "Fuel used by plugin calls (about one unit per wasm instruction)."
    );
    describe_counter!(
        INSTANTIATIONS_TOTAL,
        "Plugin instantiations, by outcome (ok or the error kind)."
    );
    describe_gauge!(INSTANCES_LIVE, "Plugin instances alive now.");
    describe_counter!(
        POOL_EXHAUSTED_TOTAL,
        "Instantiations refused because every pool slot was in use."
    );
    describe_counter!(
        KV_OPS_TOTAL,
        "Key-value operations of plugins, by operation and result."
    );
    describe_counter!(
        LOG_BYTES_DROPPED_TOTAL,
        Unit::Bytes,
        "Bytes of plugin log events dropped over the per-call log budget."
    );
    describe_gauge!(
        POOL_SLOTS_IN_USE,
        "Instance slots of pooling engines held by live instances."
    );
}

/// A key-value operation, as `plugbox_kv_ops_total` labels it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KvOp {
    Get,
    Set,
    Delete,
    Increment,
}

impl KvOp {
    const ALL: [Self; 4] = [Self::Get, Self::Set, Self::Delete, Self::Increment];

    fn label(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Set => "set",
            Self::Delete => "delete",
            Self::Increment => "increment",
        }
    }
}

/// The result of a key-value operation, as `plugbox_kv_ops_total` labels it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KvResult {
    Ok,
    Denied,
    Invalid,
    QuotaExceeded,
    Unavailable,
}

impl KvResult {
    const ALL: [Self; 5] = [
        Self::Ok,
        Self::Denied,
        Self::Invalid,
        Self::QuotaExceeded,
        Self::Unavailable,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Denied => "denied",
            Self::Invalid => "invalid",
            Self::QuotaExceeded => "quota_exceeded",
            Self::Unavailable => "unavailable",
        }
    }
}

/// One counter per outcome: `ok`, then each [`ErrorKind`] in declaration
/// order.
struct ByOutcome(Box<[Counter]>);

impl ByOutcome {
    fn register(name: &'static str, labels: &[Label]) -> Self {
        let outcomes = std::iter::once("ok").chain(ErrorKind::ALL.iter().map(|kind| kind.label()));
        Self(
            outcomes
                .map(|outcome| {
                    let mut labels = labels.to_vec();
                    labels.push(Label::new("outcome", outcome));
                    metrics::counter!(name, labels)
                })
                .collect(),
        )
    }

    fn count(&self, outcome: Option<ErrorKind>) {
        let index = outcome.map_or(0, |kind| 1 + kind as usize);
        if let Some(counter) = self.0.get(index) {
            counter.increment(1);
        }
    }
}

/// The metric handles of one plugin (name and digest), registered once.
pub(crate) struct PluginMetrics {
    /// The plugin's name, escaped for the call span.
    span_name: String,
    calls: ByOutcome,
    instantiations: ByOutcome,
    call_seconds: Histogram,
    fuel_used: Histogram,
    instances_live: Gauge,
    pool_exhausted: Counter,
    pool_slots_in_use: Gauge,
    kv_ops: Box<[Counter]>,
    pub(crate) log_bytes_dropped: Counter,
}

impl std::fmt::Debug for PluginMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginMetrics")
            .field("plugin", &self.span_name)
            .finish_non_exhaustive()
    }
}

impl PluginMetrics {
    /// Registers the handles of plugin `name` with `digest` with the
    /// recorder installed now (for this thread, or globally).
    /// Without `histograms` ([`EngineBuilder::call_histograms`]), the two
    /// histogram handles record nothing.
    ///
    /// [`EngineBuilder::call_histograms`]: crate::EngineBuilder::call_histograms
    pub(crate) fn register(name: &str, digest: &str, histograms: bool) -> Self {
        let labels = [
            Label::new("plugin", name.to_owned()),
            Label::new("digest", digest.to_owned()),
        ];
        let plain = labels.to_vec();
        let kv_ops = KvOp::ALL
            .iter()
            .flat_map(|op| KvResult::ALL.iter().map(move |result| (op, result)))
            .map(|(op, result)| {
                let mut labels = labels.to_vec();
                labels.push(Label::new("op", op.label()));
                labels.push(Label::new("result", result.label()));
                metrics::counter!(KV_OPS_TOTAL, labels)
            })
            .collect();
        Self {
            span_name: crate::safe_text::escape(name).to_string(),
            calls: ByOutcome::register(CALLS_TOTAL, &labels),
            instantiations: ByOutcome::register(INSTANTIATIONS_TOTAL, &labels),
            call_seconds: if histograms {
                metrics::histogram!(CALL_SECONDS, plain.clone())
            } else {
                Histogram::noop()
            },
            fuel_used: if histograms {
                metrics::histogram!(FUEL_USED, plain.clone())
            } else {
                Histogram::noop()
            },
            instances_live: metrics::gauge!(INSTANCES_LIVE, plain.clone()),
            pool_exhausted: metrics::counter!(POOL_EXHAUSTED_TOTAL, plain.clone()),
            pool_slots_in_use: metrics::gauge!(POOL_SLOTS_IN_USE),
            kv_ops,
            log_bytes_dropped: metrics::counter!(LOG_BYTES_DROPPED_TOTAL, plain),
        }
    }

    /// A call's span: debug level, so that it costs a check of the level
    /// until a subscriber asks for it.
    pub(crate) fn call_span(&self, instance: u64) -> tracing::Span {
        tracing::debug_span!(
            target: "plugbox::call",
            "call",
            plugin = %self.span_name,
            instance,
            outcome = tracing::field::Empty,
        )
    }

    /// Counts a call that ended with `outcome` (`None`: it succeeded) and
    /// records it on its span.
    pub(crate) fn call_ended(&self, span: &tracing::Span, outcome: Option<ErrorKind>) {
        self.calls.count(outcome);
        if !span.is_disabled() {
            span.record("outcome", outcome.map_or("ok", ErrorKind::label));
        }
    }

    /// Records the wall time and fuel of a call that entered the plugin.
    pub(crate) fn call_cost(&self, elapsed: std::time::Duration, fuel: Option<u64>) {
        self.call_seconds.record(elapsed);
        if let Some(fuel) = fuel {
            self.fuel_used.record(fuel as f64);
        }
    }

    /// Counts an instantiation that ended with `outcome`.
    pub(crate) fn instantiated(&self, outcome: Option<ErrorKind>) {
        self.instantiations.count(outcome);
        if outcome == Some(ErrorKind::PoolExhausted) {
            self.pool_exhausted.increment(1);
        }
    }

    /// An instance came to life (`pooled`: in a slot of a pooling engine).
    pub(crate) fn instance_born(&self, pooled: bool) {
        self.instances_live.increment(1.0);
        if pooled {
            self.pool_slots_in_use.increment(1.0);
        }
    }

    /// An instance counted by [`instance_born`](Self::instance_born) ended.
    pub(crate) fn instance_died(&self, pooled: bool) {
        self.instances_live.decrement(1.0);
        if pooled {
            self.pool_slots_in_use.decrement(1.0);
        }
    }

    /// Counts a key-value operation.
    pub(crate) fn kv_op(&self, op: KvOp, result: KvResult) {
        let index = op as usize * KvResult::ALL.len() + result as usize;
        if let Some(counter) = self.kv_ops.get(index) {
            counter.increment(1);
        }
    }
}

/// A number for each instance, unique in the process, for call spans.
pub(crate) fn next_instance_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
