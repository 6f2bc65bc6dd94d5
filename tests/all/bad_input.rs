//! Bad input gets a clear, typed error: never a panic, never a hang.

use plugbox::{ErrorKind, Limits, Plugin};

use crate::neighbour::with_good_neighbour;
use crate::{assert_engine_still_serves, engine, plugin};

/// A hand-written component with a well-typed plugbox handler (it answers
/// with whatever its linear memory holds) and, optionally, one more import.
fn handler_component(extra_import: &str, input_type: &str) -> Vec<u8> {
    handler_component_with(
        extra_import,
        input_type,
        "(func (export \"handle\") (param i32 i32) (result i32) i32.const 0)",
    )
}

/// As [`handler_component`], with the core `handle` function (and whatever
/// else the core module needs) given as text.
pub fn handler_component_with(extra_import: &str, input_type: &str, handle: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(component
            {extra_import}
            (core module $m
                (memory (export "memory") 1)
                (func (export "realloc") (param i32 i32 i32 i32) (result i32) i32.const 8)
                {handle})
            (core instance $i (instantiate $m))
            (func $handle (param "input" {input_type}) (result (result (list u8) (error string)))
                (canon lift (core func $i "handle") (memory (core memory $i "memory"))
                    (realloc (core func $i "realloc"))))
            (instance $handler (export "handle" (func $handle)))
            (export "plugbox:plugin/handler@0.1.0" (instance $handler)))"#
    ))
    .expect("valid component text")
}

#[test]
fn missing_file_is_io() {
    let engine = engine();
    let error = Plugin::from_file(&engine, "/nonexistent/plugin.wasm").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Io);
    assert!(
        error.message().contains("/nonexistent/plugin.wasm"),
        "{error}"
    );
}

#[test]
fn empty_bytes_are_invalid() {
    let error = Plugin::new(&engine(), &[]).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidComponent);
    assert!(error.message().contains("empty"), "{error}");
}

#[test]
fn random_bytes_are_invalid() {
    let engine = engine();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for length in [1, 7, 8, 64, 4096, 100_000] {
        let bytes: Vec<u8> = (0..length)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let error = Plugin::new(&engine, &bytes).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidComponent, "{length} bytes");
    }
    // Random bytes behind a valid component preamble reach the validator.
    let mut bytes = b"\0asm\x0d\x00\x01\x00".to_vec();
    bytes.extend((0..1000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    assert_eq!(
        Plugin::new(&engine, &bytes).unwrap_err().kind(),
        ErrorKind::InvalidComponent
    );
    assert_engine_still_serves(&engine);
}

#[test]
fn truncated_component_is_invalid() {
    let engine = engine();
    let bytes = plugbox_artifacts::HELLO.bytes;
    // (A cut at 8 bytes would leave the bare preamble: a valid, empty
    // component, which is an interface mismatch, not an invalid component.)
    for cut in [4, 7, 9, 100, bytes.len() / 2, bytes.len() - 1] {
        let error = Plugin::new(&engine, &bytes[..cut]).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidComponent, "cut at {cut}");
    }
}

#[test]
fn core_module_is_not_a_component() {
    let module = wat::parse_str(r#"(module (func (export "handle")))"#).unwrap();
    let error = Plugin::new(&engine(), &module).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidComponent);
    assert!(
        error.message().contains("core WebAssembly module"),
        "{error}"
    );
}

#[test]
fn component_of_another_world_is_a_mismatch() {
    let engine = engine();
    let other = wat::parse_str(
        r#"(component
            (core module $m (func (export "f")))
            (core instance $i (instantiate $m))
            (func (export "other") (canon lift (core func $i "f"))))"#,
    )
    .unwrap();
    let error = with_good_neighbour(&engine, || Plugin::new(&engine, &other).unwrap_err());
    assert_eq!(error.kind(), ErrorKind::InterfaceMismatch);
    assert!(
        error
            .message()
            .contains("missing export `plugbox:plugin/handler@0.1.0`"),
        "{error}"
    );
    assert!(
        error.message().contains("`other`"),
        "names what it found: {error}"
    );
}

#[test]
fn handler_with_the_wrong_signature_is_a_mismatch() {
    let wrong = handler_component("", "string");
    let error = Plugin::new(&engine(), &wrong).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InterfaceMismatch);
    assert!(error.message().contains("func(input: string)"), "{error}");
}

