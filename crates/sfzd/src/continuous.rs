//! Continuous mode, `sfzd sync --config FILE --every 5m`: an incremental run every
//! interval until SIGINT or SIGTERM, with `/metrics` and `/healthz` on `--listen`.
//!
//! The process opens the state file once and holds its lock for its whole life, so no
//! cron run can slip in between two of its runs. Each run gets fresh API clients (one
//! token request per system per run, like a cron run) so per-run call counts are the
//! clients' own and nothing grows from run to run. A run that fails for an exit-1 cause is
//! logged and retried with capped backoff; a configuration error (exit 2) stops the
//! process, since repeating it cannot help. A stop signal lets the run in flight finish its
//! chunk (the engine's cancel flag), then the process exits 0; a second signal exits at
//! once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::{DateTime, SecondsFormat, Utc};
use salesforce_client::SalesforceApi as _;
use sync::{Engine, RunOutcome, StateStore, SyncError};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::Exit;
use crate::cli::{self, SyncArgs};
use crate::config::Config;
use crate::metrics::{self, Metrics};
use crate::output;

/// The longest wait between two runs while runs keep failing, unless the interval itself
/// is longer. It stays under the staleness limit of `/healthz` (three intervals plus five
/// minutes), so backoff alone never makes the process look stuck.
pub const BACKOFF_CAP: Duration = Duration::from_secs(10 * 60);

/// How much history is read at start to know when the sync last succeeded.
const HISTORY_AT_START: usize = 100;

/// Parses a humane duration: whole numbers with a unit, `s`, `m`, `h` or `d`, optionally
/// combined (`30s`, `5m`, `1h`, `1h30m`). At least one second.
///
/// # Errors
///
/// A message saying what was expected.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let usage = || {
        format!(
            "invalid duration {text:?}: use whole numbers with a unit (s, m, h or d), e.g. 30s, 5m, 1h or 1h30m"
        )
    };
    let mut total: u64 = 0;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(usage());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(usage());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| usage())?;
        rest = &rest[digits..];
        let unit = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let seconds = match &rest[..unit] {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(usage()),
        };
        rest = &rest[unit..];
        total = number
            .checked_mul(seconds)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(usage)?;
    }
    if total == 0 {
        return Err(format!("invalid duration {text:?}: must be at least 1s"));
    }
    Ok(Duration::from_secs(total))
}

/// Formats a duration as [`parse_interval`] reads it, e.g. `1h30m`.
pub fn format_interval(duration: Duration) -> String {
    let mut seconds = duration.as_secs();
    if seconds == 0 {
        return format!("{}ms", duration.as_millis());
    }
    let mut text = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if seconds >= size {
            text.push_str(&format!("{}{unit}", seconds / size));
            seconds %= size;
        }
    }
    text
}

/// The wait from the start of a run to the start of the next: the interval, doubled for
/// each consecutive failed run after the first, up to `max(interval, BACKOFF_CAP)`.
pub fn next_delay(interval: Duration, consecutive_failures: u32) -> Duration {
    let cap = interval.max(BACKOFF_CAP);
    let Some(doublings) = consecutive_failures.checked_sub(1) else {
        return interval;
    };
    2_u32
        .checked_pow(doublings)
        .and_then(|factor| interval.checked_mul(factor))
        .map_or(cap, |delay| delay.min(cap))
}

/// What `/healthz` answers: unhealthy when the last finished run failed, or when no run
/// has finished for longer than three intervals plus five minutes.
#[derive(Debug, Clone)]
pub struct Health {
    stale_after: Duration,
    /// When the last run finished, or when the process started before any did.
    last_finished: Instant,
    /// Why the last finished run failed, with when it ended.
    failure: Option<String>,
}

impl Health {
    /// The health of a process started at `now`, running every `interval`.
    pub fn new(interval: Duration, now: Instant) -> Self {
        Self {
            stale_after: interval
                .saturating_mul(3)
                .saturating_add(Duration::from_secs(5 * 60)),
            last_finished: now,
            failure: None,
        }
    }

