//! Writing a request to a worker within its call's deadline.
//!
//! Our end of the worker's stdin is non-blocking: a request larger than the
//! pipe buffer (64 KiB) is written as the worker reads it, waiting for room
//! with `poll` until the deadline. A worker that stops reading can then hold
//! a call no longer than its deadline, as one that stops answering can.

use std::fs::File;
use std::io::{self, Write as _};
use std::os::fd::AsRawFd as _;
use std::time::Instant;

use plugbox_frame::{FrameError, write_request};

/// Why a request was not (wholly) written.
#[derive(Debug)]
pub(crate) enum SendError {
    /// The deadline passed with the request unwritten or half written.
    Deadline,
    /// The worker closed its stdin: it is gone.
    Closed,
    /// The request cannot be framed (over 4 GiB); nothing was written.
    TooLarge(usize),
    /// Writing failed otherwise.
    Io(io::Error),
}

/// Our end of a worker's stdin.
#[derive(Debug)]
pub(crate) struct Requests {
    pipe: File,
}

impl Requests {
    /// Takes our end of the pipe and makes it non-blocking (the worker's end
    /// is another open file description, and stays blocking).
    pub(crate) fn new(pipe: File) -> io::Result<Self> {
        let fd = pipe.as_raw_fd();
        // SAFETY: fcntl on a descriptor we own; no pointers involved.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        crate::sys::check(flags.into())?;
        // SAFETY: as above.
        let set = unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) };
        crate::sys::check(set.into())?;
        Ok(Self { pipe })
    }

    /// Writes one request frame for `payload`, giving up at `until` (`None`:
    /// no deadline).
    pub(crate) fn send(&mut self, payload: &[u8], until: Option<Instant>) -> Result<(), SendError> {
        let mut frame = Vec::with_capacity(payload.len() + 4);
        write_request(&mut frame, payload).map_err(|error| match error {
            FrameError::TooLarge { .. } => SendError::TooLarge(payload.len()),
            FrameError::Io(error) => SendError::Io(error),
            other => SendError::Io(io::Error::other(other.to_string())),
        })?;
        let mut written = 0;
        while written < frame.len() {
            match self.pipe.write(&frame[written..]) {
                Ok(count) => written += count,
                Err(error) => match error.kind() {
                    io::ErrorKind::WouldBlock => self.wait_writable(until)?,
                    io::ErrorKind::Interrupted => {}
                    io::ErrorKind::BrokenPipe => return Err(SendError::Closed),
                    _ => return Err(SendError::Io(error)),
                },
            }
        }
        Ok(())
    }

    /// Waits until the pipe has room (or its reader is gone) or `until`.
    fn wait_writable(&self, until: Option<Instant>) -> Result<(), SendError> {
        loop {
            let timeout_ms = match until {
                None => -1,
                Some(until) => {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(SendError::Deadline);
                    }
                    // Rounded up: never wake before the deadline and spin.
                    i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
                }
            };
            let mut pollfd = libc::pollfd {
                fd: self.pipe.as_raw_fd(),
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: one valid pollfd for the duration of the call.
            let ready = unsafe { libc::poll(&mut pollfd, 1, timeout_ms) };
            match ready {
                // Writable, or an error or hang-up that the next write reports.
                1.. => return Ok(()),
                // Timed out: the loop checks the deadline.
                0 => {}
                _ => {
                    let error = io::Error::last_os_error();
                    if error.kind() != io::ErrorKind::Interrupted {
                        return Err(SendError::Io(error));
                    }
                }
            }
        }
    }
}
