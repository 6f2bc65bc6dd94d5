//! A compiled, validated, pre-linked plugin.

use std::path::Path;
use std::sync::Arc;

use crate::bindings::PluginPre;
use crate::cache::{self, Miss};
use crate::describe::ComponentInfo;
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::host::{Authority, HostContext};
use crate::instance::Instance;
use crate::limits::Limits;
use crate::world::WorldFit;

/// A plugin component, compiled once, checked against the plugbox world and
/// pre-linked (`InstancePre`), ready to [`instantiate`](Plugin::instantiate)
/// as many times as there are tenants.
///
/// `Plugin` is a cheap `Clone` (two reference counts) and `Send + Sync`.
///
/// ```no_run
/// let engine = plugbox::Engine::new()?;
/// let plugin = plugbox::Plugin::from_file(&engine, "hello.wasm")?;
/// let mut instance = plugin.instantiate()?;
/// let response = instance.call(b"hello")?;
/// assert_eq!(response.output, b"HELLO");
/// # Ok::<(), plugbox::Error>(())
/// ```
#[derive(Clone)]
pub struct Plugin {
    compiled: Arc<Compiled>,
    authority: Authority,
}

struct Compiled {
    engine: Engine,
    pre: Prelinked,
    info: ComponentInfo,
    fit: WorldFit,
    from_cache: bool,
    /// Its default name and the id of this load.
    identity: Identity,
}

impl Plugin {
    /// Compiles (or loads from the engine's cache), validates and pre-links a
    /// component, with [`Limits::default`].
    ///
    /// # Errors
    ///
    /// - [`ErrorKind::InvalidComponent`]: empty, not WebAssembly, a core
    ///   module rather than a component, larger than
    ///   [`Engine::max_component_bytes`], or rejected by validation;
    /// - [`ErrorKind::InterfaceMismatch`]: a valid component that does not
    ///   export the plugbox handler, or imports something the host does not
    ///   provide. The message names the item;
    /// - [`ErrorKind::MemoryLimit`]: its initial linear memory is larger than
    ///   the engine's memory slots;
    /// - [`ErrorKind::InstanceLimit`]: it needs more core instances,
    ///   memories or tables than the engine's pool allows one instance
    ///   ([`EngineBuilder::core_instances_per_instance`](crate::EngineBuilder::core_instances_per_instance)
    ///   and its siblings); the message names the need, the limit and the
    ///   setting.
    ///
    /// Every refusal keeps wasmtime's own error as its
    /// [`source`](std::error::Error::source), and the message quotes it.
    pub fn new(engine: &Engine, bytes: &[u8]) -> Result<Self> {
        engine.check_component_size(bytes.len() as u64)?;
        let hash = cache::content_hash(bytes);
        let (component, from_cache) = compile(engine, bytes, &hash)?;
        let identity = Identity::new(&hash)?;
        let info = ComponentInfo::of(&component);
        let fit = info.check_plugbox_world(cfg!(feature = "wasi"))?;
        let instance_pre = engine
            .linker(fit.imports_wasi)
            .instantiate_pre(&component)
            .map_err(crate::refusal::link_error)?;
        let mismatch = |error| {
            Error::new(
                ErrorKind::InterfaceMismatch,
                "the component's exports do not match the plugbox world",
            )
            .with_wasmtime(error)
        };
        let pre = Prelinked {
            watched: fit.imports_wasi,
            footprint: engine.budget().footprint(&component),
            sync_indices: crate::bindings::PluginIndices::new(&instance_pre).map_err(mismatch)?,
            async_indices: crate::bindings::async_exports::PluginIndices::new(&instance_pre)
                .map_err(mismatch)?,
            sync: PluginPre::new(instance_pre).map_err(mismatch)?,
        };
        let authority = Authority::deny_all(engine, &identity);
        Ok(Self {
            compiled: Arc::new(Compiled {
                engine: engine.clone(),
                pre,
                info,
                fit,
                from_cache,
                identity,
            }),
            authority,
        })
    }

    /// [`Plugin::new`] on the contents of a file.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] if the file cannot be read; otherwise as
    /// [`Plugin::new`].
    pub fn from_file(engine: &Engine, path: impl AsRef<Path>) -> Result<Self> {
        Self::new(engine, &read_component(engine, path)?)
    }

