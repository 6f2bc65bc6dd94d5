//! The one error type of the library, and its kinds.

use std::fmt;

use crate::safe_text::escape;

/// What went wrong, for callers to branch on.
///
/// Match on this, never on the error's text. New kinds may be added in minor
/// releases, hence `#[non_exhaustive]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The call used up its fuel ([`Limits::fuel`](crate::Limits::fuel)).
    FuelExhausted,
    /// The call ran past its wall-clock deadline
    /// ([`Limits::deadline`](crate::Limits::deadline)).
    DeadlineExceeded,
    /// The plugin tried to grow (or start with) linear memory beyond
    /// [`Limits::max_memory_bytes`](crate::Limits::max_memory_bytes) or its
    /// engine's memory slot, and trapped as a result.
    MemoryLimit,
    /// The plugin tried to grow a table beyond
    /// [`Limits::max_table_elements`](crate::Limits::max_table_elements).
    TableLimit,
    /// Instantiation needed more instances, memories or tables than
    /// [`Limits`](crate::Limits) allows one instance.
    InstanceLimit,
    /// The plugin overflowed the wasm stack
    /// ([`EngineBuilder::max_wasm_stack`](crate::EngineBuilder::max_wasm_stack)).
    StackOverflow,
    /// The embedder cancelled the call from another thread
    /// ([`Canceller::cancel`](crate::Canceller::cancel)).
    Cancelled,
    /// Any other trap: `unreachable`, a panic in the guest, an out-of-bounds
    /// access, a division by zero... [`Error::wasm_backtrace`] says where.
    Trap,
    /// The plugin returned an error on purpose (the `err` of its `handle`
    /// result). The instance stays usable.
    Guest,
    /// The instance trapped earlier and cannot be called again; instantiate a
    /// fresh one from its [`Plugin`](crate::Plugin).
    Poisoned,
    /// The bytes are not a valid WebAssembly component (empty, truncated,
    /// random, a core module, or rejected by validation or compilation).
    InvalidComponent,
    /// The component is valid but does not fit the plugbox world: an export
    /// is missing or has the wrong type, or an import cannot be satisfied.
    InterfaceMismatch,
    /// The request is larger than
    /// [`Limits::max_input_bytes`](crate::Limits::max_input_bytes).
    InputTooLarge,
    /// The response is larger than
    /// [`Limits::max_output_bytes`](crate::Limits::max_output_bytes).
    OutputTooLarge,
    /// The engine's instance pool is full: every slot is in use by a live
    /// [`Instance`](crate::Instance).
    PoolExhausted,
    /// The host has no room for the instance: the engine's mapping budget
    /// refused it because it would eat into the reserve kept free for the
    /// host below `vm.max_map_count` or the address-space limit
    /// ([`EngineBuilder::host_reserve_mappings`](crate::EngineBuilder::host_reserve_mappings)),
    /// or the operating system refused its memory (`mmap` failed;
    /// [`Error::os_error`] has the code). [`Error::host_resource`] says
    /// which resource. Not the plugin's doing: the same instance may succeed
    /// once other instances are dropped or the limit is raised.
    HostResources,
    /// A policy is malformed (unknown field, wrong type, bad value); the
    /// message names the file, line and field.
    InvalidPolicy,
    /// Reading a file or the engine's cache failed.
    Io,
    /// The engine configuration is invalid (e.g. limits larger than the pool
    /// slots they must fit).
    Config,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: &'static [Self] = &[
        Self::FuelExhausted,
        Self::DeadlineExceeded,
        Self::MemoryLimit,
        Self::TableLimit,
        Self::InstanceLimit,
        Self::StackOverflow,
        Self::Cancelled,
        Self::Trap,
        Self::Guest,
        Self::Poisoned,
        Self::InvalidComponent,
        Self::InterfaceMismatch,
        Self::InputTooLarge,
        Self::OutputTooLarge,
        Self::PoolExhausted,
        Self::HostResources,
        Self::InvalidPolicy,
        Self::Io,
        Self::Config,
    ];

    /// A stable `snake_case` name, as metrics label outcomes with it
    /// (`fuel_exhausted`, `deadline_exceeded`, ...).
    pub fn label(self) -> &'static str {
        match self {
            Self::FuelExhausted => "fuel_exhausted",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::MemoryLimit => "memory_limit",
            Self::TableLimit => "table_limit",
            Self::InstanceLimit => "instance_limit",
            Self::StackOverflow => "stack_overflow",
            Self::Cancelled => "cancelled",
            Self::Trap => "trap",
            Self::Guest => "guest",
            Self::Poisoned => "poisoned",
            Self::InvalidComponent => "invalid_component",
            Self::InterfaceMismatch => "interface_mismatch",
            Self::InputTooLarge => "input_too_large",
            Self::OutputTooLarge => "output_too_large",
            Self::PoolExhausted => "pool_exhausted",
            Self::HostResources => "host_resources",
            Self::InvalidPolicy => "invalid_policy",
            Self::Io => "io",
            Self::Config => "config",
        }
    }

    /// Whether this kind is a trap, after which the instance is poisoned.
    pub fn is_trap(self) -> bool {
        matches!(
            self,
            Self::FuelExhausted
                | Self::DeadlineExceeded
                | Self::MemoryLimit
                | Self::TableLimit
                | Self::StackOverflow
                | Self::Cancelled
                | Self::Trap
        )
    }

    fn describe(self) -> &'static str {
        match self {
            Self::FuelExhausted => "fuel exhausted",
            Self::DeadlineExceeded => "deadline exceeded",
            Self::MemoryLimit => "memory limit exceeded",
            Self::TableLimit => "table limit exceeded",
            Self::InstanceLimit => "instance limit exceeded",
            Self::StackOverflow => "wasm stack overflow",
            Self::Cancelled => "call cancelled",
            Self::Trap => "plugin trapped",
            Self::Guest => "plugin returned an error",
            Self::Poisoned => "instance is poisoned by an earlier trap",
            Self::InvalidComponent => "invalid component",
            Self::InterfaceMismatch => "component does not fit the plugbox world",
            Self::InputTooLarge => "input too large",
            Self::OutputTooLarge => "output too large",
            Self::PoolExhausted => "instance pool exhausted",
            Self::HostResources => "host resources exhausted",
            Self::InvalidPolicy => "invalid policy",
            Self::Io => "I/O error",
            Self::Config => "invalid configuration",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// An error from plugbox: a [`kind`](Error::kind) to branch on, a message
/// for people, the underlying cause as [`source`](std::error::Error::source),
/// and for traps the wasm backtrace.
///
/// Its `Display` (and `Debug`) is safe to print and log whatever the plugin
/// put in it: the message, which may quote a guest (a guest error's own text,
/// a trap quoting guest data), is shown through [`safe_text::escape`]
/// (control characters, newlines and bidi overrides escaped: one inert line)
/// and cut after [`Error::DISPLAY_MESSAGE_BYTES`] bytes, saying how many were
/// left out. The raw text stays available: [`Error::guest_message`],
/// [`Error::message`]. The [`source`](std::error::Error::source) chain and
/// [`Error::wasm_backtrace`] are raw too (a backtrace names the guest's own
/// functions): escape them before printing.
///
/// [`safe_text::escape`]: crate::safe_text::escape
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: String,
    source: Option<Source>,
    wasm_backtrace: Option<String>,
    core_dump: Option<Vec<u8>>,
    host_resource: Option<crate::mapping_budget::HostResource>,
}

