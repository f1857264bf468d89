//! Unit tests of the engine, one file per module of the run, through the clients' mocks
//! (see [`crate::testkit`]): each builds a small world, runs the engine and asserts on the
//! report, the state store and the calls each side received.

mod accounts;
mod apply;
mod chunk;
mod dry_run;
mod people;
mod run;
mod selection;

use domain::Email;

use crate::report::Report;
use crate::state::{FailedRecord, RecordKind, RunRecord, StateStore};

/// The latest run of the history, with its stored report.
fn last_run(state: &StateStore) -> (RunRecord, Report) {
    let run = state
        .recent_runs(1)
        .expect("the run history")
        .into_iter()
        .next()
        .expect("a stored run");
    let report = serde_json::from_str(run.report_json.as_deref().expect("a stored report"))
        .expect("a report");
    (run, report)
}

/// The failures stored for records of `kind`.
fn failures(state: &StateStore, kind: RecordKind) -> Vec<FailedRecord> {
    state
        .failed_records()
        .expect("failed records")
        .into_iter()
        .filter(|f| f.kind == kind)
        .collect()
}

fn email(address: &str) -> Email {
    Email::parse(address).expect("an email")
}
