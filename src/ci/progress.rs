//! Progress for long work: a line every few seconds while a future runs. CI logs are pipes, so
//! no bar is drawn there; on a terminal the same line is enough and costs no dependency.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Milliseconds between progress lines (`DOCKHAND_PROGRESS_INTERVAL` seconds; default 5 s).
static INTERVAL_MS: AtomicU64 = AtomicU64::new(5000);

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

/// Runs `work`; every interval until it ends, logs `what` and `describe()`. Quick work prints
/// nothing.
pub async fn watch<F: Future>(work: F, what: &str, describe: impl Fn() -> String) -> F::Output {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn quick_work_returns_its_value() {
        let v = watch(async { 7 }, "x", || "y".into()).await;
        assert_eq!(v, 7);
    }
}
