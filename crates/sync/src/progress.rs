//! What a person watching a long run needs: records done in the current phase, bulk jobs
//! in flight, and an estimate of the time left from the throughput measured so far.
//!
//! The engine reports events through [`Progress`]; the types here turn them into numbers.
//! [`Throughput`] and [`Tracker`] are pure: every method takes the instant its event
//! happened at, so tests drive them with explicit instants instead of a clock.
//! [`ProgressLog`] is the [`Progress`] for runs without a terminal (cron, Kubernetes): it
//! logs one `progress` line at debug level (`sfzd -v`; the default logs stay quiet, as the
//! operator contract says) at most every [`LOG_EVERY`], on the next event after the
//! interval has passed, so no timer thread runs and a quiet run logs nothing.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::run::Progress;

/// How far back the measured throughput looks: the time constant of its exponential
/// weighting. Long enough to smooth the steps of chunked work (a chunk of the people phase
/// takes seconds at scale), short enough to follow a change of pace within minutes.
pub const RATE_WINDOW: Duration = Duration::from_secs(60);

/// The shortest interval between two progress lines in the logs.
pub const LOG_EVERY: Duration = Duration::from_secs(30);

/// Records done per second over a recent window: an exponentially weighted rate over the
/// samples reported so far.
///
/// Each sample (records done since the previous one) gives the rate of its interval, which
/// moves the estimate by a weight that grows with the interval's length, so irregular
/// samples weigh by the time they cover rather than by their count. When no sample has
/// come for longer than the usual gap between samples, the rate is read as having fallen
/// in proportion: a stalled run shows a growing estimate rather than a stale one.
#[derive(Debug, Clone)]
pub struct Throughput {
    window: Duration,
    /// When the last sample (or the start) was taken.
    last: Option<Instant>,
    /// Records reported at the same instant as `last`, not yet part of a rate.
    pending: u64,
    /// Records per second.
    rate: Option<f64>,
    /// The usual seconds between samples, weighted like the rate.
    gap: Option<f64>,
}

impl Throughput {
    /// An estimator that weighs the last `window` of samples most.
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            last: None,
            pending: 0,
            rate: None,
            gap: None,
        }
    }

    /// Forgets every sample: the work measured from `at` on is a new kind of work.
    pub fn start(&mut self, at: Instant) {
        *self = Self::new(self.window);
        self.last = Some(at);
    }

    /// `done` more records were finished at `at`.
    pub fn record(&mut self, at: Instant, done: u64) {
        let Some(last) = self.last else {
            // Nothing to measure the interval from: this instant starts the measure.
            self.last = Some(at);
            self.pending = self.pending.saturating_add(done);
            return;
        };
        let records = self.pending.saturating_add(done);
        let seconds = at.saturating_duration_since(last).as_secs_f64();
        if seconds <= 0.0 {
            // Several reports of one instant are one sample.
            self.pending = records;
            return;
        }
        let rate = records as f64 / seconds;
        let weight = 1.0 - (-seconds / self.window.as_secs_f64().max(1e-3)).exp();
        self.rate = Some(self.rate.map_or(rate, |r| r + weight * (rate - r)));
        self.gap = Some(self.gap.map_or(seconds, |g| g + weight * (seconds - g)));
        self.last = Some(at);
        self.pending = 0;
    }

    /// Records per second as of `at`, once one interval has been measured.
    pub fn rate(&self, at: Instant) -> Option<f64> {
        let rate = self.rate?;
        let (Some(last), Some(gap)) = (self.last, self.gap) else {
            return Some(rate);
        };
        let since = at.saturating_duration_since(last).as_secs_f64();
        // Longer than usual without a sample: the pace has dropped at least that much.
        Some(if since > gap {
            rate * gap / since
        } else {
            rate
        })
    }

    /// The time `remaining` records take at the rate as of `at`; `None` until a rate has
    /// been measured, or while it is zero.
    pub fn time_left(&self, at: Instant, remaining: u64) -> Option<Duration> {
        if remaining == 0 {
            return Some(Duration::ZERO);
        }
        let rate = self.rate(at)?;
        if rate <= 0.0 {
            return None;
        }
        Duration::try_from_secs_f64(remaining as f64 / rate).ok()
    }
}

/// Where a run is, as shown by the progress bar and the progress log line.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The phase (`organizations`, `users`, `memberships`).
    pub phase: String,
    /// Records of the phase done.
    pub done: u64,
    /// Records of the phase in all, when known.
    pub total: Option<u64>,
    /// Bulk jobs submitted to Zendesk and not yet seen finished.
    pub jobs_in_flight: usize,
    /// The estimated time left in the phase, from the measured throughput.
    pub eta: Option<Duration>,
}

