//! When to try a request again, and how long to wait first.
//!
//! Retried: 429 and 502/503/504 (the server did not do the work) and connection failures of
//! requests that can be replayed. `Retry-After` is honoured in both of its forms (seconds or an
//! HTTP date); otherwise the wait doubles from `base` with jitter. Both the number of attempts and
//! the total time spent waiting are bounded, so a registry that never recovers fails the run
//! instead of hanging it.

use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base: Duration,
    pub max_delay: Duration,
    /// The sum of all waits of one request may not exceed this.
    pub max_total_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base: Duration::from_millis(250),
            max_delay: Duration::from_secs(60),
            max_total_wait: Duration::from_secs(300),
        }
    }
}

/// Run-wide limits on retrying, shared by every request of one run (one transport): the per-request
/// policy alone let a rate-limited cleanup of 24 tags wait 15 minutes. Once either limit is
/// reached, a request that would be retried fails at once instead, naming the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryBudget {
    /// Retries in all (first attempts do not count).
    pub max_retries: u32,
    /// The sum of every wait before a retry, across all requests (parallel waits add up).
    pub max_wait: Duration,
}

/// Default run-wide number of retries.
pub const DEFAULT_MAX_RETRIES: u32 = 100;
/// Default run-wide retry waiting (`--retry-budget`).
pub const DEFAULT_RETRY_BUDGET: Duration = Duration::from_secs(300);

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget {
            max_retries: DEFAULT_MAX_RETRIES,
            max_wait: DEFAULT_RETRY_BUDGET,
        }
    }
}

/// What a run has spent of its [`RetryBudget`].
#[derive(Debug, Default)]
pub struct BudgetSpent {
    spent: std::sync::Mutex<(u32, Duration)>,
}

impl BudgetSpent {
    /// Takes one retry and `delay` of waiting from the budget, or says why it cannot.
    pub fn take(&self, budget: &RetryBudget, delay: Duration) -> Result<(), String> {
        let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        if spent.0 >= budget.max_retries {
            return Err(format!(
                "this run has used up its {} retries",
                budget.max_retries
            ));
        }
        if spent.1 + delay > budget.max_wait {
            return Err(format!(
                "this run has spent its retry budget ({} of waiting, --retry-budget)",
                humantime::format_duration(budget.max_wait)
            ));
        }
        spent.0 += 1;
        spent.1 += delay;
        Ok(())
    }
}

/// Status codes that mean "not done, try again later".
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// Parses `Retry-After`: delta-seconds or an HTTP date (relative to `now`).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (attempt counts from 1), or `None` to give up.
    /// `waited` is what this request has already waited in total.
    pub fn next_delay(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        waited: Duration,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let delay = match retry_after {
            Some(d) => d,
            None => {
                let exp = self.base.saturating_mul(1u32 << (attempt - 1).min(16));
                // Up to +25% jitter so that parallel workers do not retry in lockstep.
                exp + exp.mul_f64(jitter() * 0.25)
            }
        }
        .min(self.max_delay);
        (waited + delay <= self.max_total_wait).then_some(delay)
    }
}

/// A cheap value in [0, 1) that differs between calls; not for cryptography.
fn jitter() -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let x = STATE
        .fetch_add(u64::from(nanos) | 1, Ordering::Relaxed)
        .wrapping_mul(0x2545_F491_4F6C_DD1D);
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_table() {
        for (status, retry) in [
            (200, false),
            (400, false),
            (401, false),
            (404, false),
            (429, true),
            (500, false),
            (502, true),
            (503, true),
            (504, true),
        ] {
            assert_eq!(retryable_status(status), retry, "{status}");
        }
    }

    #[test]
    fn retry_after_both_forms() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn run_budget_caps_retries_and_waiting() {
        let budget = RetryBudget {
            max_retries: 3,
            max_wait: Duration::from_secs(10),
        };
        let spent = BudgetSpent::default();
        assert!(spent.take(&budget, Duration::from_secs(4)).is_ok());
        assert!(spent.take(&budget, Duration::from_secs(4)).is_ok());
        let e = spent.take(&budget, Duration::from_secs(4)).unwrap_err();
        assert!(e.contains("--retry-budget") && e.contains("10s"), "{e}");
        assert!(spent.take(&budget, Duration::from_secs(1)).is_ok());
        let e = spent.take(&budget, Duration::ZERO).unwrap_err();
        assert!(e.contains("3 retries"), "{e}");
        assert_eq!(RetryBudget::default().max_retries, 100);
        assert_eq!(RetryBudget::default().max_wait, Duration::from_secs(300));
    }

    #[test]
    fn delays_grow_and_stop() {
        let p = RetryPolicy {
            max_attempts: 4,
            base: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            max_total_wait: Duration::from_secs(10),
        };
        let d1 = p.next_delay(1, None, Duration::ZERO).unwrap();
        let d3 = p.next_delay(3, None, Duration::ZERO).unwrap();
        assert!(
            d1 >= Duration::from_millis(100) && d1 <= Duration::from_millis(125),
            "{d1:?}"
        );
        assert!(
            d3 >= Duration::from_millis(400) && d3 <= Duration::from_millis(500),
            "{d3:?}"
        );
        assert_eq!(p.next_delay(4, None, Duration::ZERO), None);
        assert_eq!(
            p.next_delay(1, Some(Duration::from_secs(30)), Duration::ZERO),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            p.next_delay(
                1,
                Some(Duration::from_millis(500)),
                Duration::from_millis(9600)
            ),
            None
        );
    }
}
