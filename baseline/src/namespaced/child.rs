//! The twin's side of the sandbox, between `clone` and `exec`: wait for the
//! host's go (maps written, cgroup joined), take the mapped identity, build
//! and enter the new root, confine, exec.
//!
//! This runs in the child of a possibly multithreaded host, on a copy of its
//! memory: raw system calls on data prepared beforehand only, no allocation,
//! no locks. A failure is sent to the host as the step and its errno.

use std::ffi::CStr;
use std::io;

use super::sys::{CapData, CapHeader, LINUX_CAPABILITY_VERSION_3, check, fd_path, mount};
use super::{Plan, Step};
use crate::program::MAX_BINDS;

/// Where the new root is mounted, inside the tenant's own mount namespace
/// (the host's `/tmp` is untouched).
pub(super) const NEW_ROOT: &CStr = c"/tmp";
const PROC_IN_ROOT: &CStr = c"/tmp/proc";

/// A step that failed, with its errno.
struct Failure {
    step: Step,
    errno: i32,
}

/// Tags an I/O result with the step it belongs to.
fn at<T>(step: Step, result: io::Result<T>) -> Result<T, Failure> {
    result.map_err(|error| Failure {
        step,
        errno: error.raw_os_error().unwrap_or(libc::EINVAL),
    })
}

/// The child's whole life: it execs the twin or exits.
pub(super) fn run(plan: &Plan) -> ! {
    let failure = match confine(plan) {
        // A probe: everything but the exec worked.
        // SAFETY: leaving without running any of the host's destructors.
        Ok(()) if !plan.exec => unsafe { libc::_exit(0) },
        Ok(()) => exec(plan),
        Err(failure) => failure,
    };
    let mut message = [0u8; 5];
    message[0] = failure.step as u8;
    message[1..].copy_from_slice(&failure.errno.to_ne_bytes());
    // SAFETY: a buffer of its length to our own descriptor, then leaving
    // without running any of the host's destructors. (Five bytes are
    // written at once: less than PIPE_BUF.)
    unsafe {
        libc::write(plan.report, message.as_ptr().cast(), message.len());
        libc::_exit(127)
    }
}

/// Everything but the exec.
fn confine(plan: &Plan) -> Result<(), Failure> {
    wait_for_go(plan.go);
    // The identity the host mapped: uid and gid 0 inside, `nobody` (or the
    // unprivileged host's own ids) outside; no supplementary groups.
    at(Step::Identity, take_identity(plan.privileged))?;
    // The host moved us into the tenant's cgroup: it becomes our cgroup
    // namespace's root.
    // SAFETY: plain system call.
    at(
        Step::CgroupNamespace,
        check(unsafe { libc::unshare(libc::CLONE_NEWCGROUP) }.into()),
    )?;
    // (The descriptor limit comes last: until then we still hold the host's
    // descriptors, numbered as high as the host has them.)
    for (resource, value) in [
        (libc::RLIMIT_AS, plan.address_space_bytes),
        (libc::RLIMIT_CORE, 0),
        (libc::RLIMIT_FSIZE, 0),
    ] {
        let limit = libc::rlimit {
            rlim_cur: value,
            rlim_max: value,
        };
        // SAFETY: valid rlimit.
        at(
            Step::Rlimits,
            check(unsafe { libc::setrlimit(resource, &limit) }.into()),
        )?;
    }
    build_root(plan)?;
    enter_root()?;
    stdio_and_descriptors(plan)?;
    let hostname = b"twin";
    // SAFETY: a buffer of its length.
    at(
        Step::Hostname,
        check(unsafe { libc::sethostname(hostname.as_ptr().cast(), hostname.len()) }.into()),
    )?;
    at(Step::Capabilities, drop_capabilities())?;
    // An ignored SIGPIPE (the host's) would survive the exec.
    // SAFETY: resetting a disposition to its default.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    // no_new_privs, then the allow-list (which the exec must pass).
    at(
        Step::Seccomp,
        seccompiler::apply_filter(&plan.filter).map_err(|error| match error {
            seccompiler::Error::Prctl(error) | seccompiler::Error::Seccomp(error) => error,
            _ => io::Error::from_raw_os_error(libc::EINVAL),
        }),
    )
}