/// The state behind a progress display: the phase, its records done and total, the jobs in
/// flight and the phase's throughput.
#[derive(Debug, Clone)]
pub struct Tracker {
    phase: String,
    total: Option<u64>,
    done: u64,
    jobs: usize,
    throughput: Throughput,
}

impl Default for Tracker {
    fn default() -> Self {
        Self::new()
    }
}

impl Tracker {
    /// A tracker before the first phase, measuring throughput over [`RATE_WINDOW`].
    pub fn new() -> Self {
        Self {
            phase: String::new(),
            total: None,
            done: 0,
            jobs: 0,
            throughput: Throughput::new(RATE_WINDOW),
        }
    }

    /// Phase `name` starts at `at`, with `total` records when known. Its records are a
    /// different kind of work from the last phase's, so the throughput starts afresh.
    pub fn phase(&mut self, at: Instant, name: &str, total: Option<u64>) {
        name.clone_into(&mut self.phase);
        self.total = total;
        self.done = 0;
        self.throughput.start(at);
    }

    /// `done` more records of the phase were finished at `at`.
    pub fn advance(&mut self, at: Instant, done: u64) {
        self.done = self.done.saturating_add(done);
        self.throughput.record(at, done);
    }

    /// `jobs` bulk jobs are in flight now.
    pub fn jobs_in_flight(&mut self, jobs: usize) {
        self.jobs = jobs;
    }

    /// Where the run is at `at`.
    pub fn snapshot(&self, at: Instant) -> Snapshot {
        Snapshot {
            phase: self.phase.clone(),
            done: self.done,
            total: self.total,
            jobs_in_flight: self.jobs,
            eta: self.total.and_then(|total| {
                self.throughput
                    .time_left(at, total.saturating_sub(self.done))
            }),
        }
    }
}

/// Lets an event through at most once per interval; the first event starts the interval,
/// so a run shorter than that never passes one.
#[derive(Debug, Clone)]
pub struct Throttle {
    every: Duration,
    last: Option<Instant>,
}

impl Throttle {
    /// At most one event per `every`.
    pub fn new(every: Duration) -> Self {
        Self { every, last: None }
    }

    /// Whether an event at `at` passes.
    pub fn due(&mut self, at: Instant) -> bool {
        match self.last {
            Some(last) if at.saturating_duration_since(last) < self.every => false,
            Some(_) => {
                self.last = Some(at);
                true
            }
            None => {
                self.last = Some(at);
                false
            }
        }
    }
}

/// Progress as log lines, for runs without a terminal: at most one line per
/// [`LOG_EVERY`], at debug level, with the numbers as fields so JSON logs carry them:
/// `progress phase=users done=12000 total=1000000 jobs_in_flight=9 eta_s=2710`.
///
/// `total` and `eta_s` are left out while unknown.
pub struct ProgressLog {
    state: Mutex<(Tracker, Throttle)>,
}

impl Default for ProgressLog {
    fn default() -> Self {
        Self::new()
    }
}

impl ProgressLog {
    /// A log of one run's progress; the first line comes [`LOG_EVERY`] after its first event.
    pub fn new() -> Self {
        Self {
            state: Mutex::new((Tracker::new(), Throttle::new(LOG_EVERY))),
        }
    }

    /// [`Progress::phase`] at an explicit instant.
    pub fn phase_at(&self, at: Instant, name: &str, total: Option<u64>) {
        self.event(at, |tracker| tracker.phase(at, name, total));
    }

    /// [`Progress::advance`] at an explicit instant.
    pub fn advance_at(&self, at: Instant, done: u64) {
        self.event(at, |tracker| tracker.advance(at, done));
    }

    /// [`Progress::jobs_in_flight`] at an explicit instant.
    pub fn jobs_in_flight_at(&self, at: Instant, jobs: usize) {
        self.event(at, |tracker| tracker.jobs_in_flight(jobs));
    }

    fn event(&self, at: Instant, update: impl FnOnce(&mut Tracker)) {
        // A panic elsewhere while holding the lock leaves numbers that are still numbers.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (tracker, throttle) = &mut *state;
        update(tracker);
        if !throttle.due(at) {
            return;
        }
        let snapshot = tracker.snapshot(at);
        drop(state);
        tracing::debug!(
            phase = %snapshot.phase,
            done = snapshot.done,
            total = snapshot.total,
            jobs_in_flight = snapshot.jobs_in_flight,
            eta_s = snapshot.eta.map(|eta| eta.as_secs()),
            "progress"
        );
    }
}

