//! The native twin of `wasi-probe`: the same probes as real system calls, to
//! check what each isolation level of the baseline lets a process see.

fn main() -> std::process::ExitCode {
    plugbox_guest::native::serve(plugbox_plugin_wasi_probe::__plugbox_handle)
}
