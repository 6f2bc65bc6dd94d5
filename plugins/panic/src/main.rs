//! The native twin of `panic`: the same logic as an executable serving framed
//! requests on stdin (see `plugbox_guest::native`). Its panic ends the process.

fn main() -> std::process::ExitCode {
    plugbox_guest::native::serve(plugbox_plugin_panic::__plugbox_handle)
}
