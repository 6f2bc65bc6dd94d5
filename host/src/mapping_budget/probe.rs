//! What the kernel says about this process: the mappings it holds and may
//! hold, the address space it uses and may use. Read at engine build and at
//! the budget's rare refreshes, never per instantiation.

use std::io::Read as _;

/// User address space of a 64-bit process when `RLIMIT_AS` is unlimited:
/// 128 TiB (47 bits, x86-64 with 4-level page tables; the smaller of the
/// common layouts, so the budget never assumes more than there is).
#[cfg(target_pointer_width = "64")]
pub(crate) const USER_ADDRESS_SPACE: u64 = 1 << 47;
/// User address space of a 32-bit process: 3 GiB.
#[cfg(not(target_pointer_width = "64"))]
pub(crate) const USER_ADDRESS_SPACE: u64 = 3 << 30;

/// One reading of the process's limits and use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Probe {
    /// `vm.max_map_count`; `None` where it cannot be read (no procfs).
    pub(crate) max_map_count: Option<usize>,
    /// Lines of `/proc/self/maps`: the mappings the process holds now.
    pub(crate) maps: Option<usize>,
    /// The most address space the process may use, in bytes.
    pub(crate) address_limit: AddressLimit,
    /// Address space the process uses now (`VmSize`), in bytes.
    pub(crate) address_used: Option<u64>,
}

/// Where the address-space ceiling comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddressLimit {
    /// The soft `RLIMIT_AS`, in bytes.
    Rlimit(u64),
    /// No `RLIMIT_AS`: the architecture's user address space.
    Architecture(u64),
}

impl AddressLimit {
    /// The ceiling in bytes.
    pub(crate) fn bytes(self) -> u64 {
        match self {
            Self::Rlimit(bytes) | Self::Architecture(bytes) => bytes,
        }
    }

    /// The ceiling as the error messages name it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Rlimit(_) => "RLIMIT_AS",
            Self::Architecture(_) => "the user address space",
        }
    }
}

/// Reads everything: the two sysctl/rlimit values, `/proc/self/maps` (in
/// fixed 64 KiB reads, about 0.5 µs per mapping: 30 ms at 60,000) and
/// `/proc/self/statm`.
pub(crate) fn process() -> Probe {
    Probe {
        max_map_count: max_map_count(),
        maps: map_count(),
        address_limit: address_limit(),
        address_used: address_used(),
    }
}

/// `vm.max_map_count`.
pub(crate) fn max_map_count() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Mappings this process holds: newlines in `/proc/self/maps`, counted
/// through a buffer on the stack, so that counting needs no memory of its own
/// even when the process is near its limits.
pub(crate) fn map_count() -> Option<usize> {
    let mut file = std::fs::File::open("/proc/self/maps").ok()?;
    let mut buffer = [0u8; 64 << 10];
    let mut lines = 0;
    loop {
        match file.read(&mut buffer) {
            Ok(0) => return Some(lines),
            Ok(read) => lines += buffer[..read].iter().filter(|&&b| b == b'\n').count(),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// The soft `RLIMIT_AS`, or the architecture's address space without one.
pub(crate) fn address_limit() -> AddressLimit {
    use rustix::process::{Resource, getrlimit};
    match getrlimit(Resource::As).current {
        Some(bytes) if bytes < USER_ADDRESS_SPACE => AddressLimit::Rlimit(bytes),
        _ => AddressLimit::Architecture(USER_ADDRESS_SPACE),
    }
}

/// `VmSize`: the first field of `/proc/self/statm` (pages) in bytes, the
/// figure `RLIMIT_AS` is checked against.
pub(crate) fn address_used() -> Option<u64> {
    let mut file = std::fs::File::open("/proc/self/statm").ok()?;
    let mut buffer = [0u8; 256];
    let read = file.read(&mut buffer).ok()?;
    let text = std::str::from_utf8(&buffer[..read]).ok()?;
    let pages: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(pages.saturating_mul(page_size()))
}

/// The largest free range of this process's user address space: the most
/// one `mmap` (a pool's memory slab is one) can still reserve, however much
/// is free in all. The program, its libraries, heap and stacks split the
/// 128 TiB: on x86-64 the largest range is typically the one below the
/// program, some 85 TiB. Reads `/proc/self/maps` (at engine build only);
/// `None` without procfs.
pub(crate) fn largest_free_range() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/maps").ok()?;
    let floor = std::fs::read_to_string("/proc/sys/vm/mmap_min_addr")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(64 << 10);
    Some(largest_gap(&text, floor, USER_ADDRESS_SPACE))
}

/// The largest gap between the mappings of `maps` (the text of
/// `/proc/<pid>/maps`) within `[floor, ceiling)`.
fn largest_gap(maps: &str, floor: u64, ceiling: u64) -> u64 {
    let mut ranges: Vec<(u64, u64)> = maps
        .lines()
        .filter_map(|line| {
            let (start, end) = line.split_whitespace().next()?.split_once('-')?;
            let start = u64::from_str_radix(start, 16).ok()?;
            let end = u64::from_str_radix(end, 16).ok()?;
            Some((start.clamp(floor, ceiling), end.clamp(floor, ceiling)))
        })
        .collect();
    ranges.sort_unstable();
    let mut largest = 0;
    let mut free_from = floor;
    for (start, end) in ranges {
        largest = largest.max(start.saturating_sub(free_from));
        free_from = free_from.max(end);
    }
    largest.max(ceiling.saturating_sub(free_from))
}

/// The host's page size.
pub(crate) fn page_size() -> u64 {
    rustix::param::page_size() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_is_read_as_the_kernel_reports_it() {
        let probe = process();
        let max = probe.max_map_count.expect("Linux has vm.max_map_count");
        let maps = probe.maps.expect("procfs is mounted");
        assert!(maps > 10 && maps < max, "{maps} mappings of {max}");
        let text = std::fs::read_to_string("/proc/self/maps").expect("maps");
        // Other test threads may map or unmap in between: close, not equal.
        let lines = text.lines().count();
        assert!(maps.abs_diff(lines) < 200, "{maps} counted, {lines} read");
        let used = probe.address_used.expect("statm");
        assert!(used > 1 << 20, "{used} bytes of address space");
        assert!(probe.address_limit.bytes() > used);
        assert_eq!(page_size() % 4096, 0);
        let largest = largest_free_range().expect("procfs is mounted");
        assert!(
            largest > 1 << 40 && largest < USER_ADDRESS_SPACE,
            "{largest}"
        );
    }

    #[test]
    fn the_largest_gap_is_found_between_mappings() {
        let maps = "00400000-00500000 r-xp 0 0:0 0 /bin/x\n\
                    10000000-20000000 rw-p 0 0:0 0\n\
                    90000000-a0000000 rw-p 0 0:0 0 [stack]\n\
                    ffffffffff600000-ffffffffff601000 --xp 0 0:0 0 [vsyscall]\n";
        assert_eq!(
            largest_gap(maps, 0x10000, 0xb000_0000),
            0x9000_0000 - 0x2000_0000
        );
        assert_eq!(
            largest_gap(maps, 0x10000, 0x1_2000_0000),
            0x1_2000_0000 - 0xa000_0000
        );
        assert_eq!(largest_gap("", 0x10000, 0x20000), 0x10000);
    }
}
