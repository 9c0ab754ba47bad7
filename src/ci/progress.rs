//! Progress for long work. In a CI log (a pipe, not a terminal) a line every few seconds while a
//! future runs; no bar is ever drawn there. On a terminal, where there is a natural counter (tags
//! deleted of those planned, bytes uploaded), an `indicatif` bar on stderr instead of the lines;
//! log lines printed meanwhile go above it ([`suspend`]).

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Milliseconds between progress lines (`DOCKHAND_PROGRESS_INTERVAL` seconds; default 5 s).
static INTERVAL_MS: AtomicU64 = AtomicU64::new(5000);

/// Whether bars may be drawn: stderr is a terminal (see `commands::run`).
static BARS: AtomicBool = AtomicBool::new(false);

pub fn set_interval(seconds: Option<&str>) {
    if let Some(s) = seconds.and_then(|s| s.trim().parse::<f64>().ok())
        && s > 0.0
    {
        INTERVAL_MS.store((s * 1000.0) as u64, Ordering::Relaxed);
    }
}

/// The progress interval: also how long the transport waits without an answer before it says so.
pub fn interval() -> Duration {
    Duration::from_millis(INTERVAL_MS.load(Ordering::Relaxed).max(50))
}

/// Bars are drawn only when this is on: stderr is a terminal, not `-q`, not `TERM=dumb`, and
/// `--color` is not `never`.
pub fn set_bars(on: bool) {
    BARS.store(on, Ordering::Relaxed);
}

pub fn bars() -> bool {
    BARS.load(Ordering::Relaxed)
}

/// The bar being drawn, if any, so that log lines can be printed above it.
fn active() -> &'static Mutex<Option<ProgressBar>> {
    static ACTIVE: OnceLock<Mutex<Option<ProgressBar>>> = OnceLock::new();
    ACTIVE.get_or_init(|| Mutex::new(None))
}

/// Runs `print` with the bar (if one is drawn) hidden, so the line lands above it.
pub fn suspend<R>(print: impl FnOnce() -> R) -> R {
    let bar = active().lock().unwrap_or_else(|p| p.into_inner()).clone();
    match bar {
        Some(b) => b.suspend(print),
        None => print(),
    }
}

/// What a bar shows: a count towards a total, or bytes with no known total.
pub enum Meter<'a> {
    /// `done` of `total` items (`unit`: "deleted").
    Count {
        done: &'a AtomicU64,
        total: u64,
        unit: &'static str,
    },
    /// Bytes moved so far.
    Bytes { done: &'a AtomicU64 },
}

impl Meter<'_> {
    fn done(&self) -> u64 {
        match self {
            Meter::Count { done, total, .. } => done.load(Ordering::Relaxed).min(*total),
            Meter::Bytes { done } => done.load(Ordering::Relaxed),
        }
    }

    fn bar(&self, what: &str) -> ProgressBar {
        // indicatif's own check keeps a bar off a non-terminal too; ours decides first.
        let target = ProgressDrawTarget::stderr();
        let (bar, template) = match self {
            Meter::Count { total, unit, .. } => (
                ProgressBar::with_draw_target(Some(*total), target),
                format!(
                    "{{prefix}} [{{bar:30.cyan/blue}}] {{pos}}/{{len}} {unit} {{msg}} ({{elapsed}})"
                ),
            ),
            Meter::Bytes { .. } => (
                ProgressBar::with_draw_target(None, target),
                "{spinner} {prefix}: {bytes} uploaded ({binary_bytes_per_sec}) {msg} ({elapsed})"
                    .to_string(),
            ),
        };
        let style = ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(what.to_string());
        bar
    }
}

/// Runs `work`; every interval until it ends, logs `what` and `describe()`. Quick work prints
/// nothing. With `meter` and bars on, draws a bar instead of the lines.
pub async fn watch<F: Future>(
    work: F,
    what: &str,
    describe: impl Fn() -> String,
    meter: Option<Meter<'_>>,
) -> F::Output {
    match meter {
        Some(m) if bars() => with_bar(work, what, describe, m).await,
        _ => with_lines(work, what, describe).await,
    }
}

async fn with_lines<F: Future>(work: F, what: &str, describe: impl Fn() -> String) -> F::Output {
    let every = interval();
    let start = Instant::now();
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = ticker.tick() => crate::log::info(&format!(
                "{what}: {} ({}s)",
                describe(),
                start.elapsed().as_secs()
            )),
        }
    }
}

async fn with_bar<F: Future>(
    work: F,
    what: &str,
    describe: impl Fn() -> String,
    meter: Meter<'_>,
) -> F::Output {
    let bar = meter.bar(what);
    *active().lock().unwrap_or_else(|p| p.into_inner()) = Some(bar.clone());
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    tokio::pin!(work);
    let out = loop {
        tokio::select! {
            out = &mut work => break out,
            _ = ticker.tick() => {
                bar.set_position(meter.done());
                bar.set_message(describe());
                bar.tick();
            }
        }
    };
    *active().lock().unwrap_or_else(|p| p.into_inner()) = None;
    bar.finish_and_clear();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn quick_work_returns_its_value() {
        let v = watch(async { 7 }, "x", || "y".into(), None).await;
        assert_eq!(v, 7);
    }

    #[tokio::test]
    async fn a_meter_without_bars_returns_its_value() {
        let done = AtomicU64::new(3);
        let meter = Meter::Count {
            done: &done,
            total: 2,
            unit: "deleted",
        };
        assert_eq!(meter.done(), 2, "never past the total");
        let v = watch(async { 8 }, "x", || "y".into(), Some(meter)).await;
        assert_eq!(v, 8);
    }
}