enum Source {
    Wasmtime(wasmtime::Error),
    Io(std::io::Error),
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                source: None,
                wasm_backtrace: None,
                core_dump: None,
                host_resource: None,
            }),
        }
    }

    pub(crate) fn with_wasmtime(mut self, source: wasmtime::Error) -> Self {
        if let Some(backtrace) = source.downcast_ref::<wasmtime::WasmBacktrace>() {
            self.inner.wasm_backtrace = Some(backtrace.to_string());
        }
        self.inner.source = Some(Source::Wasmtime(source));
        self
    }

    #[cfg(feature = "coredump")]
    pub(crate) fn with_core_dump(mut self, core_dump: Vec<u8>) -> Self {
        self.inner.core_dump = Some(core_dump);
        self
    }

    pub(crate) fn with_host_resource(
        mut self,
        resource: crate::mapping_budget::HostResource,
    ) -> Self {
        self.inner.host_resource = Some(resource);
        self
    }

    pub(crate) fn io(message: impl Into<String>, source: std::io::Error) -> Self {
        let mut error = Self::new(ErrorKind::Io, message);
        error.inner.source = Some(Source::Io(source));
        error
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The most bytes of the message that `Display` shows (4 KiB); the rest
    /// is counted (`… (N more bytes)`).
    pub const DISPLAY_MESSAGE_BYTES: usize = 4096;

    /// The message, without the kind or the cause (for a guest error: the
    /// plugin's own message), raw: it may hold control characters from the
    /// plugin. Print it through [`safe_text::escape`](crate::safe_text::escape),
    /// or print the error itself.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// For [`ErrorKind::Guest`]: the plugin's own error message, exactly as
    /// it returned it (up to [`Limits::max_output_bytes`]), control
    /// characters and all. `None` for every other kind.
    ///
    /// [`Limits::max_output_bytes`]: crate::Limits::max_output_bytes
    pub fn guest_message(&self) -> Option<&str> {
        (self.inner.kind == ErrorKind::Guest).then_some(self.inner.message.as_str())
    }

    /// For traps: the wasm call stack at the trap, innermost frame first, as
    /// wasmtime prints it (function names come from the component's name
    /// section).
    pub fn wasm_backtrace(&self) -> Option<&str> {
        self.inner.wasm_backtrace.as_deref()
    }

    /// For traps on an engine built with
    /// [`EngineBuilder::coredump_on_trap`](crate::EngineBuilder::coredump_on_trap):
    /// a Wasm core dump of the instance at the trap (a `.wasm` file in the
    /// [tool-conventions format], named after the plugin), to write to a
    /// file for a core dump reader. Raw guest memory: treat it as the
    /// plugin's data.
    ///
    /// [tool-conventions format]: https://github.com/WebAssembly/tool-conventions/blob/main/Coredump.md
    pub fn core_dump(&self) -> Option<&[u8]> {
        self.inner.core_dump.as_deref()
    }

    /// Whether this is a trap, after which the instance is poisoned.
    pub fn is_trap(&self) -> bool {
        self.inner.kind.is_trap()
    }

    /// For [`ErrorKind::HostResources`]: which resource ran out (memory
    /// mappings or address space), whether the engine's mapping budget
    /// refused the instance first or the OS refused its `mmap`.
    pub fn host_resource(&self) -> Option<crate::mapping_budget::HostResource> {
        self.inner.host_resource
    }

    /// The operating system's error code behind this error, if an OS call
    /// failed (for [`ErrorKind::HostResources`]: `ENOMEM` from `mmap`; for
    /// [`ErrorKind::Io`]: the file system's).
    pub fn os_error(&self) -> Option<i32> {
        match self.inner.source.as_ref()? {
            Source::Io(error) => error.raw_os_error(),
            Source::Wasmtime(error) => os_error_in(error),
        }
    }
}

