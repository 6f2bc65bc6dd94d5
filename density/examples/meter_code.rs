//! Writes what wasmtime compiles for the `fib` plugin under each meter
//! combination (none, fuel, epochs, both; plugbox's dense memory settings):
//! the CLIF of every function and the native code (`<dir>/<meters>.cwasm`,
//! an ELF: `objdump -d`), to read what each meter costs.
//!
//! `cargo run --release -p plugbox-density --example meter_code -- DIR`

use plugbox::wasmtime;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).ok_or("usage: meter_code DIR")?);
    std::fs::create_dir_all(&dir)?;
    for (name, fuel, epochs) in [
        ("none", false, false),
        ("fuel", true, false),
        ("epochs", false, true),
        ("both", true, true),
    ] {
        let mut config = wasmtime::Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(fuel)
            .epoch_interruption(epochs)
            .memory_reservation(16 << 20)
            .memory_guard_size(0)
            .memory_reservation_for_growth(0)
            .guard_before_linear_memory(false);
        let engine = wasmtime::Engine::new(&config)?;
        let code = engine.precompile_component(plugbox_artifacts::FIB.bytes)?;
        std::fs::write(dir.join(format!("{name}.cwasm")), code)?;
    }
    Ok(())
}
