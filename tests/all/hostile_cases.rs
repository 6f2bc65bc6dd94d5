//! The rest of the hostile suite, one test per case, each run while a good
//! tenant on the same engine answers correctly throughout (see
//! `neighbour::with_good_neighbour`): the hostile plugins of their own, guests
//! that attack at instantiation, and bad bytes at load time. Attacks Rust
//! cannot write are the hand-written fixtures of `plugins/hostile-wat`.

use std::time::Duration;

use plugbox::wasmtime::Trap;
use plugbox::{Engine, Error, ErrorKind, Limits, Plugin};
use plugbox_artifacts::wat;

use crate::hostile::trap_code;
use crate::neighbour::with_good_neighbour;
use crate::{engine, plugin};

/// The error of the first call of a fresh instance of `name`.
fn first_call_error(engine: &Engine, name: &str, limits: Limits) -> Error {
    let mut instance = plugin(engine, name)
        .with_limits(limits)
        .instantiate()
        .unwrap();
    let error = instance.call(b"abc").unwrap_err();
    assert_eq!(
        instance.call(b"abc").unwrap_err().kind(),
        ErrorKind::Poisoned,
        "a trapped instance is poisoned"
    );
    error
}

/// The error kind of the first call of a fresh instance of `name`.
fn first_call(engine: &Engine, name: &str, limits: Limits) -> ErrorKind {
    first_call_error(engine, name, limits).kind()
}

/// The error kind of instantiating `component`.
fn instantiation(engine: &Engine, component: &[u8], limits: Limits) -> ErrorKind {
    Plugin::new(engine, component)
        .unwrap()
        .with_limits(limits)
        .instantiate()
        .unwrap_err()
        .kind()
}

/// The error kind of loading `bytes`.
fn loading(engine: &Engine, bytes: &[u8]) -> ErrorKind {
    Plugin::new(engine, bytes).unwrap_err().kind()
}

/// The error kind and message of loading `bytes`.
fn loading_error(engine: &Engine, bytes: &[u8]) -> (ErrorKind, String) {
    let error = Plugin::new(engine, bytes).unwrap_err();
    (error.kind(), error.message().to_string())
}

fn endless_fuel(deadline_ms: u64) -> Limits {
    Limits::default()
        .fuel(u64::MAX)
        .deadline(Duration::from_millis(deadline_ms))
}

macro_rules! cases {
    ($($name:ident: |$engine:ident| $attack:expr => $expected:expr;)*) => {$(
        #[test]
        pub(crate) fn $name() {
            let $engine = engine();
            let outcome = with_good_neighbour(&$engine, || $attack);
            assert_eq!(outcome, $expected);
        }
    )*};
}

