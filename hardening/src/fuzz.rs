//! The entry points plugbox is fuzzed through: loading a component, parsing
//! a policy, and a call's input through real plugins. Each checks the
//! promise for its input: a typed error of the expected kinds, never a
//! panic, never a hang (every call runs under fuel and a deadline).
//!
//! The `cargo fuzz` targets in `fuzz/` (nightly) and the stable smoke test
//! in `tests/all/fuzz_smoke.rs` call the same functions.

use std::time::Duration;

use plugbox::{Allocator, Engine, ErrorKind, Limits, Plugin, Policy};

/// What an entry point needs that is costly to make: an engine and the real
/// plugins calls are fuzzed through. Make one and reuse it.
#[derive(Debug)]
pub struct Harness {
    engine: Engine,
    hello: Plugin,
    discount: Plugin,
    http_filter: Plugin,
}

/// Limits for components under fuzzing: small, so a hostile one found by the
/// fuzzer stops fast.
fn fuzz_limits() -> Limits {
    Limits::default()
        .fuel(10_000_000)
        .deadline(Duration::from_millis(200))
        .max_memory_bytes(8 << 20)
}

impl Harness {
    /// A harness around the `hello`, `discount` and `http-filter` plugins
    /// (their component bytes), with the policies they ship with.
    ///
    /// # Errors
    ///
    /// If the engine cannot be built or a plugin does not load.
    pub fn new(
        hello: &[u8],
        discount: (&[u8], &str),
        http_filter: (&[u8], &str),
    ) -> plugbox::Result<Self> {
        let engine = Engine::builder()
            .allocator(Allocator::Pooling { capacity: 16 })
            .build()?;
        let with_policy = |bytes: &[u8], policy: &str| {
            let plugin = Plugin::new(&engine, bytes)?
                .with_policy(&Policy::from_toml_str(policy, "policy")?)?;
            // The shipped limits, but a deadline that a loaded machine cannot
            // reach (http-filter ships 10 ms of wall clock): the harness looks
            // for logic faults; fuel still bounds every call.
            let limits = plugin.limits().deadline(Duration::from_secs(10));
            Ok::<_, plugbox::Error>(plugin.with_limits(limits))
        };
        Ok(Self {
            hello: Plugin::new(&engine, hello)?,
            discount: with_policy(discount.0, discount.1)?,
            http_filter: with_policy(http_filter.0, http_filter.1)?,
            engine,
        })
    }

    /// Loads `bytes` as a plugin; if it loads, instantiates it and calls it
    /// once. Each step may fail only with the typed kinds a bad or hostile
    /// component can cause (asserted); a panic is a bug. Returns how far it
    /// got.
    pub fn load_component(&self, bytes: &[u8]) -> Outcome {
        let plugin = match Plugin::new(&self.engine, bytes) {
            Ok(plugin) => plugin.with_limits(fuzz_limits()),
            Err(error) => {
                assert!(
                    matches!(
                        error.kind(),
                        ErrorKind::InvalidComponent | ErrorKind::InterfaceMismatch
                    ),
                    "loading failed with {:?}: {error}",
                    error.kind()
                );
                return Outcome::Refused(error.kind());
            }
        };
        let mut instance = match plugin.instantiate() {
            Ok(instance) => instance,
            Err(error) => {
                // Its start function or its size broke a limit, or it trapped.
                assert!(
                    error.kind() == ErrorKind::InstanceLimit || guest_trap(error.kind()),
                    "instantiation failed with {:?}: {error}",
                    error.kind()
                );
                return Outcome::NotInstantiated(error.kind());
            }
        };
        match instance.call(b"fuzz") {
            Ok(_) => Outcome::Called(None),
            Err(error) => {
                assert!(
                    matches!(error.kind(), ErrorKind::Guest | ErrorKind::OutputTooLarge)
                        || guest_trap(error.kind()),
                    "the call failed with {:?}: {error}",
                    error.kind()
                );
                // A trap poisons the instance; a guest error does not.
                let again = instance.call(b"fuzz").err().map(|error| error.kind());
                if guest_trap(error.kind()) {
                    assert_eq!(again, Some(ErrorKind::Poisoned), "after {error}");
                } else {
                    assert_ne!(again, Some(ErrorKind::Poisoned), "after {error}");
                }
                Outcome::Called(Some(error.kind()))
            }
        }
    }

    /// Calls each real plugin with `input`. They are correct plugins: any
    /// input must give an answer or a guest error (or be refused as too
    /// large), never a trap.
    pub fn call_plugins(&self, input: &[u8]) {
        for (name, plugin) in [
            ("hello", &self.hello),
            ("discount", &self.discount),
            ("http-filter", &self.http_filter),
        ] {
            let mut instance = match plugin.instantiate() {
                Ok(instance) => instance,
                Err(error) => panic!("{name} failed to instantiate: {:?}: {error}", error.kind()),
            };
            if let Err(error) = instance.call(input) {
                assert!(
                    matches!(error.kind(), ErrorKind::Guest | ErrorKind::InputTooLarge),
                    "{name} on {} bytes of input: {:?}: {error}",
                    input.len(),
                    error.kind()
                );
            }
        }
        if let Ok(text) = std::str::from_utf8(input) {
            // Text that fits is uppercased, whatever it is.
            let mut hello = self.hello.instantiate().expect("hello instantiates");
            match hello.call(input) {
                Ok(response) => assert_eq!(response.output, text.to_uppercase().as_bytes()),
                Err(error) => assert_eq!(error.kind(), ErrorKind::InputTooLarge, "{error}"),
            }
        }
    }
}

/// How far a fuzzed component got in [`Harness::load_component`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Refused at load, with this kind.
    Refused(ErrorKind),
    /// Loaded, refused at instantiation, with this kind.
    NotInstantiated(ErrorKind),
    /// Instantiated and called: the call's error kind, if it failed.
    Called(Option<ErrorKind>),
}

/// A trap the guest itself can cause (not a cancellation: nobody cancels).
fn guest_trap(kind: ErrorKind) -> bool {
    kind.is_trap() && kind != ErrorKind::Cancelled
}

/// Parses `bytes` as a TOML and as a JSON policy: a policy or an
/// [`ErrorKind::InvalidPolicy`], never a panic. Nothing is applied (a
/// fuzzed policy may name any host path).
pub fn parse_policy(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for parsed in [
        Policy::from_toml_str(&text, "fuzz.toml"),
        Policy::from_json_str(&text, "fuzz.json"),
    ] {
        if let Err(error) = parsed {
            assert_eq!(error.kind(), ErrorKind::InvalidPolicy, "{error}");
            assert!(
                error.to_string().contains("fuzz."),
                "names the origin: {error}"
            );
        }
    }
}
