//! The host's limits (issue 10): an engine refuses the next tenant with
//! `HostResources` while the host still has room, and the host survives:
//! at the kernel's `vm.max_map_count` (both allocators, `RUST_BACKTRACE=1`)
//! and under a lowered `RLIMIT_AS`. Each runs in a child process (this test
//! binary, re-executed on [`child`]), so that the limits it reaches are its
//! own, not every other test's.

mod survival;

use plugbox::{Allocator, Engine, ErrorKind};

use crate::plugin;
use survival::{
    address_limit, address_used, fill, map_count, max_map_count, report, restore_address_limit,
    set_address_limit, survive,
};

/// The child's part, by name, in this variable.
const CHILD: &str = "PLUGBOX_TEST_HOST_RESOURCES_CHILD";
/// The kernel's default `vm.max_map_count`: on a machine where it was
/// raised, the children keep the difference in their reserve, so that they
/// stop where a default machine would (and in seconds).
const DEFAULT_MAX_MAP_COUNT: usize = 65_530;

/// A child that takes longer has hung (at the wall, a process without the
/// budget can deadlock in its own error path): it is killed and fails.
const CHILD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Runs [`child`] as `part` with `RUST_BACKTRACE=1`: its stdout, or a failure
/// with everything it printed.
fn run_child(part: &str) -> String {
    use std::io::Read as _;
    use std::process::Stdio;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "host_resources::child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, part)
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let read = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let began = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if began.elapsed() > CHILD_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert!(
        status.is_some_and(|status| status.success()),
        "the child ({part}) failed ({status:?}, killed after {CHILD_TIMEOUT:?} if None): \
         {stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("1 passed"),
        "the child did not run: {stdout}"
    );
    stdout
}

#[test]
fn pooled_tenants_stop_at_the_mapping_budget_and_the_host_survives() {
    let stdout = run_child("pooling");
    assert!(
        stdout.contains("refused: HostResources MemoryMappings"),
        "{stdout}"
    );
    assert!(stdout.contains("sysctl -w vm.max_map_count="), "{stdout}");
    assert!(stdout.contains("survived"), "{stdout}");
    assert!(stdout.contains("refilled"), "{stdout}");
}

#[test]
fn on_demand_tenants_stop_at_the_mapping_budget_and_the_host_survives() {
    let stdout = run_child("on-demand");
    assert!(
        stdout.contains("refused: HostResources MemoryMappings"),
        "{stdout}"
    );
    assert!(stdout.contains("survived"), "{stdout}");
}

#[test]
fn a_lowered_address_space_limit_stops_tenants_and_the_host_survives() {
    let stdout = run_child("rlimit");
    assert!(
        stdout.contains("pool refused: Config") && stdout.contains("RLIMIT_AS"),
        "{stdout}"
    );
    assert!(
        stdout.contains("refused: HostResources AddressSpace"),
        "{stdout}"
    );
    assert!(stdout.contains("survived"), "{stdout}");
    // The OS's own refusal (the limit lowered after the engine was built,
    // so the budget could not know) is still a typed error.
    assert!(
        stdout.contains("os refused: HostResources AddressSpace, os error Some(12)"),
        "{stdout}"
    );
    assert!(stdout.contains("then: HELLO"), "{stdout}");
}

#[test]
fn a_churning_pool_leaves_the_budget_to_everyone_else() {
    let stdout = run_child("churn");
    assert!(stdout.contains("after churning"), "{stdout}");
}

#[test]
fn the_mapping_reserve_is_the_embedders_to_set() {
    let stdout = run_child("reserve");
    assert!(stdout.contains("refused at 100 of 100"), "{stdout}");
    assert!(stdout.contains("async refused after"), "{stdout}");
}

#[test]
fn a_pool_larger_than_the_address_space_is_a_config_error() {
    // 100 million instances of two 16 MiB memory slots each (and 16 table
    // slots): 3.2 PiB, more than any process can reserve.
    let error = Engine::builder()
        .allocator(Allocator::Pooling {
            capacity: 100_000_000,
        })
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config, "{error}");
    let message = error.message();
    assert!(
        message.contains("needs 3617589301248000 bytes")
            && message.contains("200000000 memory slots of 16777216 bytes")
            && message.contains("the user address space"),
        "{message}"
    );
}

#[test]
#[ignore = "a child process of the tests above"]
fn child() {
    let Ok(part) = std::env::var(CHILD) else {
        return;
    };
    match part.as_str() {
        "pooling" => pooling(),
        "on-demand" => on_demand(),
        "rlimit" => lowered_rlimit(),
        "reserve" => reserve(),
        "churn" => churn(),
        other => panic!("no child part {other}"),
    }
}

fn pooling() {
    let max = max_map_count();
    let engine = Engine::builder()
        .allocator(Allocator::Pooling {
            capacity: u32::try_from(max / 4 + 1_000).unwrap(),
        })
        .host_reserve_mappings(default_reserve(max))
        .build()
        .unwrap();
    let hello = plugin(&engine, "hello");
    let (mut tenants, refusal) = fill(&hello, Vec::new());
    report(&refusal, &tenants);
    survive(&mut tenants);
    // Half of them go; their slots stay mapped for the next: as many new
    // tenants fit again (reusing them), and the host survives again.
    let before = tenants.len();
    tenants.truncate(before / 2);
    let (mut tenants, refusal) = fill(&hello, tenants);
    assert!(
        tenants.len() + 8 >= before,
        "{} tenants after refilling, {before} before",
        tenants.len()
    );
    println!("refilled {} of {before}", tenants.len());
    report(&refusal, &tenants);
    survive(&mut tenants);
}

