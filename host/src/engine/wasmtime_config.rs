//! Turning an [`EngineBuilder`] into a wasmtime configuration and pool.

use super::EngineBuilder;
use super::builder::Allocator;

impl EngineBuilder {
    pub(super) fn wasmtime_config(
        &self,
        pool: Option<wasmtime::PoolingAllocationConfig>,
    ) -> wasmtime::Config {
        let mut config = wasmtime::Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(self.metering.meters_fuel())
            .epoch_interruption(self.metering.meters_deadline())
            .max_wasm_stack(self.max_wasm_stack)
            .memory_init_cow(true)
            .parallel_compilation(true);
        self.memory_profile
            .configure(&mut config, self.memory_slot_bytes as u64);
        self.configure_debugging(&mut config);
        // Compiled in, wasmtime would give every store concurrency state and
        // accept async components; only an engine that asks for it does.
        #[cfg(feature = "component-model-async")]
        config
            .concurrency_support(self.component_model_async)
            .wasm_component_model_async(self.component_model_async);
        match pool {
            Some(pool) => {
                config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool))
            }
            None => config.allocation_strategy(wasmtime::InstanceAllocationStrategy::OnDemand),
        };
        config
    }

    /// The address space the memories take under the memory profile, for
    /// the mapping budget.
    pub(super) fn memory_reservation(&self) -> crate::mapping_budget::MemoryLayout {
        let slot = self.memory_slot_bytes as u64;
        let profile = self.memory_profile;
        crate::mapping_budget::MemoryLayout {
            pooled_slot: profile.pooled_slot_bytes(slot),
            on_demand: profile.on_demand_bytes(slot),
            pool_guard: profile.leading_guard_bytes(),
            profile: profile.describe_slot(),
            remedy: profile.remedy(),
        }
    }

    /// The pool's configuration, for [`Allocator::Pooling`].
    pub(super) fn pool_config(&self) -> Option<wasmtime::PoolingAllocationConfig> {
        if let Allocator::Pooling { capacity } = self.allocator {
            let mut pool = wasmtime::PoolingAllocationConfig::default();
            let budget = self.instance_budget;
            pool.total_component_instances(capacity)
                // Every instance may hold its whole budget at once, so a
                // full pool means every slot is taken, never that one
                // tenant's needs crowd out another's.
                .max_core_instances_per_component(budget.core_instances)
                .max_memories_per_component(budget.memories)
                .max_tables_per_component(budget.tables)
                .total_core_instances(capacity.saturating_mul(budget.core_instances))
                .total_memories(capacity.saturating_mul(budget.memories))
                .total_tables(capacity.saturating_mul(budget.tables))
                .max_memory_size(self.memory_slot_bytes)
                .linear_memory_keep_resident(self.keep_resident_bytes)
                .table_keep_resident(self.keep_resident_bytes.min(16 << 10))
                // Fiber stacks for async calls and WASI plugins' calls; sync
                // calls of lean plugins run on the caller's stack.
                .total_stacks(self.max_async_calls.unwrap_or(capacity.min(1_000)));
            Some(pool)
        } else {
            None
        }
    }
}
