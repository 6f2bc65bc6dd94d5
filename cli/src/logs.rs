//! Plugin logs on stderr: a `tracing-subscriber` fmt subscriber showing the
//! `log` host function's events (target `plugbox::plugin`) and traced stdio
//! (`plugbox::guest`), each line with its level, target and the plugin's
//! name, every field escaped and cut ([`plugbox::safe_text`]).

use std::fmt;
use std::io::IsTerminal as _;

use plugbox::safe_text::escape;
use tracing::field::Field;
use tracing_subscriber::field::MakeExt as _;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::Failure;

/// What is shown without `--log-level` or `RUST_LOG`: the plugin's own logs
/// from `info` up, and warnings of everything else.
pub const DEFAULT_FILTER: &str = "warn,plugbox::plugin=info,plugbox::guest=info";

/// The most bytes of one field (a log message, say) shown, as plugbox
/// rendered it (already escaped); the rest is counted (`… (N more bytes)`).
pub const FIELD_SHOWN_BYTES: usize = 4096;

/// The filter for `--log-level LEVEL` (the plugin's logs from LEVEL up,
/// warnings of the rest), else `RUST_LOG` (`target=level` directives), else
/// [`DEFAULT_FILTER`].
pub fn filter(level: Option<LevelFilter>, rust_log: Option<&str>) -> Result<Targets, Failure> {
    let (text, origin) = match (level, rust_log) {
        (Some(level), _) => (
            format!("warn,plugbox::plugin={level},plugbox::guest={level}"),
            "--log-level",
        ),
        (None, Some(directives)) if !directives.trim().is_empty() => {
            (directives.trim().to_owned(), "RUST_LOG")
        }
        (None, _) => (DEFAULT_FILTER.to_owned(), "the default filter"),
    };
    text.parse().map_err(|error| {
        Failure::new(format!(
            "{origin} `{}`: {error} (use `target=level` directives, e.g. {DEFAULT_FILTER})",
            escape(&text)
        ))
    })
}

/// Installs the subscriber on stderr, with colours only on a terminal.
pub fn install(filter: Targets) -> Result<(), Failure> {
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .fmt_fields(tracing_subscriber::fmt::format::debug_fn(field).delimited(" "));
    tracing_subscriber::registry()
        .with(fmt)
        .with(filter)
        .try_init()
        .map_err(|error| Failure::new(format!("installing the log subscriber: {error}")))
}

/// One field: the message as it is, others as `name=value`; escaped and cut.
fn field(writer: &mut Writer<'_>, field: &Field, value: &dyn fmt::Debug) -> fmt::Result {
    let text = format!("{value:?}");
    let shown = escape(&text).truncate(FIELD_SHOWN_BYTES);
    match field.name() {
        "message" => write!(writer, "{shown}"),
        name => write!(writer, "{name}={shown}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    fn enabled(targets: &Targets, target: &str, level: Level) -> bool {
        targets.would_enable(target, &level)
    }

    #[test]
    fn the_flag_wins_over_rust_log_and_the_default_shows_plugin_info() {
        let default = filter(None, None).unwrap();
        assert!(enabled(&default, "plugbox::plugin", Level::INFO));
        assert!(enabled(&default, "plugbox::guest", Level::INFO));
        assert!(!enabled(&default, "plugbox::plugin", Level::DEBUG));
        assert!(enabled(&default, "wasmtime", Level::WARN));
        assert!(!enabled(&default, "wasmtime", Level::INFO));
        let debug = filter(Some(LevelFilter::DEBUG), Some("off")).unwrap();
        assert!(enabled(&debug, "plugbox::plugin", Level::DEBUG));
        assert!(enabled(&debug, "plugbox::guest", Level::DEBUG));
        assert!(!enabled(&debug, "plugbox::plugin", Level::TRACE));
        assert!(!enabled(&debug, "wasmtime", Level::INFO));
        let off = filter(Some(LevelFilter::OFF), None).unwrap();
        assert!(!enabled(&off, "plugbox::plugin", Level::ERROR));
        let rust_log = filter(None, Some("plugbox::plugin=error")).unwrap();
        assert!(!enabled(&rust_log, "plugbox::plugin", Level::WARN));
        assert!(enabled(&rust_log, "plugbox::plugin", Level::ERROR));
        // An empty RUST_LOG is no RUST_LOG.
        assert_eq!(
            filter(None, Some(" ")).unwrap().to_string(),
            default.to_string()
        );
    }

    #[test]
    fn a_bad_rust_log_is_an_error_naming_it_escaped() {
        let error = filter(None, Some("plugbox=\x1b[31mloud")).unwrap_err();
        assert!(
            error
                .message
                .starts_with(r"RUST_LOG `plugbox=\x1b[31mloud`: "),
            "{}",
            error.message
        );
    }
}
