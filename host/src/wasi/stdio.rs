//! stdout and stderr: discarded, captured per instance up to a byte cap
//! (then truncated and flagged), or logged through `tracing` (target
//! `plugbox::guest`, one event per line, with the plugin's name and the
//! stream). stdin is always closed.
//!
//! Traced lines are guest text: each is escaped ([`safe_text`]) into one
//! inert line, cut after `capture_bytes` bytes (the rest of the line is
//! counted in the event, never split into more events), and charged to the
//! call's log budget ([`Limits::max_log_bytes`], shared with the `log` host
//! function; at least one byte per line): lines beyond it are dropped and
//! counted ([`Instance::logs_dropped`]).
//!
//! [`safe_text`]: crate::safe_text
//! [`Limits::max_log_bytes`]: crate::Limits::max_log_bytes
//! [`Instance::logs_dropped`]: crate::Instance::logs_dropped

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::error::Result;
use crate::hostfns::CallBudget;
use crate::policy::{Output, Policy};
use crate::safe_text::{LeftOut, escape, escape_bytes};

/// What a plugin wrote to a captured stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// The bytes, up to the policy's `capture_bytes`.
    pub bytes: Vec<u8>,
    /// Whether the plugin wrote more than that (the rest was dropped).
    pub truncated: bool,
}

#[derive(Debug)]
pub(super) struct Grant {
    stdout: Output,
    stderr: Output,
    capture_bytes: usize,
}

/// One instance's captured streams (`None`: not captured).
#[derive(Debug, Default)]
pub(crate) struct Outputs {
    pub(crate) stdout: Option<Arc<Mutex<Captured>>>,
    pub(crate) stderr: Option<Arc<Mutex<Captured>>>,
}

impl Outputs {
    /// Takes what a captured stream holds, leaving it empty.
    pub(crate) fn take(stream: Option<&Arc<Mutex<Captured>>>) -> Captured {
        stream.map_or_else(Captured::default, |buffer| {
            std::mem::take(&mut *buffer.lock().unwrap_or_else(PoisonError::into_inner))
        })
    }
}

impl Grant {
    pub(super) fn configure(policy: &Policy) -> Result<Self> {
        Ok(Self {
            stdout: policy.stdio.stdout,
            stderr: policy.stdio.stderr,
            capture_bytes: policy.stdio.capture_bytes,
        })
    }

    /// Sets one instance's streams; `plugin` names it in traced lines, which
    /// spend `budget`.
    pub(super) fn grant(
        &self,
        builder: &mut WasiCtxBuilder,
        plugin: &str,
        budget: &Arc<CallBudget>,
    ) -> Outputs {
        let mut outputs = Outputs::default();
        let traced = Traced {
            plugin: plugin.into(),
            budget: Arc::clone(budget),
        };
        if let Some(sink) = self.sink(self.stdout, &traced, "stdout", &mut outputs.stdout) {
            builder.stdout(sink);
        }
        if let Some(sink) = self.sink(self.stderr, &traced, "stderr", &mut outputs.stderr) {
            builder.stderr(sink);
        }
        outputs
    }

    /// The sink for one stream (`None`: the default, discarding, stream).
    fn sink(
        &self,
        output: Output,
        traced: &Traced,
        stream: &'static str,
        captured: &mut Option<Arc<Mutex<Captured>>>,
    ) -> Option<Sink> {
        match output {
            Output::Discard => None,
            Output::Capture => {
                let buffer = Arc::new(Mutex::new(Captured::default()));
                *captured = Some(Arc::clone(&buffer));
                Some(Sink::Capture {
                    buffer,
                    cap: self.capture_bytes,
                })
            }
            Output::Tracing => Some(Sink::Tracing {
                traced: traced.clone(),
                stream,
                line: Arc::new(Mutex::new(Line::default())),
                cap: self.capture_bytes,
            }),
        }
    }
}

/// Where a stream's bytes go. Clones share their state (WASI may open a
/// stream several times; all handles write to the same place).
#[derive(Clone)]
enum Sink {
    Capture {
        buffer: Arc<Mutex<Captured>>,
        cap: usize,
    },
    Tracing {
        traced: Traced,
        stream: &'static str,
        line: Arc<Mutex<Line>>,
        cap: usize,
    },
}

/// What traced lines share: the plugin's name and the call's log budget.
#[derive(Clone)]
struct Traced {
    plugin: Arc<str>,
    budget: Arc<CallBudget>,
}

/// The line being written to a traced stream: its first `cap` bytes, and
/// how many more it had.
#[derive(Default)]
struct Line {
    kept: Vec<u8>,
    left_out: usize,
}

impl Traced {
    /// Logs one line, if the call's budget has room for it.
    fn log(&self, stream: &str, line: &Line) {
        if !self.budget.charge(line.kept.len()) {
            return;
        }
        tracing::info!(
            target: "plugbox::guest",
            plugin = %escape(&self.plugin),
            stream,
            "{}{}",
            escape_bytes(&line.kept),
            LeftOut(line.left_out)
        );
    }
}

impl Sink {
    /// Takes every byte (the guest never blocks or sees an error); keeps or
    /// logs what the policy allows.
    fn accept(&self, bytes: &[u8]) {
        match self {
            Self::Capture { buffer, cap } => {
                let mut captured = buffer.lock().unwrap_or_else(PoisonError::into_inner);
                let room = cap.saturating_sub(captured.bytes.len());
                captured
                    .bytes
                    .extend_from_slice(&bytes[..room.min(bytes.len())]);
                if bytes.len() > room {
                    captured.truncated = true;
                }
            }
            Self::Tracing {
                traced,
                stream,
                line,
                cap,
            } => {
                let mut pending = line.lock().unwrap_or_else(PoisonError::into_inner);
                let mut rest = bytes;
                while !rest.is_empty() {
                    let newline = rest.iter().position(|&byte| byte == b'\n');
                    let part = &rest[..newline.unwrap_or(rest.len())];
                    let room = cap.saturating_sub(pending.kept.len()).min(part.len());
                    pending.kept.extend_from_slice(&part[..room]);
                    pending.left_out += part.len() - room;
                    match newline {
                        Some(at) => {
                            traced.log(stream, &pending);
                            pending.kept.clear();
                            pending.left_out = 0;
                            rest = &rest[at + 1..];
                        }
                        None => rest = &[],
                    }
                }
            }
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        // The last handle of a tracing stream logs an unterminated last line.
        if let Self::Tracing {
            traced,
            stream,
            line,
            ..
        } = self
            && Arc::strong_count(line) == 1
        {
            let pending = line.lock().unwrap_or_else(PoisonError::into_inner);
            if !pending.kept.is_empty() || pending.left_out > 0 {
                traced.log(stream, &pending);
            }
        }
    }
}

impl IsTerminal for Sink {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Sink {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl OutputStream for Sink {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.accept(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 << 10)
    }
}

#[async_trait::async_trait]
impl Pollable for Sink {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for Sink {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.accept(bytes);
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