/// Uid and gid 0 of our user namespace, as the host mapped them; no
/// supplementary groups (a root host's child still has root's: setgroups is
/// allowed there).
///
/// Raw system calls: glibc's wrappers apply a credential change to every
/// thread they know of (signalling each), and ours is a copy of the host's
/// thread list, not a list of our threads: they can wait forever on a
/// thread that is not here.
fn take_identity(privileged: bool) -> io::Result<()> {
    // SAFETY: plain system calls on this thread's credentials (our only
    // thread).
    unsafe {
        if privileged {
            check(libc::syscall(
                libc::SYS_setgroups,
                0usize,
                std::ptr::null::<libc::gid_t>(),
            ))?;
        }
        check(libc::syscall(libc::SYS_setresgid, 0u32, 0u32, 0u32))?;
        check(libc::syscall(libc::SYS_setresuid, 0u32, 0u32, 0u32)).map(drop)
    }
}

/// Blocks until the host says go; exits quietly if the host gave up.
fn wait_for_go(go: libc::c_int) {
    let mut byte = 0u8;
    loop {
        // SAFETY: a one-byte buffer.
        match unsafe { libc::read(go, (&raw mut byte).cast(), 1) } {
            1 => return,
            -1 if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) => {}
            // SAFETY: leaving without running any of the host's destructors.
            _ => unsafe { libc::_exit(127) },
        }
    }
}

/// Builds the new root at `/tmp` of our own mount namespace: a tmpfs holding
/// the program's binds (each read-only) and an empty `proc` directory,
/// itself read-only, then our own `/proc` in it.
fn build_root(plan: &Plan) -> Result<(), Failure> {
    at(
        Step::PrivateMounts,
        mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None),
    )?;
    // Without the host's detached copy of a source, bind it by path: held by
    // descriptor, opened before the tmpfs may cover its path (a source under
    // /tmp), in our mount namespace (a bind's source must be in it).
    let mut by_path = [-1 as libc::c_int; MAX_BINDS];
    for (slot, bind) in by_path.iter_mut().zip(&plan.binds) {
        if bind.tree.is_none() {
            // SAFETY: valid path; the descriptor is closed below (and at exec).
            *slot = at(
                Step::OpenTwin,
                check(
                    unsafe { libc::open(bind.source.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) }
                        .into(),
                ),
            )? as libc::c_int;
        }
    }
    at(
        Step::MountRoot,
        mount(
            Some(c"tmpfs"),
            NEW_ROOT,
            Some(c"tmpfs"),
            libc::MS_NOSUID | libc::MS_NODEV,
            Some(c"size=16k,mode=0755"),
        ),
    )?;
    // SAFETY: valid paths; the descriptors are closed at once.
    at(Step::MakeMountpoints, unsafe {
        check(libc::mkdir(PROC_IN_ROOT.as_ptr(), 0o555).into())
    })?;
    for directory in &plan.directories {
        // SAFETY: a valid path.
        let made = unsafe { libc::mkdir(directory.as_ptr(), 0o755) };
        if made == -1 && io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST) {
            at(Step::MakeMountpoints, check(made.into()))?;
        }
    }
    for bind in &plan.binds {
        // SAFETY: valid paths; the descriptor is closed at once.
        at(Step::MakeMountpoints, unsafe {
            if bind.directory {
                check(libc::mkdir(bind.target.as_ptr(), 0o555).into()).map(drop)
            } else {
                check(
                    libc::open(
                        bind.target.as_ptr(),
                        libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                        0o500,
                    )
                    .into(),
                )
                .map(|file| {
                    libc::close(file as libc::c_int);
                })
            }
        })?;
    }
    for (bind, &fd) in plan.binds.iter().zip(&by_path) {
        match bind.tree {
            Some(tree) => at(Step::AttachTwin, super::sys::move_mount(tree, &bind.target))?,
            None => {
                let mut source = *b"/proc/self/fd/0000000000\0";
                let source = fd_path(&mut source, fd);
                at(
                    Step::AttachTwin,
                    mount(Some(source), &bind.target, None, libc::MS_BIND, None),
                )?;
                // SAFETY: our descriptor.
                unsafe { libc::close(fd) };
            }
        }
        // A bind mount inside a user namespace keeps the flags its source
        // has locked (the host read them): read-only on top.
        at(
            Step::ReadOnly,
            mount(
                None,
                &bind.target,
                None,
                libc::MS_REMOUNT | libc::MS_BIND | bind.flags,
                None,
            ),
        )?;
    }
    at(
        Step::ReadOnly,
        mount(
            None,
            NEW_ROOT,
            None,
            libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
            None,
        ),
    )?;
    // Our own /proc: it shows our pid namespace only, and must be mounted
    // while the host's is still visible.
    at(
        Step::MountProc,
        mount(
            Some(c"proc"),
            PROC_IN_ROOT,
            Some(c"proc"),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            None,
        ),
    )
}

