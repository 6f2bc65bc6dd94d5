"""`py-discount`: the `discount` plugin (plugins/discount) in Python.

A JSON cart comes in (lines with quantities and prices, customer tags); a
JSON list of discounts goes out, byte for byte what the Rust plugin answers
(plugins/fixtures/discount.txt holds the shared cases). Its rules read their
parameters from the policy's ``[config]``:

- ``vip_tag`` / ``vip_percent``: customers with the tag get that percentage
  off every line (default ``vip``, 10);
- ``bulk_quantity`` / ``bulk_percent``: a line of at least that many units
  gets that percentage off (default 10, 5), unless the VIP rule applies;
- ``free_shipping_cents``: a cart subtotal at or above it earns free
  shipping (default 10000).

The Rust plugin's types are u32 quantities and u64 cents with saturating
arithmetic; the same bounds are checked, and the same saturation applied,
here.
"""

import json

import plugbox

U32_MAX = (1 << 32) - 1
U64_MAX = (1 << 64) - 1

# Rust's `str::trim` removes Unicode White_Space, which is not quite what
# Python's `str.strip()` removes.
RUST_WHITESPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def parse_u64(text: str):
    """Rust's ``text.parse::<u64>()``: optional ``+``, ASCII digits, in range."""
    digits = text[1:] if text.startswith("+") else text
    if not digits or not all("0" <= c <= "9" for c in digits):
        return None
    value = int(digits)
    return value if value <= U64_MAX else None


def setting(key: str, default: int) -> int:
    """A whole-number setting from ``[config]``, or its default."""
    value = plugbox.config(key)
    if value is None:
        return default
    parsed = parse_u64(value.strip(RUST_WHITESPACE))
    return default if parsed is None else parsed


def reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def integer(value, maximum: int, what: str) -> int:
    # `bool` is an `int` in Python, not in JSON.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise plugbox.GuestError(f"invalid {what}: {value!r}")
    return value


def string(value, what: str) -> str:
    if not isinstance(value, str):
        raise plugbox.GuestError(f"invalid {what}: {value!r}")
    try:
        # JSON escapes can spell lone surrogates, which are not UTF-8.
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise plugbox.GuestError(f"invalid {what}: not UTF-8") from None
    return value


def parse_cart(input: bytes):
    try:
        cart = json.loads(input.decode("utf-8"), parse_constant=reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise plugbox.GuestError(f"invalid cart: {error}") from None
    if not isinstance(cart, dict) or not isinstance(cart.get("lines"), list):
        raise plugbox.GuestError("invalid cart: expected an object with `lines`")
    lines = []
    for line in cart["lines"]:
        if not isinstance(line, dict) or not {"id", "quantity", "price_cents"} <= line.keys():
            raise plugbox.GuestError("invalid line: expected `id`, `quantity` and `price_cents`")
        lines.append(
            (
                string(line["id"], "line id"),
                integer(line["quantity"], U32_MAX, "quantity"),
                integer(line["price_cents"], U64_MAX, "price_cents"),
            )
        )
    customer = cart.get("customer", {})
    if customer is None or not isinstance(customer, dict):
        raise plugbox.GuestError("invalid customer: expected an object")
    tags = customer.get("tags", [])
    if not isinstance(tags, list):
        raise plugbox.GuestError("invalid tags: expected a list")
    return lines, [string(tag, "tag") for tag in tags]


def discounts(input: bytes) -> str:
    """Computes the cart's discounts."""
    lines, tags = parse_cart(input)
    if not lines:
        raise plugbox.GuestError("cart has no lines")
    vip_tag = plugbox.config("vip_tag")
    if vip_tag is None:
        vip_tag = "vip"
    vip_percent = min(setting("vip_percent", 10), 100)
    bulk_quantity = setting("bulk_quantity", 10)
    bulk_percent = min(setting("bulk_percent", 5), 100)
    free_shipping = setting("free_shipping_cents", 10_000)
    vip = vip_tag in tags

    result = []
    total_off = 0
    subtotal = 0
    for line_id, quantity, price_cents in lines:
        line_total = min(price_cents * quantity, U64_MAX)
        subtotal = min(subtotal + line_total, U64_MAX)
        if vip:
            percentage, message = vip_percent, "VIP discount"
        elif quantity >= bulk_quantity:
            percentage, message = bulk_percent, "bulk discount"
        else:
            continue
        amount = min(line_total * percentage, U64_MAX) // 100
        if amount == 0:
            continue
        total_off = min(total_off + amount, U64_MAX)
        result.append(
            {
                "target": line_id,
                "percentage": percentage,
                "amount_cents": amount,
                "message": message,
            }
        )
    if subtotal >= free_shipping:
        result.append(
            {"target": "shipping", "percentage": 100, "amount_cents": 0, "message": "free shipping"}
        )
    # serde_json's compact form: no spaces, non-ASCII as is.
    return json.dumps(
        {"discounts": result, "total_off_cents": total_off},
        separators=(",", ":"),
        ensure_ascii=False,
    )


Handler = plugbox.plugin(discounts)
