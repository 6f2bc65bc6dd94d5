//! `discount`: a Shopify-Functions-style discount function, written as a
//! plugin author would, with the guest SDK only.
//!
//! A JSON cart comes in (lines with quantities and prices, customer tags);
//! a JSON list of discounts goes out. Deterministic by construction: a lean
//! plugin has no clock and no randomness to consult. Its rules read their
//! parameters from the policy's `[config]`:
//!
//! - `vip_tag` / `vip_percent`: customers with the tag get that percentage
//!   off every line (default `vip`, 10);
//! - `bulk_quantity` / `bulk_percent`: a line of at least that many units
//!   gets that percentage off (default 10, 5), unless the VIP rule applies;
//! - `free_shipping_cents`: a cart subtotal at or above it earns free
//!   shipping (default 10000).
#![cfg_attr(target_arch = "wasm32", no_std)]

use plugbox_guest::prelude::*;

/// The request: a cart.
#[derive(serde::Deserialize)]
struct Cart {
    lines: Vec<Line>,
    #[serde(default)]
    customer: Customer,
}

#[derive(serde::Deserialize)]
struct Line {
    id: String,
    quantity: u32,
    /// Price of one unit, in cents.
    price_cents: u64,
}

#[derive(serde::Deserialize, Default)]
struct Customer {
    #[serde(default)]
    tags: Vec<String>,
}

/// The response: the discounts to apply.
#[derive(serde::Serialize)]
struct Discounts {
    discounts: Vec<Discount>,
    /// Sum of every discount, in cents.
    total_off_cents: u64,
}

#[derive(serde::Serialize)]
struct Discount {
    /// The cart line, or `"shipping"`.
    target: String,
    percentage: u32,
    amount_cents: u64,
    message: &'static str,
}

/// A whole-number setting from `[config]`, or its default.
fn setting(key: &str, default: u64) -> u64 {
    plugbox_guest::config::get(key)
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(default)
}

/// Computes the cart's discounts.
#[plugin]
fn discounts(Json(cart): Json<Cart>) -> Result<Json<Discounts>, String> {
    if cart.lines.is_empty() {
        return Err("cart has no lines".to_string());
    }
    let vip_tag = plugbox_guest::config::get("vip_tag").unwrap_or_else(|| "vip".to_string());
    let vip_percent = setting("vip_percent", 10).min(100) as u32;
    let bulk_quantity = setting("bulk_quantity", 10);
    let bulk_percent = setting("bulk_percent", 5).min(100) as u32;
    let free_shipping = setting("free_shipping_cents", 10_000);
    let vip = cart.customer.tags.contains(&vip_tag);

    let mut result = Discounts {
        discounts: Vec::new(),
        total_off_cents: 0,
    };
    let mut subtotal: u64 = 0;
    for line in &cart.lines {
        let line_total = line.price_cents.saturating_mul(u64::from(line.quantity));
        subtotal = subtotal.saturating_add(line_total);
        let (percentage, message) = if vip {
            (vip_percent, "VIP discount")
        } else if u64::from(line.quantity) >= bulk_quantity {
            (bulk_percent, "bulk discount")
        } else {
            continue;
        };
        let amount = line_total.saturating_mul(u64::from(percentage)) / 100;
        if amount == 0 {
            continue;
        }
        result.total_off_cents = result.total_off_cents.saturating_add(amount);
        result.discounts.push(Discount {
            target: line.id.clone(),
            percentage,
            amount_cents: amount,
            message,
        });
    }
    if subtotal >= free_shipping {
        result.discounts.push(Discount {
            target: "shipping".to_string(),
            percentage: 100,
            amount_cents: 0,
            message: "free shipping",
        });
    }
    Ok(Json(result))
}