    /// A run finished at `now`; `failure` says why it failed, `None` when it finished.
    pub fn record(&mut self, now: Instant, failure: Option<String>) {
        self.last_finished = now;
        self.failure = failure;
    }

    /// `Ok` when healthy at `now`, else the reason.
    ///
    /// # Errors
    ///
    /// The reason the process is unhealthy, for the operator.
    pub fn check(&self, now: Instant) -> Result<(), String> {
        if let Some(failure) = &self.failure {
            return Err(format!("the last run failed: {failure}"));
        }
        let quiet = now.saturating_duration_since(self.last_finished);
        if quiet > self.stale_after {
            return Err(format!(
                "no run has finished for {}, longer than three intervals plus five minutes ({})",
                format_interval(Duration::from_secs(quiet.as_secs())),
                format_interval(self.stale_after)
            ));
        }
        Ok(())
    }
}

/// What the listener serves, updated after each run.
#[derive(Debug)]
pub struct Status {
    /// The process's metrics.
    pub metrics: Metrics,
    /// The process's health.
    pub health: Health,
}

/// The status shared between the run loop and the listener.
pub type SharedStatus = Arc<Mutex<Status>>;

fn lock(status: &SharedStatus) -> MutexGuard<'_, Status> {
    // A panic elsewhere must not take monitoring down with it.
    status.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The `/metrics` and `/healthz` routes.
pub fn router(status: SharedStatus) -> Router {
    Router::new()
        .route("/metrics", get(serve_metrics))
        .route("/healthz", get(serve_health))
        .with_state(status)
}

async fn serve_metrics(State(status): State<SharedStatus>) -> impl IntoResponse {
    let text = lock(&status).metrics.encode();
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text)
}

async fn serve_health(State(status): State<SharedStatus>) -> (StatusCode, String) {
    match lock(&status).health.check(Instant::now()) {
        Ok(()) => (StatusCode::OK, "ok\n".to_owned()),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")),
    }
}

/// An error and its causes on one line, as `output::error_chain` prints them.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// One run with fresh clients: its outcome and the Salesforce org's remaining daily API
/// requests, or the exit status when the clients cannot be built from the configuration.
async fn run_once(
    config: &Config,
    state: &mut StateStore,
    cancel: Arc<AtomicBool>,
) -> Result<(RunOutcome, Option<u64>), Exit> {
    let clients = cli::clients(config).map_err(|err| {
        output::error_chain(&*err);
        Exit::Config
    })?;
    let engine = Engine::new(
        &clients.salesforce,
        &clients.zendesk,
        Some(&clients.zendesk),
        cli::options(config, false),
    )
    .with_progress(output::progress())
    .with_cancel(cancel)
    .with_call_counter(cli::call_counter(&clients.salesforce, &clients.zendesk));
    // The report, and the run stored in the history, carry this run's calls.
    let outcome = engine.run(state).await;
    let remaining = clients
        .salesforce
        .api_usage()
        .map(|usage| usage.remaining());
    Ok((outcome, remaining))
}

