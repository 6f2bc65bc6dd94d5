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

/// The message of the error of reading `text` as the policy file `name`
/// in `dir` (of kind `InvalidPolicy`), and the file's path.
fn file_error(dir: &tempfile::TempDir, name: &str, text: &str) -> (String, String) {
    let file = dir.path().join(name);
    std::fs::write(&file, text).unwrap();
    let error = Policy::from_file(&file).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidPolicy, "{error}");
    (error.message().to_string(), file.display().to_string())
}

#[test]
fn bad_policy_file_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let (message, file) = file_error(
        &dir,
        "plugin.toml",
        "[limits]\nfuel = 10\n\n[stdio]\nstdout = \"print\"\n",
    );
    assert_eq!(
        message,
        format!(
            "{file}:5:10: stdio.stdout: unknown variant `print`, \
             expected one of `discard`, `capture`, `tracing`"
        )
    );
    let (message, file) = file_error(&dir, "typed.toml", "[limits]\nfuel = \"lots\"\n");
    assert_eq!(
        message,
        format!("{file}:2:8: limits.fuel: invalid type: string \"lots\", expected u64")
    );
    let (message, file) = file_error(
        &dir,
        "mounts.toml",
        "[[mounts]]\nhost = \"a\"\nguest = \"/a\"\n\n[[mounts]]\nhost = \"b\"\nguest = 7\n",
    );
    assert_eq!(
        message,
        format!("{file}:7:9: mounts[1].guest: invalid type: integer `7`, expected a string")
    );
    let (message, file) = file_error(
        &dir,
        "plugin.json",
        "{\n  \"stdio\": {\"stdout\": \"print\"}\n}",
    );
    assert_eq!(
        message,
        format!(
            "{file}:2:29: stdio.stdout: unknown variant `print`, \
             expected one of `discard`, `capture`, `tracing`"
        )
    );
    let missing = Policy::from_file(dir.path().join("missing.toml")).unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::Io);
}

/// The message of the error of applying the policy file `name` (`text`,
/// in `dir`) to `wasi-probe`, of kind `InvalidPolicy`, and the file's path.
fn applying(dir: &tempfile::TempDir, name: &str, text: &str) -> (String, String) {
    let file = dir.path().join(name);
    std::fs::write(&file, text).unwrap();
    let policy = Policy::from_file(&file).unwrap();
    let error = crate::plugin(&crate::engine(), "wasi-probe")
        .with_policy(&policy)
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidPolicy, "{error}");
    (error.message().to_string(), file.display().to_string())
}

#[test]
fn errors_found_when_a_policy_is_applied_name_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/x.txt"), "not a directory").unwrap();
    let two_mounts = |second_host: &str, second_guest: &str| {
        format!(
            "[[mounts]]\nhost = \"data\"\nguest = \"/data\"\n\n\
             [[mounts]]\nhost = \"{second_host}\"\nguest = \"{second_guest}\"\n"
        )
    };
    let (message, file) = applying(&dir, "relative.toml", &two_mounts("data", "data"));
    assert_eq!(
        message,
        format!("{file}:7: mounts[1].guest: `data` must be absolute")
    );
    let (message, file) = applying(&dir, "twice.toml", &two_mounts("data", "/data"));
    assert_eq!(
        message,
        format!("{file}:7: mounts[1].guest: `/data` is mounted twice")
    );
    let (message, file) = applying(&dir, "file.toml", &two_mounts("data/x.txt", "/x"));
    let host = dir.path().join("data/x.txt").canonicalize().unwrap();
    assert_eq!(
        message,
        format!(
            "{file}:6: mounts[1].host: {} is not a directory",
            host.display()
        )
    );
    let (message, file) = applying(&dir, "kv.toml", "name = \"k\"\n\n[kv]\nmax_bytes = 0\n");
    assert_eq!(
        message,
        format!("{file}:4: kv.max_bytes: must be non-zero (omit [kv] to deny it)")
    );
    // JSON keeps no lines: the file and the field.
    let (message, file) = applying(
        &dir,
        "relative.json",
        r#"{"mounts": [{"host": "data", "guest": "data"}]}"#,
    );
    assert_eq!(
        message,
        format!("{file}: mounts[0].guest: `data` must be absolute")
    );
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
