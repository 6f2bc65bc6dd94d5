//! A Redis backend for plugbox's key-value host function: plugin state kept
//! in one Redis server, shared by every host (every [`plugbox::Engine`])
//! that uses it, with each namespace's quota enforced in Redis itself.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! let policy = plugbox::Policy::from_toml_str(
//!     r#"
//!     [kv]
//!     url = "redis://127.0.0.1:6379/0"
//!     namespace = "rate-limits"
//!     max_keys = 10000
//!     max_bytes = 1048576
//!     "#,
//!     "inline policy",
//! )?;
//! let store = plugbox_kv_redis::RedisKv::from_policy(&policy)?;
//! let engine = plugbox::Engine::builder().kv_store(Arc::new(store)).build()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - **Layout**: one Redis hash per namespace, `plugbox:kv:<namespace>`, the
//!   plugin's keys as its fields ([`layout`]); a key cannot reach outside
//!   its namespace whatever its bytes.
//! - **Quotas** (`max_keys`, `max_bytes`: keys and values together) are
//!   checked and applied in one Lua script per write (`EVALSHA`): Redis runs
//!   a script alone, so hosts racing past a quota together stop exactly at
//!   it. `increment` is one script too, with Redis's exact 64-bit
//!   arithmetic.
//! - **Deadlines**: every wait (connecting, each reply) is bounded by the
//!   deadline plugbox gives the operation (the sooner of `[kv] timeout_ms`
//!   and the call's deadline). Redis down, frozen or too slow: the guest
//!   gets `kv::Error::Unavailable` by then, never a hang.
//! - **Reconnecting**: a connection that fails is dropped with every idle
//!   one, so the first operation after Redis is back connects afresh; an
//!   idle connection is checked with `PING` after a second, and `get`,
//!   `set` and `delete` are sent once more on a fresh connection if a
//!   reused one turns out closed. `increment` never is (it could count
//!   twice): the guest sees `unavailable` instead.
//!
//! What the guest sees of a failure is a short reason (`redis: connection
//! refused`), never the server's address; the host logs the change from
//! answering to not (and back) through `tracing`, target
//! `plugbox::kv_redis`, with the address.
//!
//! Plain TCP (`redis://`) and Unix sockets (`redis+unix://`, `unix://`)
//! only: TLS (`rediss://`) is refused when the backend is opened.
#![warn(missing_docs)]

mod connection;
mod error;
pub mod layout;

use std::time::Instant;

use plugbox::{KvError, KvStore, Policy, Quota};
use redis::{ConnectionInfo, IntoConnectionInfo as _, RedisError, Script};

use crate::connection::{Pool, Retry};
pub use crate::error::Error;

/// The Redis backend: give it to [`plugbox::EngineBuilder::kv_store`].
///
/// Opening it connects to nothing: connections are made by the operations
/// that need them, each within its deadline, so a host starts while Redis
/// is down and its plugins see `unavailable` until Redis answers.
#[derive(Debug)]
pub struct RedisKv {
    pool: Pool,
    info: ConnectionInfo,
    set: Script,
    delete: Script,
    increment: Script,
}

impl RedisKv {
    /// The backend of the Redis at `url` (`redis://host:port/db`, with
    /// `user:password@` if the server wants them).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] if the url is not one the Redis client can use.
    pub fn open(url: &str) -> Result<Self, Error> {
        let invalid = |error: RedisError| Error::InvalidUrl {
            url: without_credentials(url),
            reason: error.to_string(),
        };
        let info = url.into_connection_info().map_err(invalid)?;
        Ok(Self {
            pool: Pool::new(&info).map_err(invalid)?,
            info,
            set: Script::new(include_str!("lua/set.lua")),
            delete: Script::new(include_str!("lua/delete.lua")),
            increment: Script::new(include_str!("lua/increment.lua")),
        })
    }

    /// The backend of the policy's `[kv] url`.
    ///
    /// # Errors
    ///
    /// [`Error::NoUrl`] if the policy names no store, [`Error::InvalidUrl`]
    /// as for [`open`](Self::open).
    pub fn from_policy(policy: &Policy) -> Result<Self, Error> {
        match policy.kv.as_ref().and_then(|kv| kv.url.as_deref()) {
            Some(url) => Self::open(url),
            None => Err(Error::NoUrl {
                policy: policy.origin.name().map(str::to_owned),
            }),
        }
    }