/// `sfzd sync --config FILE --every INTERVAL`: runs until a stop signal (exit 0), a
/// configuration error (exit 2), or a failure to start (exit 1: the state file is held by
/// another run; exit 2: the listen address cannot be used).
pub async fn sync_every(args: SyncArgs, interval: Duration) -> Exit {
    let config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(err) => {
            output::error(&err);
            return Exit::Config;
        }
    };
    let mut state = match StateStore::open(&config.state.path) {
        Ok(state) => state,
        Err(err) => {
            output::error(&err);
            return Exit::RunFailed;
        }
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let (stop, mut stopped) = watch::channel(false);
    let flag = cancel.clone();
    cli::stop_on_signals(
        move || {
            flag.store(true, Ordering::SeqCst);
            stop.send_replace(true);
        },
        "stop requested: the run in flight finishes its chunk, then sfzd exits (signal again to stop at once)",
    );

    let mut metrics = Metrics::new();
    match state.recent_runs(HISTORY_AT_START) {
        Ok(history) => metrics.remember_history(&history),
        Err(err) => tracing::warn!(error = %chain(&err), "could not read the run history"),
    }
    let status = Arc::new(Mutex::new(Status {
        metrics,
        health: Health::new(interval, Instant::now()),
    }));
    if let Some(address) = args.listen {
        let listener = match tokio::net::TcpListener::bind(address).await {
            Ok(listener) => listener,
            Err(err) => {
                eprintln!(
                    "error: cannot listen on {address}: {err}; choose a free address for --listen"
                );
                return Exit::Config;
            }
        };
        let local = listener.local_addr().unwrap_or(address);
        tracing::info!(address = %local, "serving /metrics and /healthz");
        let mut shutdown = stopped.clone();
        let app = router(status.clone());
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = shutdown.wait_for(|stop| *stop).await;
                })
                .await;
            if let Err(err) = served {
                tracing::error!(error = %err, "the metrics listener stopped");
            }
        });
    }
    tracing::info!(
        every = %format_interval(interval),
        state = %config.state.path.display(),
        "continuous mode: an incremental run every interval until SIGINT or SIGTERM"
    );

    let mut failures: u32 = 0;
    loop {
        let started = Instant::now();
        let (mut outcome, remaining) = match run_once(&config, &mut state, cancel.clone()).await {
            Ok(done) => done,
            Err(exit) => return exit,
        };
        // A run stopped by a signal is said once below, in words that fit a process that
        // exits 0; `finish` would tell the operator to run again.
        let interrupted = matches!(outcome.error, Some(SyncError::Interrupted));
        if interrupted {
            outcome.error = None;
        }
        let mut exit = cli::finish(&outcome, args.report.as_deref());
        if interrupted {
            tracing::info!(
                "the run in flight stopped after its chunk; its state is stored and the next start continues from there"
            );
            // It did not finish: counted as an error, like a one-shot run stopped this way.
            exit = Exit::RunFailed;
        }
        let failure = match exit {
            Exit::RunFailed | Exit::Config => Some(format!(
                "{} (run ended {})",
                match (&outcome.error, interrupted) {
                    (Some(err), _) => chain(err),
                    (None, true) => "stopped by a signal".to_owned(),
                    (None, false) => "the report could not be written".to_owned(),
                },
                Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
            )),
            Exit::Ok | Exit::RecordsFailed => None,
        };
        let text = {
            let mut status = lock(&status);
            status
                .metrics
                .record_run(&outcome.report, exit, finished_at(&state));
            status.metrics.set_salesforce_daily_api_remaining(remaining);
            status.health.record(Instant::now(), failure);
            status.metrics.encode()
        };
        if let Some(path) = &args.metrics_file
            && let Err(err) = metrics::write_textfile(path, &text)
        {
            tracing::warn!(
                file = %path.display(),
                error = %err,
                "could not write the metrics file; check that its directory exists and is writable"
            );
        }
        if cancel.load(Ordering::SeqCst) {
            tracing::info!("stopped on request");
            return Exit::Ok;
        }
        match exit {
            Exit::Config => return Exit::Config,
            Exit::RunFailed => failures = failures.saturating_add(1),
            Exit::Ok | Exit::RecordsFailed => failures = 0,
        }
        let delay = next_delay(interval, failures);
        let next = started + delay;
        if failures > 0 {
            tracing::warn!(
                consecutive_failures = failures,
                next_run_in = %format_interval(next.saturating_duration_since(Instant::now())),
                "the run failed; retrying with backoff"
            );
        } else {
            tracing::info!(
                next_run_in = %format_interval(next.saturating_duration_since(Instant::now())),
                "run finished"
            );
        }
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            _ = stopped.wait_for(|stop| *stop) => {
                tracing::info!("stopped on request");
                return Exit::Ok;
            }
        }
    }
}