    /// The same compiled plugin, whose instances get `limits`. Cheap: the
    /// compiled code is shared.
    #[must_use]
    pub fn with_limits(&self, limits: Limits) -> Self {
        Self {
            compiled: Arc::clone(&self.compiled),
            authority: Authority {
                limits,
                ..self.authority.clone()
            },
        }
    }

    /// The same compiled plugin, whose instances get `policy`'s limits and
    /// capabilities. The policy is validated and resolved here, once (mount
    /// directories are checked, inherited variables read); instantiation only
    /// copies the grants into each instance's context.
    ///
    /// WASI capabilities only reach plugins that import WASI; the `config`
    /// and `kv` grants reach every plugin that imports those interfaces.
    ///
    /// Key-value data: without a `[kv] namespace`, a plugin's data is
    /// private to this loaded plugin — shared by the instances of every
    /// `with_policy` (and `with_limits`) made from one [`Plugin::new`] whose
    /// policies give the same `name` (or none), and by no other: a second
    /// `Plugin::new` of the same bytes, as for another customer running the
    /// same public plugin, or after a restart, starts empty. Plugins share
    /// data only when their policies name the same `namespace`, which is also
    /// how data outlives a load (a persistent [`KvStore`](crate::KvStore), a
    /// new version of the plugin).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidPolicy`] for inconsistent settings (e.g. a
    /// relative guest path, a mount that is not a directory),
    /// [`ErrorKind::Io`] for a mount that cannot be opened,
    /// [`ErrorKind::Config`] for a `fuel` or `deadline_ms` limit the engine
    /// does not meter ([`EngineBuilder::metering`](crate::EngineBuilder::metering)),
    /// naming the field, its line and the setting.
    pub fn with_policy(&self, policy: &crate::Policy) -> Result<Self> {
        Ok(Self {
            compiled: Arc::clone(&self.compiled),
            authority: Authority::from_policy(
                &self.compiled.engine,
                policy,
                &self.compiled.identity,
            )?,
        })
    }

    /// The limits new instances get.
    pub fn limits(&self) -> &Limits {
        &self.authority.limits
    }

    /// The component's imports and exports.
    pub fn info(&self) -> &ComponentInfo {
        &self.compiled.info
    }

    /// Whether the component imports WASI (and so gets a deny-by-default WASI
    /// context).
    pub fn imports_wasi(&self) -> bool {
        self.compiled.fit.imports_wasi
    }

    /// Whether the compiled code came from the engine's cache rather than
    /// the compiler.
    pub fn loaded_from_cache(&self) -> bool {
        self.compiled.from_cache
    }

    /// The engine this plugin was compiled for.
    pub fn engine(&self) -> &Engine {
        &self.compiled.engine
    }

    /// Creates a fresh instance (a tenant) with this plugin's limits.
    ///
    /// With the pooling allocator this takes a pool slot and maps the
    /// component's memory image copy-on-write: microseconds, no compilation.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PoolExhausted`] when every pool slot is taken; the limit
    /// kinds ([`ErrorKind::MemoryLimit`], [`ErrorKind::InstanceLimit`], ...)
    /// when the component needs more than its [`Limits`] allow up front; a
    /// trap kind if its start function traps; [`ErrorKind::HostResources`]
    /// when the operating system refuses the instance's memory;
    /// [`ErrorKind::Config`] when its [`Limits`] set a fuel limit or deadline
    /// the engine does not meter ([`EngineBuilder::metering`](crate::EngineBuilder::metering)).
    pub fn instantiate(&self) -> Result<Instance> {
        let instance = self
            .authority
            .context(self.compiled.fit.imports_wasi)
            .and_then(|state| Instance::new(&self.compiled.engine, &self.compiled.pre, state));
        self.authority
            .host
            .metrics
            .instantiated(instance.as_ref().err().map(Error::kind));
        instance
    }
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("imports_wasi", &self.compiled.fit.imports_wasi)
            .field("from_cache", &self.compiled.from_cache)
            .field("limits", &self.authority.limits)
            .finish_non_exhaustive()
    }
}