cases! {
    infinite_loop_meets_its_deadline:
        |engine| first_call(&engine, "spin", endless_fuel(50)) => ErrorKind::DeadlineExceeded;
    infinite_loop_runs_out_of_fuel:
        |engine| first_call(&engine, "spin", Limits::default().fuel(10_000_000))
            => ErrorKind::FuelExhausted;
    memory_grow_bomb_hits_the_memory_limit:
        |engine| first_call(&engine, "grow", Limits::default().max_memory_bytes(4 << 20))
            => ErrorKind::MemoryLimit;
    unbounded_recursion_overflows_the_stack:
        |engine| first_call(&engine, "recurse", endless_fuel(10_000)) => ErrorKind::StackOverflow;
    infinite_loop_in_the_start_function_meets_its_deadline:
        |engine| instantiation(&engine, wat::START_LOOP.bytes, endless_fuel(20))
            => ErrorKind::DeadlineExceeded;
    infinite_loop_in_the_start_function_runs_out_of_fuel:
        |engine| instantiation(&engine, wat::START_LOOP.bytes, Limits::default().fuel(1_000_000))
            => ErrorKind::FuelExhausted;
    table_grow_bomb_hits_the_table_limit:
        |engine| {
            let plugin = Plugin::new(&engine, wat::TABLE_GROW.bytes)
                .unwrap()
                .with_limits(Limits::default().max_table_elements(5_000));
            let error = plugin.instantiate().unwrap().call(b"").unwrap_err();
            (error.kind(), error.message().to_string())
        } => (
            ErrorKind::TableLimit,
            "table of 5001 elements requested, limit 5000 (then the plugin trapped: \
             wasm trap: wasm `unreachable` instruction executed)".to_string(),
        );
    too_many_core_instances_fail_instantiation:
        |engine| {
            let error = Plugin::new(&engine, plugbox_artifacts::HELLO.bytes)
                .unwrap()
                .with_limits(Limits::default().max_instances(0))
                .instantiate()
                .unwrap_err();
            // The kind, and a message naming the instance limit only.
            crate::engine::assert_count_limit(&error, "instance");
            error.kind()
        } => ErrorKind::InstanceLimit;
    initial_memory_above_the_limit_fails_instantiation:
        |engine| {
            let hello = plugbox_artifacts::HELLO.bytes;
            instantiation(&engine, hello, Limits::default().max_memory_bytes(64 << 10))
        } => ErrorKind::MemoryLimit;
    empty_bytes_are_refused:
        |engine| loading(&engine, b"") => ErrorKind::InvalidComponent;
    random_bytes_are_refused:
        |engine| loading(&engine, &[0x5a; 4096]) => ErrorKind::InvalidComponent;
    truncated_component_is_refused:
        |engine| {
            let hello = plugbox_artifacts::HELLO.bytes;
            loading(&engine, &hello[..hello.len() / 2])
        } => ErrorKind::InvalidComponent;
    core_module_is_refused:
        |engine| loading_error(&engine, wat::CORE_MODULE.bytes) => (
            ErrorKind::InvalidComponent,
            "this is a core WebAssembly module, not a component; build plugins for \
             `wasm32-wasip2` (or wrap the module with `wasm-tools component new`)".to_string(),
        );
    unknown_host_import_is_refused:
        |engine| loading_error(&engine, wat::UNKNOWN_IMPORT.bytes) => (
            ErrorKind::InterfaceMismatch,
            "import `evil:host/escape` is not provided by the host (plugbox provides its \
             log, config and kv interfaces and WASI preview 2)".to_string(),
        );
}

/// The test of each hand-written fixture of `plugins/hostile-wat`: a
/// fixture without one fails to compile (`foreach_wat_fixture!` in
/// `main.rs`).
pub(crate) mod wat_fixtures {
    pub(crate) use super::core_module_is_refused as core_module;
    pub(crate) use super::infinite_loop_in_the_start_function_meets_its_deadline as start_loop;
    pub(crate) use super::table_grow_bomb_hits_the_table_limit as table_grow;
    pub(crate) use super::unknown_host_import_is_refused as unknown_import;
    pub(crate) use crate::untrusted_text::function_names_with_escapes_stay_raw_only_in_the_backtrace as escape_names;
}

#[test]
fn guest_panic_traps_with_a_backtrace() {
    let engine = engine();
    let error = with_good_neighbour(&engine, || {
        first_call_error(&engine, "panic", Limits::default())
    });
    assert_eq!(error.kind(), ErrorKind::Trap, "{error:?}");
    // The guest SDK's panic handler ends in `unreachable`.
    assert_eq!(trap_code(&error), Some(Trap::UnreachableCodeReached));
    assert_eq!(error.message(), Trap::UnreachableCodeReached.to_string());
    let backtrace = error.wasm_backtrace().expect("a wasm backtrace");
    // Innermost first: the panic handler, core's panic machinery for the
    // bounds check, then the guest function that indexed out of bounds.
    let frames: Vec<&str> = backtrace.lines().skip(1).take(4).collect();
    let expected = [
        "::rust_begin_unwind",
        "::panicking::panic_fmt",
        "::panicking::panic_bounds_check",
        "!plugbox_plugin_panic::nth_byte::h",
    ];
    assert_eq!(frames.len(), expected.len(), "{backtrace}");
    for (frame, function) in frames.iter().zip(expected) {
        assert!(frame.contains(function), "{function}: {backtrace}");
    }
}

