//! Named plugins, each replaceable by a new version while calls run (hot
//! reload), with the idle instances of each version kept for reuse.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::error::{Error, ErrorKind, Result};
use crate::instance::{Instance, Response};
use crate::plugin::Plugin;

/// Plugins by name, each at one version at a time, and a pool of idle
/// instances per version: what a server that hot-reloads its plugins holds.
///
/// [`replace`](Self::replace) swaps a plugin for a new version atomically:
/// it first instantiates the new version once, and if that fails the old
/// version keeps serving and the error says why. Once swapped, every new
/// call gets an instance of the new version; calls already running finish
/// on their instance of the old version, which is then dropped (its idle
/// instances are dropped at once), so the old version drains without a
/// failed call.
///
/// ```
/// use plugbox::{Engine, Plugin, PluginSet};
/// let engine = Engine::new()?;
/// let set = PluginSet::new();
/// set.replace("greeter", Plugin::new(&engine, plugbox_artifacts::HELLO.bytes)?)?;
/// let answer = set.call("greeter", b"hi")?;
/// assert_eq!(answer.response.output, b"HI");
/// // A new version: new calls get it, running ones finish on the old one.
/// let generation = set.replace("greeter", Plugin::new(&engine, plugbox_artifacts::HELLO_STD.bytes)?)?;
/// assert_eq!(set.call("greeter", b"hi")?.generation, generation);
/// # Ok::<(), plugbox::Error>(())
/// ```
///
/// `PluginSet` is `Send + Sync`: share it (in an `Arc`) between the threads
/// or tasks that serve calls and the one that reloads.
pub struct PluginSet {
    entries: RwLock<HashMap<String, Arc<Version>>>,
    /// Generations, unique within this set: one per version installed.
    generations: AtomicU64,
    /// The most idle instances kept per version.
    max_idle: usize,
}

/// One version of a named plugin and its idle instances.
struct Version {
    plugin: Plugin,
    generation: u64,
    idle: Mutex<Vec<Instance>>,
}

/// What [`PluginSet::call`] returns: the plugin's response and the
/// generation of the version that gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The plugin's response.
    pub response: Response,
    /// The generation of the version whose instance answered, as
    /// [`PluginSet::replace`] returned it.
    pub generation: u64,
}

impl Default for PluginSet {
    fn default() -> Self {
        Self::new()
    }
}

impl PluginSet {
    /// The most idle instances kept per version by default.
    pub const DEFAULT_MAX_IDLE: usize = 64;

    /// An empty set keeping up to [`DEFAULT_MAX_IDLE`](Self::DEFAULT_MAX_IDLE)
    /// idle instances per plugin.
    pub fn new() -> Self {
        Self::with_max_idle(Self::DEFAULT_MAX_IDLE)
    }

