use std::os::unix::process::ExitStatusExt as _;
use std::process::{Command, Stdio};

use super::*;

/// A tenant cgroup, or `None` where this host cannot make one (skipped with
/// a line on stderr, except where `CI` is set: there it fails).
fn cgroup() -> Option<TenantCgroup> {
    match TenantCgroup::create(&super::super::next_id(), 64 << 20, 16) {
        Ok(cgroup) => Some(cgroup),
        Err(error) if std::env::var_os("CI").is_none() => {
            let _ = io::Write::write_all(
                &mut io::stderr(),
                format!("skipped: no tenant cgroup here: {error}\n").as_bytes(),
            );
            None
        }
        Err(error) => panic!("no tenant cgroup: {error} (CI is set)"),
    }
}

/// The state letter of process `pid` (`Z` for a zombie), if it exists.
fn state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

#[test]
fn a_listed_process_cannot_exit_before_it_is_killed() {
    let Some(mut cgroup) = cgroup() else {
        return;
    };
    let dirs = cgroup.dirs.clone();
    // `read` returns at the end of its input, and the shell then exits by
    // itself: the stand-in for a tenant process that exits (and whose pid
    // could be reused) just after teardown read its pid.
    let mut command = Command::new("/bin/sh");
    command.args(["-c", "read line"]).stdin(Stdio::piped());
    cgroup.join_at_exec(&mut command).unwrap();
    let mut child = command.spawn().unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dirs.iter().all(|dir| listed(dir).contains(&pid)) {
        assert!(Instant::now() < deadline, "never joined its cgroup");
        std::thread::sleep(Duration::from_millis(1));
    }

    let mut stdin = child.stdin.take();
    let mut seen = Vec::new();
    let mut between = None;
    cgroup.remove_with(|pids| {
        seen.extend_from_slice(pids);
        // Between reading the pids and killing them: end its input and give
        // it time to exit.
        drop(stdin.take());
        std::thread::sleep(Duration::from_millis(200));
        between = state(pid);
    });
    assert!(seen.contains(&pid), "listed: {seen:?}");
    // Still alive (frozen, not a zombie) when the kill came, so the pid was
    // still its own.
    assert!(
        between.is_some_and(|state| state != 'Z'),
        "state when killed: {between:?}"
    );
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status}");
    for dir in &dirs {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}
