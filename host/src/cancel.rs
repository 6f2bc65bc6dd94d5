//! Cancelling a call from another thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
#[derive(Debug, Clone)]
pub struct Canceller(pub(crate) Arc<AtomicBool>);

impl Canceller {
    /// Asks the running call to stop at its next epoch tick.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub(crate) fn requested(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    pub(crate) fn reset(&self) {
        self.0.store(false, Ordering::Release);
    }
}
