//! `log`: guest messages into the host's `tracing` logs (target
//! `plugbox::plugin`, with the plugin's name), bounded per call by
//! [`Limits::max_log_bytes`](crate::Limits::max_log_bytes). The message and
//! the name are escaped ([`safe_text`](crate::safe_text)): whatever the guest
//! sends, each event is one inert line in any log.

use crate::bindings::plugbox::plugin::log::{Host, Level};
use crate::host::HostContext;
use crate::safe_text::escape;

impl Host for HostContext {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        if !self.budget.charge(message.len()) {
            return Ok(());
        }
        let plugin = escape(&self.host.plugin);
        let message = escape(&message);
        match level {
            Level::Trace => tracing::trace!(target: "plugbox::plugin", %plugin, "{message}"),
            Level::Debug => tracing::debug!(target: "plugbox::plugin", %plugin, "{message}"),
            Level::Info => tracing::info!(target: "plugbox::plugin", %plugin, "{message}"),
            Level::Warn => tracing::warn!(target: "plugbox::plugin", %plugin, "{message}"),
            Level::Error => tracing::error!(target: "plugbox::plugin", %plugin, "{message}"),
        }
        Ok(())
    }
}
