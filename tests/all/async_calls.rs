//! Async calls on tokio: long-running guests yield at every epoch tick, so a
//! few threads serve many tenants, and a spinning tenant only hurts itself.

use std::sync::Arc;
use std::time::Duration;

use plugbox::{Allocator, Engine, ErrorKind, Limits};
use tokio::sync::Mutex;

#[test]
fn a_thousand_calls_over_a_hundred_tenants_on_two_threads() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let engine = Engine::builder()
        .allocator(Allocator::Pooling { capacity: 128 })
        .max_async_calls(128)
        .build()
        .unwrap();
    let hello = crate::plugin(&engine, "hello");
    let spin = crate::plugin(&engine, "spin").with_limits(
        Limits::default()
            .fuel(u64::MAX)
            .deadline(Duration::from_millis(300)),
    );
    // Tenant 0 spins; tenants 1..100 say hello. Each tenant serves its calls
    // one at a time (an instance is used by one call at a time).
    let tenants: Vec<Arc<Mutex<plugbox::Instance>>> = (0..100)
        .map(|tenant| {
            let plugin = if tenant == 0 { &spin } else { &hello };
            Arc::new(Mutex::new(plugin.instantiate().unwrap()))
        })
        .collect();
    let outcomes = runtime.block_on(async {
        let calls: Vec<_> = (0..1000)
            .map(|call| {
                let tenant = Arc::clone(&tenants[call % 100]);
                tokio::spawn(async move {
                    let input = format!("call {call}");
                    let mut instance = tenant.lock().await;
                    let outcome = instance.call_async(input.as_bytes()).await;
                    (call, input, outcome)
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for call in calls {
            outcomes.push(call.await.unwrap());
        }
        outcomes
    });
    let mut deadline_errors = 0;
    for (call, input, outcome) in outcomes {
        if call % 100 == 0 {
            // The spinner: its first call hits the deadline, the rest find
            // it poisoned.
            let kind = outcome.unwrap_err().kind();
            assert!(
                matches!(kind, ErrorKind::DeadlineExceeded | ErrorKind::Poisoned),
                "{kind:?}"
            );
            deadline_errors += usize::from(kind == ErrorKind::DeadlineExceeded);
        } else {
            let response = outcome.unwrap();
            assert_eq!(
                response.output,
                input.to_uppercase().as_bytes(),
                "call {call}"
            );
        }
    }
    assert_eq!(deadline_errors, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_spinning_plugin_yields_to_other_tasks_on_one_thread() {
    let engine = crate::engine();
    let spin = crate::plugin(&engine, "spin").with_limits(
        Limits::default()
            .fuel(u64::MAX)
            .deadline(Duration::from_millis(200)),
    );
    let hello = crate::plugin(&engine, "hello");
    let mut spinner = spin.instantiate().unwrap();
    let mut greeter = hello.instantiate().unwrap();
    // On a single thread, the greeter only gets to run while the spinner
    // yields.
    let (spun, greeted) = tokio::join!(spinner.call_async(b""), async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        greeter.call_async(b"meanwhile").await
    });
    assert_eq!(spun.unwrap_err().kind(), ErrorKind::DeadlineExceeded);
    assert_eq!(greeted.unwrap().output, b"MEANWHILE");
}

#[tokio::test(flavor = "current_thread")]
async fn async_calls_keep_every_limit() {
    let engine = crate::engine();
    let fuel = crate::plugin(&engine, "spin").with_limits(Limits::default().fuel(1_000_000));
    let error = fuel
        .instantiate()
        .unwrap()
        .call_async(b"")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::FuelExhausted);
    let grow =
        crate::plugin(&engine, "grow").with_limits(Limits::default().max_memory_bytes(4 << 20));
    let error = grow
        .instantiate()
        .unwrap()
        .call_async(b"")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::MemoryLimit);
    let recurse = crate::plugin(&engine, "recurse");
    let error = recurse
        .instantiate()
        .unwrap()
        .call_async(b"")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::StackOverflow);
    let mut hello = crate::plugin(&engine, "hello").instantiate().unwrap();
    assert_eq!(hello.call_async(b"ok").await.unwrap().output, b"OK");
    // Sync and async calls mix on one instance.
    assert_eq!(hello.call(b"sync").unwrap().output, b"SYNC");
    assert_eq!(hello.call_async(b"async").await.unwrap().output, b"ASYNC");
}
