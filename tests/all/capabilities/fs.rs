//! Filesystem mounts: read-only and read-write grants, and every way out of
//! a mount denied.

use super::{ask, probe};

/// A host directory tree:
/// `root/data/greeting.txt`, `root/data/escape -> ../secret` (a symlink out),
/// `root/secret/password.txt`.
fn tree() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("data")).unwrap();
    std::fs::create_dir(root.path().join("secret")).unwrap();
    std::fs::write(root.path().join("data/greeting.txt"), "hello from the host").unwrap();
    std::fs::write(root.path().join("secret/password.txt"), "hunter2").unwrap();
    std::os::unix::fs::symlink("../secret", root.path().join("data/escape")).unwrap();
    root
}

fn mount(root: &tempfile::TempDir, mode: &str) -> String {
    format!(
        "[[mounts]]\nhost = {:?}\nguest = \"/data\"\nmode = \"{mode}\"\n",
        root.path().join("data")
    )
}

#[test]
fn read_only_mount_can_be_read() {
    let root = tree();
    let mut instance = probe(&crate::engine(), &mount(&root, "read-only"));
    assert_eq!(
        ask(&mut instance, "read /data/greeting.txt"),
        "hello from the host"
    );
    assert_eq!(ask(&mut instance, "list /data"), "escape\ngreeting.txt");
}

#[test]
fn read_only_mount_cannot_be_written() {
    let root = tree();
    let mut instance = probe(&crate::engine(), &mount(&root, "read-only"));
    assert_eq!(
        ask(&mut instance, "write /data/greeting.txt overwritten"),
        "error: PermissionDenied"
    );
    assert_eq!(
        ask(&mut instance, "write /data/new.txt created"),
        "error: PermissionDenied"
    );
    let on_host = std::fs::read_to_string(root.path().join("data/greeting.txt")).unwrap();
    assert_eq!(on_host, "hello from the host");
    assert!(!root.path().join("data/new.txt").exists());
}

#[test]
fn read_write_mount_can_be_written() {
    let root = tree();
    let mut instance = probe(&crate::engine(), &mount(&root, "read-write"));
    assert_eq!(
        ask(&mut instance, "write /data/new.txt written by the plugin"),
        "ok"
    );
    let on_host = std::fs::read_to_string(root.path().join("data/new.txt")).unwrap();
    assert_eq!(on_host, "written by the plugin");
}

#[test]
fn dot_dot_cannot_leave_a_mount() {
    let root = tree();
    let mut instance = probe(&crate::engine(), &mount(&root, "read-write"));
    assert_eq!(
        ask(&mut instance, "read /data/../secret/password.txt"),
        "error: PermissionDenied",
        "`..` above the mount"
    );
    assert_eq!(
        ask(&mut instance, "write /data/../secret/planted.txt x"),
        "error: PermissionDenied"
    );
    assert!(!root.path().join("secret/planted.txt").exists());
}

#[test]
fn absolute_paths_outside_a_mount_are_denied() {
    let root = tree();
    let mut instance = probe(&crate::engine(), &mount(&root, "read-write"));
    let outside = root.path().join("secret/password.txt");
    assert_eq!(
        ask(&mut instance, &format!("read {}", outside.display())),
        "error: NotFound"
    );
    assert_eq!(ask(&mut instance, "read /etc/hostname"), "error: NotFound");
    assert_eq!(ask(&mut instance, "list /"), "error: NotFound");
}

#[test]
fn symlinks_out_of_a_mount_are_denied() {
    let root = tree();
    let mut instance = probe(&crate::engine(), &mount(&root, "read-write"));
    assert_eq!(
        ask(&mut instance, "read /data/escape/password.txt"),
        "error: PermissionDenied",
        "a symlink out of the mount is not followed"
    );
    assert_eq!(
        ask(&mut instance, "write /data/escape/planted.txt x"),
        "error: PermissionDenied"
    );
    assert!(!root.path().join("secret/planted.txt").exists());
}

#[test]
fn symlinks_within_a_mount_are_followed() {
    let root = tree();
    std::os::unix::fs::symlink("greeting.txt", root.path().join("data/alias")).unwrap();
    let mut instance = probe(&crate::engine(), &mount(&root, "read-only"));
    assert_eq!(
        ask(&mut instance, "read /data/alias"),
        "hello from the host"
    );
}

#[test]
fn without_mounts_there_is_no_filesystem() {
    let root = tree();
    let mut instance = probe(&crate::engine(), "");
    assert_eq!(
        ask(&mut instance, "read /data/greeting.txt"),
        "error: NotFound"
    );
    let inside = root.path().join("data/greeting.txt");
    assert_eq!(
        ask(&mut instance, &format!("read {}", inside.display())),
        "error: NotFound"
    );
}

#[test]
fn a_mount_that_is_not_a_directory_is_refused_at_load() {
    let root = tree();
    let policy = plugbox::Policy::from_toml_str(
        &format!(
            "[[mounts]]\nhost = {:?}\nguest = \"/data\"\n",
            root.path().join("data/greeting.txt")
        ),
        "test",
    )
    .unwrap();
    let error = crate::plugin(&crate::engine(), "wasi-probe")
        .with_policy(&policy)
        .unwrap_err();
    assert_eq!(error.kind(), plugbox::ErrorKind::InvalidPolicy, "{error}");
    let file = root
        .path()
        .join("data/greeting.txt")
        .canonicalize()
        .unwrap();
    assert_eq!(
        error.message(),
        format!(
            "test:2: mounts[0].host: {} is not a directory",
            file.display()
        )
    );
    let missing = plugbox::Policy::from_toml_str(
        "[[mounts]]\nhost = \"/nonexistent/plugbox\"\nguest = \"/data\"\n",
        "test",
    )
    .unwrap();
    let error = crate::plugin(&crate::engine(), "wasi-probe")
        .with_policy(&missing)
        .unwrap_err();
    assert_eq!(error.kind(), plugbox::ErrorKind::Io, "{error}");
    assert_eq!(
        error.message(),
        "test:2: mounts[0].host: /nonexistent/plugbox"
    );
    let cause = std::error::Error::source(&error).unwrap();
    let cause = cause.downcast_ref::<std::io::Error>().unwrap();
    assert_eq!(cause.kind(), std::io::ErrorKind::NotFound);
}
