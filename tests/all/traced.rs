//! A minimal `tracing` subscriber that records events, to check what plugins
//! log through the host.
//!
//! It is installed once, as the global default, and records into the
//! current thread's buffer while [`record`] runs there. (A per-test
//! `with_default` subscriber races with other tests' subscribers over
//! tracing's process-wide per-callsite interest cache, and loses events.)

use std::cell::RefCell;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// One recorded event: target, level and `field=value` pairs (the message
/// under `message`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub target: String,
    pub level: Level,
    pub fields: Vec<(String, String)>,
}

impl Recorded {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

thread_local! {
    /// Events of the `record` call running on this thread, if any.
    static RECORDING: RefCell<Option<Vec<Recorded>>> = const { RefCell::new(None) };
}

struct Recorder;

struct Fields<'a>(&'a mut Vec<(String, String)>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_string(), value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .push((field.name().to_string(), format!("{value:?}")));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        RECORDING.with(|recording| {
            if let Some(events) = recording.borrow_mut().as_mut() {
                let mut fields = Vec::new();
                event.record(&mut Fields(&mut fields));
                events.push(Recorded {
                    target: event.metadata().target().to_string(),
                    level: *event.metadata().level(),
                    fields,
                });
            }
        });
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// Runs `f`, recording the events emitted on this thread; returns those
/// whose target starts with `plugbox::`.
pub fn record(f: impl FnOnce()) -> Vec<Recorded> {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        tracing::subscriber::set_global_default(Recorder).expect("no other global subscriber");
    });
    RECORDING.with(|recording| *recording.borrow_mut() = Some(Vec::new()));
    f();
    let events = RECORDING.with(|recording| recording.borrow_mut().take().unwrap_or_default());
    events
        .into_iter()
        .filter(|event| event.target.starts_with("plugbox::"))
        .collect()
}