    /// Whether `url` is in a scheme of Redis (`redis`, `rediss`,
    /// `redis+unix`, `unix`, and Valkey's): how a host that has several
    /// backends picks this one.
    pub fn handles(url: &str) -> bool {
        redis::parse_redis_url(url).is_some()
    }

    fn script<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        retry: Retry,
        namespace: &str,
        args: &[&[u8]],
        deadline: Option<Instant>,
    ) -> Result<T, KvError> {
        let hash = layout::hash(namespace);
        self.pool
            .run(deadline, retry, |link| link.script(script, &hash, args))
            .map_err(unavailable)
    }
}

impl KvStore for RedisKv {
    fn get(
        &self,
        namespace: &str,
        key: &str,
        deadline: Option<Instant>,
    ) -> Result<Option<Vec<u8>>, KvError> {
        let mut hget = redis::cmd("HGET");
        hget.arg(layout::hash(namespace)).arg(layout::field(key));
        self.pool
            .run(deadline, Retry::Idempotent, |link| link.query(&hget))
            .map_err(unavailable)
    }

    fn set(
        &self,
        namespace: &str,
        key: &str,
        value: &[u8],
        quota: Quota,
        deadline: Option<Instant>,
    ) -> Result<(), KvError> {
        let (keys, bytes) = limits(quota);
        let field = layout::field(key);
        let args: [&[u8]; 4] = [&field, value, keys.as_bytes(), bytes.as_bytes()];
        match self.script::<i64>(&self.set, Retry::Idempotent, namespace, &args, deadline)? {
            1 => Ok(()),
            _ => Err(KvError::QuotaExceeded),
        }
    }

    fn delete(
        &self,
        namespace: &str,
        key: &str,
        deadline: Option<Instant>,
    ) -> Result<bool, KvError> {
        let field = layout::field(key);
        let existed = self.script::<i64>(
            &self.delete,
            Retry::Idempotent,
            namespace,
            &[&field],
            deadline,
        )?;
        Ok(existed == 1)
    }

    fn increment(
        &self,
        namespace: &str,
        key: &str,
        delta: i64,
        quota: Quota,
        deadline: Option<Instant>,
    ) -> Result<i64, KvError> {
        let (keys, bytes) = limits(quota);
        let field = layout::field(key);
        let delta = delta.to_string();
        let args: [&[u8]; 4] = [&field, delta.as_bytes(), keys.as_bytes(), bytes.as_bytes()];
        let reply: Vec<String> =
            self.script(&self.increment, Retry::Never, namespace, &args, deadline)?;
        match reply.as_slice() {
            [status, value] if status == "ok" => value
                .parse()
                .map_err(|_| KvError::Unavailable(format!("redis: `{value}` from increment"))),
            [status] if status == "quota" => Err(KvError::QuotaExceeded),
            [status, reason] if status == "invalid" && reason.contains("overflow") => {
                Err(KvError::Invalid(format!("`{key}` would overflow")))
            }
            [status, _] if status == "invalid" => {
                Err(KvError::Invalid(format!("`{key}` is not an integer")))
            }
            other => Err(KvError::Unavailable(format!(
                "redis: unexpected reply {other:?} from increment"
            ))),
        }
    }

    fn serves_url(&self, url: &str) -> bool {
        url.into_connection_info().is_ok_and(|info| {
            info.addr() == self.info.addr()
                && info.redis_settings().db() == self.info.redis_settings().db()
                && info.redis_settings().username() == self.info.redis_settings().username()
        })
    }
}

/// A quota as the scripts' arguments.
fn limits(quota: Quota) -> (String, String) {
    (quota.max_keys.to_string(), quota.max_bytes.to_string())
}

/// What the guest is told of a failure: why, in a few words, without the
/// server's address.
fn unavailable(error: RedisError) -> KvError {
    let why = if error.is_timeout() {
        "no answer before the deadline".to_owned()
    } else if error.is_connection_refusal() {
        "connection refused".to_owned()
    } else if error.is_connection_dropped() {
        "connection lost".to_owned()
    } else if let Some(code) = error.code() {
        // The server's own refusal (`WRONGPASS ...`, `OOM ...`, `READONLY ...`).
        match error.detail() {
            Some(detail) => format!("{code} {detail}"),
            None => code.to_owned(),
        }
    } else {
        error.to_string()
    };
    KvError::Unavailable(format!("redis: {why}"))
}

