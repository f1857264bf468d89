//! The retry policy: a pure decision from what went wrong, what kind of request it was and
//! how often we tried, to "wait this long" or "give up".

use std::time::Duration;

/// How retries back off and when they stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryConfig {
    /// Attempts in total, including the first (at least 1).
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles on each further attempt.
    pub initial_backoff: Duration,
    /// Ceiling of the exponential backoff.
    pub max_backoff: Duration,
    /// A `Retry-After` longer than this is not waited for: the call fails with a rate-limit
    /// error carrying the wait, so the caller can reschedule instead of blocking.
    pub max_retry_after: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

impl RetryConfig {
    /// The exponential backoff before attempt `attempt + 1` (without jitter).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(20);
        self.initial_backoff
            .saturating_mul(1u32 << exponent)
            .min(self.max_backoff)
    }
}

/// Whether repeating a request can do harm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestClass {
    /// A GET (or the token request): repeating it changes nothing.
    Read,
    /// A bulk submission answered by a job: if it was refused (429, 5xx, connection failure
    /// before any answer) no job exists, so submitting again is safe.
    BulkWrite,
    /// A single-record POST or PUT: after a 5xx or a timeout it may have been applied, so it
    /// is never repeated blindly.
    SingleWrite,
}

/// What went wrong with one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The server answered with this HTTP status.
    Status(u16),
    /// The server refused a job because too many are queued (the job was not accepted).
    TooManyJobs,
    /// The connection could not be established: the request never left.
    ConnectFailed,
    /// The connection broke after the request was sent, before a complete answer.
    ConnectionDropped,
    /// No answer within the configured timeout.
    Timeout,
}

/// The outcome of the retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Wait this long, then try again.
    Wait(Duration),
    /// Surface the error.
    GiveUp,
}

/// Decides whether attempt number `attempt` (1-based, already made) that failed with
/// `failure` is tried again.
///
/// * 429 and `TooManyJobs` are refusals, never processed: retried for every class, after
///   `Retry-After` when given (giving up when it exceeds [`RetryConfig::max_retry_after`]);
///   without one, `TooManyJobs` waits the longest backoff since jobs drain slowly.
/// * Connection failures before sending are retried for every class.
/// * 5xx (except 501), 409 and dropped connections are retried for reads and bulk writes,
///   timeouts for reads only: a bulk job may have been accepted before the timeout.
/// * Everything else (4xx, any failure of a single-record write after it was sent) gives up.
pub fn decide(
    config: &RetryConfig,
    failure: FailureKind,
    class: RequestClass,
    attempt: u32,
    retry_after: Option<Duration>,
) -> RetryDecision {
    if attempt >= config.max_attempts {
        return RetryDecision::GiveUp;
    }
    let backoff = config.backoff(attempt);
    let retryable = match failure {
        FailureKind::Status(429) | FailureKind::TooManyJobs => {
            return match retry_after {
                Some(wait) if wait > config.max_retry_after => RetryDecision::GiveUp,
                Some(wait) => RetryDecision::Wait(wait),
                // Queued jobs take tens of seconds to drain: a short backoff would only
                // spend the attempts.
                None if failure == FailureKind::TooManyJobs => {
                    RetryDecision::Wait(config.max_backoff)
                }
                None => RetryDecision::Wait(backoff),
            };
        }
        FailureKind::ConnectFailed => true,
        FailureKind::Status(status) if (status >= 500 && status != 501) || status == 409 => {
            class != RequestClass::SingleWrite
        }
        FailureKind::Status(_) => false,
        FailureKind::ConnectionDropped => class != RequestClass::SingleWrite,
        FailureKind::Timeout => class == RequestClass::Read,
    };
    if !retryable {
        return RetryDecision::GiveUp;
    }
    // A 503 may carry Retry-After too: never retry sooner than the server asked.
    match retry_after {
        Some(wait) if wait > config.max_retry_after => RetryDecision::GiveUp,
        Some(wait) => RetryDecision::Wait(wait.max(backoff)),
        None => RetryDecision::Wait(backoff),
    }
}

