//! Why a Redis backend could not be set up.

use std::fmt;

/// Why [`RedisKv::open`](crate::RedisKv::open) or
/// [`RedisKv::from_policy`](crate::RedisKv::from_policy) refused. Messages
/// never show the url's user or password.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The policy has no `[kv] url` (or no `[kv]` at all).
    NoUrl {
        /// Where the policy came from, if known.
        policy: Option<String>,
    },
    /// The url is not one the Redis client accepts (another scheme, no
    /// host, `rediss://` in a build without TLS...).
    InvalidUrl {
        /// The url, without credentials.
        url: String,
        /// The Redis client's reason.
        reason: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoUrl { policy } => {
                if let Some(policy) = policy {
                    write!(f, "{policy}: ")?;
                }
                f.write_str("kv.url: missing: the Redis backend needs `[kv] url = \"redis://host:port/db\"`")
            }
            Self::InvalidUrl { url, reason } => {
                write!(
                    f,
                    "kv.url: `{url}` is not a Redis url this build can use: {reason}"
                )
            }
        }
    }
}

impl std::error::Error for Error {}
