//! Source-level debugging of plugins, opt-in per engine: file and line in
//! trap backtraces, and Wasm core dumps of a trapped instance.

use super::{Engine, EngineBuilder};
use crate::error::{Error, ErrorKind, Result};

impl EngineBuilder {
    /// Trap backtraces ([`Error::wasm_backtrace`]) name the source file and
    /// line of each frame, for plugins built with DWARF line tables (Rust:
    /// `CARGO_PROFILE_RELEASE_DEBUG=line-tables-only`, or `debug =
    /// "line-tables-only"` in the plugin's release profile). Default: off —
    /// frames name functions only (from the name section), and the
    /// `WASMTIME_BACKTRACE_DETAILS` variable changes nothing.
    ///
    /// On, compiling a component also parses its DWARF (slower to compile,
    /// larger compiled code for plugins that carry it; none for those that
    /// do not). Compiled code cached by an engine with the other setting is
    /// not reused: it is compiled again.
    pub fn backtrace_details(mut self, enable: bool) -> Self {
        self.backtrace_details = enable;
        self
    }

    /// When a call or an instantiation traps, capture a Wasm core dump of
    /// the instance — its memories, globals and the stack at the trap, in
    /// the [tool-conventions core dump format] — and attach it to the error
    /// ([`Error::core_dump`]), for `wasmgdb` and other core dump readers.
    /// Default: off.
    ///
    /// A core dump holds the plugin's whole linear memory: what the plugin
    /// held — its inputs, its key-value reads — ends up in the embedder's
    /// hands and wherever the embedder writes it. Limits (fuel, deadline,
    /// memory) are traps too, and get one.
    ///
    /// Needs the `coredump` cargo feature; without it
    /// [`build`](Self::build) refuses `true` with [`ErrorKind::Config`].
    ///
    /// [tool-conventions core dump format]: https://github.com/WebAssembly/tool-conventions/blob/main/Coredump.md
    pub fn coredump_on_trap(mut self, enable: bool) -> Self {
        self.coredump_on_trap = enable;
        self
    }

    /// Refuses a setting this build cannot honour.
    pub(super) fn check_debugging(&self) -> Result<()> {
        if self.coredump_on_trap && !cfg!(feature = "coredump") {
            return Err(Error::new(
                ErrorKind::Config,
                "EngineBuilder::coredump_on_trap needs plugbox's `coredump` cargo feature, \
                 which this build lacks",
            ));
        }
        Ok(())
    }

    /// The wasmtime settings of both.
    pub(super) fn configure_debugging(&self, config: &mut wasmtime::Config) {
        config.wasm_backtrace_details(if self.backtrace_details {
            wasmtime::WasmBacktraceDetails::Enable
        } else {
            wasmtime::WasmBacktraceDetails::Disable
        });
        #[cfg(feature = "coredump")]
        config.coredump_on_trap(self.coredump_on_trap);
    }
}

impl Engine {
    /// Whether trap backtraces name source lines
    /// ([`EngineBuilder::backtrace_details`]).
    pub fn backtrace_details(&self) -> bool {
        self.inner.settings.backtrace_details
    }

    /// Whether traps carry a core dump ([`EngineBuilder::coredump_on_trap`]).
    pub fn coredump_on_trap(&self) -> bool {
        self.inner.settings.coredump_on_trap
    }
}
