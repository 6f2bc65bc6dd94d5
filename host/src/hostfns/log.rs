//! `log`: guest messages into the host's `tracing` logs (target
//! `plugbox::plugin`, with the plugin's name), bounded per call.

use crate::bindings::plugbox::plugin::log::{Host, Level};
use crate::host::HostContext;

impl Host for HostContext {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let budget = &mut self.budget;
        if message.len() > budget.log_bytes_left {
            budget.log_bytes_left = 0;
            budget.logs_dropped += 1;
            return Ok(());
        }
        budget.log_bytes_left -= message.len();
        let plugin = self.host.plugin.as_str();
        match level {
            Level::Trace => tracing::trace!(target: "plugbox::plugin", plugin, "{message}"),
            Level::Debug => tracing::debug!(target: "plugbox::plugin", plugin, "{message}"),
            Level::Info => tracing::info!(target: "plugbox::plugin", plugin, "{message}"),
            Level::Warn => tracing::warn!(target: "plugbox::plugin", plugin, "{message}"),
            Level::Error => tracing::error!(target: "plugbox::plugin", plugin, "{message}"),
        }
        Ok(())
    }
}
