//! Metrics (`plugbox::telemetry`) read back from an in-memory recorder after
//! known calls, on a lean plugin and on a WASI one; the per-call span.
//!
//! Each test installs metrics-util's `DebuggingRecorder` for its own thread
//! only (`metrics::with_local_recorder`), so tests running in parallel do
//! not see each other's plugins. Handles are registered when a plugin is
//! loaded, so the plugins are loaded inside it.

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use plugbox::{Allocator, Engine, ErrorKind, Limits, Plugin, Policy};
use std::time::Duration;

/// A metric's labels, as (key, value) pairs.
type Labels = Vec<(String, String)>;

/// What the recorder holds: (name, labels, value).
struct Seen(Vec<(String, Labels, DebugValue)>);

impl Seen {
    /// Runs `f` with a fresh recorder for this thread; what it recorded.
    fn recording(f: impl FnOnce()) -> Self {
        Self::recording_keeping(f).0
    }

    /// As [`recording`](Self::recording), and what `f` returns, which is
    /// still alive when the recorder is read (instances, say).
    fn recording_keeping<T>(f: impl FnOnce() -> T) -> (Self, T) {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let kept = metrics::with_local_recorder(&recorder, f);
        let seen = Self(
            snapshotter
                .snapshot()
                .into_vec()
                .into_iter()
                .map(|(key, _, _, value)| {
                    let key = key.key();
                    let labels = key
                        .labels()
                        .map(|label| (label.key().to_string(), label.value().to_string()))
                        .collect();
                    (key.name().to_string(), labels, value)
                })
                .collect(),
        );
        (seen, kept)
    }

    /// The values of metric `name` whose labels include `labels`.
    fn values(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&DebugValue> {
        self.0
            .iter()
            .filter(|(n, have, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| have.iter().any(|(hk, hv)| hk == k && hv == v))
            })
            .map(|(_, _, value)| value)
            .collect()
    }

    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.values(name, labels)
            .into_iter()
            .map(|value| match value {
                DebugValue::Counter(n) => *n,
                other => panic!("{name} is not a counter: {other:?}"),
            })
            .sum()
    }

    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.values(name, labels).as_slice() {
            [DebugValue::Gauge(value)] => value.0,
            other => panic!("{name} {labels:?}: not one gauge: {other:?}"),
        }
    }

    fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        match self.values(name, labels).as_slice() {
            [DebugValue::Histogram(values)] => values.iter().map(|v| v.0).collect(),
            other => panic!("{name} {labels:?}: not one histogram: {other:?}"),
        }
    }

    /// The `digest` label of plugin `plugin`'s call counter.
    fn digest_of(&self, plugin: &str) -> String {
        let (_, labels, _) = self
            .0
            .iter()
            .find(|(name, labels, _)| {
                name == plugbox::telemetry::CALLS_TOTAL
                    && labels.iter().any(|(k, v)| k == "plugin" && v == plugin)
            })
            .expect("the plugin's call counter is registered");
        labels
            .iter()
            .find(|(key, _)| key == "digest")
            .map(|(_, value)| value.clone())
            .expect("a digest label")
    }
}

fn named(engine: &Engine, plugin: &str, policy: &str) -> Plugin {
    let policy = Policy::from_toml_str(policy, "test policy").unwrap();
    crate::plugin(engine, plugin).with_policy(&policy).unwrap()
}

const CALLS: &str = plugbox::telemetry::CALLS_TOTAL;
const SECONDS: &str = plugbox::telemetry::CALL_SECONDS;
const FUEL: &str = plugbox::telemetry::FUEL_USED;
const INSTANTIATIONS: &str = plugbox::telemetry::INSTANTIATIONS_TOTAL;

