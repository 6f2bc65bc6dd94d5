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
    /// The span this thread was in when the event was emitted.
    pub span: Option<u64>,
}

/// One recorded span: its id, target, name and fields (those given when it
/// was created and those recorded later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedSpan {
    pub id: u64,
    pub target: String,
    pub name: String,
    pub fields: Vec<(String, String)>,
}

impl RecordedSpan {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// What one `record` call on a thread has seen so far.
#[derive(Default)]
struct Recording {
    events: Vec<Recorded>,
    spans: Vec<RecordedSpan>,
    /// The spans entered and not exited, innermost last.
    entered: Vec<u64>,
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
    static RECORDING: RefCell<Option<Recording>> = const { RefCell::new(None) };
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

/// Span ids, unique in the test process.
static NEXT_SPAN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        let id = NEXT_SPAN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        RECORDING.with(|recording| {
            if let Some(recording) = recording.borrow_mut().as_mut() {
                let mut fields = Vec::new();
                attributes.record(&mut Fields(&mut fields));
                recording.spans.push(RecordedSpan {
                    id,
                    target: attributes.metadata().target().to_string(),
                    name: attributes.metadata().name().to_string(),
                    fields,
                });
            }
        });
        Id::from_u64(id)
    }

    fn record(&self, id: &Id, values: &Record<'_>) {
        RECORDING.with(|recording| {
            if let Some(recording) = recording.borrow_mut().as_mut()
                && let Some(span) = recording.spans.iter_mut().find(|s| s.id == id.into_u64())
            {
                values.record(&mut Fields(&mut span.fields));
            }
        });
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        RECORDING.with(|recording| {
            if let Some(recording) = recording.borrow_mut().as_mut() {
                let mut fields = Vec::new();
                event.record(&mut Fields(&mut fields));
                let span = recording.entered.last().copied();
                recording.events.push(Recorded {
                    target: event.metadata().target().to_string(),
                    level: *event.metadata().level(),
                    fields,
                    span,
                });
            }
        });
    }

    fn enter(&self, id: &Id) {
        RECORDING.with(|recording| {
            if let Some(recording) = recording.borrow_mut().as_mut() {
                recording.entered.push(id.into_u64());
            }
        });
    }

    fn exit(&self, id: &Id) {
        RECORDING.with(|recording| {
            if let Some(recording) = recording.borrow_mut().as_mut()
                && let Some(at) = recording.entered.iter().rposition(|&e| e == id.into_u64())
            {
                recording.entered.remove(at);
            }
        });
    }
}

/// Runs `f`, recording the events emitted on this thread; returns those
/// whose target starts with `plugbox::`.
pub fn record(f: impl FnOnce()) -> Vec<Recorded> {
    record_spans(f).0
}

/// As [`record`], with the spans created on this thread (those whose target
/// starts with `plugbox::`).
pub fn record_spans(f: impl FnOnce()) -> (Vec<Recorded>, Vec<RecordedSpan>) {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        tracing::subscriber::set_global_default(Recorder).expect("no other global subscriber");
    });
    RECORDING.with(|recording| *recording.borrow_mut() = Some(Recording::default()));
    f();
    let recording = RECORDING.with(|recording| recording.borrow_mut().take().unwrap_or_default());
    let ours = |target: &str| target.starts_with("plugbox::");
    (
        recording
            .events
            .into_iter()
            .filter(|event| ours(&event.target))
            .collect(),
        recording
            .spans
            .into_iter()
            .filter(|span| ours(&span.target))
            .collect(),
    )
}