/// The OS error code anywhere in a wasmtime error's chain: wasmtime reports
/// failed system calls as rustix `Errno`s (or, from `std`, `io::Error`s).
pub(crate) fn os_error_in(error: &wasmtime::Error) -> Option<i32> {
    error.chain().find_map(|cause| {
        cause
            .downcast_ref::<rustix::io::Errno>()
            .map(|errno| errno.raw_os_error())
            .or_else(|| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .and_then(std::io::Error::raw_os_error)
            })
    })
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Error");
        debug
            .field("kind", &self.inner.kind)
            .field("message", &self.inner.message);
        if let Some(source) = &self.inner.source {
            match source {
                Source::Wasmtime(error) => {
                    debug.field("source", &format_args!("{}", escape(&format!("{error:#}"))))
                }
                Source::Io(error) => debug.field("source", error),
            };
        }
        // The source's chain already includes the wasm backtrace.
        debug.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.inner.message.is_empty() {
            write!(f, "{}", self.inner.kind)
        } else {
            let message = escape(&self.inner.message).truncate(Self::DISPLAY_MESSAGE_BYTES);
            write!(f, "{}: {message}", self.inner.kind)
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self.inner.source.as_ref()? {
            Source::Wasmtime(error) => Some(error.as_ref()),
            Source::Io(error) => Some(error),
        }
    }
}