#[test]
fn lean_calls_are_counted_by_outcome_with_their_time_and_fuel() {
    let engine = crate::engine();
    let mut fuels = Vec::new();
    let seen = Seen::recording(|| {
        let greeter = named(
            &engine,
            "hello",
            "name = \"greeter\"\n[limits]\nmax_input_bytes = 16\n",
        );
        let mut instance = greeter.instantiate().unwrap();
        for _ in 0..3 {
            fuels.push(instance.call(b"hi").unwrap().fuel_used.unwrap() as f64);
        }
        let error = instance.call(&[b'x'; 17]).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InputTooLarge);

        let spinner = named(&engine, "spin", "name = \"spinner\"\n")
            .with_limits(Limits::default().fuel(100_000));
        let mut spinning = spinner.instantiate().unwrap();
        assert_eq!(
            spinning.call(b"").unwrap_err().kind(),
            ErrorKind::FuelExhausted
        );
        assert_eq!(spinning.call(b"").unwrap_err().kind(), ErrorKind::Poisoned);
    });

    let greeter = [("plugin", "greeter")];
    assert_eq!(seen.counter(CALLS, &[greeter[0], ("outcome", "ok")]), 3);
    assert_eq!(
        seen.counter(CALLS, &[greeter[0], ("outcome", "input_too_large")]),
        1
    );
    assert_eq!(seen.counter(CALLS, &greeter), 4, "no other outcome counted");
    // Only calls that entered the plugin have a time and a fuel figure.
    let seconds = seen.histogram(SECONDS, &greeter);
    assert_eq!(seconds.len(), 3, "{seconds:?}");
    assert!(seconds.iter().all(|&s| s > 0.0 && s < 1.0), "{seconds:?}");
    assert_eq!(seen.histogram(FUEL, &greeter), fuels);
    assert_eq!(
        seen.counter(INSTANTIATIONS, &[greeter[0], ("outcome", "ok")]),
        1
    );

    let spinner = [("plugin", "spinner")];
    assert_eq!(
        seen.counter(CALLS, &[spinner[0], ("outcome", "fuel_exhausted")]),
        1
    );
    assert_eq!(
        seen.counter(CALLS, &[spinner[0], ("outcome", "poisoned")]),
        1
    );
    assert_eq!(seen.counter(CALLS, &[spinner[0], ("outcome", "ok")]), 0);
    assert_eq!(seen.histogram(SECONDS, &spinner).len(), 1);
    assert_eq!(seen.histogram(FUEL, &spinner), [100_000.0]);

    // The digest names the component's bytes.
    let (greeter, spinner) = (seen.digest_of("greeter"), seen.digest_of("spinner"));
    assert!(
        greeter.starts_with("blake3:") && greeter.len() == 7 + 64,
        "{greeter}"
    );
    assert_ne!(greeter, spinner);
}

#[test]
fn wasi_calls_sync_and_async_are_counted_and_a_deadline_stop_is_timed() {
    let engine = crate::engine();
    let seen = Seen::recording(|| {
        let probe = named(&engine, "wasi-probe", "name = \"prober\"\n")
            .with_limits(Limits::default().deadline(Duration::from_millis(50)));
        assert!(probe.imports_wasi());
        let mut instance = probe.instantiate().unwrap();
        instance.call(b"monotonic").unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(instance.call_async(b"monotonic")).unwrap();
        // Stopped by the watchdog while it waits in a WASI host call.
        let error = instance.call(b"sleep 2000").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::DeadlineExceeded);
    });
    let prober = ("plugin", "prober");
    assert_eq!(seen.counter(CALLS, &[prober, ("outcome", "ok")]), 2);
    assert_eq!(
        seen.counter(CALLS, &[prober, ("outcome", "deadline_exceeded")]),
        1
    );
    let seconds = seen.histogram(SECONDS, &[prober]);
    assert_eq!(seconds.len(), 3, "{seconds:?}");
    assert!(
        seconds.iter().any(|&s| (0.05..2.0).contains(&s)),
        "the stopped call ran about its deadline: {seconds:?}"
    );
    assert_eq!(seen.histogram(FUEL, &[prober]).len(), 3);
}

#[test]
fn live_instances_pool_slots_and_a_full_pool_are_reported() {
    let engine = Engine::builder()
        .allocator(Allocator::Pooling { capacity: 2 })
        .build()
        .unwrap();
    let (seen, _second) = Seen::recording_keeping(|| {
        let plugin = named(&engine, "hello", "name = \"pooled\"\n");
        let first = plugin.instantiate().unwrap();
        let second = plugin.instantiate().unwrap();
        let error = plugin.instantiate().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::PoolExhausted);
        drop(first);
        second
    });
    let pooled = ("plugin", "pooled");
    assert_eq!(
        seen.gauge(plugbox::telemetry::INSTANCES_LIVE, &[pooled]),
        1.0
    );
    assert_eq!(seen.gauge(plugbox::telemetry::POOL_SLOTS_IN_USE, &[]), 1.0);
    assert_eq!(
        seen.counter(plugbox::telemetry::POOL_EXHAUSTED_TOTAL, &[pooled]),
        1
    );
    assert_eq!(
        seen.counter(INSTANTIATIONS, &[pooled, ("outcome", "ok")]),
        2
    );
    assert_eq!(
        seen.counter(INSTANTIATIONS, &[pooled, ("outcome", "pool_exhausted")]),
        1
    );
}

#[test]
fn on_demand_instances_hold_no_pool_slot() {
    let engine = Engine::builder()
        .allocator(Allocator::OnDemand)
        .build()
        .unwrap();
    let (seen, _live) = Seen::recording_keeping(|| {
        let plugin = named(&engine, "hello-std", "name = \"on-demand\"\n");
        plugin.instantiate().unwrap()
    });
    assert_eq!(
        seen.gauge(
            plugbox::telemetry::INSTANCES_LIVE,
            &[("plugin", "on-demand")]
        ),
        1.0
    );
    assert_eq!(seen.gauge(plugbox::telemetry::POOL_SLOTS_IN_USE, &[]), 0.0);
}

