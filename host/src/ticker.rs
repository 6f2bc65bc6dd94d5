//! The epoch ticker: one thread per engine that advances wasmtime's epoch
//! every tick, which is what turns per-call deadlines into traps.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

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

    /// No ticker: an engine without epoch interruption
    /// ([`Metering::FuelOnly`](crate::Metering::FuelOnly)). Its probe
    /// reports it stopped.
    pub(crate) fn none() -> Self {
        Self {
            stop: None,
            thread: None,
            stopped: Arc::new(AtomicBool::new(true)),
        }
    }

    pub(crate) fn probe(&self) -> TickerProbe {
        TickerProbe {
            stopped: Arc::clone(&self.stopped),
        }
    }
}

/// Advances the epoch by one every tick until the stop channel closes.
///
/// Each increment waits a full tick after the previous one, so a deadline of
/// `n` ticks never fires before `n - 1` ticks of wall time have passed (the
/// engine arms one extra tick): a ticker delayed by a busy machine makes
/// deadlines late, never early. Catching up on missed ticks would do the
/// opposite, and kill plugins that kept to their budget.
fn run(engine: &wasmtime::Engine, tick: Duration, stop: &mpsc::Receiver<()>) {
    loop {
        match stop.recv_timeout(tick) {
            Err(RecvTimeoutError::Timeout) => engine.increment_epoch(),
            // The sender is dropped (or sent): the engine is gone.
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
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
