//! Driving a call that runs on a fiber: to completion on the caller's
//! thread ([`block_on`]), and stopping it when its embedder cancels
//! ([`until_cancelled`]) at a point where it yields.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use crate::cancel::Canceller;

/// Why a call on a fiber was ended before it finished (its future dropped,
/// which unwinds the guest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The deadline passed while the guest waited in a host call.
    #[cfg_attr(not(feature = "wasi"), allow(dead_code))]
    Deadline,
    /// The embedder cancelled the call.
    Cancelled,
}

/// Runs `call` until it finishes or, at a point where it yields (is
/// pending), `canceller` has fired.
///
/// On an engine with epochs the epoch callback sees a cancel first; this
/// is how a call on an engine without them
/// ([`Metering::FuelOnly`](crate::Metering::FuelOnly)) is stopped, at its
/// fuel yields.
pub(crate) async fn until_cancelled<F: Future>(
    call: F,
    canceller: &Canceller,
) -> std::result::Result<F::Output, Stop> {
    let mut call = pin!(call);
    poll_fn(|cx| {
        if let Poll::Ready(output) = call.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        if canceller.register(cx.waker()) {
            return Poll::Ready(Err(Stop::Cancelled));
        }
        Poll::Pending
    })
    .await
}

/// Drives `future` to completion on this thread, parking it while the
/// future waits. Not a Tokio `block_on`, so it works inside a Tokio task too
/// (where a sync call blocks that task's thread, as any sync call does).
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}
