//! A plugin's policy — its limits and the authority it is granted — as data:
//! TOML or JSON, every field optional, unknown fields rejected, everything
//! denied unless granted.
//!
//! The TOML form, with every field and its default:
//!
//! ```toml
//! # The plugin's name in logs (and in its default key-value namespace).
//! # Default: derived from the component's content hash. (Top-level keys
//! # come before the first table.)
//! name = "discount"
//!
//! # Per-call and per-instance limits (defaults: plugbox::Limits::default()).
//! # `fuel` needs an engine that meters fuel, `deadline_ms` one that meters
//! # the deadline (EngineBuilder::metering; the default meters both): set on
//! # an engine that does not, the policy is refused (ErrorKind::Config).
//! [limits]
//! fuel = 1000000000          # per call; not with Metering::DeadlineOnly
//! deadline_ms = 1000         # per call, wall clock; not with Metering::FuelOnly
//! max_memory_bytes = 16777216
//! max_table_elements = 10000
//! max_instances = 16
//! max_tables = 16
//! max_memories = 4
//! max_input_bytes = 1048576
//! max_output_bytes = 1048576
//! max_log_bytes = 65536      # per call: `log` messages and traced stdio lines
//!
//! # Read-only values for the `config` host function. Default: none.
//! [config]
//! currency = "EUR"
//!
//! # A private key-value store. Absent: denied. Without `namespace`, the data
//! # is private to this loaded plugin (one `Plugin::new`, and within it this
//! # `name`): another load of the same component, or a restart, starts
//! # empty. Plugins only share data if given the same namespace, which is
//! # also what keeps data across loads (e.g. in a persistent backend).
//! #
//! # `url` names the store: absent, the engine's own backend (in memory by
//! # default); `redis://host:port/db` needs the Redis backend of crate
//! # `plugbox-kv-redis` (`RedisKv`) on the engine, which the `plugbox` CLI
//! # picks by the url's scheme. Applying a policy whose `url` the engine's
//! # backend does not serve is an error. Quotas hold per namespace, across
//! # every host sharing the store.
//! [kv]
//! url = "redis://127.0.0.1:6379/0"
//! namespace = "discount"
//! max_keys = 1000
//! max_bytes = 1048576        # keys and values together
//! max_key_bytes = 256
//! timeout_ms = 100           # most one operation may take (and never past
//!                            # the call's deadline): then `unavailable`
//!
//! # Environment variables the plugin sees. Default: none.
//! [env]
//! vars = { GREETING = "hello" }  # set to these values
//! inherit = ["LANG"]             # copied from the host's environment, if set there
//!
//! # Arguments the plugin sees (`args[0]` included). Default: none.
//! [args]
//! values = ["discount", "--strict"]
//!
//! # Host directories the plugin may use. Default: none.
//! # `host` is relative to the policy file's directory.
//! [[mounts]]
//! host = "data"
//! guest = "/data"
//! mode = "read-only"         # or "read-write"
//!
//! # Where the plugin's stdout and stderr go: "discard" (default),
//! # "capture" (kept per instance, up to capture_bytes, then truncated and
//! # flagged) or "tracing" (the host's `tracing` logs, target "plugbox::guest",
//! # one event per line of at most capture_bytes, within max_log_bytes per call).
//! [stdio]
//! stdout = "discard"
//! stderr = "discard"
//! capture_bytes = 65536
//!
//! # Time: "real" (default), or "fixed" at unix_seconds, for replayable calls.
//! [clock]
//! mode = "real"
//! unix_seconds = 0
//!
//! # Randomness: "real" (default), or "seeded" with seed, for replayable calls.
//! [random]
//! mode = "real"
//! seed = 0
//! ```
//!
//! The network is always denied: a plugin can neither open sockets nor
//! resolve names, and there is no setting to change that yet.
//!
//! Errors name the file, the line and the path of the field: when parsing
//! (`policy.toml:5:10: stdio.stdout: unknown variant ...`), and when the
//! policy is applied to a plugin (`policy.toml:7: mounts[1].guest: ...`,
//! from its [`Origin`]; JSON policies keep no lines for these).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[cfg(doc)]
use crate::limits::Limits;

/// Limits and capabilities of a plugin, as serde data. See the [module
/// documentation](self) for the TOML form.
///
/// ```
/// let policy = plugbox::Policy::from_toml_str(
///     r#"
///     [limits]
///     fuel = 11000000
///     [env]
///     vars = { MODE = "strict" }
///     [clock]
///     mode = "fixed"
///     unix_seconds = 1700000000
///     "#,
///     "inline policy",
/// )?;
/// assert_eq!(policy.limits().fuel_per_call(), 11_000_000);
/// # Ok::<(), plugbox::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// The plugin's name in logs (and in its default key-value namespace).
    pub name: Option<String>,
    /// Values for the `config` host function.
    pub config: BTreeMap<String, String>,
    /// The key-value store; `None` denies it.
    pub kv: Option<KvPolicy>,
    /// Limits; absent fields keep [`Limits::default`].
    pub limits: LimitsPolicy,
    /// Environment variables.
    pub env: EnvPolicy,
    /// Arguments.
    pub args: ArgsPolicy,
    /// Host directories.
    pub mounts: Vec<Mount>,
    /// stdout and stderr.
    pub stdio: StdioPolicy,
    /// Wall-clock time.
    pub clock: ClockPolicy,
    /// Randomness.
    pub random: RandomPolicy,
    /// Directory that relative mount paths are resolved against: the policy
    /// file's directory, or the current directory for inline policies.
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
    /// Where the policy was loaded from, so that errors found when it is
    /// applied name the file, line and field. Ignored by `==`.
    #[serde(skip)]
    pub origin: Origin,
}

