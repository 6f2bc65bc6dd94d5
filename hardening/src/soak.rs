//! The soak run: many calls over many live tenants with hostile calls mixed
//! in, on a few threads, bounded in time. Every good call must answer
//! correctly, every hostile call must get its own error kind, and resident
//! memory at the end must be within a margin of its level after warm-up (no
//! leak from traps, poisoned instances or pool-slot reuse).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use plugbox::{Allocator, Engine, ErrorKind, Instance, Limits, Plugin};

/// The plugins a soak runs, as component bytes.
#[derive(Debug, Clone, Copy)]
pub struct Plugins<'a> {
    /// `hello`: the good tenants.
    pub hello: &'a [u8],
    /// `hostile`: most attacks.
    pub hostile: &'a [u8],
    /// `spin`: an infinite loop.
    pub spin: &'a [u8],
    /// `grow`: a `memory.grow` bomb.
    pub grow: &'a [u8],
    /// `recurse`: unbounded recursion.
    pub recurse: &'a [u8],
}

/// How long and how wide a soak runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Calls in total, good and hostile.
    pub calls: u64,
    /// Live good tenants (one `hello` instance each, all alive throughout).
    pub tenants: usize,
    /// One call in this many is hostile (10: 10 %).
    pub hostile_every: u64,
    /// Threads sharing the tenants.
    pub threads: usize,
    /// Stop early (and say so) past this.
    pub max_duration: Duration,
    /// Where resident memory is read (`/proc/self/statm`).
    pub statm: PathBuf,
}

impl Default for Config {
    /// The bar: 1,000,000 calls over 1,000 tenants, 10 % hostile,
    /// two threads, at most ten minutes.
    fn default() -> Self {
        Self {
            calls: 1_000_000,
            tenants: 1_000,
            hostile_every: 10,
            threads: 2,
            max_duration: Duration::from_secs(600),
            statm: PathBuf::from("/proc/self/statm"),
        }
    }
}

/// What a soak saw.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Calls made.
    pub calls: u64,
    /// Good calls made (each checked).
    pub good_calls: u64,
    /// Hostile calls made, by the error kind they got.
    pub hostile_by_kind: BTreeMap<String, u64>,
    /// The first few calls that went wrong (empty when all went right).
    pub failures: Vec<String>,
    /// Wall time.
    pub elapsed: Duration,
    /// Resident memory once a tenth of the calls were made, KiB (`None`:
    /// not sampled, see `memory_error`).
    pub rss_after_warm_up_kib: Option<u64>,
    /// Resident memory after the last call, tenants still live, KiB.
    pub rss_end_kib: Option<u64>,
    /// Highest resident memory sampled, KiB.
    pub rss_peak_kib: u64,
    /// Why resident memory could not be read, if it could not.
    pub memory_error: Option<String>,
    /// Whether the run stopped at `max_duration` before making every call.
    pub timed_out: bool,
}

impl Report {
    /// End resident memory over its level after warm-up (1.0: no growth),
    /// if both were read.
    pub fn rss_growth(&self) -> Option<f64> {
        let warm = self.rss_after_warm_up_kib?;
        let end = self.rss_end_kib?;
        Some(end as f64 / warm.max(1) as f64)
    }

    /// The leak check: resident memory at the end at most `max_growth`
    /// times its level after warm-up. Fails when memory could not be read
    /// or was not sampled after warm-up: a check that cannot measure does
    /// not pass.
    ///
    /// # Errors
    ///
    /// What grew, or why nothing could be measured.
    pub fn check_memory(&self, max_growth: f64) -> Result<f64, String> {
        if let Some(error) = &self.memory_error {
            return Err(format!("resident memory could not be read: {error}"));
        }
        let growth = self.rss_growth().ok_or_else(|| {
            format!(
                "resident memory was not sampled after warm-up (after warm-up: {:?} KiB, \
                 end: {:?} KiB): the run was too short to check",
                self.rss_after_warm_up_kib, self.rss_end_kib
            )
        })?;
        if growth > max_growth {
            return Err(format!(
                "resident memory grew {:+.1} % after warm-up ({:?} → {:?} KiB), more than \
                 the {:.1} % allowed",
                (growth - 1.0) * 100.0,
                self.rss_after_warm_up_kib,
                self.rss_end_kib,
                (max_growth - 1.0) * 100.0
            ));
        }
        Ok(growth)
    }

    /// Hostile calls made.
    pub fn hostile_calls(&self) -> u64 {
        self.hostile_by_kind.values().sum()
    }
}

/// One attack: which plugin, its limits, its request, the kind it must get.
struct Attack {
    plugin: Plugin,
    request: &'static [u8],
    expected: ErrorKind,
}

