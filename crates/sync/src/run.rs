//! The life of one run: prerequisites, the order of the phases, stopping on request, and
//! what is stored in the run history when it ends, whatever ended it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use chrono::{DateTime, Utc};
use domain::{Capabilities, EffectiveSettings, PersonObject, Rule, Settings};
use salesforce_client::{SalesforceApi, SalesforceError};
use zendesk_client::{JobPoller, PollConfig, ZendeskError, ZendeskRead, ZendeskWrite};

use crate::accounts::OrganizationLinks;
use crate::mapping::FieldMapping;
use crate::report::{ApiCalls, PlannedAction, Report, RunMode};
use crate::staging::StagingError;
use crate::state::{RunOutcomeKind, StateError, StateStore, Watermark};
use crate::writing::Writer;

/// Why a run could not finish (exit status 1), or could not start (exit status 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// A setting's prerequisite is missing: nothing was written.
    #[error("configuration: {0}")]
    Prerequisites(#[from] domain::PrerequisiteError),
    /// Salesforce could not be read.
    #[error("salesforce")]
    Salesforce(#[from] SalesforceError),
    /// Zendesk could not be read or written.
    #[error("zendesk")]
    Zendesk(#[from] ZendeskError),
    /// The state file could not be used.
    #[error("state store")]
    State(#[from] StateError),
    /// Records could not be staged for grouping.
    #[error("staging")]
    Staging(#[from] StagingError),
    /// The run was asked to stop; the in-flight chunk finished first.
    #[error(
        "interrupted: the in-flight chunk finished and its state is stored; run again to continue"
    )]
    Interrupted,
}

impl From<crate::directory::DirectoryError> for SyncError {
    fn from(err: crate::directory::DirectoryError) -> Self {
        match err {
            crate::directory::DirectoryError::Zendesk(err) => Self::Zendesk(err),
            crate::directory::DirectoryError::Index(err) => Self::Staging(StagingError::from(err)),
        }
    }
}

impl SyncError {
    /// Whether the run could not start because of its configuration (exit status 2).
    pub fn is_configuration(&self) -> bool {
        matches!(self, Self::Prerequisites(_))
    }
}

/// What a run does, besides the clients it talks to.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// The integration's settings.
    pub settings: Settings,
    /// Field mappings.
    pub mapping: FieldMapping,
    /// SOQL condition on Account.
    pub accounts_filter: Option<String>,
    /// SOQL condition on Contact or Lead.
    pub contacts_filter: Option<String>,
    /// Ignore the stored watermark and consider every record.
    pub full: bool,
    /// Email groups per chunk.
    pub chunk_size: usize,
    /// How bulk jobs are polled.
    pub poll: PollConfig,
    /// How far before the stored watermark incremental runs read again. Salesforce stamps
    /// a record when its transaction starts, so a change committed after a run's read can
    /// carry an older stamp than that run's watermark; re-reading the overlap is free of
    /// writes because plans are idempotent.
    pub look_back: std::time::Duration,
}

/// The default look-back of incremental reads: longer than Salesforce transactions
/// usually stay open (Apex, Flow, Data Loader batches).
pub const DEFAULT_LOOK_BACK: std::time::Duration = std::time::Duration::from_secs(300);

impl SyncOptions {
    /// Options with default mappings, no filters, chunks of 2,500 email groups (two are in
    /// memory at once: one planned while the other's jobs run).
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            mapping: FieldMapping::default(),
            accounts_filter: None,
            contacts_filter: None,
            full: false,
            chunk_size: 2500,
            poll: PollConfig::default(),
            look_back: DEFAULT_LOOK_BACK,
        }
    }
}

/// Progress of a run, for a progress bar or a progress log line ([`crate::progress`]).
///
/// The engine calls it once per event, from its own task; implementations keep each call
/// cheap and hold no lock beyond it.
pub trait Progress: Send + Sync {
    /// A phase starts (`organizations`, `users`, `memberships`), with the number of its
    /// records when known.
    fn phase(&self, name: &str, total: Option<u64>);
    /// `done` more records of the phase are finished: written (a chunk of email groups
    /// once committed; an organization once its job finished) or found to need no write.
    fn advance(&self, done: u64);
    /// The number of bulk jobs submitted to Zendesk and not yet seen finished changed to
    /// `jobs`: called when a job is submitted and when status checks find jobs finished.
    fn jobs_in_flight(&self, jobs: usize) {
        let _ = jobs;
    }
}

