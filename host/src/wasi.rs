//! WASI preview 2 for plugins that import it, with no ambient authority:
//! no preopened directories, no environment variables or arguments, closed
//! stdin, discarded stdout/stderr, and no network (every socket address and
//! name lookup denied).
//!
//! Plugins that import no WASI are linked without it and never build a
//! context. For those that do, the context is built lazily, on the first WASI
//! call, so even a WASI plugin that never touches WASI on a call path pays
//! nothing for it there.

use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::error::{Error, ErrorKind, Result};
use crate::host::HostState;

/// One instance's WASI context and resource table.
pub(crate) struct WasiState {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiState {
    /// The deny-by-default context.
    fn deny_all() -> Self {
        let ctx = WasiCtxBuilder::new()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .build();
        Self {
            ctx,
            table: ResourceTable::new(),
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let state = self
            .wasi
            .get_or_insert_with(|| Box::new(WasiState::deny_all()));
        WasiCtxView {
            ctx: &mut state.ctx,
            table: &mut state.table,
        }
    }
}

/// The linker holding every WASI preview 2 interface (synchronous bindings).
pub(crate) fn linker(engine: &wasmtime::Engine) -> Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|error| {
        Error::new(ErrorKind::Config, "linking WASI preview 2").with_wasmtime(error)
    })?;
    Ok(linker)
}
