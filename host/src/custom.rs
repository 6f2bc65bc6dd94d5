//! Custom worlds: an embedder's own WIT world, with plugbox's engine,
//! pooling, limits, capabilities and error kinds.
//!
//! The embedder `bindgen!`s their world with wasmtime as usual, adds their
//! host functions to a [`CustomWorld`] (which already holds plugbox's host
//! functions and WASI), loads components with [`CustomPlugin`], and calls
//! exports inside [`CustomInstance::call`], which arms fuel and the deadline,
//! classifies failures into [`ErrorKind`]s and poisons the instance on a
//! trap. `host/examples/custom_world.rs` is a complete example.
//!
//! [`CustomInstance`] says which of plugbox's limits hold for custom worlds.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::Store;
use wasmtime::component::{InstancePre, Linker};

use crate::describe::ComponentInfo;
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::host::{Authority, HostContext};
use crate::limits::Limits;
use crate::plugin::{Identity, compile};
use crate::tenant::{Mode, Tenant};
use crate::world::is_wasi_import;

/// A linker for an embedder's world: plugbox's host functions (`log`,
/// `config`, `kv`), WASI preview 2, and whatever the embedder adds.
#[derive(Clone)]
pub struct CustomWorld {
    linker: Arc<Linker<HostContext>>,
}

impl CustomWorld {
    /// Starts from the engine's linker and lets `add` define the embedder's
    /// imports, e.g. `MyWorld::add_to_linker::<_, HasSelf<_>>(linker, |c| c)`
    /// with the world's host traits implemented for [`HostContext`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] if `add` fails (e.g. defines a name twice).
    pub fn new(
        engine: &Engine,
        add: impl FnOnce(&mut Linker<HostContext>) -> wasmtime::Result<()>,
    ) -> Result<Self> {
        let mut linker = engine.custom_linker()?;
        add(&mut linker).map_err(|error| {
            Error::new(
                ErrorKind::Config,
                "adding the embedder's imports to the linker",
            )
            .with_wasmtime(error)
        })?;
        Ok(Self {
            linker: Arc::new(linker),
        })
    }
}

impl std::fmt::Debug for CustomWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomWorld").finish_non_exhaustive()
    }
}

/// A component of a custom world: compiled (or loaded from the engine's
/// cache), pre-linked against a [`CustomWorld`], ready to instantiate. A
/// cheap `Clone`, like [`Plugin`](crate::Plugin).
#[derive(Clone)]
pub struct CustomPlugin {
    engine: Engine,
    pre: Arc<InstancePre<HostContext>>,
    footprint: crate::mapping_budget::Footprint,
    info: Arc<ComponentInfo>,
    imports_wasi: bool,
    identity: Arc<Identity>,
    authority: Authority,
}

impl CustomPlugin {
    /// Compiles and pre-links `bytes` against `world`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidComponent`] as for [`Plugin::new`](crate::Plugin::new);
    /// [`ErrorKind::InterfaceMismatch`] when an import is not provided by
    /// `world` (the message names it).
    pub fn new(engine: &Engine, world: &CustomWorld, bytes: &[u8]) -> Result<Self> {
        engine.check_component_size(bytes.len() as u64)?;
        let hash = crate::cache::content_hash(bytes);
        let (component, _) = compile(engine, bytes, &hash)?;
        let info = ComponentInfo::of(&component);
        let imports_wasi = info
            .imports
            .iter()
            .any(|import| is_wasi_import(&import.name));
        let pre = world.linker.instantiate_pre(&component).map_err(|error| {
            Error::new(
                ErrorKind::InterfaceMismatch,
                "the component's imports do not match the custom world",
            )
            .with_wasmtime(error)
        })?;
        let identity = Identity::new(&hash)?;
        Ok(Self {
            engine: engine.clone(),
            footprint: engine.budget().footprint(&component),
            pre: Arc::new(pre),
            info: Arc::new(info),
            imports_wasi,
            authority: Authority::deny_all(engine, &identity),
            identity: Arc::new(identity),
        })
    }

    /// The same plugin with `limits` for new instances.
    #[must_use]
    pub fn with_limits(&self, limits: Limits) -> Self {
        let mut plugin = self.clone();
        plugin.authority.limits = limits;
        plugin
    }

    /// The same plugin with `policy`'s limits and capabilities. Key-value
    /// data is private to this load unless the policy names a `namespace`,
    /// as for [`Plugin::with_policy`](crate::Plugin::with_policy).
    ///
    /// # Errors
    ///
    /// As [`Plugin::with_policy`](crate::Plugin::with_policy).
    pub fn with_policy(&self, policy: &crate::Policy) -> Result<Self> {
        let mut plugin = self.clone();
        plugin.authority = Authority::from_policy(&self.engine, policy, &self.identity)?;
        Ok(plugin)
    }

    /// The component's imports and exports.
    pub fn info(&self) -> &ComponentInfo {
        &self.info
    }

    /// A fresh instance.
    ///
    /// # Errors
    ///
    /// As [`Plugin::instantiate`](crate::Plugin::instantiate).
    pub fn instantiate(&self) -> Result<CustomInstance> {
        let instantiated = self
            .authority
            .context(self.imports_wasi)
            .and_then(|context| {
                Tenant::instantiate(&self.engine, self.footprint, context, |store| {
                    self.pre.instantiate(store)
                })
            });
        self.authority
            .host
            .metrics
            .instantiated(instantiated.as_ref().err().map(Error::kind));
        let (tenant, instance) = instantiated?;
        Ok(CustomInstance { tenant, instance })
    }
}

