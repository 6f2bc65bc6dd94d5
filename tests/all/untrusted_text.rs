//! Untrusted text: what a hostile guest says — its error strings, `log`
//! messages, traced stdout, the names inside its component — reaches the
//! host's errors and logs escaped (no raw control character, one line,
//! still readable), bounded, and with the raw bytes kept for the embedder.
//! Also the traced-stdio budget: lines spend the call's log budget.

use plugbox::safe_text::is_escaped;
use plugbox::{ErrorKind, Plugin, Policy};

use crate::neighbour::with_good_neighbour;
use crate::traced::Recorded;
use crate::{engine, plugin};

/// What the issue saw printed raw: a screen clear, a colour, a window title,
/// a forged second line; plus a bidi override, a carriage return and a NUL.
const HOSTILE: &str =
    "\x1b[2J\x1b[31mPWNED\x1b]0;title\x07 line2\nforged: INFO fake entry \u{202e}fdp.exe\r\0";

/// [`HOSTILE`] as it must be shown.
const SHOWN: &str =
    r"\x1b[2J\x1b[31mPWNED\x1b]0;title\x07 line2\nforged: INFO fake entry \u{202e}fdp.exe\r\0";

/// Asserts that `text` holds no raw control character, bidi control or line
/// break.
pub fn assert_inert(text: &str) {
    let raw: Vec<char> = text.chars().filter(|&c| is_escaped(c)).collect();
    assert!(
        raw.is_empty(),
        "raw {raw:?} in {:?}",
        &text[..text.len().min(200)]
    );
}

fn with_policy(name: &str, policy: &str) -> Plugin {
    let policy = Policy::from_toml_str(policy, "test policy").unwrap();
    plugin(&engine(), name).with_policy(&policy).unwrap()
}

