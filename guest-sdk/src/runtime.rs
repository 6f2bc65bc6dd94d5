//! What `std` would give a plugin, for lean `no_std` plugins: an allocator, a
//! panic handler and the component model's `cabi_realloc` export.
//!
//! Compiled only for wasm targets without the `std` feature.

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32;
use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::{AtomicBool, Ordering};

use dlmalloc::Dlmalloc;

#[cfg(target_feature = "atomics")]
compile_error!("plugbox-guest's lean runtime is single-threaded; build with the `std` feature");

const WASM_PAGE: usize = 64 << 10;

/// dlmalloc over the plugin's linear memory.
///
/// Two choices keep a fresh instance from growing its memory (a growth costs
/// the host page-protection changes on every instantiation, measured at
/// several microseconds): the heap the linker leaves at the end of the
/// initial memory (from `__heap_base` to the last initial page) is used
/// before any `memory.grow`, and dlmalloc asks for memory in 4 KiB steps
/// instead of whole 64 KiB pages, so small plugins often never grow at all.
struct Heap(UnsafeCell<Dlmalloc<LinearMemory>>);

// SAFETY: without the `atomics` target feature (checked above) a wasm plugin
// has exactly one thread, so the allocator is never used concurrently.
unsafe impl Sync for Heap {}

#[global_allocator]
static ALLOCATOR: Heap = Heap(UnsafeCell::new({
    let mut heap = Dlmalloc::new_with_allocator(LinearMemory);
    assert!(heap.set_granularity(4096));
    heap
}));

unsafe impl GlobalAlloc for Heap {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: single-threaded (see `Sync`), and no allocator call
        // re-enters another.
        unsafe { (*self.0.get()).malloc(layout.size(), layout.align()) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as in `alloc`; `ptr` came from this allocator with `layout`.
        unsafe { (*self.0.get()).free(ptr, layout.size(), layout.align()) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe { (*self.0.get()).calloc(layout.size(), layout.align()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as in `dealloc`.
        unsafe { (*self.0.get()).realloc(ptr, layout.size(), layout.align(), new_size) }
    }
}

unsafe extern "C" {
    /// First byte after the data segments and the shadow stack (wasm-ld).
    static __heap_base: u8;
}

/// Where dlmalloc gets memory: first the unused tail of the initial memory,
/// then `memory.grow`.
struct LinearMemory;

static TAIL_GIVEN: AtomicBool = AtomicBool::new(false);

// SAFETY: every region returned is fresh, zeroed linear memory owned by
// nobody else, and nothing is ever returned to the system.
unsafe impl dlmalloc::Allocator for LinearMemory {
    fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
        if !TAIL_GIVEN.swap(true, Ordering::Relaxed) {
            let base = ptr::addr_of!(__heap_base) as usize;
            let end = wasm32::memory_size(0) * WASM_PAGE;
            if end > base {
                let tail = end - base;
                if tail >= size {
                    return (base as *mut u8, tail, 0);
                }
                // Extend the tail with fresh pages: `memory.grow` returns
                // the pages right after `end`, so the region is contiguous.
                let pages = (size - tail).div_ceil(WASM_PAGE);
                if wasm32::memory_grow(0, pages) == usize::MAX {
                    return (ptr::null_mut(), 0, 0);
                }
                return (base as *mut u8, tail + pages * WASM_PAGE, 0);
            }
        }
        let pages = size.div_ceil(WASM_PAGE);
        match wasm32::memory_grow(0, pages) {
            usize::MAX => (ptr::null_mut(), 0, 0),
            previous => ((previous * WASM_PAGE) as *mut u8, pages * WASM_PAGE, 0),
        }
    }

    fn remap(&self, _ptr: *mut u8, _old: usize, _new: usize, _can_move: bool) -> *mut u8 {
        ptr::null_mut()
    }

    fn free_part(&self, _ptr: *mut u8, _old: usize, _new: usize) -> bool {
        false
    }

    fn free(&self, _ptr: *mut u8, _size: usize) -> bool {
        false
    }

    fn can_release_part(&self, _flags: u32) -> bool {
        false
    }

    fn allocates_zeros(&self) -> bool {
        true
    }

    fn page_size(&self) -> usize {
        WASM_PAGE
    }
}

/// A panic traps. The host reports the trap (with the wasm backtrace) as a
/// typed error and poisons the instance; formatting the message here would
/// pull `core::fmt` machinery into every plugin for nobody to read.
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

/// `memcmp` from the C library that `no_std` plugins do not link: Rust code
/// calls it for slice and string comparisons (serde's field matching among
/// them), and `compiler_builtins` leaves it to libc on WASI targets. (Copies
/// and fills need no such help: with bulk memory they are wasm instructions.)
///
/// # Safety
///
/// `a` and `b` must be valid for reads of `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        // SAFETY: the caller guarantees `n` readable bytes behind both.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
    }
    0
}

/// `bcmp`: `memcmp` when only equality matters (LLVM emits it for `==`).
///
/// # Safety
///
/// As [`memcmp`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract.
    unsafe { memcmp(a, b, n) }
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
