//! Embedding plugbox: load a plugin, give it limits, call it, branch on errors.
//! Run with `cargo run --release -p plugbox --example embed [PLUGIN.wasm]`.
use plugbox::{Engine, ErrorKind, Limits, Plugin};
use std::time::Duration;

fn main() -> Result<(), plugbox::Error> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or(plugbox_artifacts::HELLO.path.into());
    let engine = Engine::new()?; // one per process: compiler, pool, epoch ticker
    let limits = Limits::default().deadline(Duration::from_millis(50)); // and fuel, memory...
    let plugin = Plugin::from_file(&engine, &path)?.with_limits(limits); // compile + link once
    let mut tenant = plugin.instantiate()?; // one per tenant, microseconds
    match tenant.call(b"hello, plugbox") {
        Ok(response) => println!("{}", String::from_utf8_lossy(&response.output)),
        Err(error) if error.kind() == ErrorKind::DeadlineExceeded => eprintln!("too slow: {error}"),
        Err(error) => return Err(error),
    }
    Ok(())
}
