//! The Prometheus metrics of the operator contract, served on `/metrics` in continuous mode
//! and written as a node_exporter textfile by `--metrics-file`.
//!
//! The values live in a plain [`Metrics`] struct; [`Metrics::encode`] builds a
//! `prometheus-client` registry from them and encodes it in the Prometheus text format
//! (0.0.4), the format node_exporter's textfile collector reads too. A value that is not
//! known yet (no run has succeeded, Salesforce has not reported its API usage) is left out
//! rather than reported as 0, which would read as a real value.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::AtomicU64;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sync::Report;
use sync::state::{RunOutcomeKind, RunRecord};

use crate::Exit;

/// The `Content-Type` of what [`Metrics::encode`] produces.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// How a run ended, as the `result` label of `sfzd_runs_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RunResult {
    /// Every record synced (exit status 0).
    Ok,
    /// The run finished but some records failed (exit status 3).
    FailedRecords,
    /// The run could not finish or could not start (exit status 1 or 2).
    Error,
}

impl RunResult {
    /// Every result, in label order.
    pub const ALL: [RunResult; 3] = [RunResult::Ok, RunResult::FailedRecords, RunResult::Error];

    /// The result of a run that ended with `exit`.
    pub fn of(exit: Exit) -> Self {
        match exit {
            Exit::Ok => RunResult::Ok,
            Exit::RecordsFailed => RunResult::FailedRecords,
            Exit::RunFailed | Exit::Config => RunResult::Error,
        }
    }

    /// The label value: `ok`, `failed_records` or `error`.
    pub fn label(self) -> &'static str {
        match self {
            RunResult::Ok => "ok",
            RunResult::FailedRecords => "failed_records",
            RunResult::Error => "error",
        }
    }

    /// Whether the run finished (exit 0 or 3): it counts as a success for
    /// `sfzd_last_success_timestamp_seconds`, since failed records are retried by the next
    /// run and have their own counter.
    pub fn finished(self) -> bool {
        self != RunResult::Error
    }
}

/// The `object` label values of `sfzd_records_total`.
pub const OBJECTS: [&str; 3] = ["organization", "user", "membership"];
/// The `outcome` label values of `sfzd_records_total`.
pub const OUTCOMES: [&str; 5] = ["created", "updated", "unchanged", "failed", "skipped"];

/// The metric values of a process (continuous mode) or of one run (a one-shot run).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    last_run: Option<DateTime<Utc>>,
    last_success: Option<DateTime<Utc>>,
    last_duration_seconds: Option<f64>,
    runs: BTreeMap<RunResult, u64>,
    records: BTreeMap<(&'static str, &'static str), u64>,
    salesforce_calls: u64,
    zendesk_calls: u64,
    salesforce_daily_api_remaining: Option<u64>,
}

impl Metrics {
    /// Metrics with every counter at 0 and nothing known yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the last run and last success times from the state file's history, so a
    /// process that just started (or a one-shot run that failed) still reports when the
    /// sync last succeeded. Dry runs and unfinished runs are not counted.
    pub fn remember_history(&mut self, history: &[RunRecord]) {
        for run in history.iter().filter(|run| !run.dry_run) {
            let (Some(finished_at), Some(outcome)) = (run.finished_at, run.outcome) else {
                continue;
            };
            self.last_run = self.last_run.max(Some(finished_at));
            if matches!(outcome, RunOutcomeKind::Ok | RunOutcomeKind::Partial) {
                self.last_success = self.last_success.max(Some(finished_at));
            }
        }
    }

