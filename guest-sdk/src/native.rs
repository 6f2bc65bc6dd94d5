//! Native twins: the same plugin, built for the host as an executable that
//! serves framed requests (see `plugbox-frame`) on stdin and answers on
//! stdout. The isolation baseline runs these under process, namespace and
//! container isolation, so it does exactly the work the Wasm plugin does.
//!
//! A plugin crate gets a twin with a `src/main.rs` of one line:
//!
//! ```no_run
//! # mod plugbox_plugin_hello { pub fn __plugbox_handle(_: &[u8]) -> Result<Vec<u8>, String> { Ok(Vec::new()) } }
//! fn main() -> std::process::ExitCode {
//!     plugbox_guest::native::serve(plugbox_plugin_hello::__plugbox_handle)
//! }
//! ```

use std::io::{BufReader, BufWriter};
use std::process::ExitCode;

use plugbox_frame::{DEFAULT_MAX_FRAME, Reply, read_request, write_reply};

use alloc::string::String;
use alloc::vec::Vec;

/// Serves requests until stdin closes (exit status 0). A malformed or
/// oversized request frame, or a broken pipe, ends the twin with status 2
/// and a one-line message on stderr.
pub fn serve(handle: fn(&[u8]) -> Result<Vec<u8>, String>) -> ExitCode {
    let mut input = BufReader::new(std::io::stdin().lock());
    let mut output = BufWriter::new(std::io::stdout().lock());
    loop {
        let request = match read_request(&mut input, DEFAULT_MAX_FRAME) {
            Ok(Some(request)) => request,
            Ok(None) => return ExitCode::SUCCESS,
            Err(error) => {
                std::eprintln!("plugbox native twin: bad request: {error}");
                return ExitCode::from(2);
            }
        };
        let reply = match handle(&request) {
            Ok(bytes) => Reply::Output(bytes),
            Err(message) => Reply::GuestError(message),
        };
        if let Err(error) = write_reply(&mut output, &reply) {
            std::eprintln!("plugbox native twin: cannot answer: {error}");
            return ExitCode::from(2);
        }
    }
}
