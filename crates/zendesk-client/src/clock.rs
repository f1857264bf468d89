//! Time source for every wait (rate limits, retries, token expiry, job polling), so tests can
//! drive waits without spending real time.

use std::fmt::Debug;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

/// Reads the time and sleeps.
///
/// The client never calls `tokio::time` directly for waits: it goes through this trait, so a
/// test can inject a [`ManualClock`] and assert exactly how long the client would have waited.
#[async_trait]
pub trait Clock: Send + Sync + Debug {
    /// The current instant.
    fn now(&self) -> Instant;
    /// Waits for `duration`.
    async fn sleep(&self, duration: Duration);
}

/// The real clock: `tokio::time` (which honours tokio's paused time in tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioClock;

#[async_trait]
impl Clock for TokioClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// A clock that only moves when slept on or advanced, and records every sleep.
///
/// Meant for tests: a client configured with it answers immediately where it would otherwise
/// wait, and [`ManualClock::sleeps`] shows the waits it chose (for example a `Retry-After`).
#[derive(Debug, Clone)]
pub struct ManualClock {
    state: Arc<Mutex<ManualState>>,
}

#[derive(Debug)]
struct ManualState {
    start: Instant,
    offset: Duration,
    sleeps: Vec<Duration>,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl ManualClock {
    /// A clock standing at the current instant.
    pub fn new() -> Self {
        Self {
            state: Arc::new(Mutex::new(ManualState {
                start: Instant::now(),
                offset: Duration::ZERO,
                sleeps: Vec::new(),
            })),
        }
    }

    /// Moves the clock forward without recording a sleep.
    pub fn advance(&self, by: Duration) {
        lock(&self.state).offset += by;
    }

    /// Every duration slept so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        lock(&self.state).sleeps.clone()
    }

    /// How far the clock has moved since it was created.
    pub fn elapsed(&self) -> Duration {
        lock(&self.state).offset
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> Instant {
        let state = lock(&self.state);
        state.start + state.offset
    }

    async fn sleep(&self, duration: Duration) {
        {
            let mut state = lock(&self.state);
            state.offset += duration;
            state.sleeps.push(duration);
        }
        // Let other tasks run, as a real sleep would.
        tokio::task::yield_now().await;
    }
}

/// Locks a std mutex, ignoring poisoning: the guarded data stays consistent because no
/// critical section in this crate can panic half-way.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_clock_moves_only_when_slept_or_advanced() {
        let clock = ManualClock::new();
        let t0 = clock.now();
        clock.sleep(Duration::from_secs(3)).await;
        clock.advance(Duration::from_secs(2));
        assert_eq!(clock.now() - t0, Duration::from_secs(5));
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(3)]);
    }
}