    /// Counts a run that ended at `finished_at` with `report` and exit status `exit`.
    pub fn record_run(&mut self, report: &Report, exit: Exit, finished_at: DateTime<Utc>) {
        let result = RunResult::of(exit);
        *self.runs.entry(result).or_default() += 1;
        self.last_run = Some(finished_at);
        if result.finished() {
            self.last_success = Some(finished_at);
        }
        // Milliseconds to seconds: exact enough for any run length a u64 of ms can hold.
        self.last_duration_seconds = Some(report.duration_ms as f64 / 1000.0);
        for (object, outcome, count) in record_counts(report) {
            *self.records.entry((object, outcome)).or_default() += count;
        }
        self.salesforce_calls += report.api_calls.salesforce;
        self.zendesk_calls += report.api_calls.zendesk;
    }

    /// Sets the Salesforce org's remaining daily API requests, when Salesforce reported them.
    pub fn set_salesforce_daily_api_remaining(&mut self, remaining: Option<u64>) {
        if remaining.is_some() {
            self.salesforce_daily_api_remaining = remaining;
        }
    }

    /// When the last run ended, if one is known.
    pub fn last_run(&self) -> Option<DateTime<Utc>> {
        self.last_run
    }

    /// The metrics in the Prometheus text exposition format (0.0.4).
    pub fn encode(&self) -> String {
        let mut registry = Registry::default();
        let timestamp = |at: DateTime<Utc>| {
            let gauge = Gauge::<f64, AtomicU64>::default();
            // Seconds with millisecond precision, as Prometheus' own `time()`.
            gauge.set(at.timestamp_millis() as f64 / 1000.0);
            gauge
        };
        if let Some(at) = self.last_run {
            registry.register(
                "sfzd_last_run_timestamp_seconds",
                "When the last sync run ended (Unix time), whatever its result",
                timestamp(at),
            );
        }
        if let Some(at) = self.last_success {
            registry.register(
                "sfzd_last_success_timestamp_seconds",
                "When the last sync run that finished (exit status 0 or 3) ended (Unix time)",
                timestamp(at),
            );
        }
        if let Some(seconds) = self.last_duration_seconds {
            let gauge = Gauge::<f64, AtomicU64>::default();
            gauge.set(seconds);
            registry.register(
                "sfzd_run_duration_seconds",
                "How long the last sync run took",
                gauge,
            );
        }

        // Every label combination is present from the start, so a rate over a counter
        // that was never incremented is 0 rather than missing.
        let runs = Family::<ResultLabels, Counter>::default();
        for result in RunResult::ALL {
            runs.get_or_create(&ResultLabels {
                result: result.label(),
            })
            .inc_by(self.runs.get(&result).copied().unwrap_or(0));
        }
        // prometheus-client appends the `_total` of counters itself.
        registry.register(
            "sfzd_runs",
            "Sync runs by result: ok (exit 0), failed_records (exit 3), error (exit 1 or 2)",
            runs,
        );

        let records = Family::<RecordLabels, Counter>::default();
        for object in OBJECTS {
            for outcome in OUTCOMES {
                records
                    .get_or_create(&RecordLabels { object, outcome })
                    .inc_by(self.records.get(&(object, outcome)).copied().unwrap_or(0));
            }
        }
        registry.register(
            "sfzd_records",
            "Records by Zendesk object and outcome (memberships already present count as unchanged)",
            records,
        );

        let calls = Family::<SystemLabels, Counter>::default();
        calls
            .get_or_create(&SystemLabels {
                system: "salesforce",
            })
            .inc_by(self.salesforce_calls);
        calls
            .get_or_create(&SystemLabels { system: "zendesk" })
            .inc_by(self.zendesk_calls);
        registry.register(
            "sfzd_api_calls",
            "API requests sent, retries and token requests included",
            calls,
        );

        if let Some(remaining) = self.salesforce_daily_api_remaining {
            let gauge = Gauge::<i64>::default();
            gauge.set(i64::try_from(remaining).unwrap_or(i64::MAX));
            registry.register(
                "sfzd_salesforce_daily_api_remaining",
                "Requests left in the Salesforce org's rolling 24-hour API allocation, as last reported",
                gauge,
            );
        }

        let mut text = String::new();
        // Writing to a String cannot fail; an encoder error would leave what was written.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &registry);
        text
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RecordLabels {
    object: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SystemLabels {
    system: &'static str,
}

/// The `(object, outcome, count)` of a report, as `sfzd_records_total` counts them.
///
/// Skipped records are attributed by their Salesforce Id's key prefix: `001` accounts are
/// organizations, `07k` account-contact relations are memberships, and contacts, leads and
/// records without a usable Id are users.
pub fn record_counts(report: &Report) -> Vec<(&'static str, &'static str, u64)> {
    let o = &report.organizations;
    let u = &report.users;
    let m = &report.memberships;
    let mut skipped = [0_u64; 3];
    for skip in &report.skipped {
        let index = match skip.salesforce_id.get(..3) {
            Some("001") => 0,
            Some(prefix) if prefix.eq_ignore_ascii_case("07k") => 2,
            _ => 1,
        };
        skipped[index] += 1;
    }
    vec![
        ("organization", "created", o.created),
        ("organization", "updated", o.updated),
        ("organization", "unchanged", o.unchanged),
        ("organization", "failed", o.failed),
        ("organization", "skipped", skipped[0]),
        ("user", "created", u.created),
        ("user", "updated", u.updated),
        ("user", "unchanged", u.unchanged),
        ("user", "failed", u.failed),
        ("user", "skipped", skipped[1]),
        ("membership", "created", m.created),
        ("membership", "updated", 0),
        ("membership", "unchanged", m.already_present),
        ("membership", "failed", m.failed),
        ("membership", "skipped", skipped[2]),
    ]
}

/// Writes `text` to `path` atomically: to a temporary file in the same directory, synced,
/// then renamed over `path`, so a collector never reads a half-written file.
///
/// # Errors
///
/// The I/O error of creating, writing or renaming the file.
pub fn write_textfile(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    // node_exporter only reads `*.prom` files, so the temporary name never matches.
    let mut file = tempfile::Builder::new()
        .prefix(".sfzd-metrics-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    file.write_all(text.as_bytes())?;
    file.as_file().sync_all()?;
    // A temporary file is private (0600); the collector may run as another user.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    file.persist(path).map_err(|err| err.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use chrono::TimeZone as _;
    use prometheus_parse::{Scrape, Value};
    use sync::RunMode;

    fn parse(text: &str) -> Scrape {
        Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).unwrap()
    }

    fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<Value> {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| s.value.clone())
    }

    fn report() -> Report {
        let mut report = Report::new(RunMode::Incremental, false);
        report.organizations.created = 2;
        report.users.updated = 3;
        report.users.failed = 1;
        report.memberships.already_present = 4;
        report.api_calls.salesforce = 5;
        report.api_calls.zendesk = 7;
        report.duration_ms = 1500;
        report.skip("001000000000001AAA", "no name");
        report.skip("003000000000001AAA", "no email");
        report.skip("07k000000000001AAA", "inactive");
        report.skip("", "no id");
        report
    }

    #[test]
    fn a_fresh_process_reports_zero_counters_and_no_timestamps() {
        let scrape = parse(&Metrics::new().encode());
        for result in ["ok", "failed_records", "error"] {
            assert_eq!(
                value(&scrape, "sfzd_runs_total", &[("result", result)]),
                Some(Value::Counter(0.0)),
                "{result}"
            );
        }
        for object in OBJECTS {
            for outcome in OUTCOMES {
                assert_eq!(
                    value(
                        &scrape,
                        "sfzd_records_total",
                        &[("object", object), ("outcome", outcome)]
                    ),
                    Some(Value::Counter(0.0))
                );
            }
        }
        for name in [
            "sfzd_last_run_timestamp_seconds",
            "sfzd_last_success_timestamp_seconds",
            "sfzd_run_duration_seconds",
            "sfzd_salesforce_daily_api_remaining",
        ] {
            assert_eq!(value(&scrape, name, &[]), None, "{name}");
        }
    }

    #[test]
    fn runs_add_up_under_the_contract_names_and_labels() {
        let mut metrics = Metrics::new();
        let first = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let second = first + chrono::Duration::minutes(5);
        metrics.record_run(&report(), Exit::RecordsFailed, first);
        metrics.record_run(&report(), Exit::RunFailed, second);
        metrics.set_salesforce_daily_api_remaining(Some(99_000));
        metrics.set_salesforce_daily_api_remaining(None);
        let scrape = parse(&metrics.encode());
        let get = |name, labels: &[(&str, &str)]| value(&scrape, name, labels).unwrap();

        assert_eq!(
            get("sfzd_runs_total", &[("result", "failed_records")]),
            Value::Counter(1.0)
        );
        assert_eq!(
            get("sfzd_runs_total", &[("result", "error")]),
            Value::Counter(1.0)
        );
        assert_eq!(
            get("sfzd_runs_total", &[("result", "ok")]),
            Value::Counter(0.0)
        );
        let records = |object, outcome| {
            get(
                "sfzd_records_total",
                &[("object", object), ("outcome", outcome)],
            )
        };
        assert_eq!(records("organization", "created"), Value::Counter(4.0));
        assert_eq!(records("user", "updated"), Value::Counter(6.0));
        assert_eq!(records("user", "failed"), Value::Counter(2.0));
        assert_eq!(records("membership", "unchanged"), Value::Counter(8.0));
        assert_eq!(records("organization", "skipped"), Value::Counter(2.0));
        assert_eq!(records("user", "skipped"), Value::Counter(4.0));
        assert_eq!(records("membership", "skipped"), Value::Counter(2.0));
        assert_eq!(
            get("sfzd_api_calls_total", &[("system", "salesforce")]),
            Value::Counter(10.0)
        );
        assert_eq!(
            get("sfzd_api_calls_total", &[("system", "zendesk")]),
            Value::Counter(14.0)
        );
        assert_eq!(
            get("sfzd_last_run_timestamp_seconds", &[]),
            Value::Gauge(second.timestamp() as f64)
        );
        // The second run failed: the last success is the first one.
        assert_eq!(
            get("sfzd_last_success_timestamp_seconds", &[]),
            Value::Gauge(first.timestamp() as f64)
        );
        assert_eq!(get("sfzd_run_duration_seconds", &[]), Value::Gauge(1.5));
        assert_eq!(
            get("sfzd_salesforce_daily_api_remaining", &[]),
            Value::Gauge(99_000.0)
        );
    }

    #[test]
    fn the_history_gives_the_last_run_and_success_of_earlier_processes() {
        let mut state = sync::StateStore::open_in_memory().unwrap();
        for (outcome, dry_run) in [
            (RunOutcomeKind::Partial, false),
            (RunOutcomeKind::Failed, false),
            (RunOutcomeKind::Ok, true),
        ] {
            let run = state
                .begin_run(sync::RunMode::Incremental, dry_run)
                .unwrap();
            state.finish_run(run, outcome, "{}").unwrap();
        }
        state.begin_run(sync::RunMode::Incremental, false).unwrap();
        let history = state.recent_runs(10).unwrap();
        let finished = |outcome: RunOutcomeKind| {
            history
                .iter()
                .find(|run| run.outcome == Some(outcome))
                .and_then(|run| run.finished_at)
        };
        let mut metrics = Metrics::new();
        metrics.remember_history(&history);
        // The dry run and the unfinished run do not count.
        assert_eq!(metrics.last_run, finished(RunOutcomeKind::Failed));
        assert_eq!(metrics.last_success, finished(RunOutcomeKind::Partial));
    }

    #[test]
    fn the_textfile_is_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sfzd.prom");
        std::fs::write(&path, "old").unwrap();
        write_textfile(&path, "new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("sfzd.prom")]);
        assert!(write_textfile(&dir.path().join("absent/sfzd.prom"), "x").is_err());
    }
}
