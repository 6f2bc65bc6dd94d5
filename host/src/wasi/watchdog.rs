//! WASI host calls under the call's deadline.
//!
//! Epoch interruption stops wasm code, not the host: a WASI host call that
//! waits (a sleep, `poll`, a pollable's `block`, a blocking stream read or
//! write) runs outside wasm for as long as the guest asked. So plugins that
//! import WASI are linked with wasmtime-wasi's *async* bindings: such a host
//! call parks the call's fiber and returns `Pending` instead of blocking the
//! thread, and every call of such a plugin runs inside [`watch`], which ends
//! it at the deadline (a tick after the epoch deadline, which stops running
//! wasm first) or at once when its [`Canceller`] fires. Dropping the call's
//! future unwinds the guest's stack (wasmtime disposes the fiber); the
//! instance is then poisoned.
//!
//! The timers and I/O of those host calls run on the engine's own Tokio
//! runtime ([`IoRuntime`], one worker thread, started at the first WASI
//! instantiation), entered around every poll: the caller's executor, if any,
//! is never asked to drive them, so a sync [`call`](crate::Instance::call)
//! made from inside a Tokio task, or an async one on any executor, works.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::OnceLock;
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::cancel::Canceller;
use crate::error::{Error, Result};
use crate::fiber::Stop;

/// The engine's runtime for WASI timers, I/O and blocking file operations.
#[derive(Debug, Default)]
pub(crate) struct IoRuntime(OnceLock<tokio::runtime::Runtime>);

impl IoRuntime {
    /// The runtime's handle, starting the runtime on first use.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) when its thread cannot be
    /// started.
    pub(crate) fn handle(&self) -> Result<&tokio::runtime::Handle> {
        if let Some(runtime) = self.0.get() {
            return Ok(runtime.handle());
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            // Blocking file operations of WASI plugins. One that outlives
            // its call's deadline finishes here, off the caller's thread.
            .max_blocking_threads(64)
            .thread_name("plugbox-wasi-io")
            .enable_time()
            .enable_io()
            .build()
            .map_err(|error| Error::io("starting the WASI I/O runtime", error))?;
        // A racing first use may have won: its runtime is kept, ours shut
        // down without blocking.
        if let Err(lost) = self.0.set(runtime) {
            lost.shutdown_background();
        }
        self.0
            .get()
            .map(|runtime| runtime.handle())
            .ok_or_else(|| Error::new(crate::ErrorKind::Io, "the WASI I/O runtime did not start"))
    }
}

impl Drop for IoRuntime {
    fn drop(&mut self) {
        // Never blocks (the last engine handle may drop inside a task).
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Runs `call` until it finishes, `deadline` passes or `canceller` fires,
/// with `runtime` entered around every poll.
pub(crate) async fn watch<F: Future>(
    runtime: &tokio::runtime::Handle,
    call: F,
    deadline: Instant,
    canceller: &Canceller,
) -> std::result::Result<F::Output, Stop> {
    let timer = {
        let _entered = runtime.enter();
        tokio::time::sleep_until(deadline.into())
    };
    let mut timer = pin!(timer);
    let mut call = pin!(call);
    poll_fn(|cx| {
        let _entered = runtime.enter();
        if let Poll::Ready(output) = call.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        if canceller.register(cx.waker()) {
            return Poll::Ready(Err(Stop::Cancelled));
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(Stop::Deadline));
        }
        Poll::Pending
    })
    .await
}

/// When [`watch`] gives up on a call that started at `started` with
/// `deadline`: one epoch tick after the epoch deadline, so a guest running
/// wasm is stopped by the epoch (the usual way) and only one waiting in a
/// host call by the watchdog. Without a deadline (an engine that does not
/// meter it), never.
pub(crate) fn watchdog_deadline(
    started: Instant,
    deadline: Option<Duration>,
    tick: Duration,
) -> Instant {
    deadline
        .and_then(|deadline| deadline.checked_add(tick.saturating_mul(2)))
        .and_then(|after| started.checked_add(after))
        // Beyond what the clock can hold: about a year is "never" here.
        .unwrap_or_else(|| started + Duration::from_secs(365 * 24 * 3600))
}
