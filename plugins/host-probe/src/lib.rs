//! `host-probe`: a lean plugin that exercises the host functions, one
//! command per call, so that tests can check each grant and denial.
//!
//! Commands: `log LEVEL TEXT`, `spam N` (N log messages of 1 KiB),
//! `config KEY`, `get KEY`, `set KEY VALUE`, `delete KEY`, `inc KEY DELTA`,
//! `wait KEY` (asks for KEY until it is set: a guest polling a flag).
//! Key-value refusals are answered as `error: <Debug of kv::Error>`.
#![cfg_attr(target_arch = "wasm32", no_std)]

use plugbox_guest::kv;
use plugbox_guest::log::{self, Level};
use plugbox_guest::prelude::*;

/// Runs the command named by the input.
#[plugin]
fn probe(input: &str) -> Result<String, String> {
    let mut words = input.splitn(3, ' ');
    let command = words.next().unwrap_or_default();
    let first = words.next().unwrap_or_default();
    let rest = words.next().unwrap_or_default();
    let answer = match command {
        "log" => {
            let level = match first {
                "trace" => Level::Trace,
                "debug" => Level::Debug,
                "info" => Level::Info,
                "warn" => Level::Warn,
                _ => Level::Error,
            };
            log::log(level, rest);
            "ok".to_string()
        }
        "spam" => {
            let count: usize = first
                .parse()
                .map_err(|_| "spam needs a count".to_string())?;
            let line = "x".repeat(1024);
            for _ in 0..count {
                log::info(&line);
            }
            "ok".to_string()
        }
        "config" => plugbox_guest::config::get(first).unwrap_or_else(|| "(unset)".to_string()),
        "get" => match kv::get(first) {
            Ok(Some(value)) => String::from_utf8_lossy(&value).into_owned(),
            Ok(None) => "(absent)".to_string(),
            Err(error) => format!("error: {error:?}"),
        },
        "wait" => loop {
            match kv::get(first) {
                Ok(Some(value)) => break String::from_utf8_lossy(&value).into_owned(),
                Ok(None) => {}
                Err(error) => break format!("error: {error:?}"),
            }
        },
        "set" => answer(kv::set(first, rest.as_bytes()).map(|()| "ok".to_string())),
        "delete" => answer(kv::delete(first).map(|existed| existed.to_string())),
        "inc" => {
            let delta: i64 = rest.parse().map_err(|_| "inc needs a delta".to_string())?;
            answer(kv::increment(first, delta).map(|value| value.to_string()))
        }
        other => return Err(format!("unknown command `{other}`")),
    };
    Ok(answer)
}

fn answer(result: Result<String, kv::Error>) -> String {
    result.unwrap_or_else(|error| format!("error: {error:?}"))
}
