//! `sfzd runs`: the run history kept in the state file, newest first, as a table or JSON.
//!
//! The history is read without taking the state file's lock, so it can be looked at while
//! a run, or a continuous `sfzd sync --every`, holds the file. No secret is needed.

use std::path::PathBuf;

use chrono::SecondsFormat;
use clap::Args;
use serde::Serialize;
use sync::state::{RunOutcomeKind, RunRecord};

use crate::Exit;
use crate::config::Config;
use crate::output;

/// `sfzd runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// The configuration file (TOML); its `state.path` holds the history.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// How many runs to show, newest first.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
    /// Prints a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One run as `sfzd runs --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    /// The run's number in the state file; later runs have larger numbers.
    pub id: i64,
    /// `full` or `incremental`.
    pub mode: String,
    /// Whether it was a dry run.
    pub dry_run: bool,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// When it finished; `null` while it runs, or if the process was killed.
    pub finished_at: Option<String>,
    /// How long it took, from its report.
    pub duration_ms: Option<u64>,
    /// `ok`, `partial` (some records failed), `failed`, `interrupted`, or `running`.
    pub outcome: String,
    /// The exit status the run had (0, 1 or 3), when it finished.
    pub exit_status: Option<u8>,
    /// Counts from the run's report, when it finished.
    pub counts: Option<Counts>,
    /// API calls from the run's report, when it finished.
    pub api_calls: Option<sync::report::ApiCalls>,
}

/// The created, updated and failed counts of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Organizations, users and memberships created.
    pub created: u64,
    /// Organizations and users updated.
    pub updated: u64,
    /// Records whose write failed.
    pub failed: u64,
    /// Records left out (e.g. no valid email).
    pub skipped: u64,
}

impl RunSummary {
    /// Summarizes a stored run. A report that cannot be read (written by another version)
    /// leaves the counts out rather than failing the whole listing.
    pub fn from_record(run: &RunRecord) -> Self {
        let report: Option<sync::Report> = run
            .report_json
            .as_deref()
            .and_then(|json| serde_json::from_str(json).ok());
        let outcome = run
            .outcome
            .map_or_else(|| "running".to_owned(), |o| o.as_str().to_owned());
        let exit_status = run.outcome.map(|outcome| match outcome {
            RunOutcomeKind::Ok => Exit::Ok as u8,
            RunOutcomeKind::Partial => Exit::RecordsFailed as u8,
            RunOutcomeKind::Failed | RunOutcomeKind::Interrupted => Exit::RunFailed as u8,
        });
        let time =
            |at: chrono::DateTime<chrono::Utc>| at.to_rfc3339_opts(SecondsFormat::Secs, true);
        RunSummary {
            id: run.id.get(),
            mode: run.mode.as_str().to_owned(),
            dry_run: run.dry_run,
            started_at: time(run.started_at),
            finished_at: run.finished_at.map(time),
            duration_ms: report.as_ref().map(|r| r.duration_ms),
            outcome,
            exit_status,
            counts: report.as_ref().map(|r| Counts {
                created: r.organizations.created + r.users.created + r.memberships.created,
                updated: r.organizations.updated + r.users.updated,
                failed: r.errors.len() as u64,
                skipped: r.skipped.len() as u64,
            }),
            api_calls: report.map(|r| r.api_calls),
        }
    }
}

/// The table `sfzd runs` prints: a header and one line per run.
pub fn table(runs: &[RunSummary]) -> Vec<String> {
    let mut lines = vec![format!(
        "{:>5}  {:<20}  {:<12}  {:>9}  {:<12}  {:>4}  {:>7}  {:>7}  {:>6}  {:>7}  {:>10}  {:>7}",
        "run",
        "started (UTC)",
        "mode",
        "duration",
        "outcome",
        "exit",
        "created",
        "updated",
        "failed",
        "skipped",
        "salesforce",
        "zendesk"
    )];
    let or_dash = |value: Option<u64>| value.map_or_else(|| "-".to_owned(), |v| v.to_string());
    for run in runs {
        let mode = if run.dry_run {
            format!("{} dry", run.mode)
        } else {
            run.mode.clone()
        };
        let duration = run.duration_ms.map_or_else(
            || "-".to_owned(),
            |ms| format!("{:.1}s", ms as f64 / 1000.0),
        );
        let counts = run.counts.as_ref();
        let calls = run.api_calls.as_ref();
        lines.push(format!(
            "{:>5}  {:<20}  {:<12}  {:>9}  {:<12}  {:>4}  {:>7}  {:>7}  {:>6}  {:>7}  {:>10}  {:>7}",
            run.id,
            run.started_at,
            mode,
            duration,
            run.outcome,
            run.exit_status
                .map_or_else(|| "-".to_owned(), |code| code.to_string()),
            or_dash(counts.map(|c| c.created)),
            or_dash(counts.map(|c| c.updated)),
            or_dash(counts.map(|c| c.failed)),
            or_dash(counts.map(|c| c.skipped)),
            or_dash(calls.map(|c| c.salesforce)),
            or_dash(calls.map(|c| c.zendesk)),
        ));
    }
    lines
}

