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

/// The plugins written in other languages: `plugins/py-*` (Python, built
/// with componentize-py), `plugins/js-*` (JavaScript, built with
/// componentize-js), `plugins/go-*` (Go) and `plugins/c-*` (C), listed
/// whether or not they could be built here.
/// [`foreach_polyglot!`] visits them all.
///
/// A plugin whose toolchain is missing on this machine was skipped
/// ([`Polyglot::built`] says why; the build printed `skipped: <language>:
/// <reason>`); where `CI` is set a missing toolchain fails the build instead.
/// Built components can be large (12–18 MB for Python and JavaScript), so
/// they are read from
/// [`Polyglot::path`] when needed rather than embedded.
///
/// ```
/// use plugbox_artifacts::polyglot;
/// let hello = polyglot::PY_HELLO;
/// assert_eq!(hello.language, polyglot::Language::Python);
/// match hello.path() {
///     Ok(path) => assert!(std::fs::read(path).unwrap().starts_with(b"\0asm")),
///     Err(skipped) => assert!(skipped.to_string().starts_with("skipped: python: ")),
/// }
/// assert_eq!(polyglot::by_name("py-hello").unwrap().name, "py-hello");
/// ```
pub mod polyglot {
    /// The language a polyglot plugin is written in.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[non_exhaustive]
    pub enum Language {
        /// Python, built with componentize-py (CPython inside the component).
        Python,
        /// JavaScript, built with componentize-js (StarlingMonkey, a
        /// SpiderMonkey embedding, inside the component).
        JavaScript,
        /// JavaScript on QuickJS, built with componentize-qjs's default
        /// runtime, which uses component-model async built-ins (an engine
        /// must enable `EngineBuilder::component_model_async`).
        QuickJs,
        /// Go, built by `go build` for wasip1 with the author kit of
        /// `guest-sdk/go` (the canonical ABI by hand), its WASI preview 1
        /// imports adapted.
        Go,
        /// C, built by clang with wasi-libc and the bindings `wit-bindgen
        /// c` generated (`guest-sdk/c`).
        C,
    }

    impl Language {
        /// The name used in `skipped: <language>: ...` lines: `python`,
        /// `javascript`, `quickjs`, `go`, `c`.
        pub fn name(self) -> &'static str {
            match self {
                Language::Python => "python",
                Language::JavaScript => "javascript",
                Language::QuickJs => "quickjs",
                Language::Go => "go",
                Language::C => "c",
            }
        }
    }

    /// One plugin written in another language.
    #[derive(Debug, Clone, Copy)]
    pub struct Polyglot {
        /// The plugin's directory name under `plugins/`, e.g. `py-hello`.
        pub name: &'static str,
        /// Its language.
        pub language: Language,
        /// The absolute path of the built component, or why it was not built
        /// (its toolchain is missing on this machine).
        pub built: Result<&'static str, &'static str>,
        /// The toolchain that built it, e.g. `componentize-py 0.25.1`
        /// (empty when skipped).
        pub toolchain: &'static str,
    }

    /// A plugin that was not built here, and why: displays as the
    /// `skipped: <language>: <reason>` line.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Skipped {
        /// The plugin's language.
        pub language: Language,
        /// Why its toolchain could not be used.
        pub reason: &'static str,
    }

    impl std::fmt::Display for Skipped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "skipped: {}: {}", self.language.name(), self.reason)
        }
    }

    impl std::error::Error for Skipped {}

    impl Polyglot {
        /// The path of the built component, or why it was skipped.
        ///
        /// # Errors
        ///
        /// [`Skipped`] when its toolchain was missing at build time.
        pub fn path(&self) -> Result<&'static str, Skipped> {
            self.built.map_err(|reason| Skipped {
                language: self.language,
                reason,
            })
        }
    }

    include!(concat!(env!("OUT_DIR"), "/polyglot.rs"));

    /// The polyglot plugin called `name` (built or skipped), if there is one.
    pub fn by_name(name: &str) -> Option<Polyglot> {
        ALL.iter().copied().find(|plugin| plugin.name == name)
    }
}