impl std::fmt::Debug for CustomPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomPlugin")
            .field("imports_wasi", &self.imports_wasi)
            .field("limits", &self.authority.limits)
            .finish_non_exhaustive()
    }
}

/// A live instance of a [`CustomPlugin`].
///
/// # Which limits hold
///
/// Everything that wasmtime enforces on the store holds exactly as for
/// [`Instance`](crate::Instance): fuel and the deadline per call,
/// cancellation, linear memory, tables, instance counts, the wasm stack, the
/// `log` budget, kv quotas and the policy's capabilities; a trap poisons the
/// instance.
///
/// [`Limits::max_input_bytes`] and [`Limits::max_output_bytes`] are *not*
/// applied by [`CustomInstance::call`]: the typed arguments and results of
/// the embedder's world are lowered into and lifted out of the guest by the
/// embedder's `bindgen!` code, inside the closure, where plugbox never sees
/// them. What holds instead: every argument is copied into the guest's
/// linear memory, so one that does not fit in the memory the guest may grow
/// to ([`Limits::max_memory_bytes`]) fails with [`ErrorKind::MemoryLimit`]
/// (the instance is poisoned); and a `string` or
/// `list` result is read out of that memory, so it is no larger than the
/// memory limit either (a list of strings or lists can name the same guest
/// bytes many times, so what the host allocates for nested results is not
/// bounded by it). To refuse sizes with plugbox's own kinds, the embedder,
/// who knows them, calls [`CustomInstance::check_input`] before the call and
/// [`CustomInstance::check_output`] after it.
pub struct CustomInstance {
    tenant: Tenant,
    instance: wasmtime::component::Instance,
}

/// What [`CustomInstance::call`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomResponse<R> {
    /// What the closure returned.
    pub value: R,
    /// Fuel the call consumed, on an engine that meters fuel (`None` under
    /// [`Metering::DeadlineOnly`](crate::Metering::DeadlineOnly)).
    pub fuel_used: Option<u64>,
    /// Wall time of the call.
    pub elapsed: Duration,
}

impl CustomInstance {
    /// Runs `call` — typically `MyWorld::new(store, instance)?.call_foo(store, ...)`
    /// with the embedder's bindings — under this instance's fuel, deadline
    /// and memory limits. Input and output sizes are not checked here (see
    /// [which limits hold](CustomInstance#which-limits-hold)):
    /// [`check_input`](Self::check_input) and
    /// [`check_output`](Self::check_output) do it with the sizes you know.
    ///
    /// # Errors
    ///
    /// The trap kinds of [`Instance::call`](crate::Instance::call) (the
    /// instance is then poisoned), and [`ErrorKind::Poisoned`].
    pub fn call<R>(
        &mut self,
        call: impl FnOnce(
            &mut Store<HostContext>,
            &wasmtime::component::Instance,
        ) -> wasmtime::Result<R>,
    ) -> Result<CustomResponse<R>> {
        let span = self.tenant.call_span();
        let result = span.in_scope(|| {
            let started = self.tenant.begin(Mode::Sync)?;
            let result = call(&mut self.tenant.store, &self.instance);
            let (value, fuel_used, elapsed) = self.tenant.end(started, result)?;
            Ok(CustomResponse {
                value,
                fuel_used,
                elapsed,
            })
        });
        self.tenant.call_ended(&span, &result);
        result
    }

    /// Refuses an input of `bytes` over this instance's
    /// [`Limits::max_input_bytes`] with [`ErrorKind::InputTooLarge`], as
    /// [`Instance::call`](crate::Instance::call) does by itself. plugbox
    /// cannot see the typed arguments of a custom world's functions: call
    /// this with their size (whatever "size" means for your world) before
    /// [`call`](Self::call). The instance is not affected.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InputTooLarge`], naming both sizes.
    pub fn check_input(&self, bytes: usize) -> Result<()> {
        let limit = self.tenant.limits().input_bytes();
        if bytes > limit {
            return Err(Error::new(
                ErrorKind::InputTooLarge,
                format!("{bytes} bytes, limit {limit} (Limits::max_input_bytes)"),
            ));
        }
        Ok(())
    }

    /// Refuses an output of `bytes` over this instance's
    /// [`Limits::max_output_bytes`] with [`ErrorKind::OutputTooLarge`], as
    /// [`Instance::call`](crate::Instance::call) does by itself: call it with
    /// the size of what [`call`](Self::call) returned. The instance is not
    /// affected.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::OutputTooLarge`], naming both sizes.
    pub fn check_output(&self, bytes: usize) -> Result<()> {
        let limit = self.tenant.limits().output_bytes();
        if bytes > limit {
            return Err(Error::new(
                ErrorKind::OutputTooLarge,
                format!("{bytes} bytes, limit {limit} (Limits::max_output_bytes)"),
            ));
        }
        Ok(())
    }

    /// The limits this instance runs under.
    pub fn limits(&self) -> &Limits {
        self.tenant.limits()
    }

    /// Whether an earlier call trapped.
    pub fn is_poisoned(&self) -> bool {
        self.tenant.poisoned_by().is_some()
    }

    /// A handle that cancels this instance's running call from another
    /// thread (see [`Canceller`](crate::Canceller)).
    pub fn canceller(&self) -> crate::Canceller {
        self.tenant.canceller()
    }
}

impl std::fmt::Debug for CustomInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomInstance")
            .field("limits", self.tenant.limits())
            .field("poisoned", &self.tenant.poisoned_by())
            .finish_non_exhaustive()
    }
}