/// `sfzd runs --config FILE [--limit N] [--json]`.
pub fn runs(args: &RunsArgs) -> Exit {
    let state_path = match Config::load_state_path(&args.config) {
        Ok(path) => path,
        Err(err) => {
            output::error(&err);
            return Exit::Config;
        }
    };
    let records = if state_path.exists() {
        match sync::state::read_recent_runs(&state_path, args.limit) {
            Ok(records) => records,
            Err(err) => {
                output::error_chain(&err);
                return Exit::RunFailed;
            }
        }
    } else {
        Vec::new()
    };
    let summaries: Vec<RunSummary> = records.iter().map(RunSummary::from_record).collect();
    if args.json {
        match serde_json::to_string_pretty(&summaries) {
            Ok(json) => println!("{json}"),
            Err(err) => {
                eprintln!("error: could not encode the history as JSON: {err}");
                return Exit::RunFailed;
            }
        }
    } else if summaries.is_empty() {
        println!(
            "no runs recorded yet in {}; `sfzd sync --config {}` records each run",
            state_path.display(),
            args.config.display()
        );
    } else {
        for line in table(&summaries) {
            println!("{line}");
        }
    }
    Exit::Ok
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use sync::{Report, RunMode, StateStore};

    #[test]
    fn runs_are_summarized_from_their_stored_reports() {
        let mut state = StateStore::open_in_memory().unwrap();
        let mut report = Report::new(RunMode::Full, false);
        report.organizations.created = 2;
        report.users.created = 3;
        report.users.updated = 4;
        report.memberships.created = 5;
        report.error("003000000000001AAA", "refused");
        report.skip("003000000000002AAA", "no email");
        report.api_calls.salesforce = 6;
        report.api_calls.zendesk = 7;
        report.duration_ms = 2500;
        let first = state.begin_run(sync::RunMode::Full, false).unwrap();
        state
            .finish_run(
                first,
                sync::state::RunOutcomeKind::Partial,
                &serde_json::to_string(&report).unwrap(),
            )
            .unwrap();
        state.begin_run(sync::RunMode::Incremental, true).unwrap();

        let summaries: Vec<RunSummary> = state
            .recent_runs(10)
            .unwrap()
            .iter()
            .map(RunSummary::from_record)
            .collect();
        assert_eq!(summaries.len(), 2);
        let running = &summaries[0];
        assert_eq!(
            (
                running.outcome.as_str(),
                running.exit_status,
                running.dry_run
            ),
            ("running", None, true)
        );
        assert_eq!(running.counts, None);
        let done = &summaries[1];
        assert_eq!(done.mode, "full");
        assert_eq!(done.outcome, "partial");
        assert_eq!(done.exit_status, Some(3));
        assert_eq!(done.duration_ms, Some(2500));
        assert_eq!(
            done.counts,
            Some(Counts {
                created: 10,
                updated: 4,
                failed: 1,
                skipped: 1
            })
        );
        assert_eq!(
            done.api_calls,
            Some(sync::report::ApiCalls {
                salesforce: 6,
                zendesk: 7
            })
        );

        let lines = table(&summaries);
        assert_eq!(lines.len(), 3);
        assert!(lines[0].contains("started (UTC)") && lines[0].contains("zendesk"));
        assert!(lines[1].contains("incremental dry") && lines[1].contains("running"));
        let done_line: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(
            done_line[2..],
            [
                "full", "2.5s", "partial", "3", "10", "4", "1", "1", "6", "7"
            ]
        );
    }
}
