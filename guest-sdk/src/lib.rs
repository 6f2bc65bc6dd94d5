//! Write [plugbox] plugins in plain Rust.
//!
//! A plugin is one function marked `#[plugin]`. Build it with
//! `cargo build --release --target wasm32-wasip2` and the result is a
//! WebAssembly component the plugbox host can load.
//!
//! ```
//! #![cfg_attr(target_arch = "wasm32", no_std)]
//! use plugbox_guest::prelude::*;
//!
//! #[plugin]
//! fn shout(input: &str) -> String {
//!     input.to_uppercase()
//! }
//! # fn main() {}
//! ```
//!
//! The input is one of `&[u8]`, `Vec<u8>`, `&str`, `String` or [`Json<T>`];
//! the output one of `Vec<u8>`, `String`, `&'static str`, [`Json<T>`], `()`,
//! or a `Result` of those whose error implements `Display` (the error reaches
//! the host as a guest error, not a trap):
//!
//! ```
//! #![cfg_attr(target_arch = "wasm32", no_std)]
//! use plugbox_guest::prelude::*;
//!
//! #[derive(serde::Deserialize)]
//! struct Order { items: Vec<u32> }
//! #[derive(serde::Serialize)]
//! struct Total { cents: u64 }
//!
//! #[plugin]
//! fn total(Json(order): Json<Order>) -> Result<Json<Total>, &'static str> {
//!     if order.items.is_empty() {
//!         return Err("empty order");
//!     }
//!     Ok(Json(Total { cents: order.items.iter().map(|&c| u64::from(c)).sum() }))
//! }
//! # fn main() {}
//! ```
//!
//! # Lean by default
//!
//! A plugin crate that says `#![no_std]` (or, to also build it natively for
//! tests, `#![cfg_attr(target_arch = "wasm32", no_std)]`, as in the examples
//! here) links no part of the standard
//! library's WASI runtime: the component imports nothing and each instance is
//! a single small core module. This crate then supplies what `std` would have:
//! a global allocator ([dlmalloc], the allocator of Rust's own wasm `std`,
//! set up to use the heap the linker leaves in the initial memory before it
//! ever grows memory: a fresh instance then often never grows at all, which
//! spares the host page-protection changes on every instantiation),
//! the panic handler (a panic traps, and the host reports the trap with its
//! wasm backtrace), and the `cabi_realloc` export the component model needs.
//! `alloc` is fully available: [`prelude`] brings `String`, `Vec`, `Box`,
//! `format!` and `vec!` into scope.
//!
//! A plugin that wants the standard library (and with it WASI: files, clocks,
//! environment — all denied unless the embedder grants them) enables this
//! crate's `std` feature and drops `#![no_std]`.
//!
//! Misuse of `#[plugin]` (two arguments, `async`, generics, an unsupported
//! input type, ...) is a compile error:
//!
//! ```compile_fail
//! #![cfg_attr(target_arch = "wasm32", no_std)]
//! use plugbox_guest::prelude::*;
//! #[plugin]
//! fn two(a: &str, b: &str) -> String { String::new() }
//! # fn main() {}
//! ```
//!
//! ```compile_fail,E0277
//! #![cfg_attr(target_arch = "wasm32", no_std)]
//! use plugbox_guest::prelude::*;
//! #[plugin]
//! fn wrong_input(n: u32) -> String { String::new() }
//! # fn main() {}
//! ```
//!
//! ```compile_fail,E0277
//! #![cfg_attr(target_arch = "wasm32", no_std)]
//! use plugbox_guest::prelude::*;
//! #[plugin]
//! fn wrong_output(input: &str) -> u32 { 0 }
//! # fn main() {}
//! ```
//!
//! ```compile_fail
//! #![cfg_attr(target_arch = "wasm32", no_std)]
//! use plugbox_guest::prelude::*;
//! #[plugin]
//! async fn not_async(input: &str) -> String { String::new() }
//! # fn main() {}
//! ```
//!
//! [plugbox]: https://docs.rs/plugbox
//! [dlmalloc]: https://docs.rs/dlmalloc
#![no_std]
#![warn(missing_docs)]

extern crate alloc;
// The generated bindings name this crate by its absolute path, from inside it too.
extern crate self as plugbox_guest;
#[cfg(any(feature = "std", not(target_arch = "wasm32")))]
extern crate std;

#[cfg(not(target_arch = "wasm32"))]
pub mod native;
mod payload;
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
mod runtime;

#[cfg(feature = "json")]
pub use payload::Json;
pub use payload::{Error, FromInput, IntoOutput};
pub use plugbox_guest_macro::plugin;

