//! The raw system calls the sandbox makes between `clone` and `exec`: thin
//! wrappers that allocate nothing.

use std::ffi::CStr;
use std::io;

pub(super) use crate::sys::check;

/// mount(2), with `None` for a null argument.
pub(super) fn mount(
    source: Option<&CStr>,
    target: &CStr,
    kind: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    let pointer = |text: Option<&CStr>| text.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: NUL-terminated strings or null, as mount(2) takes them.
    let result = unsafe {
        libc::mount(
            pointer(source),
            target.as_ptr(),
            pointer(kind),
            flags,
            pointer(data).cast(),
        )
    };
    check(result.into()).map(drop)
}

/// `clone3(2)`'s arguments (the kernel's `struct clone_args`, version 0).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
}

/// Forks into new namespaces `flags` (`CLONE_NEW*`): like `fork(2)`, it
/// returns 0 in the child (a copy of the calling thread, on a copy of its
/// stack) and the child's pid in the parent, which gets `SIGCHLD` when the
/// child exits. `clone3`, or `clone` where `clone3` is missing.
///
/// # Safety
///
/// As `fork` in a multithreaded process: the child may only make
/// async-signal-safe calls (no allocation, no locks) until it execs or
/// exits, and must never return into the caller's frames for good.
pub(super) unsafe fn clone(flags: u64) -> io::Result<libc::pid_t> {
    let args = CloneArgs {
        flags,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    // SAFETY: a valid clone_args of the size passed; no CLONE_VM, so the
    // child runs on its own copy of memory (the caller upholds the rest).
    let mut pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if pid == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
        // Null stack, parent and child tids and tls: the argument order
        // (which differs between architectures) does not matter.
        // SAFETY: as above.
        pid = unsafe {
            libc::syscall(
                libc::SYS_clone,
                flags | libc::SIGCHLD as u64,
                0usize,
                0usize,
                0usize,
                0usize,
            )
        };
    }
    check(pid).map(|pid| pid as libc::pid_t)
}

/// `open_tree(2)` flag: a detached copy of the mount (a bind mount to be).
const OPEN_TREE_CLONE: libc::c_uint = 1;
/// `move_mount(2)` flag: the source is the descriptor itself.
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;

/// A detached bind mount of the file at `path` (made by the host, which can
/// reach any path, for a sandbox to attach in its own mount namespace).
pub(super) fn open_tree(path: &CStr) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd as _;
    // SAFETY: valid path; the descriptor returned is ours.
    let fd = check(unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    })?;
    // SAFETY: a fresh descriptor nobody else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// Attaches the detached mount `tree` at `target`.
pub(super) fn move_mount(tree: libc::c_int, target: &CStr) -> io::Result<()> {
    // SAFETY: an open descriptor and NUL-terminated strings.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree,
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    })
    .map(drop)
}

pub(super) const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
pub(super) struct CapHeader {
    pub(super) version: u32,
    pub(super) pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(super) struct CapData {
    pub(super) effective: u32,
    pub(super) permitted: u32,
    pub(super) inheritable: u32,
}

/// Writes `fd` in decimal over the zeros of `/proc/self/fd/0000000000` and
/// returns the NUL-terminated path (no allocation).
pub(super) fn fd_path(buffer: &mut [u8; 25], fd: libc::c_int) -> &CStr {
    const PREFIX: usize = "/proc/self/fd/".len();
    let mut digits = [0u8; 10];
    let mut count = 0;
    let mut rest = fd.unsigned_abs();
    loop {
        digits[count] = b'0' + (rest % 10) as u8;
        count += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for index in 0..count {
        buffer[PREFIX + index] = digits[count - 1 - index];
    }
    buffer[PREFIX + count] = 0;
    // A NUL was just written inside the buffer.
    CStr::from_bytes_until_nul(buffer).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn descriptor_paths_are_spelled_without_allocating() {
        for (fd, expected) in [
            (0, "/proc/self/fd/0"),
            (7, "/proc/self/fd/7"),
            (1234, "/proc/self/fd/1234"),
        ] {
            let mut buffer = *b"/proc/self/fd/0000000000\0";
            assert_eq!(super::fd_path(&mut buffer, fd).to_str(), Ok(expected));
        }
    }
}
