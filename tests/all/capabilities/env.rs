//! Environment variables and arguments.

use super::{ask, probe};

#[test]
fn granted_variables_and_arguments_are_visible() {
    // SAFETY: tests in this binary read but never write this variable.
    let host_value = std::env::var("PATH").unwrap();
    let mut instance = probe(
        &crate::engine(),
        r#"
        [env]
        vars = { GREETING = "hello", MODE = "strict" }
        inherit = ["PATH", "PLUGBOX_SURELY_UNSET"]
        [args]
        values = ["probe", "--verbose"]
        "#,
    );
    let env = ask(&mut instance, "env");
    let mut lines: Vec<&str> = env.lines().collect();
    lines.sort_unstable();
    let path_line = format!("PATH={host_value}");
    assert_eq!(lines, ["GREETING=hello", "MODE=strict", path_line.as_str()]);
    assert_eq!(ask(&mut instance, "args"), "probe\n--verbose\n");
}

#[test]
fn nothing_is_inherited_without_a_grant() {
    assert!(
        std::env::vars().count() > 0,
        "the host has variables to leak"
    );
    let mut instance = probe(&crate::engine(), "");
    assert_eq!(ask(&mut instance, "env"), "");
    assert_eq!(ask(&mut instance, "args"), "");
}
