//! Guest profiling (feature `profiling`): wasmtime's `GuestProfiler`
//! sampling an instance's stack at every epoch tick of its calls, written in
//! the Firefox Profiler's format, so that a plugin's author sees where their
//! calls spend their time (and fuel).
//!
//! The profile names only the plugin's own functions (its core modules'),
//! never the host's: it is safe to hand to the plugin's author.

use std::io::Write;
use std::time::Instant;

use wasmtime::{GuestProfiler, StoreContextMut};

use crate::error::{Error, ErrorKind, Result};
use crate::host::HostContext;
use crate::instance::Instance;

/// A profile being recorded, kept in the instance's store.
pub(crate) struct Recording {
    profiler: GuestProfiler,
    last_sample: Instant,
}

impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording")
            .field("last_sample", &self.last_sample)
            .finish_non_exhaustive()
    }
}

/// Takes one sample of the running guest's stack, if its instance is being
/// profiled: called from the epoch callback, at every tick of a call.
pub(crate) fn sample(store: &mut StoreContextMut<'_, HostContext>) {
    let Some(mut recording) = store.data_mut().profile.take() else {
        return;
    };
    let now = Instant::now();
    recording
        .profiler
        .sample(&*store, now.duration_since(recording.last_sample));
    recording.last_sample = now;
    store.data_mut().profile = Some(recording);
}

impl Instance {
    /// Starts recording a profile of this instance's calls: at every epoch
    /// tick (1 ms by default) of a call, the guest's stack is sampled. The
    /// profile covers every call until
    /// [`finish_profiling`](Self::finish_profiling). Costs a stack walk per
    /// tick while calls run, nothing between calls. Samples are taken only
    /// while wasm runs (not in host calls) and at function entries and loop
    /// headers, where epochs are checked.
    ///
    /// Needs the `profiling` feature, and an engine with epochs (one that
    /// meters the deadline: not [`Metering::FuelOnly`](crate::Metering::FuelOnly)).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when a profile is already being recorded, when
    /// the engine has no epochs to sample at, or when wasmtime cannot profile
    /// the component.
    pub fn start_profiling(&mut self) -> Result<()> {
        let (store, component, tick, metering) = self.profiling_parts();
        if !metering.meters_deadline() {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "profiles are sampled at epoch ticks, and this engine has none: it was built \
                     with EngineBuilder::metering({}); profile on an engine that meters the \
                     deadline",
                    metering.name()
                ),
            ));
        }
        if store.data().profile.is_some() {
            return Err(Error::new(
                ErrorKind::Config,
                "this instance is already being profiled",
            ));
        }
        let name = store.data().host.plugin.clone();
        let profiler = GuestProfiler::new_component(store.engine(), &name, tick, component, [])
            .map_err(|error| {
                Error::new(ErrorKind::Config, "wasmtime cannot profile this component")
                    .with_wasmtime(error)
            })?;
        store.data_mut().profile = Some(Box::new(Recording {
            profiler,
            last_sample: Instant::now(),
        }));
        Ok(())
    }

    /// Stops recording and writes the profile, as the Firefox Profiler's JSON
    /// (open it at <https://profiler.firefox.com>, "Load a profile from
    /// file"). Works on a poisoned instance too: the profile of a call that
    /// ran out of fuel or time shows where it went.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when no profile is being recorded;
    /// [`ErrorKind::Io`] when `out` cannot be written.
    pub fn finish_profiling(&mut self, out: impl Write) -> Result<()> {
        let (store, _, _, _) = self.profiling_parts();
        let Some(recording) = store.data_mut().profile.take() else {
            return Err(Error::new(
                ErrorKind::Config,
                "this instance is not being profiled (start_profiling first)",
            ));
        };
        recording.profiler.finish(out).map_err(|error| {
            Error::new(ErrorKind::Io, "cannot write the profile").with_wasmtime(error)
        })
    }
}
