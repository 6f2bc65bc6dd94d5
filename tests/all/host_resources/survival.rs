//! What the children share: filling an engine to its refusal, checking what
//! is left, the survival checks, and the process's limits.

use std::backtrace::{Backtrace, BacktraceStatus};

use plugbox::{Error, ErrorKind, HostResource, Instance, Plugin};

use super::default_reserve;

/// Instantiates `plugin` until refused: the live tenants (after `tenants`)
/// and the refusal, which must be `HostResources` from the budget (no OS
/// error: the OS never refused).
pub(super) fn fill(plugin: &Plugin, mut tenants: Vec<Instance>) -> (Vec<Instance>, Error) {
    loop {
        match plugin.instantiate() {
            Ok(tenant) => tenants.push(tenant),
            Err(error) => {
                assert_eq!(error.kind(), ErrorKind::HostResources, "{error}");
                assert_eq!(error.os_error(), None, "the OS refused first: {error}");
                return (tenants, error);
            }
        }
        assert!(tenants.len() < 1_000_000, "never refused");
    }
}

/// Prints the refusal and what the process holds, which must leave the
/// reserve named in the message free.
pub(super) fn report(refusal: &Error, tenants: &[Instance]) {
    let (held, max) = (map_count(), max_map_count());
    println!(
        "refused: {:?} {:?} after {} tenants, {held} of {max} mappings held: {refusal}",
        refusal.kind(),
        refusal.host_resource().unwrap(),
        tenants.len()
    );
    if refusal.host_resource() == Some(HostResource::MemoryMappings) {
        assert!(
            max - held >= default_reserve(max) / 2,
            "{held} of {max} mappings held"
        );
    }
}

/// What a host does next, all of which needs memory, mappings or address
/// space: it must not abort.
pub(super) fn survive(tenants: &mut [Instance]) {
    // 64 MiB in 4 KiB pieces, every page touched.
    let pieces: Vec<Vec<u8>> = (0..16 * 1024).map(|i| vec![i as u8; 4096]).collect();
    assert_eq!(pieces.iter().map(Vec::len).sum::<usize>(), 64 << 20);
    drop(pieces);
    // A backtrace, as an error path with RUST_BACKTRACE=1 captures one.
    let backtrace = Backtrace::capture();
    assert_eq!(backtrace.status(), BacktraceStatus::Captured);
    let text = backtrace.to_string();
    assert!(text.contains("survive"), "{text}");
    println!("a backtrace of {} lines:\n{text}", text.lines().count());
    // A thread, with its stack and (first allocation) its malloc arena.
    let sum = std::thread::spawn(|| (1..=1_000u64).map(|n| vec![n; 16][0]).sum::<u64>())
        .join()
        .unwrap();
    assert_eq!(sum, 500_500);
    // Every tenant still answers.
    for tenant in tenants.iter_mut() {
        assert_eq!(tenant.call(b"still here").unwrap().output, b"STILL HERE");
    }
    println!("survived with {} live tenants", tenants.len());
}

pub(super) fn max_map_count() -> usize {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

pub(super) fn map_count() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

/// `VmSize` in bytes.
pub(super) fn address_used() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().next().unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    pages * u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap()
}

pub(super) fn address_limit() -> libc::rlimit {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid out-pointer.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) }, 0);
    limit
}

/// Lowers the soft `RLIMIT_AS` to `bytes`.
pub(super) fn set_address_limit(bytes: u64) {
    restore_address_limit(&libc::rlimit {
        rlim_cur: bytes,
        rlim_max: address_limit().rlim_max,
    });
}

pub(super) fn restore_address_limit(limit: &libc::rlimit) {
    // SAFETY: a valid pointer; the soft limit may go up to the hard one.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, limit) }, 0);
}