    /// An empty set keeping up to `max_idle` idle instances per plugin (0:
    /// every call gets a fresh instance, as `wasmtime serve` does). Each
    /// idle instance holds a pool slot of its engine.
    pub fn with_max_idle(max_idle: usize) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            generations: AtomicU64::new(0),
            max_idle,
        }
    }

    /// Installs `plugin` as `name`, replacing the version there if any, and
    /// returns the new version's generation. The new version is first
    /// instantiated once (that instance is kept for the next call).
    ///
    /// # Errors
    ///
    /// What instantiating the new version failed with (its kind, the message
    /// prefixed with the plugin's name and what keeps serving); the set is
    /// unchanged.
    pub fn replace(&self, name: &str, plugin: Plugin) -> Result<u64> {
        let trial = plugin.instantiate().map_err(|error| {
            let serving = match self.generation(name) {
                Some(generation) => format!("generation {generation} keeps serving"),
                None => "nothing was installed".to_string(),
            };
            Error::new(
                error.kind(),
                format!(
                    "the new version of `{name}` failed to instantiate ({serving}): {}",
                    error.message()
                ),
            )
        })?;
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        let version = Arc::new(Version {
            plugin,
            generation,
            idle: Mutex::new(if self.max_idle > 0 {
                vec![trial]
            } else {
                Vec::new()
            }),
        });
        let old = self
            .entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), version);
        if let Some(old) = old {
            // Its idle instances give their pool slots back now; its busy
            // ones when their calls end.
            old.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
            tracing::info!(
                target: "plugbox::reload",
                plugin = %crate::safe_text::escape(name),
                from = old.generation,
                to = generation,
                "replaced"
            );
        }
        Ok(generation)
    }

    /// Removes `name`; calls running on it finish. Its plugin, if it was
    /// there.
    pub fn remove(&self, name: &str) -> Option<Plugin> {
        let old = self
            .entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name)?;
        old.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        Some(old.plugin.clone())
    }

    /// The current version of `name`.
    pub fn get(&self, name: &str) -> Option<Plugin> {
        self.current(name).map(|version| version.plugin.clone())
    }

    /// The generation of the current version of `name`.
    pub fn generation(&self, name: &str) -> Option<u64> {
        self.current(name).map(|version| version.generation)
    }

    /// The names installed, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        names.sort_unstable();
        names
    }

    /// Calls the current version of `name` with `input`, on an idle
    /// instance of it or a fresh one. The instance goes back to the idle
    /// pool unless the call trapped (poisoning it) or the plugin was
    /// replaced meanwhile.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when no plugin is installed as `name`; the
    /// errors of [`Plugin::instantiate`] and [`Instance::call`].
    pub fn call(&self, name: &str, input: &[u8]) -> Result<Answer> {
        let mut lease = self.lease(name)?;
        let response = lease.call(input)?;
        Ok(Answer {
            response,
            generation: lease.generation(),
        })
    }

    /// [`call`](Self::call) with [`Instance::call_async`].
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub async fn call_async(&self, name: &str, input: &[u8]) -> Result<Answer> {
        let mut lease = self.lease(name)?;
        let response = lease.call_async(input).await?;
        Ok(Answer {
            response,
            generation: lease.generation(),
        })
    }

    /// An instance of the current version of `name` (idle or fresh), lent
    /// until the [`Lease`] is dropped, for more than one call or for what
    /// [`Instance`] offers besides calls (captured output, profiling). It
    /// goes back to the idle pool as [`call`](Self::call)'s does.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call), before any call.
    pub fn lease(&self, name: &str) -> Result<Lease<'_>> {
        let (version, instance) = self.checkout(name)?;
        Ok(Lease {
            set: self,
            name: name.to_owned(),
            version,
            instance: Some(instance),
        })
    }

    fn current(&self, name: &str) -> Option<Arc<Version>> {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// The current version of `name` and an instance of it.
    fn checkout(&self, name: &str) -> Result<(Arc<Version>, Instance)> {
        let version = self.current(name).ok_or_else(|| {
            Error::new(
                ErrorKind::Config,
                format!(
                    "no plugin `{}` in this set (installed: {})",
                    crate::safe_text::escape(name),
                    self.names().join(", ")
                ),
            )
        })?;
        let idle = version
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let instance = match idle {
            Some(instance) => instance,
            None => version.plugin.instantiate()?,
        };
        Ok((version, instance))
    }

    /// Keeps `instance` for the next call if it is healthy, its version is
    /// still `name`'s current one and the idle pool has room; else drops it.
    fn give_back(&self, name: &str, version: &Arc<Version>, instance: Instance) {
        if instance.is_poisoned() {
            return;
        }
        let current = self
            .current(name)
            .is_some_and(|now| Arc::ptr_eq(&now, version));
        if !current {
            return;
        }
        let mut idle = version.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.max_idle {
            idle.push(instance);
        }
    }
}

/// An instance lent by [`PluginSet::lease`]; it dereferences to the
/// [`Instance`], and goes back to the set's idle pool when dropped (unless
/// poisoned, or its version was replaced meanwhile).
pub struct Lease<'a> {
    set: &'a PluginSet,
    name: String,
    version: Arc<Version>,
    /// `Some` until dropped.
    instance: Option<Instance>,
}

impl Lease<'_> {
    /// The generation of the version this instance belongs to.
    pub fn generation(&self) -> u64 {
        self.version.generation
    }
}

impl std::ops::Deref for Lease<'_> {
    type Target = Instance;

    fn deref(&self) -> &Instance {
        match &self.instance {
            Some(instance) => instance,
            None => unreachable!("a lease holds its instance until dropped"),
        }
    }
}

impl std::ops::DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut Instance {
        match &mut self.instance {
            Some(instance) => instance,
            None => unreachable!("a lease holds its instance until dropped"),
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(instance) = self.instance.take() {
            self.set.give_back(&self.name, &self.version, instance);
        }
    }
}

impl std::fmt::Debug for Lease<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("name", &self.name)
            .field("generation", &self.version.generation)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for PluginSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let mut map = f.debug_map();
        for (name, version) in entries.iter() {
            map.entry(name, &version.generation);
        }
        map.finish()
    }
}
