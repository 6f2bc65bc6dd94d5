//! The `namespaced` level: our own sandbox from kernel primitives, no
//! external runtime, and no process of the host's left in it.
//!
//! The host clones the twin straight into new user, pid, mount, net, ipc and
//! uts namespaces (`clone3`): the twin is pid 1 of its pid namespace and the
//! host's own child, so its exit status is the worker's, and nothing that
//! lives on holds a copy of the host (a `fork` that never execs would keep
//! the host's page tables and copy-on-write pages for as long as the tenant
//! lives). While the child waits on a pipe, the host moves it into the
//! tenant's cgroup and writes its uid and gid maps (root inside; `nobody`
//! outside when the host is root, else the host's own ids). The child then
//! takes that identity, makes the cgroup its cgroup namespace's root, sets
//! rlimits, builds the new root in its mount namespace (a read-only tmpfs at
//! its `/tmp` holding only the program's binds, each read-only: the twin, or
//! an interpreter, its libraries and its script; and its own `/proc`),
//! `pivot_root`s into it and detaches the host's, keeps only its stdio
//! pipes, drops every capability, sets no_new_privs, installs the seccomp
//! allow-list and execs the program. Each bind is a detached mount the host
//! made (`open_tree`: a root host reaches any path), or, without one, is
//! bound by path. A failed step comes back to the host, by name, as
//! the spawn's error. [`probe`] runs the whole sequence but the exec, so that
//! `Isolation::available` can tell whether the sandbox can be built here
//! (user namespaces may be forbidden, or mounts refused in them).
//!
//! Everything between `clone` and `exec` ([`child`]) only makes raw system
//! calls on data prepared beforehand: no allocation, no locks.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use seccompiler::BpfProgram;

use crate::cgroup::TenantCgroup;
use crate::process::{Cloned, Process, Spawned};
use crate::program::Program;

mod child;
mod sys;

/// The unprivileged identity a root host maps the sandbox's root to.
const NOBODY: libc::uid_t = 65534;

/// The namespaces of the clone (the cgroup namespace comes after the host
/// has moved the child into the tenant's cgroup).
const NAMESPACES: u64 = (libc::CLONE_NEWUSER
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS) as u64;

/// The child's steps, as a failure names them to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Step {
    Identity,
    CgroupNamespace,
    Rlimits,
    PrivateMounts,
    OpenTwin,
    MountRoot,
    MakeMountpoints,
    AttachTwin,
    ReadOnly,
    MountProc,
    PivotRoot,
    Stdio,
    Descriptors,
    Hostname,
    Capabilities,
    Seccomp,
    Exec,
}

impl Step {
    const ALL: [Self; 17] = [
        Self::Identity,
        Self::CgroupNamespace,
        Self::Rlimits,
        Self::PrivateMounts,
        Self::OpenTwin,
        Self::MountRoot,
        Self::MakeMountpoints,
        Self::AttachTwin,
        Self::ReadOnly,
        Self::MountProc,
        Self::PivotRoot,
        Self::Stdio,
        Self::Descriptors,
        Self::Hostname,
        Self::Capabilities,
        Self::Seccomp,
        Self::Exec,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Identity => "taking the mapped identity",
            Self::CgroupNamespace => "unsharing the cgroup namespace",
            Self::Rlimits => "setting rlimits",
            Self::PrivateMounts => "making mounts private",
            Self::OpenTwin => "opening a bind's source",
            Self::MountRoot => "mounting the new root",
            Self::MakeMountpoints => "making the mountpoints",
            Self::AttachTwin => "bind-mounting a bind's source",
            Self::ReadOnly => "making the root read-only",
            Self::MountProc => "mounting /proc",
            Self::PivotRoot => "entering the new root",
            Self::Stdio => "setting up stdio",
            Self::Descriptors => "closing host descriptors",
            Self::Hostname => "setting the hostname",
            Self::Capabilities => "dropping capabilities",
            Self::Seccomp => "installing the seccomp filter",
            Self::Exec => "executing the program",
        }
    }
}

/// One bind of the new root, prepared before `clone`.
struct PlannedBind {
    /// The host's detached bind mount of the source, if it could make one.
    tree: Option<libc::c_int>,
    /// The host path, for binding by path without a tree.
    source: CString,
    /// The mountpoint in the new root (under [`child`]'s `/tmp`).
    target: CString,
    directory: bool,
    /// Flags of the read-only remount: the source mount's locked ones too.
    flags: libc::c_ulong,
}

