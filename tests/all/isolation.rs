//! Tenants are isolated from each other: one tenant's state, traps and limits
//! never show in another's results.

use std::time::Duration;

use plugbox::{ErrorKind, Limits};

use crate::{engine, plugin};

#[test]
fn hostile_tenants_do_not_disturb_good_ones_on_other_threads() {
    let engine = engine();
    let hello = plugin(&engine, "hello");
    let spin = plugin(&engine, "spin").with_limits(
        Limits::default()
            .fuel(u64::MAX)
            .deadline(Duration::from_millis(200)),
    );
    let grow = plugin(&engine, "grow").with_limits(Limits::default().max_memory_bytes(8 << 20));
    std::thread::scope(|scope| {
        let spinner = scope.spawn(|| spin.instantiate().unwrap().call(b"").unwrap_err().kind());
        let grower = scope.spawn(|| grow.instantiate().unwrap().call(b"").unwrap_err().kind());
        let workers: Vec<_> = (0..4)
            .map(|worker| {
                let hello = hello.clone();
                scope.spawn(move || {
                    let mut tenant = hello.instantiate().unwrap();
                    for call in 0..200 {
                        let input = format!("worker {worker} call {call}");
                        let output = tenant.call(input.as_bytes()).unwrap().output;
                        assert_eq!(output, input.to_uppercase().as_bytes());
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        assert_eq!(spinner.join().unwrap(), ErrorKind::DeadlineExceeded);
        assert_eq!(grower.join().unwrap(), ErrorKind::MemoryLimit);
    });
}

#[test]
fn each_tenant_has_its_own_memory() {
    let engine = engine();
    let hello = plugin(&engine, "hello");
    let mut a = hello.instantiate().unwrap();
    let mut b = hello.instantiate().unwrap();
    let big = vec![b'x'; 200_000];
    assert_eq!(a.call(&big).unwrap().output.len(), big.len());
    // b's memory never saw a's request.
    assert_eq!(b.call(b"b").unwrap().output, b"B");
    assert_eq!(a.call(b"a").unwrap().output, b"A");
}