fn on_demand() {
    let max = max_map_count();
    let engine = Engine::builder()
        .allocator(Allocator::OnDemand)
        .host_reserve_mappings(default_reserve(max))
        .build()
        .unwrap();
    let (mut tenants, refusal) = fill(&plugin(&engine, "hello"), Vec::new());
    report(&refusal, &tenants);
    survive(&mut tenants);
}

fn reserve() {
    // A reserve that leaves room for 100 lean tenants (4 mappings each),
    // give or take the few mappings the engine and the compiled plugin add.
    let (max, held) = (max_map_count(), map_count());
    let engine = Engine::builder()
        .allocator(Allocator::OnDemand)
        .host_reserve_mappings(max - held - 100 * 4)
        .build()
        .unwrap();
    let hello = plugin(&engine, "hello");
    // Past the budget's rate limit: the refusal reads the kernel again.
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    let (mut tenants, refusal) = fill(&hello, Vec::new());
    assert!(
        (95..=100).contains(&tenants.len()),
        "{}: {refusal}",
        tenants.len()
    );
    assert!(
        refusal.message().contains("host_reserve_mappings"),
        "{refusal}"
    );
    println!(
        "refused at 100 of 100, give or take 5 ({}): {refusal}",
        tenants.len()
    );

    // Tenants go until one more fits again: then there is room for one
    // lean tenant (4 mappings) but not two (8).
    let fits = loop {
        tenants.pop().unwrap();
        if let Ok(tenant) = hello.instantiate() {
            break tenant;
        }
    };
    drop(fits);
    // On demand, an instance's first async call maps a fiber stack (2
    // mappings, kept in its store): room for 2 or 3 of them.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut stacks = 0;
    let refused = loop {
        let tenant = &mut tenants[stacks];
        match runtime.block_on(tenant.call_async(b"async")) {
            Ok(response) => assert_eq!(response.output, b"ASYNC"),
            Err(error) => break error,
        }
        // A second async call reuses the stack: free.
        runtime.block_on(tenant.call_async(b"again")).unwrap();
        stacks += 1;
    };
    assert_eq!(refused.kind(), ErrorKind::HostResources, "{refused}");
    assert!(refused.message().contains("fiber stack"), "{refused}");
    assert!(
        (2..=3).contains(&stacks),
        "{stacks} fiber stacks: {refused}"
    );
    // The refused tenant never ran: it is not poisoned.
    let output = tenants[stacks].call(b"sync").unwrap().output;
    assert_eq!(output, b"SYNC");
    println!("async refused after {stacks} fiber stacks: {refused}");
}

fn churn() {
    let max = max_map_count();
    // Each new tenant of a pool reuses the slot (and mappings) of the one
    // dropped before it, and is charged as if it mapped its own.
    let pooled = Engine::builder()
        .allocator(Allocator::Pooling { capacity: 4 })
        .build()
        .unwrap();
    let hello = plugin(&pooled, "hello");
    for _ in 0..100_000 {
        drop(hello.instantiate().unwrap());
    }
    // Those charges came back: another engine gets the whole budget.
    let on_demand = Engine::builder()
        .allocator(Allocator::OnDemand)
        .host_reserve_mappings(default_reserve(max))
        .build()
        .unwrap();
    let (mut tenants, refusal) = fill(&plugin(&on_demand, "hello"), Vec::new());
    assert!(
        tenants.len() > 15_000,
        "{} tenants after churning: {refusal}",
        tenants.len()
    );
    report(&refusal, &tenants);
    survive(&mut tenants);
    println!("{} tenants after churning", tenants.len());
}

/// The reserve that makes the budget stop where it would at the default
/// sysctl: the default's, plus whatever the sysctl was raised by.
fn default_reserve(max: usize) -> usize {
    let default = 1_024usize.max(DEFAULT_MAX_MAP_COUNT / 20);
    default + max.saturating_sub(DEFAULT_MAX_MAP_COUNT)
}

fn lowered_rlimit() {
    let used = address_used();
    // 3 GiB above what the process uses: 1 GiB is the default reserve.
    set_address_limit(used + (3 << 30));
    // The default pool (1,000 × 16 MiB slots) cannot be reserved: refused
    // when the engine is built, not at the Nth instance.
    let error = Engine::builder().build().unwrap_err();
    println!("pool refused: {:?}: {error}", error.kind());
    assert_eq!(error.kind(), ErrorKind::Config);
    // On demand, every instance reserves a 16 MiB slot of address space.
    let engine = Engine::builder()
        .allocator(Allocator::OnDemand)
        .build()
        .unwrap();
    let hello = plugin(&engine, "hello");
    let (mut tenants, refusal) = fill(&hello, Vec::new());
    assert!(
        (64..=128).contains(&tenants.len()),
        "{} tenants in 2 GiB",
        tenants.len()
    );
    report(&refusal, &tenants);
    survive(&mut tenants);
    drop(tenants);

    // Lowered again after the engine was built, to 1 MiB above use: the
    // budget's reading predates it, the OS refuses the `mmap`.
    let previous = address_limit();
    set_address_limit(address_used() + (1 << 20));
    let refused = hello.instantiate().err();
    restore_address_limit(&previous);
    let refused = refused.expect("16 MiB more than the limit allows");
    println!(
        "os refused: {:?} {:?}, os error {:?}: {refused}",
        refused.kind(),
        refused.host_resource().unwrap(),
        refused.os_error()
    );
    let mut instance = hello.instantiate().unwrap();
    let output = instance.call(b"hello").unwrap().output;
    println!("then: {}", String::from_utf8_lossy(&output));
}