/// Logging into the host's logs. One call's messages are bounded by the
/// host (its `max_log_bytes` limit); beyond it they are dropped.
///
/// ```no_run
/// plugbox_guest::log::info("cart accepted");
/// ```
pub mod log {
    pub use crate::bindings::plugbox::plugin::log::Level;

    /// Logs `message` at `level`.
    pub fn log(level: Level, message: &str) {
        crate::bindings::plugbox::plugin::log::log(level, message);
    }

    /// Logs at `Level::Trace`.
    pub fn trace(message: &str) {
        log(Level::Trace, message);
    }

    /// Logs at `Level::Debug`.
    pub fn debug(message: &str) {
        log(Level::Debug, message);
    }

    /// Logs at `Level::Info`.
    pub fn info(message: &str) {
        log(Level::Info, message);
    }

    /// Logs at `Level::Warn`.
    pub fn warn(message: &str) {
        log(Level::Warn, message);
    }

    /// Logs at `Level::Error`.
    pub fn error(message: &str) {
        log(Level::Error, message);
    }
}

/// Read-only configuration from the plugin's policy (`[config]`).
///
/// ```no_run
/// let currency = plugbox_guest::config::get("currency").unwrap_or_else(|| "EUR".into());
/// ```
pub mod config {
    /// The value of `key`, if the policy sets it.
    pub fn get(key: &str) -> Option<alloc::string::String> {
        crate::bindings::plugbox::plugin::config::get(key)
    }
}

/// The plugin's private key-value store (granted by the policy's `[kv]`;
/// otherwise every call returns [`kv::Error::Denied`](crate::kv::Error)).
///
/// ```no_run
/// let hits = plugbox_guest::kv::increment("hits", 1)?;
/// # Ok::<(), plugbox_guest::kv::Error>(())
/// ```
pub mod kv {
    pub use crate::bindings::plugbox::plugin::kv::Error;
    use alloc::vec::Vec;

    /// The value stored under `key`, if any.
    ///
    /// # Errors
    ///
    /// [`Error::Denied`] without a grant; [`Error::Invalid`] for a key longer
    /// than allowed; [`Error::Unavailable`] if the store failed.
    pub fn get(key: &str) -> Result<Option<Vec<u8>>, Error> {
        crate::bindings::plugbox::plugin::kv::get(key)
    }

    /// Stores `value` under `key`.
    ///
    /// # Errors
    ///
    /// As [`get`], and [`Error::QuotaExceeded`].
    pub fn set(key: &str, value: &[u8]) -> Result<(), Error> {
        crate::bindings::plugbox::plugin::kv::set(key, value)
    }

    /// Removes `key`; whether it existed.
    ///
    /// # Errors
    ///
    /// As [`get`].
    pub fn delete(key: &str) -> Result<bool, Error> {
        crate::bindings::plugbox::plugin::kv::delete(key)
    }

    /// Adds `delta` to the integer under `key` (0 if absent), atomically;
    /// returns the new value.
    ///
    /// # Errors
    ///
    /// As [`set`], and [`Error::Invalid`] if the value is not an integer.
    pub fn increment(key: &str, delta: i64) -> Result<i64, Error> {
        crate::bindings::plugbox::plugin::kv::increment(key, delta)
    }
}

/// What a plugin source file needs, in one `use`.
pub mod prelude {
    #[cfg(feature = "json")]
    pub use crate::Json;
    pub use crate::{Error, plugin};
    pub use alloc::borrow::ToOwned;
    pub use alloc::boxed::Box;
    pub use alloc::string::{String, ToString};
    pub use alloc::vec::Vec;
    pub use alloc::{format, vec};
}

/// Bindings generated from the plugbox WIT world (`wit/plugin.wit`).
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "__export_plugin",
        default_bindings_module: "::plugbox_guest::bindings",
        runtime_path: "::plugbox_guest::__private::wit_bindgen::rt",
    });
}

/// Used by the code `#[plugin]` expands to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::exports::plugbox::plugin::handler::Guest;
    pub use alloc::string::String;
    pub use alloc::vec::Vec;
    pub use wit_bindgen;

    use crate::payload::{FromInput, IntoOutput};
    use alloc::string::ToString;

    /// Decodes the request bytes into the plugin function's argument type.
    #[inline]
    pub fn parse<'a, T: FromInput<'a>>(input: &'a [u8]) -> Result<T, String> {
        T::from_input(input).map_err(|error| error.to_string())
    }

    /// Encodes the plugin function's return value into the response.
    #[inline]
    pub fn respond<T: IntoOutput>(output: T) -> Result<Vec<u8>, String> {
        output.into_output().map_err(|error| error.to_string())
    }
}
