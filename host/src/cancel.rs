//! Cancelling a call from another thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Waker;

/// Cancels the call an instance is running, from any thread.
///
/// Get one from [`Instance::canceller`](crate::Instance::canceller) (or
/// [`CustomInstance::canceller`](crate::CustomInstance::canceller)) before
/// handing the instance to the thread or task that calls it. The running call
/// stops at its next epoch tick (1 ms by default) with
/// [`ErrorKind::Cancelled`](crate::ErrorKind::Cancelled), and the instance is
/// poisoned like after any trap. A cancel that arrives while no call runs is
/// forgotten when the next call starts.
///
/// ```
/// # use std::time::Duration;
/// # let engine = plugbox::Engine::new()?;
/// # let plugin = plugbox::Plugin::new(&engine, plugbox_artifacts::SPIN.bytes)?
/// #     .with_limits(plugbox::Limits::default().fuel(u64::MAX).deadline(Duration::from_secs(60)));
/// let mut instance = plugin.instantiate()?;
/// let canceller = instance.canceller();
/// let call = std::thread::spawn(move || instance.call(b"").unwrap_err().kind());
/// std::thread::sleep(Duration::from_millis(20));
/// canceller.cancel();
/// assert_eq!(call.join().unwrap(), plugbox::ErrorKind::Cancelled);
/// # Ok::<(), plugbox::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Canceller(pub(crate) Arc<CancelState>);

/// The flag, and the task to wake when a call of a WASI plugin is parked in
/// a host call (no epoch tick reaches it there).
#[derive(Debug, Default)]
pub(crate) struct CancelState {
    requested: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Canceller {
    /// Asks the running call to stop at its next epoch tick, or at once if it
    /// is waiting in a host call.
    pub fn cancel(&self) {
        self.0.requested.store(true, Ordering::Release);
        let waker = self
            .0
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    pub(crate) fn requested(&self) -> bool {
        self.0.requested.load(Ordering::Acquire)
    }

    pub(crate) fn reset(&self) {
        self.0.requested.store(false, Ordering::Release);
        *self.0.waker.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Registers the task to wake on [`cancel`](Self::cancel) and says
    /// whether a cancel was already requested.
    #[cfg_attr(not(feature = "wasi"), allow(dead_code))]
    pub(crate) fn register(&self, waker: &Waker) -> bool {
        let mut slot = self.0.waker.lock().unwrap_or_else(PoisonError::into_inner);
        match slot.as_mut() {
            Some(current) if current.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
        drop(slot);
        self.requested()
    }
}
