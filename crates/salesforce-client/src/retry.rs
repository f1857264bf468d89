//! Retry policy: a pure decision function plus the loop that sleeps between attempts.
//!
//! Every call this crate makes is a read (token requests and queries), so repeating one
//! after a server error, a timeout or a dropped connection cannot change data.

use std::future::Future;
use std::time::Duration;

use crate::error::{Result, SalesforceError};

/// How often and how patiently to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryConfig {
    /// Attempts in total, the first one included (1 = never retry).
    pub max_attempts: u32,
    /// Backoff before the second attempt; it doubles for each later one.
    pub initial_backoff: Duration,
    /// Upper bound of one backoff.
    pub max_backoff: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(20),
        }
    }
}

impl RetryConfig {
    /// A policy that never retries.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Checks the policy.
    ///
    /// # Errors
    ///
    /// [`SalesforceError::InvalidConfig`] when `max_attempts` is zero or the initial
    /// backoff exceeds the maximum.
    pub fn validate(&self) -> Result<()> {
        if self.max_attempts == 0 {
            return Err(SalesforceError::InvalidConfig(
                "retry.max_attempts must be at least 1".into(),
            ));
        }
        if self.initial_backoff > self.max_backoff {
            return Err(SalesforceError::InvalidConfig(
                "retry.initial_backoff exceeds retry.max_backoff".into(),
            ));
        }
        Ok(())
    }

    /// The backoff before attempt `attempt + 1`, with `jitter` in `0.0..=1.0` scaling it
    /// between half and all of the exponential value (so concurrent clients spread out).
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let base = self
            .initial_backoff
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff);
        base.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

/// What one attempt ended with, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP answer with this status arrived.
    Status(u16),
    /// The request timed out.
    Timeout,
    /// No connection could be established.
    ConnectFailed,
    /// The connection broke while sending or receiving.
    ConnectionDropped,
    /// The request could not even be built.
    InvalidRequest,
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// Keep this outcome (success, a definitive error, or attempts used up).
    Stop,
}

/// Decides whether to retry after attempt number `attempt` (1-based) ended with `outcome`.
///
/// Retried: 5xx answers, timeouts, failed connects and dropped connections, while
/// attempts remain. Never retried: successes, 4xx answers (including
/// `REQUEST_LIMIT_EXCEEDED`, which waiting a few seconds does not cure, and `401`, which
/// is handled by re-authenticating instead). `jitter` is a random number in `0.0..=1.0`.
pub fn decide(config: &RetryConfig, attempt: u32, outcome: Outcome, jitter: f64) -> RetryDecision {
    let transient = match outcome {
        Outcome::Status(status) => (500..=599).contains(&status),
        Outcome::Timeout | Outcome::ConnectFailed | Outcome::ConnectionDropped => true,
        Outcome::InvalidRequest => false,
    };
    if transient && attempt < config.max_attempts {
        RetryDecision::RetryAfter(config.backoff(attempt, jitter))
    } else {
        RetryDecision::Stop
    }
}

/// Runs `op` (given the 1-based attempt number) until [`decide`] says stop, sleeping on
/// tokio's clock in between, and returns the last attempt's value.
pub(crate) async fn run<T, F, Fut>(config: &RetryConfig, mut op: F) -> T
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = (Outcome, T)>,
{
    let mut attempt = 1;
    loop {
        let (outcome, value) = op(attempt).await;
        match decide(config, attempt, outcome, rand::random::<f64>()) {
            RetryDecision::Stop => return value,
            RetryDecision::RetryAfter(delay) => {
                tracing::debug!(attempt, ?outcome, ?delay, "retrying salesforce request");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> RetryConfig {
        RetryConfig {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
        }
    }

    #[test]
    fn decision_table() {
        let ms = Duration::from_millis;
        // (attempt, outcome, jitter, expected)
        let table = [
            (1, Outcome::Status(200), 1.0, RetryDecision::Stop),
            (1, Outcome::Status(400), 1.0, RetryDecision::Stop),
            (1, Outcome::Status(401), 1.0, RetryDecision::Stop),
            (1, Outcome::Status(403), 1.0, RetryDecision::Stop),
            (1, Outcome::Status(404), 1.0, RetryDecision::Stop),
            (
                1,
                Outcome::Status(500),
                1.0,
                RetryDecision::RetryAfter(ms(100)),
            ),
            (
                1,
                Outcome::Status(502),
                0.0,
                RetryDecision::RetryAfter(ms(50)),
            ),
            (
                2,
                Outcome::Status(503),
                1.0,
                RetryDecision::RetryAfter(ms(200)),
            ),
            (
                2,
                Outcome::Status(504),
                0.5,
                RetryDecision::RetryAfter(ms(150)),
            ),
            (3, Outcome::Status(503), 1.0, RetryDecision::Stop),
            (1, Outcome::Timeout, 1.0, RetryDecision::RetryAfter(ms(100))),
            (
                2,
                Outcome::ConnectFailed,
                1.0,
                RetryDecision::RetryAfter(ms(200)),
            ),
            (
                1,
                Outcome::ConnectionDropped,
                1.0,
                RetryDecision::RetryAfter(ms(100)),
            ),
            (3, Outcome::ConnectionDropped, 1.0, RetryDecision::Stop),
            (1, Outcome::InvalidRequest, 1.0, RetryDecision::Stop),
        ];
        for (attempt, outcome, jitter, expected) in table {
            assert_eq!(
                decide(&cfg(), attempt, outcome, jitter),
                expected,
                "attempt {attempt}, {outcome:?}, jitter {jitter}"
            );
        }
    }

    #[test]
    fn backoff_is_capped() {
        let c = RetryConfig {
            max_attempts: 100,
            ..cfg()
        };
        assert_eq!(c.backoff(3, 1.0), Duration::from_millis(300));
        assert_eq!(c.backoff(60, 1.0), Duration::from_millis(300));
        assert_eq!(
            c.backoff(60, 7.0),
            Duration::from_millis(300),
            "jitter is clamped"
        );
    }

    #[test]
    fn never_retry_policy() {
        assert_eq!(
            decide(&RetryConfig::none(), 1, Outcome::Status(503), 1.0),
            RetryDecision::Stop
        );
        assert!(
            RetryConfig {
                max_attempts: 0,
                ..cfg()
            }
            .validate()
            .is_err()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn run_sleeps_jittered_backoffs_and_returns_the_last_value() {
        let start = tokio::time::Instant::now();
        let result = run(&cfg(), |attempt| async move {
            if attempt < 3 {
                (Outcome::Status(503), attempt)
            } else {
                (Outcome::Status(200), attempt)
            }
        })
        .await;
        assert_eq!(result, 3);
        let waited = start.elapsed();
        // 100 ms then 200 ms, each scaled by a jitter factor in 0.5..=1.0.
        assert!(waited >= Duration::from_millis(150), "{waited:?}");
        assert!(waited <= Duration::from_millis(300), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn run_gives_up_after_max_attempts() {
        let mut calls = 0;
        let last = run(&cfg(), |attempt| {
            calls += 1;
            async move { (Outcome::Timeout, attempt) }
        })
        .await;
        assert_eq!((last, calls), (3, 3));
    }
}
