//! Policies as data: files in TOML and JSON, and their limits applied.

use plugbox::{ErrorKind, Policy};

use super::probe_plugin;

#[test]
fn policy_files_resolve_mounts_relative_to_themselves() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/x.txt"), "relative").unwrap();
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, "[[mounts]]\nhost = \"data\"\nguest = \"/data\"\n").unwrap();
    let policy = Policy::from_file(&file).unwrap();
    let plugin = crate::plugin(&crate::engine(), "wasi-probe")
        .with_policy(&policy)
        .unwrap();
    let mut instance = plugin.instantiate().unwrap();
    assert_eq!(super::ask(&mut instance, "read /data/x.txt"), "relative");

    let json = dir.path().join("policy.json");
    std::fs::write(&json, r#"{"env": {"vars": {"A": "1"}}}"#).unwrap();
    assert_eq!(Policy::from_file(&json).unwrap().env.vars["A"], "1");
}

#[test]
fn bad_policy_file_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plugin.toml");
    std::fs::write(
        &file,
        "[limits]\nfuel = 10\n\n[stdio]\nstdout = \"print\"\n",
    )
    .unwrap();
    let error = Policy::from_file(&file).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidPolicy);
    let expected = format!("{}:5:", file.display());
    assert!(
        error.message().starts_with(&expected),
        "{}",
        error.message()
    );
    assert!(error.message().contains("print"), "{}", error.message());
    let missing = Policy::from_file(dir.path().join("missing.toml")).unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::Io);
}

#[test]
fn policy_limits_apply_to_instances() {
    let engine = crate::engine();
    let plugin = probe_plugin(&engine, "[limits]\nmax_input_bytes = 8\nfuel = 123456\n");
    assert_eq!(plugin.limits().fuel_per_call(), 123_456);
    let mut instance = plugin.instantiate().unwrap();
    assert_eq!(
        instance.call(b"read /a/long/path").unwrap_err().kind(),
        ErrorKind::InputTooLarge
    );
}