/// Progress that shows nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn phase(&self, _name: &str, _total: Option<u64>) {}
    fn advance(&self, _done: u64) {}
}

/// Reads the API calls made so far by both clients (cumulative totals), so a run can
/// report and store its own share.
pub type CallCounter = Arc<dyn Fn() -> ApiCalls + Send + Sync>;

/// Reads the capabilities both systems have and validates the settings against them.
///
/// # Errors
/// An API error, or [`SyncError::Prerequisites`] naming every missing prerequisite.
pub async fn preflight(
    salesforce: &dyn SalesforceApi,
    zendesk: &dyn ZendeskRead,
    settings: Settings,
) -> Result<EffectiveSettings, SyncError> {
    let multiple_organizations = zendesk.account_settings().await?.multiple_organizations;
    let account_contact_relation =
        if settings.secondary_relationships && settings.object == PersonObject::Contact {
            Some(salesforce.account_contact_relation_available().await?)
        } else {
            None
        };
    Ok(settings.validate(Capabilities {
        multiple_organizations,
        account_contact_relation,
    })?)
}

/// The end of a run: its report, and the error that stopped it, if any.
#[derive(Debug)]
pub struct RunOutcome {
    /// The report (counts so far when the run stopped early).
    pub report: Report,
    /// Why the run stopped early.
    pub error: Option<SyncError>,
}

/// A sync run over two APIs. Without a writer it is a dry run: no write can reach Zendesk.
pub struct Engine<'a> {
    pub(crate) salesforce: &'a dyn SalesforceApi,
    pub(crate) zendesk: &'a dyn ZendeskRead,
    writer: Option<&'a dyn ZendeskWrite>,
    pub(crate) options: SyncOptions,
    pub(crate) progress: Arc<dyn Progress>,
    cancel: Arc<AtomicBool>,
    calls: Option<CallCounter>,
}

impl<'a> Engine<'a> {
    /// An engine; `writer = None` makes every run a dry run.
    pub fn new(
        salesforce: &'a dyn SalesforceApi,
        zendesk: &'a dyn ZendeskRead,
        writer: Option<&'a dyn ZendeskWrite>,
        options: SyncOptions,
    ) -> Self {
        Self {
            salesforce,
            zendesk,
            writer,
            options,
            progress: Arc::new(NoProgress),
            cancel: Arc::new(AtomicBool::new(false)),
            calls: None,
        }
    }

    /// Reports progress to `progress`.
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = progress;
        self
    }

    /// Stops after the in-flight chunk once `cancel` is set.
    pub fn with_cancel(mut self, cancel: Arc<AtomicBool>) -> Self {
        self.cancel = cancel;
        self
    }

    /// Counts the run's API calls with `calls` (read at the start and the end of each run,
    /// so clients shared by several runs are fine); the report and the run history carry
    /// the difference.
    pub fn with_call_counter(mut self, calls: CallCounter) -> Self {
        self.calls = Some(calls);
        self
    }

    pub(crate) fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    /// Runs once against `state`.
    pub async fn run(&self, state: &mut StateStore) -> RunOutcome {
        let started = Instant::now();
        let calls_before = self.calls.as_ref().map(|c| c());
        let dry_run = self.writer.is_none();
        let settings = self.options.settings;
        let primary = if settings.contacts_to_users {
            Watermark::People(settings.object)
        } else {
            Watermark::Accounts
        };
        let mode = match state.watermark(primary) {
            Ok(Some(_)) if !self.options.full => RunMode::Incremental,
            Ok(_) => RunMode::Full,
            Err(err) => {
                return RunOutcome {
                    report: Report::new(RunMode::Full, dry_run),
                    error: Some(err.into()),
                };
            }
        };
        let writer = match self.writer {
            Some(write) => Writer::zendesk(
                self.zendesk,
                write,
                JobPoller::new(self.options.poll.clone()),
                self.progress.clone(),
            ),
            None => Writer::dry_run(),
        };
        let mut run = Run {
            engine: self,
            report: Report::new(mode, dry_run),
            links: OrganizationLinks::default(),
            writer,
            confirmed_memberships: Vec::new(),
        };
        let run_id = match state.begin_run(mode, dry_run) {
            Ok(id) => id,
            Err(err) => {
                return RunOutcome {
                    report: run.report,
                    error: Some(err.into()),
                };
            }
        };
        let result = run.execute(state).await;
        // Said even when the run stopped later: the operator should know either way.
        if run.writer.bulk_users_disabled() {
            run.report.warn_once(
                "Zendesk refused bulk user import (403): users were created one call at a time; ask Zendesk Support to enable bulk user import to save API calls",
            );
        }
        // Keys Zendesk silently dropped would be sent again on every run: say so once each.
        let dropped = run.writer.dropped_keys();
        run.report
            .warn_dropped_keys(&dropped, &self.options.mapping);

        let mut report = run.report;
        report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if let (Some(counter), Some(before)) = (&self.calls, calls_before) {
            let after = counter();
            report.api_calls = ApiCalls {
                salesforce: after.salesforce.saturating_sub(before.salesforce),
                zendesk: after.zendesk.saturating_sub(before.zendesk),
            };
        }
        let outcome = match &result {
            Err(SyncError::Interrupted) => RunOutcomeKind::Interrupted,
            Err(_) => RunOutcomeKind::Failed,
            Ok(()) if report.has_failures() => RunOutcomeKind::Partial,
            Ok(()) => RunOutcomeKind::Ok,
        };
        let json = serde_json::to_string(&report).unwrap_or_default();
        let finished = state.finish_run(run_id, outcome, &json);
        let error = result.err().or(finished.err().map(SyncError::from));
        RunOutcome { report, error }
    }
}