/// The events of `target`, as (plugin, message).
fn messages<'a>(events: &'a [Recorded], target: &str) -> Vec<(&'a str, &'a str)> {
    events
        .iter()
        .filter(|event| event.target == target)
        .map(|event| {
            (
                event.field("plugin").unwrap(),
                event.field("message").unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_hostile_error_string_displays_escaped_and_keeps_its_bytes() {
    let engine = engine();
    let hostile = plugin(&engine, "hostile");
    let error = with_good_neighbour(&engine, || {
        let mut instance = hostile.instantiate().unwrap();
        let error = instance
            .call(format!("err {HOSTILE}").as_bytes())
            .unwrap_err();
        assert!(!instance.is_poisoned());
        error
    });
    assert_eq!(error.kind(), ErrorKind::Guest);
    let shown = error.to_string();
    assert_eq!(shown, format!("plugin returned an error: {SHOWN}"));
    assert_inert(&shown);
    assert_inert(&format!("{error:?}"));
    // The embedder still has every byte.
    assert_eq!(error.guest_message(), Some(HOSTILE));
}

#[test]
fn a_nul_flood_error_is_cut_in_display_and_whole_for_the_embedder() {
    let mut instance = plugin(&engine(), "hostile").instantiate().unwrap();
    let error = instance.call(b"nul-flood 1048576").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Guest);
    let shown = error.to_string();
    let kept = plugbox::Error::DISPLAY_MESSAGE_BYTES;
    assert_eq!(
        shown,
        format!(
            "plugin returned an error: {}… ({} more bytes)",
            r"\0".repeat(kept),
            (1 << 20) - kept
        )
    );
    assert_inert(&shown);
    let raw = error.guest_message().unwrap();
    assert_eq!(raw.len(), 1 << 20);
    assert!(raw.bytes().all(|byte| byte == 0));
}

#[test]
fn hostile_log_messages_and_plugin_names_are_logged_escaped() {
    // The name comes from a policy, which may come from a tenant too.
    let probe = with_policy("host-probe", "name = \"tenant\\u001b[31m\\nINFO forged\"\n");
    let events = crate::traced::record(|| {
        let mut instance = probe.instantiate().unwrap();
        let command = format!("log warn {HOSTILE}");
        assert_eq!(instance.call(command.as_bytes()).unwrap().output, b"ok");
    });
    let logged = messages(&events, "plugbox::plugin");
    assert_eq!(logged, [(r"tenant\x1b[31m\nINFO forged", SHOWN)]);
    for event in &events {
        for (_, value) in &event.fields {
            assert_inert(value);
        }
    }
}

#[test]
fn a_nul_flood_log_message_is_logged_escaped_within_the_budget() {
    let probe = with_policy(
        "host-probe",
        "[limits]\nmax_log_bytes = 2097152\nmax_input_bytes = 2097152\n",
    );
    let mut command = b"log info ".to_vec();
    command.resize(command.len() + (1 << 20), 0);
    let events = crate::traced::record(|| {
        let mut instance = probe.instantiate().unwrap();
        assert_eq!(instance.call(&command).unwrap().output, b"ok");
        assert_eq!(instance.logs_dropped(), 0);
    });
    let logged = messages(&events, "plugbox::plugin");
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].1.len(), 2 << 20, "every NUL shown as \\0");
    assert_inert(logged[0].1);
}

#[test]
fn hostile_traced_stdout_is_logged_escaped_one_event_per_line() {
    let probe = with_policy(
        "wasi-probe",
        "name = \"evil\\u202e\"\n[stdio]\nstdout = \"tracing\"\n",
    );
    let events = crate::traced::record(|| {
        let mut instance = probe.instantiate().unwrap();
        let command = format!("print {HOSTILE}\n");
        assert_eq!(instance.call(command.as_bytes()).unwrap().output, b"ok");
    });
    // The plugin's newline ends its line: the rest is a line of its own,
    // tagged with the plugin's name like the first, never a line of the
    // host's.
    let (first, second) = SHOWN.split_once(r"\n").unwrap();
    assert_eq!(
        messages(&events, "plugbox::guest"),
        [(r"evil\u{202e}", first), (r"evil\u{202e}", second)]
    );
    for event in &events {
        for (_, value) in &event.fields {
            assert_inert(value);
        }
    }
}

#[test]
fn a_nul_flood_on_traced_stdout_is_one_cut_event() {
    let probe = with_policy("wasi-probe", "[stdio]\nstdout = \"tracing\"\n");
    let mut command = b"print ".to_vec();
    command.resize(command.len() + (1 << 20) - 16, 0);
    let events = crate::traced::record(|| {
        let mut instance = probe.instantiate().unwrap();
        assert_eq!(instance.call(&command).unwrap().output, b"ok");
        drop(instance);
    });
    let logged = messages(&events, "plugbox::guest");
    // One line: its first capture_bytes (64 KiB) logged, the rest counted.
    let kept = 64 << 10;
    let left_out = (1 << 20) - 16 - kept;
    assert_eq!(logged.len(), 1, "one event, not one per 64 KiB");
    assert_eq!(
        logged[0].1,
        format!("{}… ({left_out} more bytes)", r"\0".repeat(kept))
    );
}

#[test]
fn traced_lines_spend_the_calls_log_budget() {
    let engine = engine();
    let policy = "[limits]\nmax_log_bytes = 4096\n[stdio]\nstdout = \"tracing\"\n";
    let policy = Policy::from_toml_str(policy, "test policy").unwrap();
    let probe = plugin(&engine, "wasi-probe").with_policy(&policy).unwrap();
    // 100,000 short lines in one call; then empty lines, which cost a byte
    // each.
    let short = format!("print {}", "ab\n".repeat(100_000));
    let empty = format!("print {}", "\n".repeat(100_000));
    let mut instance = probe.instantiate().unwrap();
    // The neighbour may run the attack more than once: count each run's
    // drops from where it started.
    let (first, second) = with_good_neighbour(&engine, || {
        let before = instance.logs_dropped();
        let first = crate::traced::record(|| {
            assert_eq!(instance.call(short.as_bytes()).unwrap().output, b"ok");
        });
        assert_eq!(instance.logs_dropped() - before, 100_000 - 4096 / 2);
        // The budget is per call.
        let second = crate::traced::record(|| {
            assert_eq!(instance.call(empty.as_bytes()).unwrap().output, b"ok");
        });
        assert_eq!(
            instance.logs_dropped() - before,
            (100_000 - 4096 / 2) + (100_000 - 4096)
        );
        (first, second)
    });
    let first = messages(&first, "plugbox::guest");
    assert_eq!(first.len(), 4096 / 2, "2-byte lines within 4096 bytes");
    assert!(first.iter().all(|&(_, message)| message == "ab"));
    let second = messages(&second, "plugbox::guest");
    assert_eq!(second.len(), 4096, "empty lines within 4096 bytes");
}

#[test]
fn zero_capture_bytes_traces_one_event_per_line_not_per_byte() {
    let probe = with_policy(
        "wasi-probe",
        "[stdio]\nstdout = \"tracing\"\ncapture_bytes = 0\n",
    );
    let events = crate::traced::record(|| {
        let mut instance = probe.instantiate().unwrap();
        let command = format!("print hello\nworld!\n{}\n", "x".repeat(10_000));
        assert_eq!(instance.call(command.as_bytes()).unwrap().output, b"ok");
    });
    let logged: Vec<&str> = messages(&events, "plugbox::guest")
        .into_iter()
        .map(|(_, message)| message)
        .collect();
    assert_eq!(
        logged,
        [
            "… (5 more bytes)",
            "… (6 more bytes)",
            "… (10000 more bytes)"
        ]
    );
}

/// `plugins/hostile-wat/escape-names.wat`: function names with escape
/// sequences, a forged line and a bidi override, in the trap's backtrace.
#[test]
pub fn function_names_with_escapes_stay_raw_only_in_the_backtrace() {
    let engine = engine();
    let error = with_good_neighbour(&engine, || {
        let plugin = Plugin::new(&engine, plugbox_artifacts::wat::ESCAPE_NAMES.bytes).unwrap();
        let mut instance = plugin.instantiate().unwrap();
        instance.call(b"").unwrap_err()
    });
    assert_eq!(error.kind(), ErrorKind::Trap, "{error:?}");
    // The raw backtrace is the embedder's, names and all...
    let backtrace = error.wasm_backtrace().unwrap();
    assert!(
        backtrace
            .contains("evil\x1b[2J\x1b]0;pwned\x07\nplugbox: INFO forged line \u{202e}gpj.exe"),
        "{backtrace}"
    );
    // ...while what the error shows is inert (Debug includes the backtrace).
    assert_inert(&error.to_string());
    let debug = format!("{error:?}");
    assert_inert(&debug);
    assert!(
        debug.contains(r"evil\x1b[2J\x1b]0;pwned\x07\nplugbox: INFO forged line \u{202e}gpj.exe"),
        "{debug}"
    );
}

/// Names inside a component are validated as kebab-case, so a component
/// whose export or import name holds an escape sequence is refused; the error
/// (which quotes the name) is inert.
#[test]
fn component_names_with_escapes_are_refused_with_an_inert_error() {
    let engine = engine();
    for wat in [
        r#"(component (core module $m (func (export "f"))) (core instance $i (instantiate $m))
           (func (export "run\1b[2J\0a\e2\80\ae") (canon lift (core func $i "f"))))"#,
        r#"(component (import "evil:host/escape\1b]0;pwned\07@0.1.0" (instance)))"#,
    ] {
        let bytes = wat::parse_str(wat).unwrap();
        let error = Plugin::new(&engine, &bytes).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidComponent, "{error:?}");
        assert_inert(&error.to_string());
        // Debug has the validator's reason, which quotes the name: escaped.
        let debug = format!("{error:?}");
        assert_inert(&debug);
        assert!(
            debug.contains(r"\x1b"),
            "the name is shown, escaped: {debug}"
        );
    }
}

/// An embedder's code around a custom-world call fails quoting what the
/// guest sent (a common shape: "bad category `...`"); the trap's message
/// then holds guest text, and shows it escaped.
#[test]
fn a_trap_message_quoting_guest_data_displays_escaped() {
    let engine = engine();
    let world = plugbox::CustomWorld::new(&engine, |_| Ok(())).unwrap();
    let hello =
        plugbox::CustomPlugin::new(&engine, &world, plugbox_artifacts::HELLO.bytes).unwrap();
    let mut instance = hello.instantiate().unwrap();
    let error = instance
        .call(|_, _| -> plugbox::wasmtime::Result<()> {
            Err(plugbox::wasmtime::format_err!("bad category `{HOSTILE}`"))
        })
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Trap, "{error:?}");
    let shown = error.to_string();
    assert_eq!(shown, format!("plugin trapped: bad category `{SHOWN}`"));
    assert_inert(&format!("{error:?}"));
}
