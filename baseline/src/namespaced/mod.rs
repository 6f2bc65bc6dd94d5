//! The `namespaced` level: our own sandbox from kernel primitives, no
//! external runtime.
//!
//! The spawned process (the *keeper*) joins the tenant's cgroup and sets
//! rlimits. Started as root, it builds the new root in a mount namespace of
//! its own (a tmpfs at its `/tmp` holding only the twin, bind-mounted
//! read-only, and an empty `proc` directory; then read-only), while any path
//! to the twin can still be reached, and drops to `nobody`. It unshares the
//! user (its uid mapped to root inside), pid, mount, net, ipc, uts and cgroup
//! namespaces (started unprivileged, it builds the root only now) and forks
//! the twin, pid 1 of the new pid namespace. The twin mounts its own `/proc`,
//! `pivot_root`s into the new root and detaches the host's, drops every
//! capability, sets no_new_privs, installs the seccomp allow-list and execs.
//! The keeper closes every descriptor, waits for the twin and exits as it did
//! (re-raising its signal), so the worker's exit status is the twin's.
//!
//! All of this runs between `fork` and `exec` of a possibly multithreaded
//! host, so it only makes raw system calls on data prepared beforehand: no
//! allocation, no locks.

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::Command;

use seccompiler::BpfProgram;

use crate::cgroup::TenantCgroup;

mod sys;

use sys::{CapData, CapHeader, LINUX_CAPABILITY_VERSION_3, check, fd_path, mount, write_file};

/// Where the new root is mounted, inside the tenant's own mount namespace
/// (the host's `/tmp` is untouched).
const NEW_ROOT: &CStr = c"/tmp";
const TWIN_IN_ROOT: &CStr = c"/tmp/twin";
const PROC_IN_ROOT: &CStr = c"/tmp/proc";
/// The unprivileged identity the keeper takes when started as root.
const NOBODY: libc::uid_t = 65534;

/// Everything the child needs, prepared before `fork`.
struct Plan {
    cgroup_procs: Vec<CString>,
    binary: CString,
    binary_mount_flags: libc::c_ulong,
    drop_to_nobody: bool,
    uid_map: CString,
    gid_map: CString,
    filter: BpfProgram,
    address_space_bytes: u64,
}