/// The pre-linked component and where its exports are, for both call styles.
pub(crate) struct Prelinked {
    /// Linked with WASI's async bindings: instantiated and called under the
    /// WASI watchdog.
    pub(crate) watched: bool,
    pub(crate) sync: PluginPre<HostContext>,
    pub(crate) sync_indices: crate::bindings::PluginIndices,
    pub(crate) async_indices: crate::bindings::async_exports::PluginIndices,
    /// What one instance costs the engine's mapping budget.
    pub(crate) footprint: crate::mapping_budget::Footprint,
}

/// Describes a component without requiring it to fit the plugbox world: what
/// `plugbox inspect` shows.
///
/// # Errors
///
/// [`ErrorKind::InvalidComponent`] as for [`Plugin::new`].
pub fn inspect(engine: &Engine, bytes: &[u8]) -> Result<ComponentInfo> {
    engine.check_component_size(bytes.len() as u64)?;
    let (component, _) = compile(engine, bytes, &cache::content_hash(bytes))?;
    Ok(ComponentInfo::of(&component))
}

/// Reads a component file, refusing one larger than
/// [`Engine::max_component_bytes`] without reading past that size: a file
/// whose size the file system does not report (a pipe, `/dev/zero`) is read
/// only up to the maximum, never until memory runs out.
///
/// ```no_run
/// let engine = plugbox::Engine::new()?;
/// let bytes = plugbox::read_component(&engine, "hello.wasm")?;
/// let info = plugbox::inspect(&engine, &bytes)?;
/// # Ok::<(), plugbox::Error>(())
/// ```
///
/// # Errors
///
/// [`ErrorKind::Io`] if the file cannot be opened or read;
/// [`ErrorKind::InvalidComponent`] if it is larger than the maximum.
pub fn read_component(engine: &Engine, path: impl AsRef<Path>) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let path = path.as_ref();
    let failed = |error| Error::io(format!("reading {}", path.display()), error);
    let file = std::fs::File::open(path).map_err(failed)?;
    let reported = file.metadata().map_err(failed)?.len();
    engine.check_component_size(reported)?;
    let max = engine.max_component_bytes() as u64;
    let mut bytes = Vec::with_capacity(usize::try_from(reported).unwrap_or(0));
    // One byte past the maximum tells "too large" from "exactly the maximum".
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(failed)?;
    engine.check_component_size(bytes.len() as u64)?;
    Ok(bytes)
}

/// What names one load of a component ([`Plugin::new`],
/// [`CustomPlugin::new`](crate::CustomPlugin::new)).
#[derive(Debug)]
pub(crate) struct Identity {
    /// Its name when its policy gives none: from its content hash.
    pub(crate) default_name: String,
    /// Its content hash, as metrics label it: `blake3:<hex>`.
    pub(crate) digest: String,
    /// Random, unique to this load: it makes the default key-value namespace
    /// the load's own, even across processes sharing a persistent backend.
    load_id: String,
}

impl Identity {
    pub(crate) fn new(hash: &cache::ContentHash) -> Result<Self> {
        let mut id = [0; 8];
        getrandom::fill(&mut id).map_err(|error| {
            Error::io(
                "reading OS randomness for the plugin's private key-value namespace",
                std::io::Error::other(error),
            )
        })?;
        Ok(Self {
            default_name: format!("plugin-{}", &cache::hex(hash)[..16]),
            digest: format!("blake3:{}", cache::hex(hash)),
            load_id: cache::hex(&id),
        })
    }

    /// The key-value namespace of a policy that names none: private to this
    /// load, and within it to the plugin's `name`.
    pub(crate) fn private_namespace(&self, name: &str) -> String {
        format!("{name}@{}", self.load_id)
    }
}

/// The compiled component, from the cache when possible.
pub(crate) fn compile(
    engine: &Engine,
    bytes: &[u8],
    hash: &cache::ContentHash,
) -> Result<(wasmtime::component::Component, bool)> {
    crate::component_scan::check_header(bytes)?;
    crate::component_scan::check_initial_memory(engine, bytes)?;
    if let Some(cache) = engine.cache() {
        match cache.load(engine.wasmtime(), hash) {
            Ok(component) => return Ok((component, true)),
            Err(Miss::Absent | Miss::Corrupt | Miss::Misplaced | Miss::Incompatible) => {}
        }
    }
    let component = wasmtime::component::Component::new(engine.wasmtime(), bytes)
        .map_err(crate::refusal::compile_error)?;
    if let Some(cache) = engine.cache() {
        cache.store(hash, &component);
    }
    Ok((component, false))
}
