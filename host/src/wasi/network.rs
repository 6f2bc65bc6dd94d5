//! Network: denied. No TCP, no UDP, no name lookups, and every socket
//! address refused, whatever the guest asks for.

use wasmtime_wasi::WasiCtxBuilder;

use crate::error::Result;
use crate::policy::Policy;

#[derive(Debug)]
pub(super) struct Grant;

impl Grant {
    pub(super) fn configure(_policy: &Policy) -> Result<Self> {
        Ok(Self)
    }

    pub(super) fn grant(&self, builder: &mut WasiCtxBuilder) {
        builder
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }));
    }
}
