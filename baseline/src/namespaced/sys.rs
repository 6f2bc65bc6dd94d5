//! The raw system calls the sandbox makes between `fork` and `exec`: thin
//! wrappers that allocate nothing.

use std::ffi::CStr;
use std::io;

/// `Err(last OS error)` when a raw call returned -1.
pub(super) fn check(result: libc::c_long) -> io::Result<libc::c_long> {
    if result == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

/// Writes `contents` to the file at `path` (a `/proc` or cgroup file).
pub(super) fn write_file(path: &CStr, contents: &[u8]) -> io::Result<()> {
    // SAFETY: valid path; the fd is ours and closed below.
    let fd = check(unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) }.into())?
        as libc::c_int;
    // SAFETY: contents is a valid buffer of its length.
    let written = unsafe { libc::write(fd, contents.as_ptr().cast(), contents.len()) };
    // SAFETY: fd is open.
    unsafe { libc::close(fd) };
    check(written as libc::c_long).map(drop)
}

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
