//! What `std` would give a plugin, for lean `no_std` plugins: an allocator, a
//! panic handler and the component model's `cabi_realloc` export.
//!
//! Compiled only for wasm targets without the `std` feature.

use core::alloc::{GlobalAlloc, Layout};

#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// A panic traps. The host reports the trap (with the wasm backtrace) as a
/// typed error and poisons the instance; formatting the message here would
/// pull `core::fmt` machinery into every plugin for nobody to read.
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

/// The canonical ABI's allocation hook: the host calls it to place arguments
/// (the request bytes) in the plugin's linear memory.
///
/// `std` plugins get it from wasi-libc; lean plugins get it from here.
///
/// # Safety
///
/// Called by the component model's canonical ABI only, with the contract of
/// `realloc` in the canonical ABI: `old_ptr`/`old_len`/`align` describe a
/// previous allocation (or `old_len == 0` for a new one).
#[cfg(target_env = "p2")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cabi_realloc(
    old_ptr: *mut u8,
    old_len: usize,
    align: usize,
    new_len: usize,
) -> *mut u8 {
    if new_len == 0 {
        // A zero-sized allocation needs no memory, only a well-aligned,
        // non-null pointer.
        return align as *mut u8;
    }
    // SAFETY: the canonical ABI passes a power-of-two `align` and sizes that
    // fit the 32-bit address space; a non-zero `old_len` describes an
    // allocation made by this function with the same alignment.
    let ptr = unsafe {
        if old_len == 0 {
            ALLOCATOR.alloc(Layout::from_size_align_unchecked(new_len, align))
        } else {
            ALLOCATOR.realloc(
                old_ptr,
                Layout::from_size_align_unchecked(old_len, align),
                new_len,
            )
        }
    };
    if ptr.is_null() {
        // Out of memory (the host's memory limit): trap, the host reports it.
        core::arch::wasm32::unreachable()
    }
    ptr
}