/// One run in progress: the engine, what the run learnt so far and how it writes.
pub(crate) struct Run<'e, 'a> {
    pub(crate) engine: &'e Engine<'a>,
    pub(crate) report: Report,
    /// Which accounts have which organization, as far as this run knows.
    pub(crate) links: OrganizationLinks,
    /// Zendesk's bulk writer, or the dry run's stand-in.
    pub(crate) writer: Writer<'a>,
    /// Memberships written (or found present) since the last commit, to remember.
    pub(crate) confirmed_memberships: Vec<(domain::UserId, domain::OrganizationId)>,
}

impl Run<'_, '_> {
    pub(crate) fn options(&self) -> &SyncOptions {
        &self.engine.options
    }

    pub(crate) fn full(&self) -> bool {
        self.report.mode == RunMode::Full
    }

    /// Where an incremental read of `mark` starts: the look-back before the watermark, or
    /// everything on a full run or without a watermark.
    pub(crate) fn read_since(
        &self,
        state: &StateStore,
        mark: Watermark,
    ) -> Result<Option<DateTime<Utc>>, StateError> {
        if self.full() {
            return Ok(None);
        }
        let look_back = chrono::Duration::from_std(self.options().look_back)
            .unwrap_or(chrono::Duration::zero());
        Ok(state.watermark(mark)?.map(|at| at - look_back))
    }

    /// Whether the run writes to Zendesk and so commits its state.
    pub(crate) fn commits(&self) -> bool {
        !self.writer.is_dry_run()
    }

    async fn execute(&mut self, state: &mut StateStore) -> Result<(), SyncError> {
        let effective = preflight(
            self.engine.salesforce,
            self.engine.zendesk,
            self.options().settings,
        )
        .await?;
        tracing::info!(mode = ?effective.mode(), run = self.report.mode.as_str(), dry_run = self.report.dry_run, "sync run starts");
        if effective.accounts_to_organizations() {
            self.accounts_phase(state).await?;
        }
        if self.engine.cancelled() {
            return Err(SyncError::Interrupted);
        }
        if effective.contacts_to_users() {
            self.people_phase(state, &effective).await?;
        }
        Ok(())
    }

    /// Adds a line to the dry run's plan; a real run logs it at debug level.
    /// Whether plan lines are kept (a dry run) or logged (debug level): describing every
    /// action of a large run costs CPU that nobody reads otherwise.
    pub(crate) fn wants_plan_lines(&self) -> bool {
        self.report.dry_run || tracing::enabled!(tracing::Level::DEBUG)
    }

    pub(crate) fn plan_line(
        &mut self,
        action: String,
        rules: &[Rule],
        salesforce_ids: Vec<String>,
    ) {
        if self.report.dry_run {
            self.report.plan.push(PlannedAction {
                action,
                rules: rules.iter().map(|r| r.name().to_owned()).collect(),
                salesforce_ids,
            });
        } else {
            tracing::debug!(%action, rules = ?rules, ids = ?salesforce_ids, "planned");
        }
    }
}

/// Keeps the newest of `current` and `stamp`.
pub(crate) fn max_stamp(current: &mut Option<DateTime<Utc>>, stamp: Option<DateTime<Utc>>) {
    if let Some(stamp) = stamp {
        *current = Some(current.map_or(stamp, |c| c.max(stamp)));
    }
}