/// The command that starts `binary` in a fresh sandbox, joining `cgroup`.
pub(crate) fn command(
    binary: &Path,
    cgroup: Option<&TenantCgroup>,
    address_space_bytes: u64,
) -> io::Result<Command> {
    let binary = binary.canonicalize()?;
    let binary_c = CString::new(binary.as_os_str().as_bytes())?;
    // A bind mount inside a user namespace must keep the flags the source
    // mount has locked (nosuid, nodev, noexec, atime): read them now.
    // SAFETY: a zeroed statvfs is a valid out-parameter.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid NUL-terminated path and out-pointer.
    if unsafe { libc::statvfs(binary_c.as_ptr(), &mut stat) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let locked = [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ]
    .iter()
    .filter(|&&(st, _)| stat.f_flag & st != 0)
    .fold(0, |flags, &(_, ms)| flags | ms);
    // SAFETY: geteuid/getegid cannot fail.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let drop_to_nobody = euid == 0;
    let (outer_uid, outer_gid) = if drop_to_nobody {
        (NOBODY, NOBODY)
    } else {
        (euid, egid)
    };
    let plan = Plan {
        cgroup_procs: cgroup
            .map(|cgroup| {
                cgroup
                    .procs_files()
                    .map(|path| CString::new(path.as_os_str().as_bytes()))
                    .collect::<Result<_, _>>()
            })
            .transpose()?
            .unwrap_or_default(),
        binary: binary_c,
        binary_mount_flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_RDONLY | locked,
        drop_to_nobody,
        uid_map: CString::new(format!("0 {outer_uid} 1"))?,
        gid_map: CString::new(format!("0 {outer_gid} 1"))?,
        filter: crate::seccomp::bpf().map_err(io::Error::other)?,
        address_space_bytes,
    };
    let mut command = Command::new("/twin");
    // SAFETY: the closure only makes system calls on memory prepared above
    // (async-signal-safe), as required between fork and exec.
    unsafe { command.pre_exec(move || keeper(&plan)) };
    Ok(command)
}

/// Runs in the forked child before exec; returns only in the twin.
fn keeper(plan: &Plan) -> io::Result<()> {
    for procs in &plan.cgroup_procs {
        write_file(procs, b"0")?;
    }
    // (The descriptor limit comes last, in the twin: until then we still
    // hold the host's descriptors, numbered as high as the host has them.)
    let limits = [
        (libc::RLIMIT_AS, plan.address_space_bytes),
        (libc::RLIMIT_CORE, 0),
        (libc::RLIMIT_FSIZE, 0),
    ];
    for (resource, value) in limits {
        let limit = libc::rlimit {
            rlim_cur: value,
            rlim_max: value,
        };
        // SAFETY: valid rlimit.
        check(unsafe { libc::setrlimit(resource, &limit) }.into())?;
    }
    // The root is built as root where we are root (so that any path to the
    // twin can be reached), in a mount namespace of our own; unprivileged,
    // inside the user namespace below.
    if plan.drop_to_nobody {
        // SAFETY: plain system calls.
        check(unsafe { libc::unshare(libc::CLONE_NEWNS) }.into())?;
        prepare_root(plan)?;
        // SAFETY: plain system calls.
        unsafe {
            check(libc::setgroups(0, std::ptr::null()).into())?;
            check(libc::setresgid(NOBODY, NOBODY, NOBODY).into())?;
            check(libc::setresuid(NOBODY, NOBODY, NOBODY).into())?;
        }
    }
    let namespaces = libc::CLONE_NEWUSER
        | libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWNET
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWCGROUP;
    // SAFETY: plain system call.
    check(unsafe { libc::unshare(namespaces) }.into())?;
    // Changing our uid made us non-dumpable, which hands our /proc files to
    // root: dumpable just long enough to write our maps, then not again (we
    // hold a copy of the host's memory until we exit; only root may inspect
    // us).
    // SAFETY: plain system calls.
    check(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1) }.into())?;
    let mapped = write_file(c"/proc/self/setgroups", b"deny")
        .and_then(|()| write_file(c"/proc/self/uid_map", plan.uid_map.as_bytes()))
        .and_then(|()| write_file(c"/proc/self/gid_map", plan.gid_map.as_bytes()));
    // SAFETY: plain system call.
    check(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0) }.into())?;
    mapped?;
    if !plan.drop_to_nobody {
        prepare_root(plan)?;
    }
    // SAFETY: resetting a signal disposition; fork in a single thread.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
    // SAFETY: we are the only thread of this process.
    let twin = check(unsafe { libc::fork() }.into())? as libc::pid_t;
    if twin == 0 {
        return enter(plan);
    }
    wait_and_exit_as(twin)
}

/// The keeper's life after the fork: hold nothing, wait, exit as the twin.
fn wait_and_exit_as(twin: libc::pid_t) -> ! {
    // SAFETY: closing our descriptors (the pipes and std's exec-error pipe
    // belong to the twin now); waiting for our own child; exiting without
    // running any of the host's destructors.
    unsafe {
        libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
        let mut status = 0;
        while libc::waitpid(twin, &mut status, 0) == -1 {
            if *libc::__errno_location() != libc::EINTR {
                libc::_exit(127);
            }
        }
        if libc::WIFSIGNALED(status) {
            let signal = libc::WTERMSIG(status);
            libc::signal(signal, libc::SIG_DFL);
            libc::kill(libc::getpid(), signal);
            libc::_exit(128 + signal);
        }
        libc::_exit(libc::WEXITSTATUS(status))
    }
}