/// Authority attacks through the `wasi-probe` plugin: the answer it gets for
/// `command` under `policy` (the denial is an answer, not a trap).
fn authority(engine: &Engine, policy: &str, command: &str) -> String {
    let mut instance = crate::capabilities::probe(engine, policy);
    crate::capabilities::ask(&mut instance, command)
}

/// A mount of a directory holding `inside.txt`, beside `secret/outside.txt`
/// and a symlink `data/escape -> ../secret`.
fn mounted(mode: &str) -> (tempfile::TempDir, String) {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("data")).unwrap();
    std::fs::create_dir_all(root.path().join("secret")).unwrap();
    std::fs::write(root.path().join("data/inside.txt"), "inside").unwrap();
    std::fs::write(root.path().join("secret/outside.txt"), "outside").unwrap();
    std::os::unix::fs::symlink("../secret", root.path().join("data/escape")).unwrap();
    let policy = format!(
        "[[mounts]]\nhost = {:?}\nguest = \"/data\"\nmode = \"{mode}\"\n",
        root.path().join("data")
    );
    (root, policy)
}

macro_rules! authority_cases {
    ($($name:ident: $mode:literal, $command:literal => $expected:literal;)*) => {$(
        #[test]
        fn $name() {
            let engine = engine();
            let (root, policy) = mounted($mode);
            let answer = with_good_neighbour(&engine, || authority(&engine, &policy, $command));
            assert_eq!(answer, $expected, "{:?}", $command);
            assert_eq!(
                std::fs::read_to_string(root.path().join("data/inside.txt")).unwrap(),
                "inside",
                "nothing on the host changed"
            );
        }
    )*};
}

authority_cases! {
    dot_dot_out_of_a_mount_is_denied:
        "read-write", "read /data/../secret/outside.txt" => "error: PermissionDenied";
    absolute_path_outside_every_mount_is_denied:
        "read-write", "read /etc/hostname" => "error: NotFound";
    symlink_out_of_a_mount_is_denied:
        "read-write", "read /data/escape/outside.txt" => "error: PermissionDenied";
    write_to_a_read_only_mount_is_denied:
        "read-only", "write /data/inside.txt overwritten" => "error: PermissionDenied";
    ungranted_environment_is_empty:
        "read-only", "env" => "";
}

#[test]
fn opening_a_socket_is_denied() {
    let engine = engine();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let command = format!("connect {}", listener.local_addr().unwrap());
    let answer = with_good_neighbour(&engine, || authority(&engine, "", &command));
    assert_eq!(answer, "error: PermissionDenied");
    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(error) if error.kind() == std::io::ErrorKind::WouldBlock),
        "the listener saw a connection: {accepted:?}"
    );
}

/// A `host-probe` instance under `policy`.
fn host_probe(engine: &Engine, policy: &str) -> plugbox::Instance {
    let policy = plugbox::Policy::from_toml_str(policy, "test policy").unwrap();
    plugin(engine, "host-probe")
        .with_policy(&policy)
        .unwrap()
        .instantiate()
        .unwrap()
}

#[test]
fn reading_another_plugins_keys_finds_nothing() {
    let engine = engine();
    let mut a = host_probe(&engine, "name = \"tenant-a\"\n[kv]\n");
    let mut b = host_probe(&engine, "name = \"tenant-b\"\n[kv]\n");
    let answers = with_good_neighbour(&engine, || {
        assert_eq!(crate::capabilities::ask(&mut a, "set secret a-only"), "ok");
        [
            crate::capabilities::ask(&mut b, "get secret"),
            crate::capabilities::ask(&mut b, "get ../tenant-a/secret"),
        ]
    });
    assert_eq!(answers, ["(absent)", "(absent)"]);
}

#[test]
fn exceeding_a_kv_quota_is_refused() {
    let engine = engine();
    let mut instance = host_probe(&engine, "[kv]\nmax_keys = 1\nmax_bytes = 64\n");
    let answer = with_good_neighbour(&engine, || {
        assert_eq!(crate::capabilities::ask(&mut instance, "set a 1"), "ok");
        crate::capabilities::ask(&mut instance, "set b 2")
    });
    assert_eq!(answer, "error: Error::QuotaExceeded");
    assert!(!instance.is_poisoned());
}