/// `url` without the user and password it may carry.
fn without_credentials(url: &str) -> String {
    match redis::parse_redis_url(url) {
        Some(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            // Never fails on the urls Redis accepts (they have a host or
            // are `unix:` paths without credentials).
            let _ = parsed.set_password(None);
            let _ = parsed.set_username("");
            parsed.to_string().replacen("://", "://…@", 1)
        }
        Some(_) => url.to_owned(),
        // Not a url: shown up to its last `@`.
        None => match url.rfind('@') {
            Some(at) => format!("…{}", &url[at..]),
            None => url.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_credentials() {
        assert_eq!(
            without_credentials("redis://user:secret@db.internal:6379/0"),
            "redis://…@db.internal:6379/0"
        );
        assert_eq!(
            without_credentials("redis://:secret@10.0.0.1/2"),
            "redis://…@10.0.0.1/2"
        );
        assert_eq!(
            without_credentials("redis://127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
        assert_eq!(without_credentials("nonsense secret@x"), "…@x");
    }

    #[test]
    fn bad_urls_are_refused_without_their_credentials() {
        for url in [
            "http://user:secret@127.0.0.1:6379",
            "rediss://user:secret@127.0.0.1:6379",
            "redis://user:secret@0.0.0.0:6379",
            "not a url",
        ] {
            let error = RedisKv::open(url).unwrap_err();
            assert!(
                matches!(error, Error::InvalidUrl { .. }),
                "{url}: {error:?}"
            );
            let message = error.to_string();
            assert!(!message.contains("secret"), "{message}");
            assert!(message.starts_with("kv.url: `"), "{message}");
        }
        let error = RedisKv::open("rediss://127.0.0.1:6379").unwrap_err();
        assert!(error.to_string().contains("TLS"), "{error}");
    }

    #[test]
    fn a_policy_without_a_url_is_refused() {
        let policy = Policy::from_toml_str("[kv]\nmax_keys = 5\n", "policy.toml").unwrap();
        let error = RedisKv::from_policy(&policy).unwrap_err();
        assert_eq!(
            error,
            Error::NoUrl {
                policy: Some("policy.toml".to_owned())
            }
        );
        assert_eq!(
            error.to_string(),
            "policy.toml: kv.url: missing: the Redis backend needs `[kv] url = \"redis://host:port/db\"`"
        );
        assert!(RedisKv::from_policy(&Policy::default()).is_err());
    }

    #[test]
    fn it_serves_its_own_url_only() {
        let kv = RedisKv::open("redis://127.0.0.1:6379/0").unwrap();
        assert!(kv.serves_url("redis://127.0.0.1:6379/0"));
        // The same server and database, spelled otherwise.
        assert!(kv.serves_url("redis://127.0.0.1:6379"));
        assert!(kv.serves_url("redis://127.0.0.1/0"));
        assert!(!kv.serves_url("redis://127.0.0.1:6379/1"));
        assert!(!kv.serves_url("redis://127.0.0.1:6380/0"));
        assert!(!kv.serves_url("redis://10.0.0.1:6379/0"));
        assert!(!kv.serves_url("redis://other@127.0.0.1:6379/0"));
        assert!(!kv.serves_url("memory://"));
        assert!(RedisKv::handles("redis://127.0.0.1"));
        assert!(RedisKv::handles("redis+unix:///run/redis.sock"));
        assert!(!RedisKv::handles("memory://"));
        assert!(!RedisKv::handles("127.0.0.1:6379"));
    }

    #[test]
    fn failures_tell_the_guest_why_but_not_where() {
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(
            unavailable(refused),
            KvError::Unavailable("redis: connection refused".to_owned())
        );
        let timeout = RedisError::from(std::io::Error::from(std::io::ErrorKind::WouldBlock));
        assert_eq!(
            unavailable(timeout),
            KvError::Unavailable("redis: no answer before the deadline".to_owned())
        );
        let reset = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(
            unavailable(reset),
            KvError::Unavailable("redis: connection lost".to_owned())
        );
    }
}