/// Builds the new root at `/tmp` of our own mount namespace: a tmpfs holding
/// the twin (bind-mounted read-only) and an empty `proc` directory, itself
/// read-only.
fn prepare_root(plan: &Plan) -> io::Result<()> {
    mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None)?;
    // Held by descriptor: the tmpfs may cover the twin's own path (a twin
    // under /tmp), and a bind needs its source in our mount namespace.
    // SAFETY: valid path; the descriptor is closed below (and at exec).
    let binary =
        check(unsafe { libc::open(plan.binary.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) }.into())?
            as libc::c_int;
    let mut source = *b"/proc/self/fd/0000000000\0";
    let source = fd_path(&mut source, binary);
    mount(
        Some(c"tmpfs"),
        NEW_ROOT,
        Some(c"tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some(c"size=16k,mode=0755"),
    )?;
    // SAFETY: valid path; the descriptor is closed at once.
    unsafe {
        let file = check(
            libc::open(
                TWIN_IN_ROOT.as_ptr(),
                libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                0o500,
            )
            .into(),
        )?;
        libc::close(file as libc::c_int);
        check(libc::mkdir(PROC_IN_ROOT.as_ptr(), 0o555).into())?;
    }
    mount(Some(source), TWIN_IN_ROOT, None, libc::MS_BIND, None)?;
    // SAFETY: our descriptor.
    unsafe { libc::close(binary) };
    mount(
        None,
        TWIN_IN_ROOT,
        None,
        libc::MS_REMOUNT | libc::MS_BIND | plan.binary_mount_flags,
        None,
    )?;
    mount(
        None,
        NEW_ROOT,
        None,
        libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
        None,
    )
}

/// In the twin (pid 1 of its namespace): enter the root, confine, return
/// to exec.
fn enter(plan: &Plan) -> io::Result<()> {
    // SAFETY: raw system calls on static or prepared NUL-terminated strings.
    unsafe {
        // Die with the keeper (it dies with the worker).
        check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL).into())?;
    }
    // A mount of this namespace's own (copied mounts are locked and cannot
    // become the root), then our own /proc: it shows our pid namespace only,
    // and must be mounted while the host's is still visible.
    mount(
        Some(NEW_ROOT),
        NEW_ROOT,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )?;
    mount(
        Some(c"proc"),
        PROC_IN_ROOT,
        Some(c"proc"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        None,
    )?;
    // SAFETY: raw system calls on static NUL-terminated strings.
    unsafe {
        check(libc::chdir(NEW_ROOT.as_ptr()).into())?;
        check(libc::syscall(
            libc::SYS_pivot_root,
            c".".as_ptr(),
            c".".as_ptr(),
        ))?;
        check(libc::umount2(c".".as_ptr(), libc::MNT_DETACH).into())?;
        check(libc::chdir(c"/".as_ptr()).into())?;
        // Nothing of the host's survives the exec but stdio (a descriptor a
        // C library opened without O_CLOEXEC included), and then at most 64.
        check(libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        ))?;
        let descriptors = libc::rlimit {
            rlim_cur: 64,
            rlim_max: 64,
        };
        check(libc::setrlimit(libc::RLIMIT_NOFILE, &descriptors).into())?;
        let hostname = b"twin";
        check(libc::sethostname(hostname.as_ptr().cast(), hostname.len()).into())?;
        // No capabilities survive the exec: empty bounding and ambient sets,
        // empty inheritable set.
        for capability in 0..=63 {
            if libc::prctl(libc::PR_CAPBSET_DROP, capability) == -1 {
                break; // past the last capability this kernel knows
            }
        }
        check(
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            )
            .into(),
        )?;
        let mut header = CapHeader {
            version: LINUX_CAPABILITY_VERSION_3,
            pid: 0,
        };
        let data = [CapData::default(); 2];
        check(libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()))?;
    }
    seccompiler::apply_filter(&plan.filter).map_err(|error| match error {
        seccompiler::Error::Prctl(error) | seccompiler::Error::Seccomp(error) => error,
        _ => io::Error::from_raw_os_error(libc::EINVAL),
    })
}
