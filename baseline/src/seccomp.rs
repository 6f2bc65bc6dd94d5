//! The seccomp allow-list of a twin: what a static Rust worker serving
//! frames on its stdio needs, and nothing else. Everything else fails with
//! `EPERM` (sockets among them). One list, used as a BPF filter by the
//! `namespaced` level and as an OCI profile by `crun` and `runc`.
//!
//! Gathered with `strace -f` over every twin (`hello`, `fib`, `spin`, `grow`,
//! `panic`, `wasi-probe` running all its probes).

use std::collections::BTreeMap;

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};

use crate::program::Syscalls;

/// `(name, number)` of every allowed system call.
const ALLOWED: &[(&str, i64)] = &[
    // Starting: the exec itself and a static glibc's start-up.
    ("execve", libc::SYS_execve),
    ("brk", libc::SYS_brk),
    #[cfg(target_arch = "x86_64")]
    ("arch_prctl", libc::SYS_arch_prctl),
    ("set_tid_address", libc::SYS_set_tid_address),
    ("set_robust_list", libc::SYS_set_robust_list),
    ("rseq", libc::SYS_rseq),
    ("prlimit64", libc::SYS_prlimit64),
    ("getrandom", libc::SYS_getrandom),
    #[cfg(target_arch = "x86_64")]
    ("readlink", libc::SYS_readlink),
    ("readlinkat", libc::SYS_readlinkat),
    ("sched_getaffinity", libc::SYS_sched_getaffinity),
    ("sched_yield", libc::SYS_sched_yield),
    #[cfg(target_arch = "x86_64")]
    ("poll", libc::SYS_poll),
    ("ppoll", libc::SYS_ppoll),
    // Memory.
    ("mmap", libc::SYS_mmap),
    ("munmap", libc::SYS_munmap),
    ("mremap", libc::SYS_mremap),
    ("mprotect", libc::SYS_mprotect),
    ("madvise", libc::SYS_madvise),
    // Signals (panics, stack-overflow guard).
    ("rt_sigaction", libc::SYS_rt_sigaction),
    ("rt_sigprocmask", libc::SYS_rt_sigprocmask),
    ("rt_sigreturn", libc::SYS_rt_sigreturn),
    ("sigaltstack", libc::SYS_sigaltstack),
    ("tgkill", libc::SYS_tgkill),
    ("gettid", libc::SYS_gettid),
    ("getpid", libc::SYS_getpid),
    ("futex", libc::SYS_futex),
    // Frames on stdio, and files (an empty read-only root gives nothing).
    ("read", libc::SYS_read),
    ("write", libc::SYS_write),
    ("readv", libc::SYS_readv),
    ("writev", libc::SYS_writev),
    ("close", libc::SYS_close),
    ("fcntl", libc::SYS_fcntl),
    ("openat", libc::SYS_openat),
    ("lseek", libc::SYS_lseek),
    ("newfstatat", libc::SYS_newfstatat),
    ("fstat", libc::SYS_fstat),
    ("statx", libc::SYS_statx),
    ("getdents64", libc::SYS_getdents64),
    ("getcwd", libc::SYS_getcwd),
    // Time.
    ("clock_gettime", libc::SYS_clock_gettime),
    ("clock_getres", libc::SYS_clock_getres),
    ("clock_nanosleep", libc::SYS_clock_nanosleep),
    ("nanosleep", libc::SYS_nanosleep),
    ("gettimeofday", libc::SYS_gettimeofday),
    // Leaving.
    ("exit", libc::SYS_exit),
    ("exit_group", libc::SYS_exit_group),
];

