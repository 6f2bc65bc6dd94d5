//! `wasi-probe`: a plugin built with the Rust standard library, so it imports
//! WASI preview 2. It reports what ambient authority it can see; under
//! plugbox's deny-by-default WASI context the answer is: none.
use plugbox_guest::prelude::*;

/// Returns one `key=value` line per probe, then the upper-cased input.
#[plugin]
fn probe(input: &str) -> String {
    let env_vars = std::env::vars().count();
    let args = std::env::args().count();
    let root = match std::fs::read_dir("/") {
        Ok(_) => "readable".to_owned(),
        Err(error) => format!("denied ({:?})", error.kind()),
    };
    let etc = match std::fs::read("/etc/hostname") {
        Ok(_) => "readable".to_owned(),
        Err(error) => format!("denied ({:?})", error.kind()),
    };
    format!(
        "env={env_vars}\nargs={args}\nread_dir(/)={root}\nread(/etc/hostname)={etc}\ninput={}",
        input.to_uppercase()
    )
}
