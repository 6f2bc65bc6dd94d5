//! plugbox tenants: instances of the workload's `hello` component in this
//! process, with the engine's pooling or on-demand allocator and default
//! limits.

use plugbox::{Allocator, Engine, ErrorKind, HostResource, Instance, Plugin};

use crate::method::{Caller, Failure, Fleet, Limit, limit_of_errno, near_map_limit, split_into};
use crate::workload::Setup;

/// Live plugbox instances of one compiled plugin.
pub struct PlugboxFleet {
    plugin: Plugin,
    tenants: Vec<Instance>,
}

impl std::fmt::Debug for PlugboxFleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlugboxFleet")
            .field("tenants", &self.tenants.len())
            .finish_non_exhaustive()
    }
}

impl PlugboxFleet {
    /// An engine with `allocator` (a pool sized to `capacity` tenants),
    /// `setup`'s compiled-code cache and every other setting at its default,
    /// and `setup`'s plugin compiled on it (or loaded from the cache).
    ///
    /// # Errors
    ///
    /// The plugin is not built here, or the engine or compilation failed,
    /// classified.
    pub fn new(allocator: Allocator, capacity: usize, setup: &Setup) -> Result<Self, Failure> {
        let allocator = match allocator {
            Allocator::Pooling { .. } => Allocator::Pooling {
                capacity: u32::try_from(capacity.max(1)).unwrap_or(u32::MAX),
            },
            other => other,
        };
        let mut builder = Engine::builder().allocator(allocator);
        if let Some(dir) = &setup.cache_dir {
            builder = builder.cache_dir(dir);
        }
        let engine = builder.build().map_err(|error| classify(&error))?;
        let bytes = setup.workload.component().map_err(Failure::other)?;
        let plugin = Plugin::new(&engine, &bytes).map_err(|error| classify(&error))?;
        Ok(Self {
            plugin,
            tenants: Vec::with_capacity(capacity),
        })
    }
}

impl Fleet for PlugboxFleet {
    fn start_tenant(&mut self, input: &[u8]) -> Result<Vec<u8>, Failure> {
        let mut instance = self.plugin.instantiate().map_err(|e| classify(&e))?;
        let response = instance.call(input).map_err(|e| classify(&e))?;
        self.tenants.push(instance);
        Ok(response.output)
    }

    fn call(&mut self, index: usize, input: &[u8]) -> Result<Vec<u8>, Failure> {
        let instance = self
            .tenants
            .get_mut(index)
            .ok_or_else(|| Failure::other(format!("no tenant {index}")))?;
        call(instance, input)
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

fn call(instance: &mut Instance, input: &[u8]) -> Result<Vec<u8>, Failure> {
    Ok(instance.call(input).map_err(|e| classify(&e))?.output)
}

/// The limit behind a plugbox error: its kind first; for `HostResources`
/// (the engine's mapping budget refused the tenant, or the OS its `mmap`),
/// the resource the error names; for other errors caused by the OS, the OS
/// error found in its source chain.
fn classify(error: &plugbox::Error) -> Failure {
    let chain = chain(error);
    let detail = if chain.is_empty() {
        error.to_string()
    } else {
        format!("{error}: {chain}")
    };
    let limit = if error.kind() == ErrorKind::PoolExhausted {
        Limit::PoolCapacity
    } else if let Some(resource) = error.host_resource() {
        match resource {
            HostResource::MemoryMappings => Limit::MaxMapCount,
            HostResource::AddressSpace => Limit::AddressSpace,
            _ => Limit::Other(detail.clone()),
        }
    } else if let Some(limit) = error.os_error().and_then(limit_of_errno) {
        limit
    } else if near_map_limit() {
        // The mapping count is at the sysctl: whatever the error says, the
        // next mapping could not be made.
        Limit::MaxMapCount
    } else {
        Limit::Other(detail.clone())
    };
    Failure { limit, detail }
}

fn chain(error: &plugbox::Error) -> String {
    let mut parts = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(current) = source {
        parts.push(current.to_string());
        source = current.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first instance of an engine whose reserve `builder` sets so large
    /// that the budget refuses it, classified.
    fn refused(builder: plugbox::EngineBuilder) -> Failure {
        let engine = builder.build().unwrap_or_else(|error| panic!("{error}"));
        let artifact = plugbox_artifacts::by_name("hello").unwrap_or_else(|| panic!("plugin"));
        let plugin = Plugin::new(&engine, artifact.bytes).unwrap_or_else(|error| panic!("{error}"));
        match plugin.instantiate() {
            Ok(_) => panic!("the budget let the instance in"),
            Err(error) => classify(&error),
        }
    }

    #[test]
    fn a_budget_refusal_is_labelled_by_the_resource_it_names() {
        for allocator in [Allocator::Pooling { capacity: 4 }, Allocator::OnDemand] {
            // No pooled fiber stacks: their mappings are checked at build.
            let failure = refused(
                Engine::builder()
                    .allocator(allocator)
                    .max_async_calls(0)
                    .host_reserve_mappings(usize::MAX / 2),
            );
            assert_eq!(failure.limit, Limit::MaxMapCount, "{}", failure.detail);
        }
        // Only on-demand instances map address space of their own.
        let failure = refused(
            Engine::builder()
                .allocator(Allocator::OnDemand)
                .host_reserve_address_space(1 << 62),
        );
        assert_eq!(failure.limit, Limit::AddressSpace, "{}", failure.detail);
    }
}
