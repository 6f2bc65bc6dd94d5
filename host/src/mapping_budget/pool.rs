//! The pool's reservation, checked when the engine is built: memory slots,
//! table slots and fiber stacks must fit the address space, and the fiber
//! stacks' mappings the map count, with the reserves to spare.

use super::ledger::{Ledger, Reserve};
use super::{
    ASYNC_STACK_BYTES, MAPS_PER_STACK, MemoryLayout, TABLE_ELEMENT_BYTES, bytes, probe,
    raise_address_limit,
};
use crate::error::{Error, ErrorKind, Result};

/// Refuses a pool that cannot be reserved with the reserve to spare.
pub(super) fn check_pool(
    ledger: &Ledger,
    reserve: Reserve,
    pool: &wasmtime::PoolingAllocationConfig,
    memory: MemoryLayout,
) -> Result<()> {
    let page = probe::page_size();
    let round = |bytes: u64| bytes.div_ceil(page).saturating_mul(page);
    let capacity = pool.get_total_component_instances();
    let memories = u64::from(pool.get_total_memories());
    let slot = round(memory.pooled_slot.max(pool.get_max_memory_size() as u64));
    let tables = u64::from(pool.get_total_tables());
    let table = round((pool.get_table_elements() as u64).saturating_mul(TABLE_ELEMENT_BYTES));
    let stacks = u64::from(pool.get_total_stacks());
    let stack = round(ASYNC_STACK_BYTES).saturating_add(page);
    let needed = memories
        .saturating_mul(slot)
        .saturating_add(round(memory.pool_guard))
        .saturating_add(tables.saturating_mul(table))
        .saturating_add(stacks.saturating_mul(stack));
    let (held, max_maps, used, limit) = ledger.estimate();
    let reserve_bytes = reserve.bytes(limit.bytes());
    let free = limit
        .bytes()
        .saturating_sub(used)
        .saturating_sub(reserve_bytes);
    if needed > free {
        return Err(Error::new(
            ErrorKind::Config,
            format!(
                "the instance pool of capacity {capacity} (Allocator::Pooling) needs {} of \
                 address space ({memories} memory slots of {} ({}), {tables} table slots of {}, \
                 {stacks} fiber stacks of {}), more than the {} this process can still reserve \
                 under {} ({}, {} in use, {} kept free for the host: \
                 EngineBuilder::host_reserve_address_space). {}, or {}",
                bytes(needed),
                bytes(slot),
                memory.profile,
                bytes(table),
                bytes(stack),
                bytes(free),
                limit.name(),
                bytes(limit.bytes()),
                bytes(used),
                bytes(reserve_bytes),
                memory.remedy,
                raise_address_limit(limit),
            ),
        ));
    }
    // The memory slots are one reservation, which must fit in one free
    // range of the address space.
    let slab = memories
        .saturating_mul(slot)
        .saturating_add(round(memory.pool_guard));
    if let Some(largest) = probe::largest_free_range()
        && slab > largest
    {
        return Err(Error::new(
            ErrorKind::Config,
            format!(
                "the instance pool of capacity {capacity} (Allocator::Pooling) reserves its \
                 {memories} memory slots of {} ({}) as one range of {} of address space, \
                 larger than the largest range this process has free, {} (the program, its \
                 libraries, heap and stacks split {}). {}, or run fewer instances per process",
                bytes(slot),
                memory.profile,
                bytes(slab),
                bytes(largest),
                limit.name(),
                memory.remedy,
            ),
        ));
    }
    // Each pooled fiber stack is two mappings (the stack, its guard page).
    let stack_maps = usize::try_from(stacks)
        .unwrap_or(usize::MAX)
        .saturating_mul(MAPS_PER_STACK);
    let reserve_maps = reserve.maps(max_maps);
    let needed_maps = held.saturating_add(stack_maps).saturating_add(reserve_maps);
    if max_maps != usize::MAX && stack_maps > 0 && needed_maps > max_maps {
        return Err(Error::new(
            ErrorKind::Config,
            format!(
                "the instance pool's {stacks} fiber stacks (EngineBuilder::max_async_calls) \
                 need {stack_maps} memory mappings; the process holds about {held} of the \
                 {max_maps} that vm.max_map_count allows and keeps {reserve_maps} free for the \
                 host (EngineBuilder::host_reserve_mappings). Lower max_async_calls, or raise \
                 the limit: `sysctl -w vm.max_map_count={}`",
                needed_maps.saturating_mul(2)
            ),
        ));
    }
    Ok(())
}
