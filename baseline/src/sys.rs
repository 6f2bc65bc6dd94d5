//! Raw system calls safe to make between `fork` and `exec` of a
//! multithreaded host: thin wrappers that allocate nothing and take no lock.

use std::ffi::CStr;
use std::io;

/// `Err(last OS error)` when a raw call returned -1.
pub(crate) fn check(result: libc::c_long) -> io::Result<libc::c_long> {
    if result == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

/// Writes `contents` to the file at `path` (a `/proc` or cgroup file).
pub(crate) fn write_file(path: &CStr, contents: &[u8]) -> io::Result<()> {
    // SAFETY: valid path; the fd is ours and closed below.
    let fd = check(unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) }.into())?
        as libc::c_int;
    // SAFETY: contents is a valid buffer of its length.
    let written = unsafe { libc::write(fd, contents.as_ptr().cast(), contents.len()) };
    // SAFETY: fd is open.
    unsafe { libc::close(fd) };
    check(written as libc::c_long).map(drop)
}
