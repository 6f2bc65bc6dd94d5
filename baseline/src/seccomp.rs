//! The seccomp allow-list of a twin: what a static Rust worker serving
//! frames on its stdio needs, and nothing else. Everything else fails with
//! `EPERM` (sockets among them). One list, used as a BPF filter by the
//! `namespaced` level and as an OCI profile by `crun` and `runc`.
//!
//! Gathered with `strace -f` over every twin (`hello`, `fib`, `spin`, `grow`,
//! `panic`, `wasi-probe` running all its probes).

use std::collections::BTreeMap;

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};

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

/// What an OCI runtime's own init still does between loading the filter
/// and exec'ing the twin (runc checks that `/proc/self/fd` is procfs and
/// polls through Go's netpoller). The twin gets these too.
const OCI_RUNTIME_EXTRA: &[&str] = &["fstatfs", "epoll_ctl", "epoll_pwait"];

fn target_arch() -> Result<TargetArch, String> {
    std::env::consts::ARCH
        .try_into()
        .map_err(|error| format!("no seccomp filter for this architecture: {error:?}"))
}

/// The allow-list compiled to a BPF program for this architecture.
pub(crate) fn bpf() -> Result<BpfProgram, String> {
    let rules: BTreeMap<i64, Vec<seccompiler::SeccompRule>> = ALLOWED
        .iter()
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

/// The allow-list as an OCI runtime-spec `linux.seccomp` profile.
pub(crate) fn oci_profile() -> serde_json::Value {
    let architecture = match std::env::consts::ARCH {
        "aarch64" => "SCMP_ARCH_AARCH64",
        "riscv64" => "SCMP_ARCH_RISCV64",
        _ => "SCMP_ARCH_X86_64",
    };
    let names: Vec<&str> = ALLOWED
        .iter()
        .map(|&(name, _)| name)
        .chain(OCI_RUNTIME_EXTRA.iter().copied())
        .collect();
    serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": libc::EPERM,
        "architectures": [architecture],
        "syscalls": [{ "names": names, "action": "SCMP_ACT_ALLOW" }]
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_allow_list_compiles_and_has_no_duplicates() {
        let program = super::bpf().expect("compiles");
        assert!(!program.is_empty());
        let mut names: Vec<&str> = super::ALLOWED.iter().map(|&(name, _)| name).collect();
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count);
        assert!(!names.contains(&"socket") && !names.contains(&"connect"));
    }
}