/// Everything the child needs, prepared before `clone`.
struct Plan {
    binds: Vec<PlannedBind>,
    /// Directories to make in the new root before the mountpoints, parents
    /// first.
    directories: Vec<CString>,
    /// The executable in the new root, its argument vector and environment
    /// (null-terminated arrays of pointers into `_strings`).
    executable: CString,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    _strings: Vec<CString>,
    /// The host is root: the child drops the supplementary groups it kept.
    privileged: bool,
    filter: BpfProgram,
    address_space_bytes: u64,
    /// The descriptors that become the twin's stdin, stdout and stderr.
    stdio: [libc::c_int; 3],
    /// Read end of the host's go.
    go: libc::c_int,
    /// Write end of the failure report (closed by the exec).
    report: libc::c_int,
    /// `false` for a probe: exit 0 where the twin would be executed.
    exec: bool,
}

/// Starts `program` in a fresh sandbox, in `cgroup`.
pub(crate) fn spawn(
    program: &Program,
    cgroup: Option<&TenantCgroup>,
    address_space_bytes: u64,
) -> io::Result<Spawned> {
    launch(program, cgroup, address_space_bytes, true)
}

/// Whether the sandbox can be built here: the whole sequence but the exec,
/// once per process (as `Err`, the step that failed).
pub(crate) fn probe() -> io::Result<()> {
    static PROBED: OnceLock<Result<(), (io::ErrorKind, String)>> = OnceLock::new();
    PROBED
        .get_or_init(|| {
            let probed = std::env::current_exe().and_then(|exe| {
                let program = Program::twin(exe).map_err(io::Error::other)?;
                let mut spawned =
                    launch(&program, None, crate::oci::ADDRESS_SPACE_LIMIT_BYTES, false)?;
                let status = spawned.process.wait()?;
                if status.success() {
                    Ok(())
                } else {
                    Err(io::Error::other(format!(
                        "the sandbox probe ended with {status}"
                    )))
                }
            });
            probed.map_err(|error| (error.kind(), error.to_string()))
        })
        .clone()
        .map_err(|(kind, message)| io::Error::new(kind, message))
}

/// `path` (absolute) under the child's new root, as a C string.
fn in_new_root(path: &Path) -> io::Result<CString> {
    let mut bytes = child::NEW_ROOT.to_bytes().to_vec();
    bytes.extend_from_slice(path.as_os_str().as_bytes());
    Ok(CString::new(bytes)?)
}

/// A null-terminated array of pointers to `strings` (which must outlive it).
fn pointers(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|string| string.as_ptr())
        .chain([std::ptr::null()])
        .collect()
}

