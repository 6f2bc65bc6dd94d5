//! Async calls on tokio: long-running guests yield at every epoch tick, so a
//! few threads serve many tenants, and a spinning tenant only hurts itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

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
    // yields: it must answer before the spinner's deadline ends the spin.
    let (spun, greeted) = tokio::join!(
        async {
            let spun = spinner.call_async(b"").await;
            (spun, Instant::now())
        },
        async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let greeted = greeter.call_async(b"meanwhile").await;
            (greeted, Instant::now())
        }
    );
    assert_eq!(spun.0.unwrap_err().kind(), ErrorKind::DeadlineExceeded);
    assert_eq!(greeted.0.unwrap().output, b"MEANWHILE");
    assert!(greeted.1 < spun.1, "the greeter waited for the spinner");
}

#[tokio::test(flavor = "current_thread")]
async fn a_spinning_plugin_holds_the_thread_for_about_a_tick() {
    let engine = crate::engine();
    let spin = crate::plugin(&engine, "spin").with_limits(
        Limits::default()
            .fuel(u64::MAX)
            .deadline(Duration::from_millis(300)),
    );
    let mut spinner = spin.instantiate().unwrap();
    // A task that wakes every millisecond records the longest it waited
    // for the thread while the spinner ran.
    // It is polled first, so it is waiting before the spinner starts.
    let spinning = std::sync::atomic::AtomicBool::new(true);
    let (longest, spun) = tokio::join!(
        async {
            let mut longest = Duration::ZERO;
            let mut last = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
                longest = longest.max(last.elapsed());
                last = Instant::now();
                if !spinning.load(std::sync::atomic::Ordering::Acquire) {
                    break longest;
                }
            }
        },
        async {
            let spun = spinner.call_async(b"").await;
            spinning.store(false, std::sync::atomic::Ordering::Release);
            spun
        }
    );
    assert_eq!(spun.unwrap_err().kind(), ErrorKind::DeadlineExceeded);
    // One tick is 1 ms and the timer's own granularity another; 50 ms
    // leaves room for a busy machine and is still far below the 300 ms the
    // spinner would hold the thread without yielding.
    assert!(longest < Duration::from_millis(50), "held for {longest:?}");
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

#[test]
fn no_fiber_stack_left_is_a_typed_error_that_does_not_poison() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // One fiber stack: one instance using call_async at a time.
    let engine = Engine::builder()
        .allocator(Allocator::Pooling { capacity: 4 })
        .max_async_calls(1)
        .build()
        .unwrap();
    let spin = crate::plugin(&engine, "spin").with_limits(
        Limits::default()
            .fuel(u64::MAX)
            .deadline(Duration::from_millis(100)),
    );
    let hello = crate::plugin(&engine, "hello");
    let mut spinning = spin.instantiate().unwrap();
    let mut waiting = hello.instantiate().unwrap();
    let (spun, refused) = runtime.block_on(async {
        let spun = spinning.call_async(b"");
        tokio::pin!(spun);
        // Let the spinner take the only stack (it yields at every tick)...
        tokio::select! {
            biased;
            _ = &mut spun => panic!("the spinner finished"),
            () = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
        // ...then ask for another.
        let refused = waiting.call_async(b"late").await;
        (spun.await, refused)
    });
    assert_eq!(spun.unwrap_err().kind(), ErrorKind::DeadlineExceeded);
    let refused = refused.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::PoolExhausted, "{refused}");
    // The refused tenant never ran: it is not poisoned.
    assert!(!waiting.is_poisoned());
    // The spinner's instance keeps its stack until it is dropped (wasmtime
    // caches it per store), then the other tenant gets it and answers.
    assert_eq!(
        runtime
            .block_on(waiting.call_async(b"late"))
            .unwrap_err()
            .kind(),
        ErrorKind::PoolExhausted
    );
    drop(spinning);
    let answer = runtime.block_on(waiting.call_async(b"late")).unwrap();
    assert_eq!(answer.output, b"LATE");
    // Sync calls need no fiber stack.
    assert_eq!(waiting.call(b"sync").unwrap().output, b"SYNC");
}
