//! Raw system calls safe to make between `fork` and `exec` of a
//! multithreaded host: thin wrappers that allocate nothing and take no lock.

use std::io;

/// `Err(last OS error)` when a raw call returned -1.
pub(crate) fn check(result: libc::c_long) -> io::Result<libc::c_long> {
    if result == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}
