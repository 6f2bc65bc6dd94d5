//! Host bindings generated from the plugbox WIT world (`wit/plugin.wit`).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    // Host functions return `wasmtime::Result<T>`: an `Err` traps (a fault),
    // while refusals the guest should handle are the WIT-level errors inside.
    imports: { default: trappable },
});

/// The same world with `async` exports, for
/// [`Instance::call_async`](crate::Instance::call_async). Only its export
/// side is used: host functions are linked once, from the parent module.
pub(crate) mod async_exports {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "plugin",
        imports: { default: trappable },
        exports: { default: async },
    });
}