/// Spreads a backoff over `[d/2, d]` so clients that failed together do not retry together.
pub(crate) fn jitter(duration: Duration) -> Duration {
    use rand::Rng;
    let factor: f64 = rand::rng().random_range(0.5..=1.0);
    duration.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::FailureKind::*;
    use super::RequestClass::*;
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    struct Case {
        name: &'static str,
        failure: FailureKind,
        class: RequestClass,
        attempt: u32,
        retry_after: Option<Duration>,
        expected: RetryDecision,
    }

    #[test]
    fn decision_table() {
        let config = RetryConfig {
            max_attempts: 4,
            initial_backoff: secs(1),
            max_backoff: secs(5),
            max_retry_after: secs(120),
        };
        let wait = RetryDecision::Wait;
        let give_up = RetryDecision::GiveUp;
        #[rustfmt::skip]
        let cases = [
            Case { name: "429 read honours retry-after", failure: Status(429), class: Read, attempt: 1, retry_after: Some(secs(7)), expected: wait(secs(7)) },
            Case { name: "429 single write is retried (refused, not processed)", failure: Status(429), class: SingleWrite, attempt: 1, retry_after: Some(secs(3)), expected: wait(secs(3)) },
            Case { name: "429 without retry-after backs off", failure: Status(429), class: BulkWrite, attempt: 2, retry_after: None, expected: wait(secs(2)) },
            Case { name: "429 retry-after too long gives up", failure: Status(429), class: Read, attempt: 1, retry_after: Some(secs(3600)), expected: give_up },
            Case { name: "too many jobs waits and resubmits", failure: TooManyJobs, class: BulkWrite, attempt: 1, retry_after: Some(secs(10)), expected: wait(secs(10)) },
            Case { name: "too many jobs without retry-after waits the longest backoff", failure: TooManyJobs, class: BulkWrite, attempt: 1, retry_after: None, expected: wait(secs(5)) },
            Case { name: "503 read backs off", failure: Status(503), class: Read, attempt: 1, retry_after: None, expected: wait(secs(1)) },
            Case { name: "503 read keeps server's retry-after", failure: Status(503), class: Read, attempt: 1, retry_after: Some(secs(4)), expected: wait(secs(4)) },
            Case { name: "500 bulk write: job not accepted", failure: Status(500), class: BulkWrite, attempt: 3, retry_after: None, expected: wait(secs(4)) },
            Case { name: "500 single write never repeated", failure: Status(500), class: SingleWrite, attempt: 1, retry_after: None, expected: give_up },
            Case { name: "501 is not transient", failure: Status(501), class: Read, attempt: 1, retry_after: None, expected: give_up },
            Case { name: "409 read retried", failure: Status(409), class: Read, attempt: 1, retry_after: None, expected: wait(secs(1)) },
            Case { name: "422 never retried", failure: Status(422), class: Read, attempt: 1, retry_after: None, expected: give_up },
            Case { name: "404 never retried", failure: Status(404), class: Read, attempt: 1, retry_after: None, expected: give_up },
            Case { name: "403 never retried", failure: Status(403), class: BulkWrite, attempt: 1, retry_after: None, expected: give_up },
            Case { name: "connect failure: nothing sent, single write safe", failure: ConnectFailed, class: SingleWrite, attempt: 1, retry_after: None, expected: wait(secs(1)) },
            Case { name: "dropped connection read", failure: ConnectionDropped, class: Read, attempt: 1, retry_after: None, expected: wait(secs(1)) },
            Case { name: "dropped connection bulk write", failure: ConnectionDropped, class: BulkWrite, attempt: 1, retry_after: None, expected: wait(secs(1)) },
            Case { name: "dropped connection single write", failure: ConnectionDropped, class: SingleWrite, attempt: 1, retry_after: None, expected: give_up },
            Case { name: "timeout read", failure: Timeout, class: Read, attempt: 1, retry_after: None, expected: wait(secs(1)) },
            Case { name: "timeout bulk write may have created a job", failure: Timeout, class: BulkWrite, attempt: 1, retry_after: None, expected: give_up },
            Case { name: "timeout single write", failure: Timeout, class: SingleWrite, attempt: 1, retry_after: None, expected: give_up },
            Case { name: "backoff doubles per attempt", failure: Status(502), class: Read, attempt: 3, retry_after: None, expected: wait(secs(4)) },
            Case { name: "last attempt gives up", failure: Status(503), class: Read, attempt: 4, retry_after: None, expected: give_up },
            Case { name: "last attempt gives up even on 429", failure: Status(429), class: Read, attempt: 4, retry_after: Some(secs(1)), expected: give_up },
        ];
        for case in cases {
            let got = decide(
                &config,
                case.failure,
                case.class,
                case.attempt,
                case.retry_after,
            );
            assert_eq!(got, case.expected, "case: {}", case.name);
        }
    }

    #[test]
    fn backoff_doubles_then_caps() {
        let config = RetryConfig {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
            max_retry_after: secs(1),
        };
        let got: Vec<u128> = (1..=5).map(|a| config.backoff(a).as_millis()).collect();
        assert_eq!(got, vec![100, 200, 400, 500, 500]);
    }

    #[test]
    fn jitter_stays_within_half_to_full() {
        for _ in 0..100 {
            let d = jitter(secs(10));
            assert!(d >= secs(5) && d <= secs(10), "{d:?}");
        }
    }
}