#[test]
fn unknown_import_is_a_mismatch() {
    let engine = engine();
    // The hand-written handler is otherwise valid: it loads without the import.
    Plugin::new(&engine, &handler_component("", "(list u8)")).unwrap();
    let importing = handler_component(
        r#"(import "acme:billing/charge@1.0.0" (instance (export "charge" (func))))"#,
        "(list u8)",
    );
    let error = Plugin::new(&engine, &importing).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InterfaceMismatch);
    assert!(
        error.message().contains("`acme:billing/charge@1.0.0`"),
        "{error}"
    );
}

#[test]
fn oversized_input_is_refused_before_the_plugin_runs() {
    let engine = engine();
    let limits = Limits::default().max_input_bytes(1024);
    let mut instance = plugin(&engine, "hello")
        .with_limits(limits)
        .instantiate()
        .unwrap();
    let error = with_good_neighbour(&engine, || instance.call(&[b'a'; 1025]).unwrap_err());
    assert_eq!(error.kind(), ErrorKind::InputTooLarge);
    assert_eq!(error.message(), "1025 bytes, limit 1024");
    // Not a trap: the same instance goes on serving.
    assert!(!instance.is_poisoned());
    assert_eq!(instance.call(&[b'a'; 1024]).unwrap().output, [b'A'; 1024]);
}

#[test]
fn oversized_output_is_refused() {
    let engine = engine();
    let limits = Limits::default().max_output_bytes(4);
    let mut instance = plugin(&engine, "hello")
        .with_limits(limits)
        .instantiate()
        .unwrap();
    assert_eq!(instance.call(b"abcd").unwrap().output, b"ABCD");
    let error = instance.call(b"abcde").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::OutputTooLarge);
    assert_eq!(error.message(), "5 bytes, limit 4");
    assert!(!instance.is_poisoned());
}

#[test]
fn oversized_components_are_refused_before_they_are_read() {
    let engine = plugbox::Engine::builder()
        .allocator(plugbox::Allocator::Pooling { capacity: 4 })
        .max_component_bytes(1 << 20)
        .build()
        .unwrap();
    // A real component padded past the limit with a custom section.
    let mut padded = plugbox_artifacts::HELLO.bytes.to_vec();
    padded.push(0); // custom section id
    let payload = 2 << 20;
    let mut size = payload + 2; // name length byte + name "x"
    while size >= 0x80 {
        padded.push((size as u8 & 0x7f) | 0x80);
        size >>= 7;
    }
    padded.push(size as u8);
    padded.extend_from_slice(&[1, b'x']);
    padded.resize(padded.len() + payload, 0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.wasm");
    std::fs::write(&path, &padded).unwrap();
    // Under the limit, the same engine loads and serves the real thing
    // throughout (and after: `with_good_neighbour` checks).
    let [from_bytes, from_file] = with_good_neighbour(&engine, || {
        [
            Plugin::new(&engine, &padded).unwrap_err(),
            Plugin::from_file(&engine, &path).unwrap_err(),
        ]
    });
    assert_eq!(from_bytes.kind(), ErrorKind::InvalidComponent);
    assert!(
        from_bytes.message().contains("maximum component size"),
        "{from_bytes}"
    );
    assert_eq!(from_file.kind(), ErrorKind::InvalidComponent);
}

#[test]
fn a_wasi_import_the_host_does_not_link_is_named() {
    // componentize-js's default build imports wasi:http, which plugbox does
    // not link: the refusal names the interface wasmtime could not find.
    let importing = handler_component(
        r#"(import "wasi:http/outgoing-handler@0.2.10" (instance (export "handle" (func))))"#,
        "(list u8)",
    );
    let error = Plugin::new(&engine(), &importing).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InterfaceMismatch);
    assert!(
        error
            .message()
            .contains("wasi:http/outgoing-handler@0.2.10"),
        "{error}"
    );
    assert!(std::error::Error::source(&error).is_some());
}

#[test]
fn a_component_model_async_component_is_refused_naming_the_feature() {
    // componentize-qjs's default output uses component-model async, which
    // a default engine does not enable: the refusal says so, names the
    // setting that does, and how to build one it can host.
    let component = wat::parse_str("(component (core func (canon backpressure.inc)))").unwrap();
    let error = Plugin::new(&engine(), &component).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidComponent, "{error}");
    let message = error.message();
    assert!(
        message.contains("requires the component model async feature"),
        "{message}"
    );
    assert!(
        message.contains("uses component-model async, which this engine does not enable"),
        "{message}"
    );
    assert!(
        message.contains("EngineBuilder::component_model_async(true)"),
        "{message}"
    );
    // wasmtime's own error stays the source.
    assert!(std::error::Error::source(&error).is_some(), "{error:?}");
}
