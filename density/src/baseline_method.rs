//! Baseline tenants: one long-lived worker process per tenant running the
//! plugin natively (its native twin, or an interpreter running its source),
//! at one isolation level of `plugbox-baseline`.

use std::time::Duration;

use plugbox_baseline::{BaselineError, Isolation, Program, Worker};

use crate::method::{Caller, Failure, Fleet, Limit, limit_of_errno, split_into};

/// Deadline of every baseline call (generous: the harness measures, it does
/// not enforce).
const DEADLINE: Duration = Duration::from_secs(10);

/// Threads stopping workers at the end of a run.
const STOP_THREADS: usize = 4;

/// Live workers of one isolation level.
#[derive(Debug)]
pub struct BaselineFleet {
    isolation: Isolation,
    program: Program,
    workers: Vec<Worker>,
}

impl BaselineFleet {
    /// A fleet of `isolation` workers each running `program`.
    pub fn new(isolation: Isolation, program: Program) -> Self {
        Self {
            isolation,
            program,
            workers: Vec::new(),
        }
    }
}

impl Fleet for BaselineFleet {
    fn start_tenant(&mut self, input: &[u8]) -> Result<Vec<u8>, Failure> {
        let mut worker =
            Worker::start_program(self.isolation, &self.program).map_err(|e| classify(&e))?;
        let output = worker.call(input, DEADLINE).map_err(|e| classify(&e))?;
        self.workers.push(worker);
        Ok(output)
    }

    fn call(&mut self, index: usize, input: &[u8]) -> Result<Vec<u8>, Failure> {
        let worker = self
            .workers
            .get_mut(index)
            .ok_or_else(|| Failure::other(format!("no tenant {index}")))?;
        call(worker, input)
    }

    fn split(&mut self, parts: usize) -> Vec<Box<dyn Caller + '_>> {
        split_into(&mut self.workers, parts, call)
    }

    fn len(&self) -> usize {
        self.workers.len()
    }

    fn worker_pids(&self) -> Vec<u32> {
        self.workers.iter().filter_map(Worker::pid).collect()
    }

    fn worker_cgroups(&self) -> Vec<String> {
        self.workers.iter().filter_map(Worker::cgroup).collect()
    }

    fn stop_all(&mut self) -> Result<(), String> {
        // Stopping an OCI tenant runs `<runtime> delete` (tens of ms, mostly
        // waiting): a few threads keep teardown from dominating the run.
        let mut workers: Vec<Worker> = self.workers.drain(..).collect();
        let chunk = workers.len().div_ceil(STOP_THREADS).max(1);
        let mut chunks = Vec::new();
        while !workers.is_empty() {
            let rest = workers.split_off(workers.len().min(chunk));
            chunks.push(std::mem::replace(&mut workers, rest));
        }
        let errors: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunks
                .into_iter()
                .map(|chunk| {
                    scope.spawn(move || {
                        chunk
                            .into_iter()
                            .filter_map(|worker| worker.stop().err())
                            .map(|error| error.to_string())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|handle| {
                    handle
                        .join()
                        .unwrap_or_else(|_| vec!["a stop thread panicked".into()])
                })
                .collect()
        });
        errors.into_iter().next().map_or(Ok(()), Err)
    }
}

fn call(worker: &mut Worker, input: &[u8]) -> Result<Vec<u8>, Failure> {
    worker.call(input, DEADLINE).map_err(|e| classify(&e))
}

/// The limit behind a baseline error: the OS error of a failed spawn.
fn classify(error: &BaselineError) -> Failure {
    let detail = error.to_string();
    let limit = match error {
        BaselineError::Spawn(io) | BaselineError::Io(io) => io
            .raw_os_error()
            .and_then(limit_of_errno)
            .unwrap_or_else(|| Limit::Other(detail.clone())),
        _ => Limit::Other(detail.clone()),
    };
    Failure { limit, detail }
}
