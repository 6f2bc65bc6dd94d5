//! plugbox runs untrusted WebAssembly component plugins inside a Rust
//! application: safely (no ambient authority; fuel, deadline and memory
//! limits on every call; typed errors) and densely (one compiled copy,
//! pooled instances that cost kilobytes and microseconds).
//!
//! ```
//! use plugbox::{Engine, ErrorKind, Limits, Plugin};
//! use std::time::Duration;
//!
//! // One engine per process: compiler, instance pool, epoch ticker.
//! let engine = Engine::new()?;
//! // Compile, check against the plugbox world and pre-link, once.
//! let plugin = Plugin::new(&engine, plugbox_artifacts::HELLO.bytes)?
//!     .with_limits(Limits::default().fuel(1_000_000).deadline(Duration::from_millis(50)));
//! // One instance per tenant; each call runs under the limits.
//! let mut tenant = plugin.instantiate()?;
//! let response = tenant.call(b"hello, plugbox")?;
//! assert_eq!(response.output, b"HELLO, PLUGBOX");
//! println!("{:?} fuel, {:?}", response.fuel_used, response.elapsed);
//!
//! // Misbehaviour is a typed error, and the host keeps going.
//! let spin = Plugin::new(&engine, plugbox_artifacts::SPIN.bytes)?
//!     .with_limits(Limits::default().deadline(Duration::from_millis(20)));
//! let error = spin.instantiate()?.call(b"").unwrap_err();
//! assert_eq!(error.kind(), ErrorKind::DeadlineExceeded);
//! # Ok::<(), plugbox::Error>(())
//! ```
//!
//! # Core concepts
//!
//! - [`Engine`]: one per process, a cheap `Clone`. Owns the wasmtime engine
//!   (fuel and epoch interruption on by default — [`Metering`] picks either
//!   or both —, a pooling allocator sized by [`EngineBuilder`], copy-on-write
//!   memory images, bounds-checked or guarded as its [`MemoryProfile`]
//!   says), the thread that advances epochs, and the optional on-disk cache
//!   of compiled components.
//! - [`Plugin`]: a compiled component that fits the plugbox world
//!   (`wit/plugin.wit`), pre-linked once. Also a cheap `Clone`; carries the
//!   [`Limits`] its instances get.
//! - [`Instance`]: one tenant. [`Instance::call`] refills fuel and re-arms the
//!   deadline, then returns the plugin's [`Response`] with the fuel used and
//!   the wall time. A trap poisons the instance; get a fresh one from the
//!   `Plugin`.
//! - [`Limits`]: fuel and deadline per call; memory, tables, instances per
//!   instance; input and output sizes. All defaults are documented.
//! - [`Error`]: one type whose [`kind`](Error::kind) ([`ErrorKind`]) callers
//!   branch on.
//!
//! # Authority
//!
//! Plugins get nothing they are not given. A plugin that imports no WASI is
//! linked against nothing but its own interface. A plugin that imports WASI
//! (for example one written with Rust's `std`) gets a context with no
//! directories, no environment, no arguments, closed stdin, discarded output
//! and no network.
#![warn(missing_docs)]

mod bindings;
mod cache;
mod cancel;
mod component_scan;
mod custom;
mod describe;
mod engine;
mod error;
mod fiber;
mod host;
mod hostfns;
mod instance;
pub mod kv;
mod limits;
mod mapping_budget;
mod plugin;
mod plugin_set;
pub mod policy;
#[cfg(feature = "profiling")]
mod profile;
mod refusal;
pub mod safe_text;
pub mod telemetry;
mod tenant;
mod ticker;
#[cfg(feature = "wasi")]
mod wasi;
mod world;

pub use cancel::Canceller;
pub use custom::{CustomInstance, CustomPlugin, CustomResponse, CustomWorld};
pub use describe::{ComponentInfo, Function, Item, ItemKind};
pub use engine::{Allocator, Engine, EngineBuilder, MemoryProfile, Metering};
pub use error::{Error, ErrorKind, Result};
pub use host::HostContext;
pub use instance::{Instance, Response};
pub use kv::{KvError, KvStore, MemoryKv, Quota};
pub use limits::Limits;
pub use mapping_budget::HostResource;
pub use plugin::{Plugin, inspect, read_component};
pub use plugin_set::{Answer, Lease, PluginSet};
pub use policy::Policy;
pub use ticker::TickerProbe;
#[cfg(feature = "wasi")]
pub use wasi::Captured;
/// The wasmtime this crate is built on, for embedders who `bindgen!` their
/// own worlds ([`CustomWorld`]): `bindgen!({ ..., wasmtime_crate: plugbox::wasmtime })`.
pub use wasmtime;
pub use world::{
    HANDLE_FUNCTION, HANDLE_SIGNATURE, HANDLER_INTERFACE, HOST_INTERFACES, WORLD, WorldFit,
};