fn launch(
    program: &Program,
    cgroup: Option<&TenantCgroup>,
    address_space_bytes: u64,
    exec: bool,
) -> io::Result<Spawned> {
    // SAFETY: geteuid/getegid cannot fail.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let privileged = euid == 0;
    let mut trees = Vec::new();
    let mut binds = Vec::new();
    let mut directories: Vec<CString> = Vec::new();
    for bind in &program.binds {
        let source = CString::new(bind.source.as_os_str().as_bytes())?;
        let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_RDONLY | locked_flags(&source)?;
        // Only a privileged host can clone a mount; the child falls back to
        // binding by path.
        let tree = if privileged {
            sys::open_tree(&source).ok()
        } else {
            None
        };
        for ancestor in bind.target.ancestors().skip(1) {
            if ancestor == Path::new("/") {
                break;
            }
            let directory = in_new_root(ancestor)?;
            if !directories.contains(&directory) {
                directories.push(directory);
            }
        }
        binds.push(PlannedBind {
            tree: tree.as_ref().map(AsRawFd::as_raw_fd),
            source,
            target: in_new_root(&bind.target)?,
            directory: bind.directory,
            flags,
        });
        trees.extend(tree);
    }
    // Parents before children: shorter paths first.
    directories.sort_by_key(|directory| directory.as_bytes().len());
    let (executable, args) = program.command_line();
    let executable = CString::new(executable.as_os_str().as_bytes())?;
    let mut strings = vec![executable.clone()];
    for arg in args {
        strings.push(CString::new(arg.as_bytes())?);
    }
    let argc = strings.len();
    for pair in program.env_strings() {
        strings.push(CString::new(pair.into_vec())?);
    }
    let argv = pointers(&strings[..argc]);
    let envp = pointers(&strings[argc..]);
    let (stdin, requests) = io::pipe()?;
    let (replies, stdout) = io::pipe()?;
    let stderr = File::options().write(true).open("/dev/null")?;
    let (go_read, mut go) = io::pipe()?;
    let (report, report_write) = io::pipe()?;
    let plan = Plan {
        binds,
        directories,
        executable,
        argv,
        envp,
        _strings: strings,
        privileged,
        filter: crate::seccomp::bpf(program.syscalls).map_err(io::Error::other)?,
        address_space_bytes,
        stdio: [stdin.as_raw_fd(), stdout.as_raw_fd(), stderr.as_raw_fd()],
        go: go_read.as_raw_fd(),
        report: report_write.as_raw_fd(),
        exec,
    };
    let mut child = Cloned::new(clone_child(&plan)?);
    // The child's ends are the child's now.
    drop((stdin, stdout, stderr, go_read, report_write, trees));
    for procs in cgroup.iter().flat_map(|cgroup| cgroup.procs_files()) {
        std::fs::write(procs, child.pid().to_string())?;
    }
    let (outer_uid, outer_gid) = if privileged {
        (NOBODY, NOBODY)
    } else {
        (euid, egid)
    };
    let proc_dir = format!("/proc/{}", child.pid());
    if !privileged {
        // Unprivileged, a gid map needs setgroups denied.
        std::fs::write(format!("{proc_dir}/setgroups"), "deny")?;
    }
    std::fs::write(format!("{proc_dir}/uid_map"), format!("0 {outer_uid} 1"))?;
    std::fs::write(format!("{proc_dir}/gid_map"), format!("0 {outer_gid} 1"))?;
    go.write_all(b"!")?;
    drop(go);
    // End of file: the exec closed the report. (Bounded: a child stuck
    // before its exec is killed, not waited for forever.)
    let message = read_report(&report, REPORT_TIMEOUT)?;
    if let [step, errno @ ..] = message.as_slice() {
        let errno = <[u8; 4]>::try_from(errno).map_or(libc::EINVAL, i32::from_ne_bytes);
        let step = Step::ALL
            .get(usize::from(*step))
            .map_or("an unknown step", |step| step.name());
        let _ = child.wait();
        let error = io::Error::from_raw_os_error(errno);
        return Err(io::Error::new(
            error.kind(),
            format!("namespaced sandbox: {step}: {error}"),
        ));
    }
    Ok(Spawned {
        process: Process::Cloned(child),
        stdin: File::from(OwnedFd::from(requests)),
        stdout: File::from(OwnedFd::from(replies)),
    })
}

/// How long the host waits for the child to exec.
const REPORT_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything the child wrote on `report` until it closed (at the exec),
/// within `timeout`.
fn read_report(mut report: &io::PipeReader, timeout: Duration) -> io::Result<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut message = Vec::new();
    let mut buffer = [0u8; 16];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut poll = libc::pollfd {
            fd: report.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = left.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: one valid pollfd.
        match unsafe { libc::poll(&mut poll, 1, millis) } {
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("namespaced sandbox: the child did not exec within {timeout:?}"),
                ));
            }
            -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => continue,
            -1 => return Err(io::Error::last_os_error()),
            _ => {}
        }
        match report.read(&mut buffer)? {
            0 => return Ok(message),
            read => message.extend_from_slice(&buffer[..read]),
        }
    }
}

/// Clones the child with every signal blocked (no handler of the host's
/// may run in it), into [`child::run`]; returns its pid.
fn clone_child(plan: &Plan) -> io::Result<libc::pid_t> {
    // SAFETY: signal sets are plain data; blocking and restoring our own
    // thread's mask; the child only runs `child::run`, which never returns
    // and only makes async-signal-safe calls on `plan`.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let pid = sys::clone(NAMESPACES);
        if let Ok(0) = pid {
            child::run(plan);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        pid
    }
}

/// The flags the mount holding `path` has locked (nosuid, nodev, noexec,
/// atime): a bind mount inside a user namespace must keep them.
fn locked_flags(path: &CString) -> io::Result<libc::c_ulong> {
    // SAFETY: a zeroed statvfs is a valid out-parameter.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid NUL-terminated path and out-pointer.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok([
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ]
    .iter()
    .filter(|&&(st, _)| stat.f_flag & st != 0)
    .fold(0, |flags, &(_, ms)| flags | ms))
}
