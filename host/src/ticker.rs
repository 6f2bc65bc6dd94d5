//! The epoch ticker: one thread per engine that advances wasmtime's epoch
//! every tick, which is what turns per-call deadlines into traps.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Owns the ticker thread; dropping it stops and joins the thread.
pub(crate) struct Ticker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    stopped: Arc<AtomicBool>,
}

/// Observes whether a ticker thread has exited.
#[derive(Debug, Clone)]
pub struct TickerProbe {
    stopped: Arc<AtomicBool>,
}

impl TickerProbe {
    /// Whether the ticker thread has exited.
    pub fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }
}

impl Ticker {
    pub(crate) fn start(engine: wasmtime::Engine, tick: Duration) -> Result<Self> {
        let (stop, stopped_rx) = mpsc::channel::<()>();
        let stopped = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stopped);
        let thread = std::thread::Builder::new()
            .name("plugbox-epoch".into())
            .spawn(move || {
                run(&engine, tick, &stopped_rx);
                flag.store(true, Ordering::Release);
            })
            .map_err(|error| Error::io("spawning the epoch ticker thread", error))?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
            stopped,
        })
    }

    pub(crate) fn is_alive(&self) -> bool {
        !self.stopped.load(Ordering::Acquire)
    }

    pub(crate) fn probe(&self) -> TickerProbe {
        TickerProbe {
            stopped: Arc::clone(&self.stopped),
        }
    }
}

/// Advances the epoch once per elapsed tick of wall time until the stop
/// channel closes. Ticks are scheduled against the start instant, so a late
/// wake-up catches up instead of letting deadlines drift.
fn run(engine: &wasmtime::Engine, tick: Duration, stop: &mpsc::Receiver<()>) {
    let start = Instant::now();
    let tick_nanos = tick.as_nanos().max(1);
    let mut ticks: u128 = 0;
    loop {
        let next = u64::try_from(tick_nanos * (ticks + 1))
            .ok()
            .and_then(|nanos| start.checked_add(Duration::from_nanos(nanos)));
        let wait = next.map_or(tick, |next| next.saturating_duration_since(Instant::now()));
        match stop.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {}
            // The sender is dropped (or sent): the engine is gone.
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let due = start.elapsed().as_nanos() / tick_nanos;
        while ticks < due {
            engine.increment_epoch();
            ticks += 1;
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // The thread only waits and increments; it cannot panic, but a
            // join error must not turn a drop into a panic either.
            let _ = thread.join();
        }
    }
}
