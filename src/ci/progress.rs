//! Progress for long work. In a CI log (a pipe, not a terminal) a line every few seconds while a
//! future runs; no bar is ever drawn there. On a terminal, where there is a natural counter (tags
//! deleted of those planned, bytes uploaded), an `indicatif` bar on stderr instead of the lines;
//! log lines printed meanwhile go above it (`log::suspend`).

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

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

/// Above this many images, one line for all of them.
const MAX_LINES: usize = 8;

/// What the bars show.
pub enum Meter<'a> {
    /// `done` of `total` items, one bar (`unit`: "tags").
    Count {
        done: &'a AtomicU64,
        total: u64,
        unit: &'static str,
    },
    /// Bytes moved so far, a line per part (an image: its name and its counter); no total is
    /// known before the registry has been asked which blobs it lacks.
    Bytes { parts: Vec<(String, &'a AtomicU64)> },
}

/// One drawn line and where its position comes from.
struct Line<'a> {
    bar: ProgressBar,
    position: Box<dyn Fn() -> u64 + 'a>,
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl<'a> Meter<'a> {
    fn lines(&self, what: &str, multi: &MultiProgress) -> Vec<Line<'a>> {
        match self {
            Meter::Count { done, total, unit } => {
                let (done, total) = (*done, *total);
                let bar = multi.add(ProgressBar::new(total));
                bar.set_style(style(&format!(
                    "{{prefix}} [{{bar:30.cyan/blue}}] {{pos}}/{{len}} {unit} ({{elapsed}})"
                )));
                bar.set_prefix(what.to_string());
                vec![Line {
                    bar,
                    position: Box::new(move || done.load(Ordering::Relaxed).min(total)),
                }]
            }
            Meter::Bytes { parts } => {
                let head = multi.add(ProgressBar::no_length());
                head.set_style(style("{spinner} {prefix}: {msg} ({elapsed})"));
                head.set_prefix(what.to_string());
                let mut lines = vec![Line {
                    bar: head,
                    position: Box::new(|| 0),
                }];
                let width = parts.iter().map(|(n, _)| n.len()).max().unwrap_or(1);
                let per_part =
                    format!("  {{prefix:{width}}}  {{bytes}} uploaded ({{binary_bytes_per_sec}})");
                let groups: Vec<(String, Vec<&'a AtomicU64>)> = if parts.len() > MAX_LINES {
                    vec![(
                        format!("{} images", parts.len()),
                        parts.iter().map(|(_, c)| *c).collect(),
                    )]
                } else {
                    parts.iter().map(|(n, c)| (n.clone(), vec![*c])).collect()
                };
                for (name, counters) in groups {
                    let bar = multi.add(ProgressBar::no_length());
                    bar.set_style(style(&per_part));
                    bar.set_prefix(name);
                    lines.push(Line {
                        bar,
                        position: Box::new(move || {
                            counters.iter().map(|c| c.load(Ordering::Relaxed)).sum()
                        }),
                    });
                }
                lines
            }
        }
    }
}

/// Runs `work`; every interval until it ends, logs `what` and `describe()`. Quick work prints
/// nothing. With `meter` and bars on, draws bars instead of the lines.
pub async fn watch<F: Future>(
    work: F,
    what: &str,
    describe: impl Fn() -> String,
    meter: Option<Meter<'_>>,
) -> F::Output {
    match meter {
        Some(m) if bars() => with_bars(work, what, describe, m).await,
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

async fn with_bars<F: Future>(
    work: F,
    what: &str,
    describe: impl Fn() -> String,
    meter: Meter<'_>,
) -> F::Output {
    // indicatif's own check keeps bars off a non-terminal too; `bars()` decided first.
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let lines = meter.lines(what, &multi);
    crate::log::set_bars(Some(multi.clone()));
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    tokio::pin!(work);
    let out = loop {
        tokio::select! {
            out = &mut work => break out,
            _ = ticker.tick() => {
                for (i, l) in lines.iter().enumerate() {
                    l.bar.set_position((l.position)());
                    if i == 0 {
                        l.bar.set_message(describe());
                    }
                    l.bar.tick();
                }
            }
        }
    };
    crate::log::set_bars(None);
    for l in &lines {
        l.bar.finish_and_clear();
    }
    let _ = multi.clear();
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
            unit: "tags",
        };
        let v = watch(async { 8 }, "x", || "y".into(), Some(meter)).await;
        assert_eq!(v, 8);
    }

    /// Positions: a count never passes its total; many images share one line.
    #[test]
    fn meter_lines() {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
        let done = AtomicU64::new(3);
        let count = Meter::Count {
            done: &done,
            total: 2,
            unit: "tags",
        };
        let lines = count.lines("cleaning up", &multi);
        assert_eq!(lines.len(), 1);
        assert_eq!((lines[0].position)(), 2);

        let counters: Vec<AtomicU64> = (0..10).map(AtomicU64::new).collect();
        let few = Meter::Bytes {
            parts: vec![("a".into(), &counters[1]), ("b".into(), &counters[2])],
        };
        let lines = few.lines("publishing", &multi);
        assert_eq!(lines.len(), 3, "a head line and one per image");
        assert_eq!((lines[2].position)(), 2);
        let many = Meter::Bytes {
            parts: counters.iter().map(|c| ("i".to_string(), c)).collect(),
        };
        let lines = many.lines("publishing", &multi);
        assert_eq!(lines.len(), 2, "a head line and one for all images");
        assert_eq!((lines[1].position)(), 45);
    }
}