impl Progress for ProgressLog {
    fn phase(&self, name: &str, total: Option<u64>) {
        self.phase_at(Instant::now(), name, total);
    }

    fn advance(&self, done: u64) {
        self.advance_at(Instant::now(), done);
    }

    fn jobs_in_flight(&self, jobs: usize) {
        self.jobs_in_flight_at(Instant::now(), jobs);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_steady_pace_gives_the_time_left_at_that_pace() {
        let t0 = Instant::now();
        let mut rate = Throughput::new(RATE_WINDOW);
        rate.start(t0);
        assert_eq!(rate.time_left(t0, 1000), None, "nothing measured yet");
        // 100 records every 10 s: 10 records a second.
        for i in 1..=6 {
            rate.record(t0 + secs(10 * i), 100);
        }
        let now = t0 + secs(60);
        assert!((rate.rate(now).unwrap() - 10.0).abs() < 1e-9);
        assert_eq!(rate.time_left(now, 5000), Some(secs(500)));
        assert_eq!(rate.time_left(now, 0), Some(Duration::ZERO));
    }

    #[test]
    fn the_rate_follows_a_change_of_pace_within_its_window() {
        let t0 = Instant::now();
        let mut rate = Throughput::new(RATE_WINDOW);
        rate.start(t0);
        // Ten minutes at 10 records a second, then the pace doubles.
        let mut at = t0;
        for _ in 0..60 {
            at += secs(10);
            rate.record(at, 100);
        }
        for _ in 0..3 {
            at += secs(10);
            rate.record(at, 200);
        }
        // Half a window after the change, the rate has moved 1 - e^-1/2 of the way.
        let expected = 10.0 + 10.0 * (1.0 - (-0.5f64).exp());
        let after_30_s = rate.rate(at).unwrap();
        assert!((after_30_s - expected).abs() < 1e-9, "{after_30_s}");
        for _ in 0..27 {
            at += secs(10);
            rate.record(at, 200);
        }
        // Five windows after: all but e^-5 of the way.
        let after_5_min = rate.rate(at).unwrap();
        assert!(after_5_min > 19.9 && after_5_min <= 20.0, "{after_5_min}");
    }

    #[test]
    fn samples_weigh_by_the_time_they_cover() {
        let t0 = Instant::now();
        let mut rate = Throughput::new(RATE_WINDOW);
        rate.start(t0);
        rate.record(t0 + secs(10), 100);
        // An idle second moves the rate far less than an idle window.
        let mut short = rate.clone();
        short.record(t0 + secs(11), 0);
        let mut long = rate.clone();
        long.record(t0 + secs(70), 0);
        let (short, long) = (
            short.rate(t0 + secs(11)).unwrap(),
            long.rate(t0 + secs(70)).unwrap(),
        );
        assert!(short > 9.5, "{short}");
        assert!(long < 4.0, "{long}");
    }

    #[test]
    fn records_reported_at_the_instant_of_the_last_sample_count_in_the_next_interval() {
        let t0 = Instant::now();
        let mut rate = Throughput::new(RATE_WINDOW);
        rate.start(t0);
        rate.record(t0 + secs(10), 100);
        rate.record(t0 + secs(10), 100);
        assert_eq!(rate.rate(t0 + secs(10)), Some(10.0));
        // The next interval carries those 100 records: the pace stays 10 a second.
        rate.record(t0 + secs(20), 0);
        assert_eq!(rate.rate(t0 + secs(20)), Some(10.0));
    }

    #[test]
    fn a_stall_makes_the_estimate_grow_instead_of_staying_stale() {
        let t0 = Instant::now();
        let mut rate = Throughput::new(RATE_WINDOW);
        rate.start(t0);
        for i in 1..=6 {
            rate.record(t0 + secs(10 * i), 100);
        }
        let last = t0 + secs(60);
        // Within the usual gap the estimate stands.
        assert_eq!(rate.time_left(last + secs(5), 1000), Some(secs(100)));
        // Ten gaps without a sample: the pace is read as a tenth.
        assert_eq!(rate.time_left(last + secs(100), 1000), Some(secs(1000)));
    }

    #[test]
    fn a_phase_starts_its_own_measure_and_a_zero_rate_has_no_estimate() {
        let t0 = Instant::now();
        let mut tracker = Tracker::new();
        tracker.phase(t0, "organizations", Some(10));
        tracker.advance(t0 + secs(1), 10);
        tracker.jobs_in_flight(3);
        tracker.phase(t0 + secs(1), "users", Some(1000));
        let start = tracker.snapshot(t0 + secs(1));
        assert_eq!(
            start,
            Snapshot {
                phase: "users".into(),
                done: 0,
                total: Some(1000),
                jobs_in_flight: 3,
                eta: None,
            }
        );
        tracker.advance(t0 + secs(11), 0);
        assert_eq!(tracker.snapshot(t0 + secs(11)).eta, None, "no records yet");
        tracker.advance(t0 + secs(21), 500);
        let later = tracker.snapshot(t0 + secs(21));
        assert_eq!(later.done, 500);
        assert!(later.eta.is_some_and(|eta| eta > secs(10)), "{later:?}");
        // More done than announced never underflows.
        tracker.advance(t0 + secs(22), 600);
        assert_eq!(tracker.snapshot(t0 + secs(22)).eta, Some(Duration::ZERO));
    }

    #[test]
    fn the_throttle_lets_one_event_through_per_interval_starting_from_the_first() {
        let t0 = Instant::now();
        let mut throttle = Throttle::new(LOG_EVERY);
        let passed: Vec<u64> = [0, 1, 29, 30, 31, 45, 59, 60, 200, 201]
            .into_iter()
            .filter(|s| throttle.due(t0 + secs(*s)))
            .collect();
        assert_eq!(passed, vec![30, 60, 200]);
    }

    /// Log output captured as JSON lines, as `--log-format json` writes them.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn lines(&self) -> Vec<serde_json::Value> {
            let bytes = self.0.lock().unwrap().clone();
            String::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(|line| serde_json::from_str(line).unwrap())
                .collect()
        }
    }

    #[test]
    fn the_log_line_is_throttled_and_carries_its_numbers_as_fields() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .json()
            .with_writer(move || writer.clone())
            .finish();
        let t0 = Instant::now();
        tracing::subscriber::with_default(subscriber, || {
            let log = ProgressLog::new();
            log.phase_at(t0, "users", Some(1_000_000));
            // Events every second for two minutes: a chunk of 1,000 records every 10 s,
            // jobs in flight changing in between.
            for s in 1..=120u64 {
                let at = t0 + secs(s);
                if s % 10 == 0 {
                    log.advance_at(at, 1000);
                } else {
                    log.jobs_in_flight_at(at, (s % 7) as usize);
                }
            }
        });
        let lines = captured.lines();
        let fields: Vec<&serde_json::Value> = lines.iter().map(|l| &l["fields"]).collect();
        // Lines at 30, 60, 90 and 120 s, not one per event.
        assert_eq!(fields.len(), 4, "{lines:?}");
        assert!(lines.iter().all(|l| l["level"] == "DEBUG"));
        let last = fields[3];
        assert_eq!(last["message"], "progress");
        assert_eq!(last["phase"], "users");
        assert_eq!(last["done"], 12_000);
        assert_eq!(last["total"], 1_000_000);
        assert_eq!(last["jobs_in_flight"], 0);
        // 988,000 records left at 100 a second.
        assert_eq!(last["eta_s"], 9880);
        let first = fields[0];
        assert_eq!(first["done"], 3000);
        assert_eq!(first["jobs_in_flight"], 29 % 7);
        assert_eq!(first["eta_s"], 9970);
    }

    #[test]
    fn the_default_log_level_stays_quiet_about_progress() {
        // The operator contract: without a terminal, progress stays out of the logs
        // unless the operator asks for debug detail.
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .json()
            .with_writer(move || writer.clone())
            .finish();
        let t0 = Instant::now();
        tracing::subscriber::with_default(subscriber, || {
            let log = ProgressLog::new();
            log.phase_at(t0, "users", Some(100));
            log.advance_at(t0 + secs(31), 10);
            log.advance_at(t0 + secs(62), 10);
        });
        assert!(captured.lines().is_empty());
    }

    #[test]
    fn unknown_numbers_are_left_out_of_the_log_line() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .json()
            .with_writer(move || writer.clone())
            .finish();
        let t0 = Instant::now();
        tracing::subscriber::with_default(subscriber, || {
            let log = ProgressLog::new();
            log.phase_at(t0, "organizations", None);
            log.jobs_in_flight_at(t0 + secs(31), 4);
        });
        let lines = captured.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let fields = &lines[0]["fields"];
        assert_eq!(fields["jobs_in_flight"], 4);
        assert!(fields.get("total").is_none() && fields.get("eta_s").is_none());
    }
}
