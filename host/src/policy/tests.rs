//! Tests of policy parsing.

use std::time::Duration;

use super::*;
use crate::error::ErrorKind;
use crate::limits::Limits;

#[test]
fn empty_policy_denies_everything_and_keeps_default_limits() {
    let policy = Policy::from_toml_str("", "empty").unwrap();
    assert_eq!(policy, Policy::default());
    assert_eq!(policy.limits(), Limits::default());
    assert!(policy.env.vars.is_empty() && policy.env.inherit.is_empty());
    assert!(policy.mounts.is_empty());
    assert_eq!(policy.stdio.stdout, Output::Discard);
    assert_eq!(policy.clock.mode, ClockMode::Real);
}

#[test]
fn every_documented_field_parses() {
    let documented = include_str!("mod.rs")
        .lines()
        .skip_while(|line| !line.starts_with("//! ```toml"))
        .skip(1)
        .take_while(|line| !line.starts_with("//! ```"))
        .map(|line| line.strip_prefix("//!").unwrap_or(line).trim_start())
        .collect::<Vec<_>>()
        .join("\n");
    let policy = Policy::from_toml_str(&documented, "module docs").unwrap();
    // Set explicitly, to the defaults.
    let defaults = Limits::default();
    assert_eq!(
        policy.limits(),
        defaults
            .fuel(defaults.fuel_per_call())
            .deadline(defaults.deadline_per_call()),
        "the documented values are the defaults"
    );
    assert_eq!(policy.mounts.len(), 1);
    assert_eq!(policy.args.values, ["discount", "--strict"]);
    let json = serde_json::to_string(&policy).unwrap();
    assert_eq!(Policy::from_json_str(&json, "round trip").unwrap(), policy);
}

#[test]
fn unknown_field_names_file_line_and_field() {
    let error =
        Policy::from_toml_str("[limits]\nfuel = 10\nfule = 20\n", "plugin.toml").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidPolicy);
    let message = error.message();
    assert!(
        message.starts_with("plugin.toml:3:1: limits.fule: unknown field `fule`, expected one of"),
        "{message}"
    );
}

/// The message of the error of parsing `text` as TOML from `p.toml`.
fn toml_error(text: &str) -> String {
    let error = Policy::from_toml_str(text, "p.toml").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidPolicy);
    error.message().to_string()
}

#[test]
fn wrong_types_and_values_name_file_line_and_field() {
    assert_eq!(
        toml_error("[limits]\nfuel = \"lots\"\n"),
        "p.toml:2:8: limits.fuel: invalid type: string \"lots\", expected u64"
    );
    assert_eq!(
        toml_error("[kv]\nmax_keys = -1\n"),
        "p.toml:2:12: kv.max_keys: invalid value: integer `-1`, expected usize"
    );
    assert_eq!(
        toml_error("[env]\nvars = { A = 1 }\n"),
        "p.toml:2:14: env.vars.A: invalid type: integer `1`, expected a string"
    );
    assert_eq!(
        toml_error("[[mounts]]\nhost = \"/\"\nguest = \"/\"\nmode = \"rw\"\n"),
        "p.toml:4:8: mounts[0].mode: unknown variant `rw`, expected `read-only` or `read-write`"
    );
    assert_eq!(
        toml_error("[[mounts]]\nguest = \"/x\"\n"),
        "p.toml:1:1: mounts[0]: missing field `host`"
    );
    assert!(
        toml_error("[network]\nallow = [\"*\"]\n")
            .starts_with("p.toml:1:2: network: unknown field `network`, expected one of"),
    );
    // A syntax error has a position but no field.
    assert_eq!(
        toml_error("x = = 1\n"),
        "p.toml:1:5: extra `=`, expected nothing"
    );
}

#[test]
fn json_errors_name_line_column_and_field() {
    let error =
        Policy::from_json_str("{\n  \"limits\": {\"fuel\": \"x\"}\n}", "p.json").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidPolicy);
    assert_eq!(
        error.message(),
        "p.json:2:24: limits.fuel: invalid type: string \"x\", expected u64"
    );
    let error = Policy::from_json_str("{} x", "p.json").unwrap_err();
    assert_eq!(error.message(), "p.json:1:4: trailing characters");
}

#[test]
fn toml_policies_remember_where_each_field_is() {
    let text = "name = \"n\"\n\n[[mounts]]\nhost = \"a\"\nguest = \"/a\"\n\n[[mounts]]\nhost = \"b\"\nguest = \"/b\"\n";
    let policy = Policy::from_toml_str(text, "p.toml").unwrap();
    let origin = &policy.origin;
    assert_eq!(origin.name(), Some("p.toml"));
    assert_eq!(origin.line("name"), Some(1));
    assert_eq!(origin.line("mounts[1]"), Some(7));
    assert_eq!(origin.line("mounts[1].guest"), Some(9));
    assert_eq!(origin.line("mounts[2]"), None);
    assert_eq!(
        origin.locate("mounts[1].guest"),
        "p.toml:9: mounts[1].guest: "
    );
    assert_eq!(origin.locate("kv.max_keys"), "p.toml: kv.max_keys: ");
    // Where it came from does not make a policy different.
    assert_eq!(
        Policy::from_toml_str(text, "elsewhere.toml").unwrap(),
        policy
    );
    assert_eq!(
        Policy::default().origin.locate("kv.max_keys"),
        "kv.max_keys: "
    );
}

#[test]
fn limits_override_defaults() {
    let policy = Policy::from_toml_str("[limits]\nfuel = 5\ndeadline_ms = 7\n", "p").unwrap();
    let limits = policy.limits();
    assert_eq!(limits.fuel_per_call(), 5);
    assert_eq!(limits.deadline_per_call(), Duration::from_millis(7));
    assert_eq!(limits.memory_bytes(), Limits::default().memory_bytes());
}