/// When the last run ended, as the state file's history says (so the metrics and
/// `sfzd runs` agree to the millisecond); now, if the run could not be recorded.
fn finished_at(state: &StateStore) -> DateTime<Utc> {
    state
        .recent_runs(1)
        .ok()
        .and_then(|runs| runs.first()?.finished_at)
        .unwrap_or_else(Utc::now)
}

/// Writes the metrics of a one-shot run to `--metrics-file`: that run's counters, with the
/// last run and last success taken from the state file's history as well.
pub fn write_one_shot_metrics(
    path: &std::path::Path,
    state: &StateStore,
    outcome: &RunOutcome,
    exit: Exit,
    salesforce_daily_api_remaining: Option<u64>,
) -> Exit {
    let mut metrics = Metrics::new();
    if let Ok(history) = state.recent_runs(HISTORY_AT_START) {
        metrics.remember_history(&history);
    }
    metrics.record_run(&outcome.report, exit, finished_at(state));
    metrics.set_salesforce_daily_api_remaining(salesforce_daily_api_remaining);
    match metrics::write_textfile(path, &metrics.encode()) {
        Ok(()) => exit,
        Err(err) => {
            eprintln!(
                "error: could not write the metrics file {}: {err}; check that its directory exists and is writable",
                path.display()
            );
            // Like a report that cannot be written: the operator's monitoring is blind.
            if exit == Exit::Ok {
                Exit::RunFailed
            } else {
                exit
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn intervals_are_humane_durations() {
        for (text, seconds) in [
            ("30s", 30),
            ("5m", 300),
            ("1h", 3600),
            ("1h30m", 5400),
            ("2d", 172_800),
            (" 1s ", 1),
        ] {
            assert_eq!(
                parse_interval(text),
                Ok(Duration::from_secs(seconds)),
                "{text}"
            );
            assert_eq!(
                parse_interval(&format_interval(Duration::from_secs(seconds))),
                Ok(Duration::from_secs(seconds))
            );
        }
        for text in [
            "",
            "5",
            "m",
            "5x",
            "1.5m",
            "-1m",
            "0s",
            "5 m",
            "99999999999999999999d",
        ] {
            let err = parse_interval(text).unwrap_err();
            assert!(err.contains(&format!("{text:?}")), "{err}");
        }
    }

    #[test]
    fn failed_runs_back_off_up_to_a_cap() {
        let minute = Duration::from_secs(60);
        let cases = [
            (5 * minute, 0, 5 * minute),
            (5 * minute, 1, 5 * minute),
            (5 * minute, 2, 10 * minute),
            (5 * minute, 3, 10 * minute),
            (Duration::from_secs(1), 3, Duration::from_secs(4)),
            (Duration::from_secs(1), 40, BACKOFF_CAP),
            (60 * minute, 5, 60 * minute),
        ];
        for (interval, failures, expected) in cases {
            assert_eq!(
                next_delay(interval, failures),
                expected,
                "{interval:?} after {failures} failures"
            );
        }
    }

    #[test]
    fn health_fails_with_the_last_run_or_when_runs_stop_finishing() {
        let start = Instant::now();
        let minute = Duration::from_secs(60);
        let mut health = Health::new(5 * minute, start);
        assert_eq!(health.check(start + 20 * minute), Ok(()));
        let stale = health.check(start + 20 * minute + Duration::from_secs(1));
        assert!(
            stale
                .as_ref()
                .is_err_and(|reason| reason.contains("no run has finished for 20m1s")),
            "{stale:?}"
        );

        health.record(start + 21 * minute, Some("zendesk: 503".into()));
        assert_eq!(
            health.check(start + 21 * minute),
            Err("the last run failed: zendesk: 503".into())
        );
        health.record(start + 22 * minute, None);
        assert_eq!(health.check(start + 42 * minute), Ok(()));
        assert!(health.check(start + 43 * minute).is_err());
    }
}
