//! Host bindings generated from the plugbox WIT world (`wit/plugin.wit`).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
});
