//! Host bindings generated from the plugbox WIT world (`wit/plugin.wit`).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    // Host functions return `wasmtime::Result<T>`: an `Err` traps (a fault),
    // while refusals the guest should handle are the WIT-level errors inside.
    imports: { default: trappable },
});
