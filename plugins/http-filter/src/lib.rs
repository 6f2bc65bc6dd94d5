//! `http-filter`: an Envoy-style HTTP request filter, written as a plugin
//! author would, with the guest SDK only.
//!
//! The host passes each request (method, path, headers, and the time it
//! arrived — a lean plugin has no clock of its own); the filter answers
//! `continue` (with headers to add or remove) or an immediate response:
//!
//! - a request without the required header (`[config] required_header`,
//!   default `x-api-key`) gets `401`;
//! - each API key may make `limit` requests per `window_seconds` (defaults
//!   5 and 60), counted in the plugin's key-value store; past that, `429`
//!   with a `retry-after` header;
//! - passing requests get `x-plugbox-filter: passed` and
//!   `x-ratelimit-remaining`, and lose any `x-internal-*` header a client
//!   tried to smuggle in.
#![cfg_attr(target_arch = "wasm32", no_std)]

use plugbox_guest::prelude::*;

/// The request as the proxy sees it.
#[derive(serde::Deserialize)]
struct Request {
    method: String,
    path: String,
    /// `[name, value]` pairs, in order.
    #[serde(default)]
    headers: Vec<(String, String)>,
    /// When the request arrived, in milliseconds since the Unix epoch.
    now_ms: u64,
}

/// What the proxy should do.
#[derive(serde::Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
enum Verdict {
    /// Forward the request upstream, with these header changes.
    Continue {
        add_headers: Vec<(String, String)>,
        remove_headers: Vec<String>,
    },
    /// Answer the client directly.
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
}

fn setting(key: &str, default: u64) -> u64 {
    plugbox_guest::config::get(key)
        .and_then(|value| value.trim().parse().ok())
        .filter(|&value| value > 0)
        .unwrap_or(default)
}

/// Filters one request.
#[plugin]
fn filter(Json(request): Json<Request>) -> Result<Json<Verdict>, String> {
    let required =
        plugbox_guest::config::get("required_header").unwrap_or_else(|| "x-api-key".to_string());
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    };
    let Some(api_key) = header(&required).filter(|key| !key.is_empty()) else {
        plugbox_guest::log::info(&format!(
            "{} {}: no {required}",
            request.method, request.path
        ));
        return Ok(Json(Verdict::Respond {
            status: 401,
            headers: vec![(
                "www-authenticate".into(),
                format!("ApiKey header={required}"),
            )],
            body: format!("missing {required} header"),
        }));
    };

    let limit = setting("limit", 5);
    let window_ms = setting("window_seconds", 60).saturating_mul(1000);
    let window = request.now_ms / window_ms;
    let counter = format!("rl:{api_key}:{window}");
    let count = plugbox_guest::kv::increment(&counter, 1)
        .map_err(|error| format!("rate-limit counter unavailable: {error:?}"))?;
    if count == 1 && window > 0 {
        // First request of a new window: the previous window's counter is
        // done with. (Best effort: a failure only costs quota.)
        let _ = plugbox_guest::kv::delete(&format!("rl:{api_key}:{}", window - 1));
    }
    if count > limit as i64 {
        let retry_after = (window + 1) * window_ms - request.now_ms;
        plugbox_guest::log::warn(&format!("rate limit hit by key {api_key}"));
        return Ok(Json(Verdict::Respond {
            status: 429,
            headers: vec![("retry-after".into(), retry_after.div_ceil(1000).to_string())],
            body: "too many requests".into(),
        }));
    }

    let remove_headers = request
        .headers
        .iter()
        .filter(|(name, _)| name.to_ascii_lowercase().starts_with("x-internal-"))
        .map(|(name, _)| name.clone())
        .collect();
    Ok(Json(Verdict::Continue {
        add_headers: vec![
            ("x-plugbox-filter".into(), "passed".into()),
            (
                "x-ratelimit-remaining".into(),
                (limit as i64 - count).to_string(),
            ),
        ],
        remove_headers,
    }))
}
