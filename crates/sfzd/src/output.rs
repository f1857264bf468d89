//! What the binary shows: logs on stderr (human or JSON), a progress bar on a terminal (a
//! throttled progress log line otherwise), the plan of a dry run and the run's summary on
//! stdout.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sync::progress::{Snapshot, Tracker};
use sync::{Progress, Report};
use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Sets up logging on stderr. `RUST_LOG` overrides the level given by `-v`.
pub fn init_logging(format: LogFormat, verbose: u8) {
    let level = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Human => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

/// Prints an error with its chain of causes, once, at the top.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) {
    let mut message = format!("error: {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    eprintln!("{message}");
}

/// Prints an error.
pub fn error(err: &(dyn std::error::Error + 'static)) {
    error_chain(err);
}

/// The progress bar: the phase, records done of its total, jobs in flight and the time
/// left, estimated by the engine's throughput measure (the same as the log line's).
struct Bar {
    bar: ProgressBar,
    tracker: Mutex<Tracker>,
}

impl Bar {
    fn update(&self, change: impl FnOnce(&mut Tracker, Instant)) {
        let now = Instant::now();
        let snapshot = {
            let mut tracker = self.tracker.lock().unwrap_or_else(PoisonError::into_inner);
            change(&mut tracker, now);
            tracker.snapshot(now)
        };
        self.bar.set_message(bar_message(&snapshot));
    }
}

impl Progress for Bar {
    fn phase(&self, name: &str, total: Option<u64>) {
        self.bar.reset();
        self.bar.set_length(total.unwrap_or(0));
        self.bar.set_prefix(name.to_owned());
        self.update(|tracker, now| tracker.phase(now, name, total));
    }

    fn advance(&self, done: u64) {
        // The message first: `inc` may draw, and should draw the new estimate.
        self.update(|tracker, now| tracker.advance(now, done));
        self.bar.inc(done);
    }

    fn jobs_in_flight(&self, jobs: usize) {
        self.update(|tracker, _| tracker.jobs_in_flight(jobs));
    }
}

/// What the bar shows after the count: `jobs 9  eta 45m10s` (`eta -` until measured).
fn bar_message(snapshot: &Snapshot) -> String {
    let eta = snapshot.eta.map_or_else(|| "-".to_owned(), short_duration);
    format!("jobs {}  eta {eta}", snapshot.jobs_in_flight)
}

/// A duration to the second, in at most two units: `12s`, `45m10s`, `2h05m`.
fn short_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if hours > 0 {
        format!("{hours}h{minutes:02}m")
    } else if minutes > 0 {
        format!("{minutes}m{seconds:02}s")
    } else {
        format!("{seconds}s")
    }
}

/// A progress bar on a terminal; otherwise a `progress` log line at most every 30 s
/// ([`sync::ProgressLog`]), so cron and Kubernetes runs say how far they are without a
/// bar's control characters in their logs.
pub fn progress() -> Arc<dyn Progress> {
    if !std::io::stderr().is_terminal() {
        return Arc::new(sync::ProgressLog::new());
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{prefix:>14} [{bar:30}] {pos}/{len}  {msg}  {elapsed}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    Arc::new(Bar {
        bar,
        tracker: Mutex::new(Tracker::new()),
    })
}

/// Prints the plan of a dry run and the run's summary.
pub fn print_report(report: &Report) {
    if report.dry_run {
        println!("plan (dry run: nothing was written):");
        if report.plan.is_empty() {
            println!("  nothing to do");
        }
        for action in &report.plan {
            println!(
                "  {}  [{}]  ({})",
                action.action,
                action.rules.join(", "),
                action.salesforce_ids.join(", ")
            );
        }
    }
    let o = &report.organizations;
    let u = &report.users;
    let m = &report.memberships;
    let verb = if report.dry_run { "would be " } else { "" };
    println!(
        "{} run{}:",
        report.mode.as_str(),
        if report.dry_run { " (dry run)" } else { "" }
    );
    println!(
        "  organizations: {} {verb}created, {} {verb}updated, {} unchanged, {} failed",
        o.created, o.updated, o.unchanged, o.failed
    );
    println!(
        "  users: {} {verb}created, {} {verb}updated, {} unchanged, {} fields skipped (default org doesn't match), {} failed",
        u.created, u.updated, u.unchanged, u.fields_skipped_default_org_mismatch, u.failed
    );
    println!(
        "  memberships: {} {verb}created, {} already present, {} failed",
        m.created, m.already_present, m.failed
    );
    println!(
        "  skipped records: {}, failed records: {}",
        report.skipped.len(),
        report.errors.len()
    );
    println!(
        "  api calls: salesforce {}, zendesk {}; {} ms",
        report.api_calls.salesforce, report.api_calls.zendesk, report.duration_ms
    );
    for warning in &report.warnings {
        println!("  warning: {warning}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_shows_jobs_in_flight_and_the_time_left_in_two_units_at_most() {
        let snapshot = Snapshot {
            phase: "users".into(),
            done: 12_000,
            total: Some(1_000_000),
            jobs_in_flight: 9,
            eta: Some(Duration::from_secs(2710)),
        };
        assert_eq!(bar_message(&snapshot), "jobs 9  eta 45m10s");
        let unknown = Snapshot {
            eta: None,
            ..snapshot
        };
        assert_eq!(bar_message(&unknown), "jobs 9  eta -");
        assert_eq!(short_duration(Duration::from_secs(12)), "12s");
        assert_eq!(short_duration(Duration::from_secs(7500)), "2h05m");
        assert_eq!(short_duration(Duration::from_secs(60)), "1m00s");
    }
}
