//! The native twin of `grow`: allocates without bound. Only run it where a
//! memory limit holds it (the baseline's runc level: a 64 MiB cgroup, and an
//! address-space rlimit behind it).

fn main() -> std::process::ExitCode {
    plugbox_guest::native::serve(plugbox_plugin_grow::__plugbox_handle)
}