/// `pivot_root` into the new root and detach the host's.
fn enter_root() -> Result<(), Failure> {
    // SAFETY: raw system calls on static NUL-terminated strings.
    at(Step::PivotRoot, unsafe {
        check(libc::chdir(NEW_ROOT.as_ptr()).into())
            .and_then(|_| {
                check(libc::syscall(
                    libc::SYS_pivot_root,
                    c".".as_ptr(),
                    c".".as_ptr(),
                ))
            })
            .and_then(|_| check(libc::umount2(c".".as_ptr(), libc::MNT_DETACH).into()))
            .and_then(|_| check(libc::chdir(c"/".as_ptr()).into()))
            .map(drop)
    })
}

/// The pipes as stdio; nothing of the host's survives the exec but them (a
/// descriptor a C library opened without `O_CLOEXEC` included), and then
/// at most 64.
fn stdio_and_descriptors(plan: &Plan) -> Result<(), Failure> {
    for (target, fd) in (0..).zip(plan.stdio) {
        // SAFETY: our own descriptors; dup2 onto itself would keep
        // FD_CLOEXEC, so that case clears it instead.
        at(
            Step::Stdio,
            check(
                unsafe {
                    if fd == target {
                        libc::fcntl(fd, libc::F_SETFD, 0)
                    } else {
                        libc::dup2(fd, target)
                    }
                }
                .into(),
            ),
        )?;
    }
    let descriptors = libc::rlimit {
        rlim_cur: 64,
        rlim_max: 64,
    };
    // SAFETY: plain system calls.
    at(Step::Descriptors, unsafe {
        check(libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        ))
        .and_then(|_| check(libc::setrlimit(libc::RLIMIT_NOFILE, &descriptors).into()))
        .map(drop)
    })
}

/// No capabilities survive the exec: empty bounding and ambient sets, empty
/// inheritable set.
fn drop_capabilities() -> io::Result<()> {
    // SAFETY: plain system calls on valid structures.
    unsafe {
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
        check(libc::syscall(libc::SYS_capset, &mut header, data.as_ptr())).map(drop)
    }
}

/// Execs the program with its arguments and environment; returns only if
/// that failed.
fn exec(plan: &Plan) -> Failure {
    // SAFETY: an empty signal set; then NUL-terminated strings and
    // null-terminated arrays of them, prepared by the host.
    unsafe {
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        libc::execve(
            plan.executable.as_ptr(),
            plan.argv.as_ptr(),
            plan.envp.as_ptr(),
        );
    }
    Failure {
        step: Step::Exec,
        errno: io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EINVAL),
    }
}
