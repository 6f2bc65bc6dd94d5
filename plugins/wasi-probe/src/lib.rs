//! `wasi-probe`: a plugin built with the Rust standard library, so it imports
//! WASI preview 2. It runs one probe command per call and reports what it
//! could do, so that tests can check each capability's grant and denial.
//!
//! Commands (the input), one per call:
//! - `env`: every environment variable, `KEY=value` per line;
//! - `args`: the arguments, one per line;
//! - `read PATH`, `list PATH`: a file's contents, a directory's entries;
//! - `write PATH TEXT`: writes TEXT to the file PATH;
//! - `now`: wall-clock time (seconds.nanoseconds since the Unix epoch);
//! - `random`: a 64-bit value derived from the seed std's `RandomState`
//!   asks for (`wasi:random/insecure-seed`);
//! - `secure-random`: the next 64-bit value of `wasi:random/random`;
//! - `insecure-random`: the next 64-bit value of `wasi:random/insecure`;
//! - `monotonic`: `wasi:clocks/monotonic-clock`'s `now`, in nanoseconds;
//! - `connect ADDR`: opens a TCP connection to ADDR;
//! - `print TEXT`, `eprint TEXT`: writes TEXT to stdout / stderr.
//! - `sleep MS`: sleeps MS milliseconds (a WASI clock pollable's `block`),
//!   then answers `slept`;
//! - `print-sleep MS`: prints a line, then sleeps MS milliseconds.
//! - `panic TEXT`: panics with TEXT (std prints it to stderr, then aborts:
//!   a trap, after WASI calls, on the WASI path).
//!
//! Failures are answered as `error: <kind>` (the `std::io::ErrorKind`), not
//! as guest errors: a denial is the expected outcome of many probes. An
//! error std leaves `Uncategorized` (a failed name lookup) adds its text.
use std::hash::{BuildHasher, Hasher};
use std::io::Write;

use plugbox_guest::prelude::*;

/// Runs the probe named by the input.
#[plugin]
fn probe(input: &str) -> Result<String, String> {
    let (command, rest) = input.split_once(' ').unwrap_or((input, ""));
    let answer = match command {
        "env" => Ok(std::env::vars()
            .map(|(key, value)| format!("{key}={value}\n"))
            .collect()),
        "args" => Ok(std::env::args().map(|arg| format!("{arg}\n")).collect()),
        "read" => std::fs::read_to_string(rest),
        "list" => std::fs::read_dir(rest).and_then(|entries| {
            let mut names = entries
                .map(|entry| entry.map(|entry| entry.file_name().to_string_lossy().into_owned()))
                .collect::<Result<Vec<_>, _>>()?;
            names.sort();
            Ok(names.join("\n"))
        }),
        "write" => {
            let (path, text) = rest.split_once(' ').unwrap_or((rest, ""));
            std::fs::write(path, text).map(|()| "ok".to_owned())
        }
        "now" => Ok(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|since| format!("{}.{:09}", since.as_secs(), since.subsec_nanos()))
            .unwrap_or_else(|_| "before 1970".to_owned())),
        "random" => {
            // std seeds its hash maps from the WASI random source.
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u64(0);
            Ok(format!("{:016x}", hasher.finish()))
        }
        "secure-random" => wasi::secure_random().map(|value| format!("{value:016x}")),
        "insecure-random" => wasi::insecure_random().map(|value| format!("{value:016x}")),
        "monotonic" => wasi::monotonic_now().map(|nanos| nanos.to_string()),
        "connect" => std::net::TcpStream::connect(rest).map(|_| "connected".to_owned()),
        "print" => std::io::stdout()
            .write_all(rest.as_bytes())
            .and_then(|()| std::io::stdout().flush())
            .map(|()| "ok".to_owned()),
        "eprint" => std::io::stderr()
            .write_all(rest.as_bytes())
            .map(|()| "ok".to_owned()),
        "sleep" => {
            sleep(rest);
            Ok("slept".to_owned())
        }
        "print-sleep" => {
            println!("about to sleep");
            sleep(rest);
            Ok("slept".to_owned())
        }
        "panic" => panic!("probe panic: {rest}"),
        other => return Err(format!("unknown probe `{other}`")),
    };
    Ok(answer.unwrap_or_else(describe))
}

/// The WASI interfaces std does not expose, called directly. The imports
/// resolve against the WASI world std's own bindings embed (0.2.6 with this
/// toolchain); a native twin has no WASI and answers `Unsupported`.
mod wasi {
    #[cfg(target_arch = "wasm32")]
    mod imports {
        #[link(wasm_import_module = "wasi:random/random@0.2.6")]
        unsafe extern "C" {
            #[link_name = "get-random-u64"]
            pub fn get_random_u64() -> i64;
        }

        #[link(wasm_import_module = "wasi:random/insecure@0.2.6")]
        unsafe extern "C" {
            #[link_name = "get-insecure-random-u64"]
            pub fn get_insecure_random_u64() -> i64;
        }

        #[link(wasm_import_module = "wasi:clocks/monotonic-clock@0.2.6")]
        unsafe extern "C" {
            #[link_name = "now"]
            pub fn now() -> i64;
        }
    }

    /// The next value of the secure random source.
    pub fn secure_random() -> std::io::Result<u64> {
        #[cfg(target_arch = "wasm32")]
        // SAFETY: a WASI import taking nothing and returning a u64.
        return Ok(unsafe { imports::get_random_u64() }.cast_unsigned());
        #[cfg(not(target_arch = "wasm32"))]
        Err(std::io::ErrorKind::Unsupported.into())
    }

    /// The next value of the insecure random source.
    pub fn insecure_random() -> std::io::Result<u64> {
        #[cfg(target_arch = "wasm32")]
        // SAFETY: a WASI import taking nothing and returning a u64.
        return Ok(unsafe { imports::get_insecure_random_u64() }.cast_unsigned());
        #[cfg(not(target_arch = "wasm32"))]
        Err(std::io::ErrorKind::Unsupported.into())
    }

    /// The monotonic clock, in nanoseconds.
    pub fn monotonic_now() -> std::io::Result<u64> {
        #[cfg(target_arch = "wasm32")]
        // SAFETY: a WASI import taking nothing and returning a u64.
        return Ok(unsafe { imports::now() }.cast_unsigned());
        #[cfg(not(target_arch = "wasm32"))]
        Err(std::io::ErrorKind::Unsupported.into())
    }
}

/// Sleeps `millis` milliseconds (0 if not a number).
fn sleep(millis: &str) {
    let millis = millis.trim().parse().unwrap_or(0);
    std::thread::sleep(std::time::Duration::from_millis(millis));
}

/// `error: <kind>`; for an error std leaves uncategorized (a failed name
/// lookup, say) its own text follows: `error: Uncategorized: <text>`.
fn describe(error: std::io::Error) -> String {
    let kind = format!("{:?}", error.kind());
    if kind == "Uncategorized" {
        format!("error: {kind}: {error}")
    } else {
        format!("error: {kind}")
    }
}
