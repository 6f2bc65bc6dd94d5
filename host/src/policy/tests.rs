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
    assert_eq!(
        policy.limits(),
        Limits::default(),
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
    assert!(message.starts_with("plugin.toml:3:1: "), "{message}");
    assert!(message.contains("unknown field `fule`"), "{message}");
}

#[test]
fn wrong_type_and_unknown_table_are_rejected() {
    let error = Policy::from_toml_str("[limits]\nfuel = \"lots\"\n", "p.toml").unwrap_err();
    assert!(
        error.message().starts_with("p.toml:2:"),
        "{}",
        error.message()
    );
    let error = Policy::from_toml_str("[network]\nallow = [\"*\"]\n", "p.toml").unwrap_err();
    assert!(
        error.message().contains("unknown field `network`"),
        "{}",
        error.message()
    );
    let error = Policy::from_toml_str(
        "[[mounts]]\nhost = \"/\"\nguest = \"/\"\nmode = \"rw\"\n",
        "p.toml",
    )
    .unwrap_err();
    assert!(
        error.message().starts_with("p.toml:4:"),
        "{}",
        error.message()
    );
}

#[test]
fn json_errors_name_line_and_column() {
    let error = Policy::from_json_str("{\n  \"limits\": {\"fuell\": 1}\n}", "p.json").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidPolicy);
    assert!(
        error.message().starts_with("p.json:2:"),
        "{}",
        error.message()
    );
    assert!(error.message().contains("fuell"), "{}", error.message());
}

#[test]
fn limits_override_defaults() {
    let policy = Policy::from_toml_str("[limits]\nfuel = 5\ndeadline_ms = 7\n", "p").unwrap();
    let limits = policy.limits();
    assert_eq!(limits.fuel_per_call(), 5);
    assert_eq!(limits.deadline_per_call(), Duration::from_millis(7));
    assert_eq!(limits.memory_bytes(), Limits::default().memory_bytes());
}
