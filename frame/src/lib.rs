//! The framing between a host and a plugin's *native twin*: the same plugin
//! logic built as an ordinary executable that serves requests on stdin and
//! answers on stdout, so that process and container isolation can run
//! exactly the work a Wasm plugin does.
//!
//! A request is a 4-byte little-endian length and that many bytes. A reply
//! is a status byte (0: output, 1: the plugin's own error message), a 4-byte
//! little-endian length and that many bytes. Every read is bounded: a length
//! over the reader's maximum is rejected before anything is allocated.
//!
//! ```
//! use plugbox_frame::{Reply, read_reply, read_request, write_reply, write_request};
//! let mut pipe = Vec::new();
//! write_request(&mut pipe, b"hello")?;
//! assert_eq!(read_request(&mut pipe.as_slice(), 1024)?, Some(b"hello".to_vec()));
//! let mut pipe = Vec::new();
//! write_reply(&mut pipe, &Reply::Output(b"HELLO".to_vec()))?;
//! assert_eq!(read_reply(&mut pipe.as_slice(), 1024)?, Reply::Output(b"HELLO".to_vec()));
//! # Ok::<(), plugbox_frame::FrameError>(())
//! ```
#![warn(missing_docs)]

use std::fmt;
use std::io::{self, Read, Write};

/// The default bound on a frame's payload: 16 MiB.
pub const DEFAULT_MAX_FRAME: usize = 16 << 20;

const OUTPUT: u8 = 0;
const GUEST_ERROR: u8 = 1;

/// A reply from a native twin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The plugin's response bytes.
    Output(Vec<u8>),
    /// The error the plugin returned on purpose.
    GuestError(String),
}

/// Why a frame could not be read or written.
#[derive(Debug)]
pub enum FrameError {
    /// The pipe failed.
    Io(io::Error),
    /// The stream ended inside a frame.
    Truncated,
    /// A length beyond the reader's bound.
    TooLarge {
        /// The announced length.
        len: u64,
        /// The reader's bound.
        max: usize,
    },
    /// A reply status other than 0 or 1.
    BadStatus(u8),
    /// A guest error message that is not UTF-8.
    BadMessage,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(error) => write!(f, "pipe error: {error}"),
            Self::Truncated => f.write_str("stream ended inside a frame"),
            Self::TooLarge { len, max } => write!(f, "frame of {len} bytes, limit {max}"),
            Self::BadStatus(status) => write!(f, "unknown reply status {status}"),
            Self::BadMessage => f.write_str("guest error message is not UTF-8"),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<io::Error> for FrameError {
    fn from(error: io::Error) -> Self {
        if error.kind() == io::ErrorKind::UnexpectedEof {
            Self::Truncated
        } else {
            Self::Io(error)
        }
    }
}

/// Writes one request frame and flushes.
///
/// # Errors
///
/// [`FrameError::TooLarge`] for payloads over 4 GiB; [`FrameError::Io`].
pub fn write_request(writer: &mut impl Write, payload: &[u8]) -> Result<(), FrameError> {
    writer.write_all(&length(payload.len())?.to_le_bytes())?;
    writer.write_all(payload)?;
    writer.flush()?;
    Ok(())
}

/// Reads one request frame; `None` when the stream ends cleanly between
/// frames.
///
/// # Errors
///
/// [`FrameError::TooLarge`] past `max`, [`FrameError::Truncated`], [`FrameError::Io`].
pub fn read_request(reader: &mut impl Read, max: usize) -> Result<Option<Vec<u8>>, FrameError> {
    let mut prefix = [0u8; 4];
    let mut filled = 0;
    while filled < prefix.len() {
        match reader.read(&mut prefix[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(read) => filled += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(FrameError::Io(error)),
        }
    }
    payload(reader, u32::from_le_bytes(prefix), max).map(Some)
}

/// Writes one reply frame and flushes.
///
/// # Errors
///
/// [`FrameError::TooLarge`] for payloads over 4 GiB; [`FrameError::Io`].
pub fn write_reply(writer: &mut impl Write, reply: &Reply) -> Result<(), FrameError> {
    let (status, bytes) = match reply {
        Reply::Output(bytes) => (OUTPUT, bytes.as_slice()),
        Reply::GuestError(message) => (GUEST_ERROR, message.as_bytes()),
    };
    writer.write_all(&[status])?;
    writer.write_all(&length(bytes.len())?.to_le_bytes())?;
    writer.write_all(bytes)?;
    writer.flush()?;
    Ok(())
}

/// Reads one reply frame.
///
/// # Errors
///
/// [`FrameError::TooLarge`] past `max`, [`FrameError::Truncated`] (also when
/// the stream ends before the frame starts), [`FrameError::BadStatus`],
/// [`FrameError::BadMessage`], [`FrameError::Io`].
pub fn read_reply(reader: &mut impl Read, max: usize) -> Result<Reply, FrameError> {
    let mut header = [0u8; 5];
    reader.read_exact(&mut header)?;
    let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]);
    match header[0] {
        OUTPUT => Ok(Reply::Output(payload(reader, len, max)?)),
        GUEST_ERROR => String::from_utf8(payload(reader, len, max)?)
            .map(Reply::GuestError)
            .map_err(|_| FrameError::BadMessage),
        status => Err(FrameError::BadStatus(status)),
    }
}

