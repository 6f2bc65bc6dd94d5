//! Extism tenants: the peer Wasm host (`extism` crate, its own wasmtime)
//! running the same `hello` logic written with `extism-pdk`
//! (`density/extism-hello`). The module is compiled once, without Extism's
//! compile cache; each tenant is a `Plugin` made from the compiled one, as
//! Extism's docs recommend for many instances.

use extism::{CompiledPlugin, Manifest, Plugin, PluginBuilder, Wasm};

use crate::method::{Caller, Failure, Fleet, Limit, near_map_limit, split_into};

/// The guest, built by `build.rs`.
const HELLO: &[u8] = include_bytes!(env!("EXTISM_HELLO_WASM"));

/// Live Extism plugins of one compiled module.
pub struct ExtismFleet {
    compiled: CompiledPlugin,
    tenants: Vec<Plugin>,
}

impl std::fmt::Debug for ExtismFleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtismFleet")
            .field("tenants", &self.tenants.len())
            .finish_non_exhaustive()
    }
}

impl ExtismFleet {
    /// Compiles the guest (no WASI, no compile cache).
    ///
    /// # Errors
    ///
    /// Compilation failed.
    pub fn new(capacity: usize) -> Result<Self, Failure> {
        let builder = PluginBuilder::new(Manifest::new([Wasm::data(HELLO)]))
            .with_wasi(false)
            .with_cache_disabled();
        let compiled = CompiledPlugin::new(builder).map_err(|error| classify(&error))?;
        Ok(Self {
            compiled,
            tenants: Vec::with_capacity(capacity),
        })
    }
}

impl Fleet for ExtismFleet {
    fn start_tenant(&mut self, input: &[u8]) -> Result<Vec<u8>, Failure> {
        let mut plugin = Plugin::new_from_compiled(&self.compiled).map_err(|e| classify(&e))?;
        let output = call(&mut plugin, input)?;
        self.tenants.push(plugin);
        Ok(output)
    }

    fn call(&mut self, index: usize, input: &[u8]) -> Result<Vec<u8>, Failure> {
        let plugin = self
            .tenants
            .get_mut(index)
            .ok_or_else(|| Failure::other(format!("no tenant {index}")))?;
        call(plugin, input)
    }

    fn split(&mut self, parts: usize) -> Vec<Box<dyn Caller + '_>> {
        split_into(&mut self.tenants, parts, call)
    }

    fn len(&self) -> usize {
        self.tenants.len()
    }

    fn worker_pids(&self) -> Vec<u32> {
        Vec::new()
    }

    fn worker_cgroups(&self) -> Vec<String> {
        Vec::new()
    }

    fn stop_all(&mut self) -> Result<(), String> {
        self.tenants.clear();
        Ok(())
    }
}

fn call(plugin: &mut Plugin, input: &[u8]) -> Result<Vec<u8>, Failure> {
    plugin
        .call::<&[u8], Vec<u8>>("handle", input)
        .map_err(|error| classify(&error))
}

/// Extism reports OS failures as text: the mapping count says whether the
/// process ran out of mappings; anything else is reported as it is.
fn classify(error: &extism::Error) -> Failure {
    let detail = format!("{error:#}");
    let limit = if near_map_limit() {
        Limit::MaxMapCount
    } else {
        Limit::Other(detail.clone())
    };
    Failure { limit, detail }
}

#[cfg(test)]
mod tests {
    use super::ExtismFleet;
    use crate::method::Fleet as _;

    #[test]
    fn extism_tenants_answer_like_the_plugbox_plugin() {
        let mut fleet = ExtismFleet::new(3).unwrap();
        for input in ["hello, plugbox", "straße", ""] {
            let first = fleet.start_tenant(input.as_bytes()).unwrap();
            assert_eq!(first, input.to_uppercase().as_bytes());
        }
        assert_eq!(fleet.len(), 3);
        assert_eq!(fleet.call(1, b"again").unwrap(), b"AGAIN");
        // Invalid UTF-8 is the guest's error, as in plugbox's `hello`.
        assert!(fleet.call(0, &[0xff, 0xfe]).is_err());
        fleet.stop_all().unwrap();
        assert!(fleet.is_empty());
    }
}
