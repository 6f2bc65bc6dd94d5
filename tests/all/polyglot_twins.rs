//! The real plugins in other languages answer byte for byte what their Rust
//! originals answer: `py-discount` (the discount function in Python) and
//! `js-http-filter` (the HTTP filter in JavaScript), on the shared fixtures
//! of `plugins/fixtures/` and on generated inputs sent to both, through the
//! `config`, `kv` and `log` host functions; `go-host-probe` (Go's author
//! kit's host functions) each command as the Rust `host-probe`.

use plugbox::{Engine, ErrorKind, Plugin, Policy};

use crate::polyglot_fixtures::check;

fn policy(path: &str) -> Policy {
    Policy::from_file(format!("{}/../plugins/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// `name` on `engine` under its own `plugins/<name>/policy.toml`.
fn with_policy(engine: &Engine, name: &str) -> Option<Plugin> {
    let plugin = crate::polyglot::plugin(engine, name)?;
    Some(
        plugin
            .with_policy(&policy(&format!("{name}/policy.toml")))
            .unwrap(),
    )
}

/// The Rust original `name` on `engine` under its shipped policy.
fn rust(engine: &Engine, name: &str) -> Plugin {
    crate::plugin(engine, name)
        .with_policy(&policy(&format!("{name}/policy.toml")))
        .unwrap()
}

/// A small deterministic generator (64-bit LCG): the same inputs every run.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Sends each input to both instances and asserts the same answer (the
/// same bytes, or a guest error from both) and the same logs. Returns how
/// many answered with output.
fn assert_same_answers(
    twin: &mut plugbox::Instance,
    original: &mut plugbox::Instance,
    inputs: impl IntoIterator<Item = String>,
) -> usize {
    let mut answered = 0;
    for input in inputs {
        let mut theirs = None;
        let their_logs = crate::traced::record(|| theirs = Some(twin.call(input.as_bytes())));
        let mut ours = None;
        let our_logs = crate::traced::record(|| ours = Some(original.call(input.as_bytes())));
        match (theirs.unwrap(), ours.unwrap()) {
            (Ok(theirs), Ok(ours)) => {
                assert_eq!(
                    String::from_utf8(theirs.output).unwrap(),
                    String::from_utf8(ours.output).unwrap(),
                    "{input}"
                );
                answered += 1;
            }
            (Err(theirs), Err(ours)) => {
                assert_eq!(theirs.kind(), ErrorKind::Guest, "{input}: {theirs:?}");
                assert_eq!(ours.kind(), ErrorKind::Guest, "{input}: {ours:?}");
            }
            (theirs, ours) => panic!("{input}: twin {theirs:?}, original {ours:?}"),
        }
        let messages = |events: &[crate::traced::Recorded]| -> Vec<String> {
            events
                .iter()
                .filter(|event| event.target == "plugbox::plugin")
                .map(|event| format!("{} {:?}", event.level, event.field("message")))
                .collect()
        };
        assert_eq!(messages(&their_logs), messages(&our_logs), "{input}: logs");
    }
    answered
}

#[test]
pub fn py_discount() {
    let engine = crate::polyglot::engine();
    let Some(discount) = with_policy(&engine, "py-discount") else {
        return;
    };
    let imported: Vec<&str> = discount
        .info()
        .imports
        .iter()
        .map(|item| item.name.as_str())
        .collect();
    assert!(
        imported.contains(&"plugbox:plugin/config@0.1.0"),
        "{imported:?}"
    );
    assert!(check(&discount, "discount") > 20);

    // Generated carts, sent to the Python twin and to the Rust original.
    let mut random = Lcg(0x5eed);
    let ids = [
        "a",
        "gid://shop/CartLine/7",
        "ü-\\\"q\\\"",
        "日本",
        "x\\u0001y",
    ];
    let tags = ["vip", "VIP", "new", "", "vip "];
    let carts = (0..150).map(|_| {
        let lines: Vec<String> = (0..random.below(6))
            .map(|_| {
                let quantity = match random.below(10) {
                    0 => 4_294_967_295,
                    1 => 0,
                    _ => random.below(25),
                };
                let price = match random.below(12) {
                    0 => u64::MAX,
                    1 => 0,
                    _ => random.below(50_000),
                };
                format!(
                    r#"{{"id":"{}","quantity":{quantity},"price_cents":{price}}}"#,
                    random.pick(&ids)
                )
            })
            .collect();
        let customer = match random.below(3) {
            0 => String::new(),
            _ => {
                let tags: Vec<String> = (0..random.below(3))
                    .map(|_| format!("\"{}\"", random.pick(&tags)))
                    .collect();
                format!(r#","customer":{{"tags":[{}]}}"#, tags.join(","))
            }
        };
        format!(r#"{{"lines":[{}]{customer}}}"#, lines.join(","))
    });
    let mut twin = discount.instantiate().unwrap();
    let mut original = rust(&engine, "discount").instantiate().unwrap();
    let answered = assert_same_answers(&mut twin, &mut original, carts);
    assert!(answered > 100, "only {answered} carts answered");
}

#[test]
fn py_discount_answers_the_largest_cart_its_policy_admits() {
    let engine = crate::polyglot::engine();
    let Some(discount) = with_policy(&engine, "py-discount") else {
        return;
    };
    let cart = |lines: usize| {
        let lines: Vec<String> = (0..lines)
            .map(|i| {
                format!(r#"{{"id":"gid://shop/CartLine/{i}","quantity":2,"price_cents":1999}}"#)
            })
            .collect();
        format!(
            r#"{{"lines":[{}],"customer":{{"tags":["vip"]}}}}"#,
            lines.join(",")
        )
    };
    // About 1,900 lines fit the 128 kB input limit; the output limit (20 kB)
    // holds the discounts of about 200.
    let mut twin = discount.instantiate().unwrap();
    let mut original = rust(&engine, "discount").instantiate().unwrap();
    let largest = (1..3000)
        .rev()
        .map(cart)
        .find(|cart| cart.len() <= discount.limits().input_bytes())
        .unwrap();
    // It is computed within the memory, fuel and deadline; the host refuses
    // the answer, larger than the policy lets out. (The Rust original runs
    // out of Shopify's 11 million units of fuel on this cart first.)
    let theirs = twin.call(largest.as_bytes()).unwrap_err();
    assert_eq!(theirs.kind(), ErrorKind::OutputTooLarge, "{theirs:?}");
    let cart = cart(200);
    let response = twin.call(cart.as_bytes()).unwrap();
    assert_eq!(
        response.output,
        original.call(cart.as_bytes()).unwrap().output
    );
    assert!(response.output.len() < discount.limits().output_bytes());
    assert!(response.fuel_used.unwrap() < discount.limits().fuel_per_call());
}

#[test]
pub fn js_http_filter() {
    // A fresh engine: a fresh key-value store, as the fixture expects.
    let engine = crate::polyglot::engine();
    let Some(filter) = with_policy(&engine, "js-http-filter") else {
        return;
    };
    let imported: Vec<&str> = filter
        .info()
        .imports
        .iter()
        .map(|item| item.name.as_str())
        .collect();
    for interface in ["config", "kv", "log"] {
        let name = format!("plugbox:plugin/{interface}@0.1.0");
        assert!(imported.contains(&name.as_str()), "{imported:?}");
    }
    assert!(check(&filter, "http-filter") > 30);

    // Without a key-value grant, the store's denial is the plugin's error.
    let config_only = Policy::from_toml_str(
        "name = \"js-http-filter-no-kv\"\n[limits]\nmax_memory_bytes = 33554432\n\
         [config]\nrequired_header = \"x-api-key\"\n",
        "test",
    )
    .unwrap();
    let denied = crate::polyglot::plugin(&engine, "js-http-filter").unwrap();
    check(
        &denied.with_policy(&config_only).unwrap(),
        "http-filter-no-kv",
    );
}

#[test]
fn js_http_filter_answers_generated_requests_as_the_rust_filter() {
    let engine = crate::polyglot::engine();
    let Some(filter) = with_policy(&engine, "js-http-filter") else {
        return;
    };
    // Each plugin has its own namespace in the engine's store (the policy
    // names differ), so both count the same requests from zero.
    let mut twin = filter.instantiate().unwrap();
    let mut original = rust(&engine, "http-filter").instantiate().unwrap();
    let mut random = Lcg(0xf117e7);
    let names = [
        "x-api-key",
        "X-Api-Key",
        "accept",
        "x-internal-user",
        "X-INTERNAL-x",
        "via",
    ];
    let values = ["alice", "bob", "", "ключ", "a\\\"b", "x-internal-1"];
    let mut now_ms = 0u64;
    let requests = (0..300).map(|_| {
        now_ms += random.below(15_000);
        let headers: Vec<String> = (0..random.below(4))
            .map(|_| format!(r#"["{}","{}"]"#, random.pick(&names), random.pick(&values)))
            .collect();
        format!(
            r#"{{"method":"{}","path":"/{}","headers":[{}],"now_ms":{now_ms}}}"#,
            random.pick(&["GET", "POST"]),
            random.pick(&["orders", "ü", ""]),
            headers.join(",")
        )
    });
    let answered = assert_same_answers(&mut twin, &mut original, requests);
    assert_eq!(answered, 300, "every generated request is well formed");
}

/// `go-host-probe` answers each host-function command (and logs) as the
/// Rust `host-probe` does: with a key-value grant (values up to 200 kB, the
/// quota, a refused key) and without one.
#[test]
pub fn go_host_probe() {
    let engine = crate::polyglot::engine();
    let Some(twin) = crate::polyglot::plugin(&engine, "go-host-probe") else {
        return;
    };
    let large = "v".repeat(200_000);
    let long_key = "k".repeat(300);
    let commands = [
        "log info hello from the probe".to_string(),
        "log warn ünïcödé".to_string(),
        "log nonsense what level".to_string(),
        "spam 3".to_string(),
        "spam x".to_string(),
        "config greeting".to_string(),
        "config empty".to_string(),
        "config missing".to_string(),
        "get a".to_string(),
        "set a 1".to_string(),
        "get a".to_string(),
        "inc a 41".to_string(),
        "inc a -2".to_string(),
        "inc b +5".to_string(),
        "inc b x".to_string(),
        "set s not a number".to_string(),
        "inc s 1".to_string(),
        format!("set big {large}"),
        "get big".to_string(),
        format!("set {long_key} x"),
        "set c 3".to_string(),
        "set d 4".to_string(),
        "delete a".to_string(),
        "delete a".to_string(),
        "get a".to_string(),
        "frobnicate".to_string(),
        String::new(),
    ];
    for (name, grant) in [
        (
            "probe",
            "[kv]\nmax_keys = 4\nmax_bytes = 300000\nmax_key_bytes = 64\n",
        ),
        ("probe-denied", ""),
    ] {
        let policy = Policy::from_toml_str(
            &format!(
                "name = \"{name}\"\n{grant}[config]\ngreeting = \"grüß dich\"\nempty = \"\"\n"
            ),
            "test",
        )
        .unwrap();
        // A fresh engine per policy and plugin: each store starts empty.
        let mut theirs = twin.with_policy(&policy).unwrap().instantiate().unwrap();
        let rust_engine = crate::polyglot::engine();
        let mut ours = crate::plugin(&rust_engine, "host-probe")
            .with_policy(&policy)
            .unwrap()
            .instantiate()
            .unwrap();
        let answered = assert_same_answers(&mut theirs, &mut ours, commands.clone());
        assert!(answered > 20, "{name}: only {answered} answered");
    }
}