/// What an interpreter needs on top of [`ALLOWED`] to start and serve
/// frames: CPython 3.11 (`access`, `pread64`, `ioctl` for its `isatty`
/// checks, `sysinfo`) and node 20 (V8's and libuv's threads: `clone3`,
/// `clone`; its event loop: `epoll_*`, `eventfd2`, `pipe2`; `uname`, identity
/// queries, `capget`, `pkey_alloc` for V8's code protection). Gathered with
/// `strace -f` over the python and node workers of `plugins/py-hello` and
/// `plugins/js-hello` serving requests. Sockets stay denied.
const INTERPRETER_EXTRA: &[(&str, i64)] = &[
    #[cfg(target_arch = "x86_64")]
    ("access", libc::SYS_access),
    ("faccessat", libc::SYS_faccessat),
    ("faccessat2", libc::SYS_faccessat2),
    ("pread64", libc::SYS_pread64),
    ("ioctl", libc::SYS_ioctl),
    ("sysinfo", libc::SYS_sysinfo),
    ("uname", libc::SYS_uname),
    ("getuid", libc::SYS_getuid),
    ("geteuid", libc::SYS_geteuid),
    ("getgid", libc::SYS_getgid),
    ("getegid", libc::SYS_getegid),
    ("getppid", libc::SYS_getppid),
    ("capget", libc::SYS_capget),
    ("clone", libc::SYS_clone),
    ("clone3", libc::SYS_clone3),
    ("pipe2", libc::SYS_pipe2),
    ("eventfd2", libc::SYS_eventfd2),
    ("epoll_create1", libc::SYS_epoll_create1),
    ("epoll_ctl", libc::SYS_epoll_ctl),
    ("epoll_pwait", libc::SYS_epoll_pwait),
    #[cfg(target_arch = "x86_64")]
    ("epoll_wait", libc::SYS_epoll_wait),
    ("dup", libc::SYS_dup),
    ("dup3", libc::SYS_dup3),
    ("pkey_alloc", libc::SYS_pkey_alloc),
    ("pkey_free", libc::SYS_pkey_free),
    ("pkey_mprotect", libc::SYS_pkey_mprotect),
    ("membarrier", libc::SYS_membarrier),
    ("sched_getparam", libc::SYS_sched_getparam),
    ("sched_getscheduler", libc::SYS_sched_getscheduler),
    ("getrusage", libc::SYS_getrusage),
    ("fstatfs", libc::SYS_fstatfs),
];

/// The allowed calls of `syscalls`: [`ALLOWED`], plus
/// [`INTERPRETER_EXTRA`] for interpreters.
fn allowed(syscalls: Syscalls) -> impl Iterator<Item = &'static (&'static str, i64)> {
    let extra: &[(&str, i64)] = match syscalls {
        Syscalls::Twin => &[],
        Syscalls::Interpreter => INTERPRETER_EXTRA,
    };
    ALLOWED.iter().chain(extra)
}

/// What an OCI runtime's own init still does between loading the filter
/// and exec'ing the twin (runc checks that `/proc/self/fd` is procfs and
/// polls through Go's netpoller). The twin gets these too.
const OCI_RUNTIME_EXTRA: &[&str] = &["fstatfs", "epoll_ctl", "epoll_pwait"];

fn target_arch() -> Result<TargetArch, String> {
    std::env::consts::ARCH
        .try_into()
        .map_err(|error| format!("no seccomp filter for this architecture: {error:?}"))
}

/// The allow-list of `syscalls` compiled to a BPF program for this
/// architecture.
pub(crate) fn bpf(syscalls: Syscalls) -> Result<BpfProgram, String> {
    let rules: BTreeMap<i64, Vec<seccompiler::SeccompRule>> = allowed(syscalls)
        .map(|&(_, number)| (number, Vec::new()))
        .collect();
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Errno(libc::EPERM as u32),
        SeccompAction::Allow,
        target_arch()?,
    )
    .map_err(|error| error.to_string())?;
    filter
        .try_into()
        .map_err(|error: seccompiler::BackendError| error.to_string())
}

/// The allow-list of `syscalls` as an OCI runtime-spec `linux.seccomp`
/// profile.
pub(crate) fn oci_profile(syscalls: Syscalls) -> serde_json::Value {
    let architecture = match std::env::consts::ARCH {
        "aarch64" => "SCMP_ARCH_AARCH64",
        "riscv64" => "SCMP_ARCH_RISCV64",
        _ => "SCMP_ARCH_X86_64",
    };
    let mut names: Vec<&str> = allowed(syscalls)
        .map(|&(name, _)| name)
        .chain(OCI_RUNTIME_EXTRA.iter().copied())
        .collect();
    names.sort_unstable();
    names.dedup();
    serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": libc::EPERM,
        "architectures": [architecture],
        "syscalls": [{ "names": names, "action": "SCMP_ACT_ALLOW" }]
    })
}

#[cfg(test)]
mod tests {
    use super::Syscalls;

    #[test]
    fn the_allow_list_compiles_and_has_no_duplicates() {
        for syscalls in [Syscalls::Twin, Syscalls::Interpreter] {
            let program = super::bpf(syscalls).expect("compiles");
            assert!(!program.is_empty());
            let mut names: Vec<&str> = super::allowed(syscalls).map(|&(name, _)| name).collect();
            names.sort_unstable();
            let count = names.len();
            names.dedup();
            assert_eq!(names.len(), count);
            assert!(!names.contains(&"socket") && !names.contains(&"connect"));
        }
        let twin = super::oci_profile(Syscalls::Twin).to_string();
        assert!(
            !twin.contains("\"clone3\""),
            "threads are for interpreters only"
        );
        assert!(
            super::oci_profile(Syscalls::Interpreter)
                .to_string()
                .contains("\"clone3\"")
        );
    }
}
