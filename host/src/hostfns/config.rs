//! `config`: read-only values from the policy's `[config]` table.

use crate::bindings::plugbox::plugin::config::Host;
use crate::host::HostContext;

impl Host for HostContext {
    fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.host.config.get(&key).cloned())
    }
}
