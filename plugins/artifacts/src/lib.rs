//! Every plugin in `plugins/`, built for `wasm32-wasip2` by this crate's build
//! script: paths and bytes of each component, and [`foreach_plugin!`] to visit
//! them all.
//!
//! ```
//! let hello = plugbox_artifacts::HELLO;
//! assert_eq!(hello.name, "hello");
//! assert!(hello.bytes.starts_with(b"\0asm"));
//! assert!(std::path::Path::new(hello.path).is_file());
//! ```
#![warn(missing_docs)]

/// One built plugin component (or, for one fixture in [`wat`], a core module).
#[derive(Debug, Clone, Copy)]
pub struct Artifact {
    /// The plugin's directory name under `plugins/`, e.g. `hello` (for a
    /// [`wat`] fixture, its file name without `.wat`, e.g. `start-loop`).
    pub name: &'static str,
    /// Absolute path of the built `.wasm` component.
    pub path: &'static str,
    /// The component's bytes, embedded at compile time.
    pub bytes: &'static [u8],
    /// Absolute path of its native twin (the same logic as a host
    /// executable serving framed requests), if it has one.
    pub native: Option<&'static str>,
}

include!(concat!(env!("OUT_DIR"), "/plugins.rs"));

/// The hand-written fixtures of `plugins/hostile-wat`, for attacks Rust
/// cannot write (a start function, `table.grow`, an import outside the
/// plugbox world, a bare core module). Components, except `CORE_MODULE`;
/// [`foreach_wat_fixture!`] visits them all.
///
/// ```
/// let start_loop = plugbox_artifacts::wat::START_LOOP;
/// assert_eq!(start_loop.name, "start-loop");
/// assert!(start_loop.bytes.starts_with(b"\0asm\x0d\0\x01\0"), "a component");
/// assert!(plugbox_artifacts::wat::CORE_MODULE.bytes.starts_with(b"\0asm\x01\0\0\0"));
/// ```
pub mod wat {
    include!(concat!(env!("OUT_DIR"), "/wat.rs"));
}

/// The artifact called `name`, if there is one.
pub fn by_name(name: &str) -> Option<Artifact> {
    ALL.iter().copied().find(|artifact| artifact.name == name)
}
