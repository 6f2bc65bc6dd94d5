//! A Shopify-Functions-style host: run the `discount` plugin on a cart under
//! Shopify's published limits (its shipped `plugins/discount/policy.toml`:
//! 11M instructions of fuel, 10 MB of memory, 128 kB in, 20 kB out), with no
//! clock, randomness, files or network.
//!
//! `cargo run --release -p plugbox --example discount`
use plugbox::{Engine, ErrorKind, Plugin, Policy};

fn main() -> Result<(), plugbox::Error> {
    let engine = Engine::new()?;
    let policy = Policy::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../plugins/discount/policy.toml"
    ))?;
    let discount =
        Plugin::from_file(&engine, plugbox_artifacts::DISCOUNT.path)?.with_policy(&policy)?;

    let cart = r#"{
        "lines": [
            {"id": "gid://shop/CartLine/1", "quantity": 12, "price_cents": 450},
            {"id": "gid://shop/CartLine/2", "quantity": 1, "price_cents": 9900}
        ],
        "customer": {"tags": ["newsletter"]}
    }"#;
    let mut function = discount.instantiate()?;
    match function.call(cart.as_bytes()) {
        Ok(response) => println!(
            "{}\n({} of 11,000,000 instructions, {:?})",
            String::from_utf8_lossy(&response.output),
            response.fuel_used.unwrap_or_default(),
            response.elapsed
        ),
        Err(error) if error.kind() == ErrorKind::Guest => println!("rejected: {}", error.message()),
        Err(error) => return Err(error),
    }
    Ok(())
}