fn length(len: usize) -> Result<u32, FrameError> {
    u32::try_from(len).map_err(|_| FrameError::TooLarge {
        len: len as u64,
        max: u32::MAX as usize,
    })
}

fn payload(reader: &mut impl Read, len: u32, max: usize) -> Result<Vec<u8>, FrameError> {
    let len_usize = usize::try_from(len).unwrap_or(usize::MAX);
    if len_usize > max {
        return Err(FrameError::TooLarge {
            len: u64::from(len),
            max,
        });
    }
    let mut bytes = vec![0; len_usize];
    reader.read_exact(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_end_cleanly() {
        let mut pipe = Vec::new();
        write_request(&mut pipe, b"one").unwrap();
        write_request(&mut pipe, b"").unwrap();
        let mut reader = pipe.as_slice();
        assert_eq!(
            read_request(&mut reader, 16).unwrap(),
            Some(b"one".to_vec())
        );
        assert_eq!(read_request(&mut reader, 16).unwrap(), Some(Vec::new()));
        assert_eq!(read_request(&mut reader, 16).unwrap(), None);
    }

    #[test]
    fn oversized_frames_are_rejected_before_allocation() {
        let mut pipe = u32::MAX.to_le_bytes().to_vec();
        pipe.extend_from_slice(b"whatever");
        assert!(matches!(
            read_request(&mut pipe.as_slice(), 1024),
            Err(FrameError::TooLarge {
                len: 4_294_967_295,
                max: 1024
            })
        ));
        let mut reply = vec![OUTPUT];
        reply.extend_from_slice(&2048u32.to_le_bytes());
        assert!(matches!(
            read_reply(&mut reply.as_slice(), 1024),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn truncated_and_malformed_frames_are_errors() {
        assert!(matches!(
            read_request(&mut [1u8, 0].as_slice(), 16),
            Err(FrameError::Truncated)
        ));
        assert!(matches!(
            read_request(&mut [5u8, 0, 0, 0, b'a'].as_slice(), 16),
            Err(FrameError::Truncated)
        ));
        assert!(matches!(
            read_reply(&mut [].as_slice(), 16),
            Err(FrameError::Truncated)
        ));
        assert!(matches!(
            read_reply(&mut [7u8, 0, 0, 0, 0].as_slice(), 16),
            Err(FrameError::BadStatus(7))
        ));
        assert!(matches!(
            read_reply(&mut [GUEST_ERROR, 1, 0, 0, 0, 0xff].as_slice(), 16),
            Err(FrameError::BadMessage)
        ));
    }

    #[test]
    fn replies_round_trip() {
        for reply in [Reply::Output(vec![1, 2, 3]), Reply::GuestError("no".into())] {
            let mut pipe = Vec::new();
            write_reply(&mut pipe, &reply).unwrap();
            assert_eq!(read_reply(&mut pipe.as_slice(), 16).unwrap(), reply);
        }
    }
}
