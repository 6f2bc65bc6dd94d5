//! The native twin of `spin`: the same logic as an executable serving framed
//! requests on stdin (see `plugbox_guest::native`).

fn main() -> std::process::ExitCode {
    plugbox_guest::native::serve(plugbox_plugin_spin::__plugbox_handle)
}
