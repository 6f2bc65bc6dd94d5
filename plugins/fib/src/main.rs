//! The native twin of `fib`: the same logic as an executable serving framed
//! requests on stdin (see `plugbox_guest::native`).

fn main() -> std::process::ExitCode {
    plugbox_guest::native::serve(plugbox_plugin_fib::__plugbox_handle)
}
