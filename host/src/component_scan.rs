//! What plugbox reads off a component's bytes before compiling it: checks
//! that turn what the compiler would report vaguely into precise refusals.

use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};

/// Rejects what is obviously not a component before the compiler sees it,
/// with a message that says what it is instead.
pub(crate) fn check_header(bytes: &[u8]) -> Result<()> {
    // The preamble: `\0asm`, then a 16-bit version and a 16-bit layer
    // (layer 0 is a core module, layer 1 a component).
    const MAGIC: &[u8] = b"\0asm";
    const CORE_MODULE: [u8; 4] = [0x01, 0x00, 0x00, 0x00];
    const COMPONENT: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];
    if bytes.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidComponent,
            "empty input (0 bytes)",
        ));
    }
    let preamble = bytes.get(4..8);
    if bytes.starts_with(MAGIC) && preamble == Some(&COMPONENT[..]) {
        return Ok(());
    }
    let message = if bytes.starts_with(MAGIC) && preamble == Some(&CORE_MODULE[..]) {
        "this is a core WebAssembly module, not a component; build plugins for \
         `wasm32-wasip2` (or wrap the module with `wasm-tools component new`)"
            .to_string()
    } else if bytes.starts_with(b"\0asm") {
        "unsupported WebAssembly binary version or layer".to_string()
    } else {
        format!(
            "not WebAssembly: {} bytes without the `\\0asm` magic",
            bytes.len()
        )
    };
    Err(Error::new(ErrorKind::InvalidComponent, message))
}

/// A pooled engine cannot hold a memory whose *initial* size exceeds its
/// slot; wasmtime would refuse to compile it with an untyped error. Say so as
/// what it is: a memory limit, naming both sizes.
pub(crate) fn check_initial_memory(engine: &Engine, bytes: &[u8]) -> Result<()> {
    if engine.allocator() == crate::Allocator::OnDemand {
        return Ok(());
    }
    let Some(initial) = largest_initial_memory(bytes) else {
        return Ok(());
    };
    let slot = engine.memory_slot_bytes() as u64;
    if initial > slot {
        return Err(Error::new(
            ErrorKind::MemoryLimit,
            format!(
                "the component starts with {initial} bytes of linear memory, more than this \
                 engine's {slot}-byte memory slots (EngineBuilder::memory_slot_bytes)"
            ),
        ));
    }
    Ok(())
}

/// The largest initial size, in bytes, of any memory a core module of the
/// component defines. `None` if the bytes do not parse (the compiler then
/// reports why).
fn largest_initial_memory(bytes: &[u8]) -> Option<u64> {
    use wasmparser::{Parser, Payload};
    let mut largest = 0u64;
    for payload in Parser::new(0).parse_all(bytes) {
        if let Payload::MemorySection(memories) = payload.ok()? {
            for memory in memories {
                let memory = memory.ok()?;
                let page = 1u64 << memory.page_size_log2.unwrap_or(16);
                largest = largest.max(memory.initial.saturating_mul(page));
            }
        }
    }
    Some(largest)
}
