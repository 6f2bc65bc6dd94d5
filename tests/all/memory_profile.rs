//! Memory profiles (`EngineBuilder::memory_profile`): a `Guarded` engine
//! (4 GiB and guard regions per memory, no bounds checks) enforces every
//! limit a `Dense` one does — memory growth, out-of-bounds accesses (now
//! caught by the guard region), fuel and the deadline — on a lean and a
//! WASI plugin, and a pool too large for the address space is refused when
//! the engine is built, naming its capacity and profile.

use std::time::Duration;

use plugbox::wasmtime::Trap;
use plugbox::{Allocator, Engine, ErrorKind, Limits, MemoryProfile};

fn guarded(allocator: Allocator) -> Engine {
    Engine::builder()
        .allocator(allocator)
        .memory_profile(MemoryProfile::Guarded)
        .build()
        .unwrap()
}

/// The first call of a fresh instance of `name` with `limits` and `input`.
fn first_call(engine: &Engine, name: &str, limits: Limits, input: &[u8]) -> plugbox::Error {
    let mut instance = crate::plugin(engine, name)
        .with_limits(limits)
        .instantiate()
        .unwrap();
    let error = instance.call(input).unwrap_err();
    assert!(instance.is_poisoned(), "{error:?}");
    error
}

#[test]
fn a_guarded_engine_enforces_every_limit() {
    for allocator in [Allocator::Pooling { capacity: 8 }, Allocator::OnDemand] {
        let engine = guarded(allocator);
        assert_eq!(engine.memory_profile(), MemoryProfile::Guarded);
        let error = first_call(
            &engine,
            "grow",
            Limits::default().max_memory_bytes(4 << 20),
            b"",
        );
        assert_eq!(
            error.kind(),
            ErrorKind::MemoryLimit,
            "{allocator:?}: {error:?}"
        );
        assert!(
            error.to_string().contains(&format!("limit {}", 4 << 20)),
            "{error}"
        );
        // Past the memory, inside the reservation: the guard catches it.
        let error = first_call(&engine, "hostile", Limits::default(), b"out-of-bounds");
        assert_eq!(
            crate::hostile::trap_code(&error),
            Some(Trap::MemoryOutOfBounds),
            "{allocator:?}: {error:?}"
        );
        let error = first_call(&engine, "spin", Limits::default().fuel(5_000_000), b"");
        assert_eq!(error.kind(), ErrorKind::FuelExhausted, "{error:?}");
        let deadline = Limits::default()
            .fuel(u64::MAX)
            .deadline(Duration::from_millis(50));
        let error = first_call(&engine, "spin", deadline, b"");
        assert_eq!(error.kind(), ErrorKind::DeadlineExceeded, "{error:?}");
        crate::assert_engine_still_serves(&engine);
    }
}

#[test]
fn a_guarded_engine_runs_and_bounds_a_python_plugin() {
    let engine = crate::polyglot::builder()
        .memory_profile(MemoryProfile::Guarded)
        .build()
        .unwrap();
    let Some(hostile) = crate::polyglot::plugin(&engine, "py-hostile") else {
        return;
    };
    let mut instance = hostile.instantiate().unwrap();
    assert_eq!(instance.call(b"noop").unwrap().output, b"ok");
    let bomb = hostile.with_limits(
        Limits::default()
            .fuel(u64::MAX)
            .deadline(Duration::from_secs(5))
            .max_memory_bytes(32 << 20),
    );
    let error = bomb.instantiate().unwrap().call(b"bomb").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::MemoryLimit, "{error:?}");
    assert!(
        error.to_string().contains(&format!("limit {}", 32 << 20)),
        "{error}"
    );
}

/// 20,000 instances of two memories at 4 GiB and a guard each need 161 TiB:
/// more than x86-64's 128 TiB of user address space (and any `RLIMIT_AS`);
/// 12,000 need 97 TiB, more than its largest free range. The 20,000 fit in
/// the dense profile (640 GiB).
#[test]
fn a_guarded_pool_too_large_for_the_address_space_is_refused_at_build() {
    let pool = Allocator::Pooling { capacity: 20_000 };
    let error = Engine::builder()
        .allocator(pool)
        .memory_profile(MemoryProfile::Guarded)
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config, "{error:?}");
    let message = error.to_string();
    for named in [
        "capacity 20000",
        "40000 memory slots",
        "MemoryProfile::Guarded",
        "MemoryProfile::Dense (EngineBuilder::memory_profile)",
    ] {
        assert!(message.contains(named), "{named}: {message}");
    }
    // 12,000 fit in 128 TiB (97 TiB) but not in one free range of it: the
    // pool's memory slots are one reservation, and the program, libraries,
    // heap and stacks split the address space (its largest free range is
    // some 85 TiB on x86-64).
    let error = Engine::builder()
        .allocator(Allocator::Pooling { capacity: 12_000 })
        .memory_profile(MemoryProfile::Guarded)
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config, "{error:?}");
    let message = error.to_string();
    for named in [
        "capacity 12000",
        "24000 memory slots",
        "largest range this process has free",
        "MemoryProfile::Guarded",
    ] {
        assert!(message.contains(named), "{named}: {message}");
    }
    let dense = Engine::builder().allocator(pool).build().unwrap();
    assert_eq!(dense.memory_profile(), MemoryProfile::Dense);
    crate::assert_engine_still_serves(&dense);
}

/// The point of the guarded profile: no bounds-check code. The same
/// component compiles to less code on it (the checks' compares and branches
/// are gone; everything else is the same).
#[test]
fn a_guarded_engine_compiles_no_bounds_checks() {
    let size = |profile: MemoryProfile| {
        let engine = Engine::builder()
            .allocator(Allocator::Pooling { capacity: 1 })
            .memory_profile(profile)
            .build()
            .unwrap();
        let artifact = plugbox_artifacts::by_name("hostile").unwrap();
        engine
            .wasmtime()
            .precompile_component(artifact.bytes)
            .unwrap()
            .len()
    };
    let (dense, guarded) = (size(MemoryProfile::Dense), size(MemoryProfile::Guarded));
    // Past the test harness's capture: the sizes on this build.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("hostile compiled: dense {dense} bytes, guarded {guarded} bytes\n").as_bytes(),
    );
    assert!(
        guarded * 100 < dense * 95,
        "dense {dense}, guarded {guarded}"
    );
}