/// The `[limits]` table: each field overrides the [`Limits::default`] value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)] // Each field is the `Limits` setter of the same name.
pub struct LimitsPolicy {
    pub fuel: Option<u64>,
    pub deadline_ms: Option<u64>,
    pub max_memory_bytes: Option<usize>,
    pub max_table_elements: Option<usize>,
    pub max_instances: Option<usize>,
    pub max_tables: Option<usize>,
    pub max_memories: Option<usize>,
    pub max_input_bytes: Option<usize>,
    pub max_output_bytes: Option<usize>,
    pub max_log_bytes: Option<usize>,
}

/// The `[kv]` table: a private key-value store and its quotas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KvPolicy {
    /// The store, e.g. `redis://127.0.0.1:6379/0`; `None`: the engine's
    /// backend, whatever it is. The engine's backend must serve this url
    /// ([`KvStore::serves_url`](crate::KvStore::serves_url)), or applying
    /// the policy fails with [`ErrorKind::Config`](crate::ErrorKind::Config).
    pub url: Option<String>,
    /// The namespace, shared with every plugin given the same one. Default:
    /// private to the loaded plugin (see
    /// [`Plugin::with_policy`](crate::Plugin::with_policy)).
    pub namespace: Option<String>,
    /// Most keys.
    pub max_keys: usize,
    /// Most bytes of keys and values together.
    pub max_bytes: usize,
    /// Longest key.
    pub max_key_bytes: usize,
    /// The most one operation may take, in milliseconds: the backend is
    /// given the sooner of this and the call's deadline, after which it
    /// answers `unavailable` (a store that is down or slow never holds a
    /// call to its deadline).
    pub timeout_ms: u64,
}

impl Default for KvPolicy {
    fn default() -> Self {
        Self {
            url: None,
            namespace: None,
            max_keys: 1000,
            max_bytes: 1 << 20,
            max_key_bytes: 256,
            timeout_ms: 100,
        }
    }
}

/// The `[env]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnvPolicy {
    /// Variables set to these values.
    pub vars: BTreeMap<String, String>,
    /// Names of host variables passed through (if the host has them).
    pub inherit: Vec<String>,
}

/// The `[args]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArgsPolicy {
    /// The arguments, `args[0]` included.
    pub values: Vec<String>,
}

/// One `[[mounts]]` entry: a host directory the plugin sees at `guest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    /// The host directory (relative paths: against the policy's base dir).
    pub host: PathBuf,
    /// Where the plugin sees it, e.g. `/data`.
    pub guest: String,
    /// Read-only (the default) or read-write.
    #[serde(default)]
    pub mode: MountMode,
}

/// Whether a mount may be written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MountMode {
    /// Reads only; any write is denied.
    #[default]
    ReadOnly,
    /// Reads and writes (within the mount only).
    ReadWrite,
}

/// The `[stdio]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StdioPolicy {
    /// Where stdout goes.
    pub stdout: Output,
    /// Where stderr goes.
    pub stderr: Output,
    /// With `capture`: bytes kept per stream and instance; the rest is
    /// dropped and the capture flagged as truncated. With `tracing`: bytes
    /// logged of one line; the rest of the line is counted in its event
    /// (`… (N more bytes)`), never logged as more events.
    pub capture_bytes: usize,
}

impl Default for StdioPolicy {
    fn default() -> Self {
        Self {
            stdout: Output::Discard,
            stderr: Output::Discard,
            capture_bytes: 64 << 10,
        }
    }
}

/// Where one output stream goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Output {
    /// Dropped.
    #[default]
    Discard,
    /// Kept per instance (see [`Instance::take_stdout`](crate::Instance::take_stdout)).
    Capture,
    /// Logged through `tracing` (target `plugbox::guest`), line by line,
    /// with the plugin's name (field `plugin`) and the stream (`stream`),
    /// escaped ([`safe_text`](crate::safe_text)). Lines spend the call's
    /// [`Limits::max_log_bytes`](crate::Limits::max_log_bytes) with the
    /// `log` host function; beyond it they are dropped and counted
    /// ([`Instance::logs_dropped`](crate::Instance::logs_dropped)).
    Tracing,
}

/// The `[clock]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClockPolicy {
    /// Real time, or a fixed instant.
    pub mode: ClockMode,
    /// With `fixed`: the wall-clock time the plugin sees, in seconds since
    /// the Unix epoch. Its monotonic clock then stands still too.
    pub unix_seconds: u64,
}

/// Real or fixed time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockMode {
    /// The host's clocks.
    #[default]
    Real,
    /// A fixed instant (replayable calls).
    Fixed,
}

/// The `[random]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RandomPolicy {
    /// Real or seeded randomness.
    pub mode: RandomMode,
    /// With `seeded`: the seed. Every instance starts from it.
    pub seed: u64,
}

/// Real or seeded randomness.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RandomMode {
    /// Fresh, unpredictable randomness.
    #[default]
    Real,
    /// A deterministic generator seeded with `seed` (replayable calls).
    Seeded,
}

mod load;
mod origin;
#[cfg(test)]
mod tests;

pub use origin::Origin;