fn attacks(engine: &Engine, plugins: &Plugins<'_>) -> plugbox::Result<Vec<Attack>> {
    let tight = Limits::default()
        .fuel(200_000)
        .max_memory_bytes(2 << 20)
        .max_output_bytes(64 << 10);
    let endless_fuel = tight.fuel(u64::MAX).deadline(Duration::from_millis(2));
    let attack = |bytes: &[u8], limits: Limits, request, expected| {
        Ok::<_, plugbox::Error>(Attack {
            plugin: Plugin::new(engine, bytes)?.with_limits(limits),
            request,
            expected,
        })
    };
    Ok(vec![
        attack(plugins.spin, tight, b"", ErrorKind::FuelExhausted)?,
        attack(plugins.spin, endless_fuel, b"", ErrorKind::DeadlineExceeded)?,
        attack(
            plugins.grow,
            tight.fuel(u64::MAX),
            b"",
            ErrorKind::MemoryLimit,
        )?,
        attack(
            plugins.recurse,
            tight.fuel(u64::MAX),
            b"",
            ErrorKind::StackOverflow,
        )?,
        attack(plugins.hostile, tight, b"unreachable", ErrorKind::Trap)?,
        attack(plugins.hostile, tight, b"out-of-bounds", ErrorKind::Trap)?,
        attack(plugins.hostile, tight, b"divide-by-zero", ErrorKind::Trap)?,
        attack(
            plugins.hostile,
            tight.fuel(u64::MAX),
            b"allocation-storm",
            ErrorKind::MemoryLimit,
        )?,
        attack(
            plugins.hostile,
            tight,
            b"log-loop",
            ErrorKind::FuelExhausted,
        )?,
        attack(
            plugins.hostile,
            tight.fuel(u64::MAX),
            b"big-output 1000000",
            ErrorKind::OutputTooLarge,
        )?,
    ])
}

/// Resident memory, KiB, from a `statm` file (its second field, in pages).
fn rss_kib(statm: &std::path::Path) -> Result<u64, String> {
    let text = std::fs::read_to_string(statm)
        .map_err(|error| format!("reading {}: {error}", statm.display()))?;
    let pages: u64 = text
        .split_whitespace()
        .nth(1)
        .and_then(|pages| pages.parse().ok())
        .ok_or_else(|| format!("{} has no resident page count: {text:?}", statm.display()))?;
    Ok(pages * page_kib())
}

/// The page size, KiB.
fn page_kib() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let bytes = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(bytes).map_or(4, |bytes| (bytes / 1024).max(1))
}

/// Shared state of a run.
struct Shared {
    made: AtomicU64,
    threads_done: AtomicUsize,
    stop: AtomicBool,
    report: Mutex<Report>,
}

impl Shared {
    fn fail(&self, what: String) {
        let mut report = self
            .report
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if report.failures.len() < 20 {
            report.failures.push(what);
        }
    }
}

