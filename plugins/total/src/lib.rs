//! `total`: the JSON path of the guest SDK. A cart of line items in, its
//! total out; an empty cart is the plugin's own error.
#![cfg_attr(target_arch = "wasm32", no_std)]

use plugbox_guest::prelude::*;

/// One line of a cart.
#[derive(serde::Deserialize)]
struct Line {
    /// Price of one unit, in cents.
    price_cents: u64,
    quantity: u32,
}

/// The request.
#[derive(serde::Deserialize)]
struct Cart {
    lines: Vec<Line>,
}

/// The response.
#[derive(serde::Serialize)]
struct Total {
    total_cents: u64,
    items: u64,
}

/// Adds up the cart (saturating: a hostile cart cannot overflow it).
#[plugin]
fn total(Json(cart): Json<Cart>) -> Result<Json<Total>, &'static str> {
    if cart.lines.is_empty() {
        return Err("empty cart");
    }
    let mut total = Total {
        total_cents: 0,
        items: 0,
    };
    for line in &cart.lines {
        let quantity = u64::from(line.quantity);
        total.total_cents = total
            .total_cents
            .saturating_add(line.price_cents.saturating_mul(quantity));
        total.items = total.items.saturating_add(quantity);
    }
    Ok(Json(total))
}
