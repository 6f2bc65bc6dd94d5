//! stdout and stderr: discarded, captured per instance up to a byte cap
//! (then truncated and flagged), or logged through `tracing` (target
//! `plugbox::guest`, one event per line, with the plugin's name and the
//! stream). stdin is always closed.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::error::Result;
use crate::policy::{Output, Policy};

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

    /// Sets one instance's streams; `plugin` names it in traced lines.
    pub(super) fn grant(&self, builder: &mut WasiCtxBuilder, plugin: &str) -> Outputs {
        let mut outputs = Outputs::default();
        if let Some(sink) = self.sink(self.stdout, plugin, "stdout", &mut outputs.stdout) {
            builder.stdout(sink);
        }
        if let Some(sink) = self.sink(self.stderr, plugin, "stderr", &mut outputs.stderr) {
            builder.stderr(sink);
        }
        outputs
    }

    /// The sink for one stream (`None`: the default, discarding, stream).
    fn sink(
        &self,
        output: Output,
        plugin: &str,
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
                plugin: plugin.into(),
                stream,
                line: Arc::new(Mutex::new(Vec::new())),
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
        plugin: Arc<str>,
        stream: &'static str,
        line: Arc<Mutex<Vec<u8>>>,
        cap: usize,
    },
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
                plugin,
                stream,
                line,
                cap,
            } => {
                let mut pending = line.lock().unwrap_or_else(PoisonError::into_inner);
                for &byte in bytes {
                    if byte == b'\n' || pending.len() >= *cap {
                        log_line(plugin, stream, &pending);
                        pending.clear();
                    }
                    if byte != b'\n' {
                        pending.push(byte);
                    }
                }
            }
        }
    }
}

fn log_line(plugin: &str, stream: &str, line: &[u8]) {
    tracing::info!(target: "plugbox::guest", plugin, stream, "{}", String::from_utf8_lossy(line));
}

impl Drop for Sink {
    fn drop(&mut self) {
        // The last handle of a tracing stream logs an unterminated last line.
        if let Self::Tracing {
            plugin,
            stream,
            line,
            ..
        } = self
            && Arc::strong_count(line) == 1
        {
            let pending = line.lock().unwrap_or_else(PoisonError::into_inner);
            if !pending.is_empty() {
                log_line(plugin, stream, &pending);
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