#[test]
fn kv_operations_are_counted_by_result_and_dropped_log_bytes_by_size() {
    let engine = crate::engine();
    let mut dropped_events = 0;
    let seen = Seen::recording(|| {
        let mut kv = named(
            &engine,
            "host-probe",
            "name = \"kv-user\"\n[kv]\nmax_keys = 1\nmax_key_bytes = 8\n",
        )
        .instantiate()
        .unwrap();
        let mut ask =
            |command: &str| String::from_utf8(kv.call(command.as_bytes()).unwrap().output).unwrap();
        assert_eq!(ask("set a 1"), "ok");
        assert_eq!(ask("set b 2"), "error: Error::QuotaExceeded");
        assert_eq!(ask("get a"), "1");
        assert!(ask("get much-too-long").starts_with("error: Error::Invalid"));
        assert_eq!(ask("delete a"), "true");

        let mut denied = named(
            &engine,
            "host-probe",
            "name = \"no-kv\"\n[limits]\nmax_log_bytes = 4096\n",
        )
        .instantiate()
        .unwrap();
        assert_eq!(
            denied.call(b"get a").unwrap().output,
            b"error: Error::Denied"
        );
        // Ten 1 KiB messages against 4 KiB: four logged, six dropped.
        denied.call(b"spam 10").unwrap();
        dropped_events = denied.logs_dropped();
    });
    let op = |plugin, op, result| {
        seen.counter(
            plugbox::telemetry::KV_OPS_TOTAL,
            &[("plugin", plugin), ("op", op), ("result", result)],
        )
    };
    assert_eq!(op("kv-user", "set", "ok"), 1);
    assert_eq!(op("kv-user", "set", "quota_exceeded"), 1);
    assert_eq!(op("kv-user", "get", "ok"), 1);
    assert_eq!(op("kv-user", "get", "invalid"), 1);
    assert_eq!(op("kv-user", "delete", "ok"), 1);
    assert_eq!(op("kv-user", "increment", "ok"), 0);
    assert_eq!(op("no-kv", "get", "denied"), 1);
    assert_eq!(dropped_events, 6);
    assert_eq!(
        seen.counter(
            plugbox::telemetry::LOG_BYTES_DROPPED_TOTAL,
            &[("plugin", "no-kv")]
        ),
        6 * 1024
    );
    assert_eq!(
        seen.counter(
            plugbox::telemetry::LOG_BYTES_DROPPED_TOTAL,
            &[("plugin", "kv-user")]
        ),
        0
    );
}

#[test]
fn each_call_has_a_span_with_plugin_instance_and_outcome_around_its_logs() {
    let engine = crate::engine();
    let (events, spans) = crate::traced::record_spans(|| {
        let mut instance = named(&engine, "host-probe", "name = \"spanned\"\n")
            .instantiate()
            .unwrap();
        instance.call(b"log info inside the call").unwrap();
        let error = instance.call(b"no-such-command").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Guest);
    });
    let calls: Vec<_> = spans
        .iter()
        .filter(|span| span.target == "plugbox::call" && span.name == "call")
        .collect();
    assert_eq!(calls.len(), 2, "{spans:?}");
    for span in &calls {
        assert_eq!(span.field("plugin"), Some("spanned"), "{span:?}");
    }
    assert_eq!(calls[0].field("outcome"), Some("ok"));
    assert_eq!(calls[1].field("outcome"), Some("guest"));
    let instance = calls[0].field("instance").expect("an instance field");
    assert!(instance.parse::<u64>().is_ok(), "{instance}");
    assert_eq!(calls[1].field("instance"), Some(instance));
    let logged = events
        .iter()
        .find(|event| event.field("message") == Some("inside the call"))
        .expect("the plugin's log event");
    assert_eq!(
        logged.span,
        Some(calls[0].id),
        "the log is inside the call's span"
    );
}

#[test]
fn an_engine_without_call_histograms_still_counts_calls() {
    let engine = Engine::builder()
        .allocator(Allocator::Pooling { capacity: 4 })
        .call_histograms(false)
        .build()
        .unwrap();
    assert!(!engine.call_histograms() && crate::engine().call_histograms());
    let seen = Seen::recording(|| {
        let mut instance = named(&engine, "hello", "name = \"lean-metrics\"\n")
            .instantiate()
            .unwrap();
        instance.call(b"hi").unwrap();
    });
    let lean = ("plugin", "lean-metrics");
    assert_eq!(seen.counter(CALLS, &[lean, ("outcome", "ok")]), 1);
    assert!(seen.values(SECONDS, &[lean]).is_empty());
    assert!(seen.values(FUEL, &[lean]).is_empty());
}
