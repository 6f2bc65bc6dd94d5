//! `run --each-line --watch`: reloads the plugin into its [`PluginSet`]
//! when one of its files changes (inotify, through `notify`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher as _};
use plugbox::{Plugin, PluginSet};

use crate::Failure;

/// How long the files must be quiet after a change before the reload: a
/// writer's several events (create, write, close) make one reload.
const SETTLE: Duration = Duration::from_millis(100);

/// Watching while alive; dropping it stops the watch and its thread.
#[derive(Debug)]
pub struct Watching {
    _watcher: notify::RecommendedWatcher,
}

/// Watches `paths` (their directories, so that a file replaced by a rename
/// is seen) and on each change installs `load()`'s plugin as `name` in
/// `set`, saying on stderr what happened: reloaded, or why not and that the
/// previous version keeps serving.
pub fn start(
    set: &Arc<PluginSet>,
    name: &'static str,
    paths: Vec<PathBuf>,
    load: impl Fn() -> Result<Plugin, plugbox::Error> + Send + 'static,
) -> Result<Watching, Failure> {
    let watched: Vec<(PathBuf, std::ffi::OsString)> = paths
        .iter()
        .map(|path| {
            let failed = |error| Failure::io(&format!("--watch {}", path.display()), error);
            let dir = match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            let file = path
                .file_name()
                .ok_or_else(|| Failure::new(format!("--watch {}: not a file", path.display())))?;
            Ok((dir.canonicalize().map_err(failed)?, file.to_owned()))
        })
        .collect::<Result<_, Failure>>()?;
    let (sender, events) = std::sync::mpsc::channel();
    let mut watcher = notify::recommended_watcher(sender)
        .map_err(|error| Failure::new(format!("--watch: {error}")))?;
    for (dir, _) in &watched {
        watcher
            .watch(dir, RecursiveMode::NonRecursive)
            .map_err(|error| Failure::new(format!("--watch {}: {error}", dir.display())))?;
    }
    let set = Arc::clone(set);
    let shown: Vec<String> = paths
        .iter()
        .map(|path| path.display().to_string())
        .collect();
    let what = plugbox::safe_text::escape(&shown.join(" or ")).to_string();
    std::thread::Builder::new()
        .name("plugbox-watch".into())
        .spawn(move || {
            while wait_for_change(&events, &watched) {
                let reloaded = load().and_then(|plugin| set.replace(name, plugin));
                match reloaded {
                    Ok(generation) => {
                        eprintln!(
                            "plugbox: reloaded after a change to {what} (generation {generation})"
                        );
                    }
                    Err(error) => eprintln!(
                        "plugbox: reload after a change to {what} failed, the previous version \
                         keeps serving: {error}"
                    ),
                }
            }
        })
        .map_err(|error| Failure::io("starting the --watch thread", error))?;
    Ok(Watching { _watcher: watcher })
}

/// Blocks until one of the `watched` files changed and the directory has
/// been quiet for [`SETTLE`]; `false` once the watcher is gone.
fn wait_for_change(
    events: &Receiver<notify::Result<notify::Event>>,
    watched: &[(PathBuf, std::ffi::OsString)],
) -> bool {
    loop {
        let Ok(event) = events.recv() else {
            return false;
        };
        if changes(event, watched) {
            break;
        }
    }
    loop {
        match events.recv_timeout(SETTLE) {
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => return true,
            Err(RecvTimeoutError::Disconnected) => return false,
        }
    }
}

/// Whether `event` is a change (not a read, not a metadata change) of one
/// of the `watched` files.
fn changes(
    event: notify::Result<notify::Event>,
    watched: &[(PathBuf, std::ffi::OsString)],
) -> bool {
    let Ok(event) = event else {
        return false;
    };
    let content = matches!(
        event.kind,
        EventKind::Create(_)
            | EventKind::Modify(
                notify::event::ModifyKind::Data(_)
                    | notify::event::ModifyKind::Name(_)
                    | notify::event::ModifyKind::Any
            )
    );
    content
        && event.paths.iter().any(|path| {
            watched
                .iter()
                .any(|(dir, file)| path.parent() == Some(dir) && path.file_name() == Some(file))
        })
}