/// Runs a soak.
///
/// # Errors
///
/// If the engine cannot be built or a plugin does not load or instantiate
/// at the start (nothing the run itself checks).
pub fn run(plugins: &Plugins<'_>, config: &Config) -> plugbox::Result<Report> {
    let threads = config.threads.max(1);
    let engine = Engine::builder()
        .allocator(Allocator::Pooling {
            capacity: u32::try_from(config.tenants + 2 * threads).unwrap_or(u32::MAX),
        })
        .memory_slot_bytes(4 << 20)
        .build()?;
    let hello = Plugin::new(&engine, plugins.hello)?;
    let attacks = attacks(&engine, plugins)?;
    let shared = Shared {
        made: AtomicU64::new(0),
        threads_done: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        report: Mutex::new(Report::default()),
    };
    // Threads finish, wait for the final sample, then drop their tenants.
    let finished = Barrier::new(threads + 1);
    let sampled = Barrier::new(threads + 1);
    let started = Instant::now();
    let warm_up_mark = config.calls / 10;
    // Every tenant lives before any thread starts (and all live to the end).
    let tenants: Vec<Vec<Instance>> = (0..threads)
        .map(|thread| {
            (thread..config.tenants)
                .step_by(threads)
                .map(|_| hello.instantiate())
                .collect::<plugbox::Result<_>>()
        })
        .collect::<plugbox::Result<_>>()?;
    std::thread::scope(|scope| {
        for (thread, tenants) in tenants.into_iter().enumerate() {
            let calls = config.calls / threads as u64
                + u64::from((thread as u64) < config.calls % threads as u64);
            let (shared, attacks, finished, sampled) = (&shared, &attacks, &finished, &sampled);
            let hostile_every = config.hostile_every.max(1);
            scope.spawn(move || {
                let mut tenants = tenants;
                soak_thread(thread, &mut tenants, calls, hostile_every, attacks, shared);
                shared.threads_done.fetch_add(1, Ordering::Relaxed);
                finished.wait();
                sampled.wait();
                drop(tenants);
            });
        }
        let mut warm = None;
        let mut peak = 0;
        let mut memory_error = None;
        let sample = |memory_error: &mut Option<String>| match rss_kib(&config.statm) {
            Ok(rss) => Some(rss),
            Err(error) => {
                memory_error.get_or_insert(error);
                None
            }
        };
        while shared.threads_done.load(Ordering::Relaxed) < threads {
            let rss = sample(&mut memory_error);
            peak = peak.max(rss.unwrap_or(0));
            if warm.is_none() && shared.made.load(Ordering::Relaxed) >= warm_up_mark {
                warm = rss;
            }
            if started.elapsed() > config.max_duration {
                shared.stop.store(true, Ordering::Relaxed);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        finished.wait();
        let end = sample(&mut memory_error);
        let mut report = shared
            .report
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        report.elapsed = started.elapsed();
        report.rss_after_warm_up_kib = warm;
        report.rss_end_kib = end;
        report.rss_peak_kib = peak.max(end.unwrap_or(0));
        report.memory_error = memory_error;
        report.timed_out = shared.stop.load(Ordering::Relaxed);
        drop(report);
        sampled.wait();
    });
    let report = shared
        .report
        .into_inner()
        .unwrap_or_else(|poison| poison.into_inner());
    Ok(report)
}

fn soak_thread(
    thread: usize,
    tenants: &mut [Instance],
    calls: u64,
    hostile_every: u64,
    attacks: &[Attack],
    shared: &Shared,
) {
    let mut good = 0u64;
    let mut hostile: BTreeMap<String, u64> = BTreeMap::new();
    let mut made = 0;
    for call in 0..calls {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        if call % hostile_every == hostile_every - 1 {
            let attack = &attacks[(call / hostile_every) as usize % attacks.len()];
            let kind = match attack.plugin.instantiate() {
                Ok(mut instance) => match instance.call(attack.request) {
                    Ok(_) => None,
                    Err(error) => Some(error.kind()),
                },
                Err(error) => {
                    shared.fail(format!("thread {thread} call {call}: instantiate: {error}"));
                    None
                }
            };
            if kind != Some(attack.expected) {
                shared.fail(format!(
                    "thread {thread} call {call}: {} got {kind:?}, expected {:?}",
                    String::from_utf8_lossy(attack.request),
                    attack.expected
                ));
            }
            let kind = kind.map_or_else(|| "no error".to_owned(), |kind| format!("{kind:?}"));
            *hostile.entry(kind).or_default() += 1;
        } else {
            let index = (call as usize) % tenants.len().max(1);
            let input = format!("thread {thread} tenant {index} call {call}");
            match tenants[index].call(input.as_bytes()) {
                Ok(response) if response.output == input.to_uppercase().as_bytes() => {}
                other => shared.fail(format!(
                    "thread {thread} call {call}: good call answered {other:?}"
                )),
            }
            good += 1;
        }
        made += 1;
        if made % 1024 == 0 {
            shared.made.fetch_add(1024, Ordering::Relaxed);
        }
    }
    shared.made.fetch_add(made % 1024, Ordering::Relaxed);
    let mut report = shared
        .report
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    report.calls += made;
    report.good_calls += good;
    for (kind, count) in hostile {
        *report.hostile_by_kind.entry(kind).or_default() += count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_memory_is_read_from_statm() {
        let rss = rss_kib(std::path::Path::new("/proc/self/statm")).unwrap();
        assert!(rss > 1024, "{rss} KiB resident");
        let error = rss_kib(std::path::Path::new("/nonexistent/statm")).unwrap_err();
        assert!(error.contains("/nonexistent/statm"), "{error}");
    }

    #[test]
    fn the_leak_check_fails_when_memory_cannot_be_measured() {
        let measured = Report {
            rss_after_warm_up_kib: Some(1000),
            rss_end_kib: Some(1050),
            ..Report::default()
        };
        assert!(measured.check_memory(1.10).is_ok());
        // Grown past the margin.
        let grown = Report {
            rss_end_kib: Some(1200),
            ..measured.clone()
        };
        let error = grown.check_memory(1.10).unwrap_err();
        assert!(error.contains("+20.0 %"), "{error}");
        // Unreadable: an error, not a pass.
        let unreadable = Report {
            memory_error: Some("reading /proc/self/statm: denied".into()),
            ..measured.clone()
        };
        assert!(unreadable.check_memory(1.10).is_err());
        // Never sampled after warm-up: not a pass either.
        let unsampled = Report {
            rss_after_warm_up_kib: None,
            ..measured
        };
        assert!(unsampled.check_memory(1.10).is_err());
    }
}