/// `Result` with plugbox's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_kind_in_declaration_order_with_distinct_labels() {
        for (index, kind) in ErrorKind::ALL.iter().enumerate() {
            // Metrics index their per-outcome counters by discriminant.
            assert_eq!(*kind as usize, index, "{kind:?}");
        }
        let labels: std::collections::BTreeSet<_> =
            ErrorKind::ALL.iter().map(|kind| kind.label()).collect();
        assert_eq!(labels.len(), ErrorKind::ALL.len());
        assert!(!labels.contains("ok"));
    }

    #[test]
    fn display_names_kind_and_message() {
        let error = Error::new(ErrorKind::InputTooLarge, "70000 bytes, limit 65536");
        assert_eq!(
            error.to_string(),
            "input too large: 70000 bytes, limit 65536"
        );
        assert_eq!(error.kind(), ErrorKind::InputTooLarge);
        assert!(!error.is_trap());
    }

    #[test]
    fn display_of_a_guest_message_is_one_inert_line_and_the_raw_text_is_kept() {
        let hostile =
            "\x1b[2J\x1b[31mPWNED\x1b]0;title\x07 line2\nforged: INFO fake \u{202e}gpj.exe\0";
        let error = Error::new(ErrorKind::Guest, hostile);
        let shown = error.to_string();
        assert_eq!(
            shown,
            r"plugin returned an error: \x1b[2J\x1b[31mPWNED\x1b]0;title\x07 line2\nforged: INFO fake \u{202e}gpj.exe\0"
        );
        assert!(
            !shown.chars().any(crate::safe_text::is_escaped),
            "{shown:?}"
        );
        assert!(
            !format!("{error:?}")
                .chars()
                .any(crate::safe_text::is_escaped)
        );
        assert_eq!(error.guest_message(), Some(hostile));
        assert_eq!(error.message(), hostile);
        // Only guest errors have a guest message.
        assert_eq!(Error::new(ErrorKind::Trap, "x").guest_message(), None);
    }

    #[test]
    fn display_cuts_a_flood_and_counts_what_it_left_out() {
        let flood = "\0".repeat(1 << 20);
        let error = Error::new(ErrorKind::Guest, flood.clone());
        let shown = error.to_string();
        let kept = Error::DISPLAY_MESSAGE_BYTES;
        assert_eq!(
            shown,
            format!(
                "plugin returned an error: {}… ({} more bytes)",
                r"\0".repeat(kept),
                (1 << 20) - kept
            )
        );
        assert_eq!(error.guest_message(), Some(flood.as_str()));
    }

    #[test]
    fn io_error_keeps_its_source() {
        let error = Error::io(
            "reading plugin.wasm",
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert_eq!(error.kind(), ErrorKind::Io);
        assert!(std::error::Error::source(&error).is_some());
    }

    #[test]
    fn error_is_small_and_thread_safe() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Error>();
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }
}
