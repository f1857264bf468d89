//! Writing to Zendesk in bulk: items are cut into jobs of at most 100 and submitted through
//! a sliding window: as many jobs stay in flight as the account allows (with room for other
//! integrations), a new job is submitted as soon as a slot frees, and every pending job is
//! polled together on a cadence that follows how long jobs actually take. Each item's
//! outcome is mapped back to the caller's key. Where Zendesk refuses bulk user import, users
//! fall back to single calls.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use zendesk_client::{
    ApiWarning, BULK_LIMIT, ItemOutcome, JobPoller, JobStatus, NewMembership, NewOrganization,
    NewUser, OrganizationUpdate, PollConfig, UserUpdate, ZendeskError, ZendeskRead, ZendeskWrite,
};

use crate::run::{NoProgress, Progress};

/// The kind of record a write was for, to name the mapping a dropped key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    /// A user write (mapped from contacts or leads).
    User,
    /// An organization write (mapped from accounts).
    Organization,
    /// A membership write (not mapped).
    Membership,
}

/// A key Zendesk accepted the write without and did not store (`X-Zendesk-API-Warn`),
/// e.g. `user_fields.tier` when the account has no user field `tier`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DroppedKey {
    /// The kind of record written.
    pub object: ObjectKind,
    /// The field as a mapping names it (`user_fields.tier`, `notes`, ...).
    pub field: String,
}

/// What happened to one item.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Written; the record's id when Zendesk reported it.
    Done(Option<u64>),
    /// A membership that already existed.
    AlreadyPresent,
    /// Zendesk refused this record (its per-record error in a job result, or a 422 on a
    /// single write), with its message: sending the same thing again would fail again.
    Refused(String),
    /// Not written for another reason (the job's fate unknown, the batch refused as a
    /// whole, ...); retried next run.
    Failed(String),
}

impl Outcome {
    /// The message of a refusal or failure.
    pub fn message(&self) -> Option<&str> {
        match self {
            Self::Refused(message) | Self::Failed(message) => Some(message),
            Self::Done(_) | Self::AlreadyPresent => None,
        }
    }
}

/// What a single write's error means for its record: a refusal of the record itself
/// (Zendesk's validation, 422), or a failure to retry.
fn single_outcome(error: &ZendeskError) -> Outcome {
    match error {
        ZendeskError::ValidationFailed { .. } => Outcome::Refused(describe(error)),
        _ => Outcome::Failed(describe(error)),
    }
}

/// A submission failure that stops the run (Zendesk unreachable, credentials refused, ...).
pub type Fatal = ZendeskError;

/// Whether an error on a whole submission means Zendesk cannot be written to right now
/// (stop the run, keep the watermark), rather than a refusal of these items.
fn is_fatal(error: &ZendeskError) -> bool {
    error.is_retryable()
        || matches!(
            error,
            ZendeskError::Unauthorized { .. }
                | ZendeskError::Forbidden { .. }
                | ZendeskError::InvalidConfig(_)
        )
}

fn describe(error: &ZendeskError) -> String {
    match error {
        ZendeskError::ValidationFailed {
            description,
            details: Some(details),
            ..
        } => {
            format!("{description}: {details}")
        }
        other => other.to_string(),
    }
}

fn item_message(error: &str, details: Option<&serde_json::Value>) -> String {
    match details {
        Some(serde_json::Value::String(s)) if !s.is_empty() => format!("{error}: {s}"),
        Some(details) if !details.is_null() => format!("{error}: {details}"),
        _ => error.to_owned(),
    }
}

/// Whether a failed job item reads as Zendesk failing to process it (to retry next run)
/// rather than refusing the record (remembered, not sent again unchanged).
fn transient_item_error(message: &str) -> bool {
    let message = message.to_lowercase();
    [
        "internal",
        "timeout",
        "timed out",
        "try again",
        "unavailable",
        "temporar",
    ]
    .iter()
    .any(|word| message.contains(word))
}

/// Whether a failed membership item says the membership already exists.
fn already_member(error: &str, details: Option<&serde_json::Value>) -> bool {
    let text = format!(
        "{error} {}",
        details.map(ToString::to_string).unwrap_or_default()
    )
    .to_lowercase();
    text.contains("already") || text.contains("duplicate") || text.contains("taken")
}

/// The kind of items a job carries; decides how results map back and how failures read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Create,
    Update,
    Membership,
}

struct Submitted<K> {
    job_id: String,
    keys: Vec<K>,
    /// For updates: the record id of each key, since results name ids, not positions.
    ids: Vec<u64>,
    kind: Kind,
    /// The job's status when Zendesk answered the submission with a finished job already.
    finished: Option<JobStatus>,
}

/// Jobs kept in flight at once: under Zendesk's account-wide cap of 30 queued or running
/// jobs, with room for other integrations.
pub const MAX_JOBS_IN_FLIGHT: usize = 25;

/// The writes of one batch: its jobs (which share the writer's window with every other
/// batch in flight) and the outcomes known without polling.
pub struct Round<K> {
    submitted: Vec<Submitted<K>>,
    outcomes: Vec<(K, Outcome)>,
}

impl<K> Default for Round<K> {
    fn default() -> Self {
        Self {
            submitted: Vec::new(),
            outcomes: Vec::new(),
        }
    }
}

/// The writer's jobs in flight and what polling learnt about them.
///
/// The cadence: a job is first checked a little before the time jobs have been taking
/// (so the estimate can shrink as well as grow), and never more often than a quarter of
/// that time (so each status request answers for several jobs). While Zendesk reports jobs
/// `queued` behind its running ones, its workers stay busy until those have started: the
/// next check then waits about as long as the queue takes to drain at the pace jobs have
/// been finishing (at most half the time jobs take), so each check answers for more jobs
/// without leaving a worker idle. After a check that found nothing finished the wait
/// doubles, up to the poll configuration's longest delay.
struct Window {
    /// Jobs submitted and not yet seen finished, with when they were submitted.
    pending: Vec<(String, Instant)>,
    /// Finished jobs' statuses, until their batch collects them.
    done: HashMap<String, JobStatus>,
    /// Jobs whose fate could not be learnt, with why.
    lost: HashMap<String, String>,
    /// How long jobs have been staying in flight (a moving average).
    typical: Duration,
    /// When the last status request was sent.
    last_poll: Option<Instant>,
    /// Status requests in a row that found no job finished.
    misses: u32,
    /// Jobs the last status request found running at Zendesk, when it found others still
    /// queued behind them (Zendesk's workers all busy); `None` otherwise.
    busy_workers: Option<usize>,
    /// Jobs finished per second, as status requests have been finding them (a moving
    /// average).
    finish_rate: Option<f64>,
    /// Zendesk does not answer `show_many`: each job is asked for.
    one_by_one: bool,
    /// The most jobs this writer has had in flight at once.
    peak: usize,
    /// While items advance the progress as their outcomes become known: how many have.
    item_progress: Option<u64>,
    /// Items of jobs in flight still to advance the progress by, per job.
    unreported: HashMap<String, u64>,
}

impl Window {
    fn new(config: &PollConfig) -> Self {
        Self {
            pending: Vec::new(),
            done: HashMap::new(),
            lost: HashMap::new(),
            typical: config.initial_delay,
            last_poll: None,
            misses: 0,
            busy_workers: None,
            finish_rate: None,
            one_by_one: false,
            peak: 0,
            item_progress: None,
            unreported: HashMap::new(),
        }
    }

    /// When the next status request is due.
    fn next_poll(&self, config: &PollConfig) -> Option<Instant> {
        let oldest = self.pending.iter().map(|(_, at)| *at).min()?;
        let floor = (self.typical / 4).max(Duration::from_millis(20));
        // Jobs waiting for a worker now: those submitted since the last check wait too.
        let queued = self
            .busy_workers
            .map_or(0, |working| self.pending.len().saturating_sub(working));
        let draining = match self.finish_rate {
            Some(rate) if queued > 0 && rate > 0.0 => {
                Duration::from_secs_f64(queued as f64 / rate).min(self.typical / 2)
            }
            _ => Duration::ZERO,
        };
        let base = floor.max(draining);
        let gap = base
            .saturating_mul(1 << self.misses.min(16))
            .min(config.max_delay.max(base));
        let expected = oldest + self.typical.mul_f64(0.75);
        Some(match self.last_poll {
            Some(last) if self.misses > 0 => last + gap,
            Some(last) => expected.max(last + gap),
            None => expected,
        })
    }
}

/// Submits and polls bulk jobs for one run.
pub struct BulkWriter<'a> {
    read: &'a dyn ZendeskRead,
    write: &'a dyn ZendeskWrite,
    poll: PollConfig,
    /// Boxed: the dry run's writer, its sibling in [`crate::writing::Writer`], is tiny.
    window: Box<Window>,
    bulk_users_disabled: bool,
    dropped: BTreeSet<DroppedKey>,
    /// Told the number of jobs in flight whenever it changes.
    progress: Arc<dyn Progress>,
}

/// Submits one bulk job per batch of a kind, recording refused batches as failed items.
macro_rules! submit_batches {
    ($self:ident, $round:ident, $items:ident, $call:ident, $kind:expr, $ids:expr, $object:expr) => {{
        for batch in chunks($items) {
            $self.make_room($round).await?;
            let items: Vec<_> = batch.iter().map(|(_, item)| item.clone()).collect();
            match $self.write.$call(&items).await {
                Ok(answer) => {
                    $self.note_dropped($object, answer.warning.as_ref());
                    let job = answer.into_inner();
                    $self.submitted(
                        $round,
                        Submitted {
                            job_id: job.id.clone(),
                            finished: job.status.is_terminal().then_some(job),
                            ids: items.iter().map($ids).collect(),
                            keys: batch.into_iter().map(|(k, _)| k).collect(),
                            kind: $kind,
                        },
                    )
                }
                Err(err) if is_fatal(&err) => return Err(err),
                Err(err) => {
                    let message = describe(&err);
                    $self.items_known(batch.len() as u64);
                    $round.outcomes.extend(
                        batch
                            .into_iter()
                            .map(|(k, _)| (k, Outcome::Failed(message.clone()))),
                    );
                }
            }
        }
        Ok(())
    }};
}

impl<'a> BulkWriter<'a> {
    /// A writer using the given APIs and job poller.
    pub fn new(read: &'a dyn ZendeskRead, write: &'a dyn ZendeskWrite, poller: JobPoller) -> Self {
        let poll = poller.config().clone();
        Self {
            read,
            write,
            window: Box::new(Window::new(&poll)),
            poll,
            bulk_users_disabled: false,
            dropped: BTreeSet::new(),
            progress: Arc::new(NoProgress),
        }
    }

    /// From now on, every item submitted advances the progress by one record when its
    /// outcome becomes known: its job seen finished or given up on, its batch refused whole,
    /// or its single call answered. A phase whose records are one write each
    /// (organizations, memberships) then moves, and its time left is measured, while its
    /// jobs run rather than once they all have.
    pub fn begin_item_progress(&mut self) {
        self.window.item_progress = Some(0);
    }

    /// Stops what [`Self::begin_item_progress`] started; returns the records advanced since,
    /// so the caller can advance those it counts that were never submitted.
    pub fn end_item_progress(&mut self) -> u64 {
        self.window.unreported.clear();
        self.window.item_progress.take().unwrap_or(0)
    }

    /// Advances the progress by `items` outcomes learnt, while items count.
    fn items_known(&mut self, items: u64) {
        if let Some(advanced) = &mut self.window.item_progress
            && items > 0
        {
            *advanced += items;
            self.progress.advance(items);
        }
    }

    /// Reports the number of jobs in flight to `progress` each time a job is submitted and
    /// each time status checks find jobs finished or given up on.
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = progress;
        self
    }

    /// Keys Zendesk dropped from this run's writes (each once), for the report's
    /// warnings; see [`crate::report::Report::warn_dropped_keys`].
    pub fn dropped_keys(&self) -> &BTreeSet<DroppedKey> {
        &self.dropped
    }

    /// Remembers the keys a write's answer says Zendesk dropped, logging each the first
    /// time: the value was not stored, and the run would send it again every time.
    fn note_dropped(&mut self, object: ObjectKind, warning: Option<&ApiWarning>) {
        let Some(warning) = warning else { return };
        for field in warning.dropped_fields() {
            let key = DroppedKey { object, field };
            if !self.dropped.contains(&key) {
                tracing::warn!(object = ?key.object, field = %key.field, "Zendesk dropped a field from a write (X-Zendesk-API-Warn): it was not stored");
                self.dropped.insert(key);
            }
        }
    }

    /// Jobs submitted and not yet seen finished.
    pub fn in_flight(&self) -> usize {
        self.window.pending.len()
    }

    /// The most jobs this writer has had in flight at once.
    pub fn peak_in_flight(&self) -> usize {
        self.window.peak
    }

    /// Records a submitted job in its batch and, unless already finished, in the window.
    fn submitted<K>(&mut self, round: &mut Round<K>, job: Submitted<K>) {
        if job.finished.is_some() {
            self.items_known(job.keys.len() as u64);
        } else {
            if self.window.item_progress.is_some() {
                self.window
                    .unreported
                    .insert(job.job_id.clone(), job.keys.len() as u64);
            }
            let now = self.poll.clock.now();
            self.window.pending.push((job.job_id.clone(), now));
            self.window.peak = self.window.peak.max(self.window.pending.len());
            self.progress.jobs_in_flight(self.window.pending.len());
        }
        round.submitted.push(job);
    }

    /// Whether Zendesk refused bulk user import during this run.
    pub fn bulk_users_disabled(&self) -> bool {
        self.bulk_users_disabled
    }

    /// Creates users in bulk; where Zendesk refuses bulk import, one call per user.
    ///
    /// # Errors
    /// A [`Fatal`] error when Zendesk cannot be written to.
    pub async fn create_users<K: Clone>(
        &mut self,
        round: &mut Round<K>,
        users: Vec<(K, NewUser)>,
    ) -> Result<(), Fatal> {
        let mut rest = users;
        while !self.bulk_users_disabled && !rest.is_empty() {
            self.make_room(round).await?;
            let batch: Vec<(K, NewUser)> = rest.drain(..rest.len().min(BULK_LIMIT)).collect();
            let items: Vec<NewUser> = batch.iter().map(|(_, u)| u.clone()).collect();
            match self.write.create_many_users(&items).await {
                Ok(answer) => {
                    self.note_dropped(ObjectKind::User, answer.warning.as_ref());
                    let job = answer.into_inner();
                    self.submitted(
                        round,
                        Submitted {
                            job_id: job.id.clone(),
                            finished: job.status.is_terminal().then_some(job),
                            keys: batch.into_iter().map(|(k, _)| k).collect(),
                            ids: Vec::new(),
                            kind: Kind::Create,
                        },
                    )
                }
                // Only the documented "data imports are not enabled" answer; any other 403
                // is `Forbidden`, which stops the run below.
                Err(ZendeskError::BulkImportDisabled { .. }) => {
                    self.bulk_users_disabled = true;
                    rest.splice(0..0, batch);
                }
                Err(err) if is_fatal(&err) => return Err(err),
                Err(err) => {
                    let message = describe(&err);
                    self.items_known(batch.len() as u64);
                    round.outcomes.extend(
                        batch
                            .into_iter()
                            .map(|(k, _)| (k, Outcome::Failed(message.clone()))),
                    );
                }
            }
        }
        // Single calls are answered at once; the client keeps them within the rate budget.
        for (key, user) in rest {
            let outcome = match self.write.create_user(&user).await {
                Ok(created) => {
                    self.note_dropped(ObjectKind::User, created.warning.as_ref());
                    Outcome::Done(Some(created.id))
                }
                Err(err) if is_fatal(&err) => return Err(err),
                Err(err) => single_outcome(&err),
            };
            round.outcomes.push((key, outcome));
            self.items_known(1);
        }
        Ok(())
    }

    /// Updates users (never their email; `organization_id` only where the update sets it).
    ///
    /// # Errors
    /// A [`Fatal`] error when Zendesk cannot be written to.
    pub async fn update_users<K: Clone>(
        &mut self,
        round: &mut Round<K>,
        updates: Vec<(K, UserUpdate)>,
    ) -> Result<(), Fatal> {
        submit_batches!(
            self,
            round,
            updates,
            update_many_users,
            Kind::Update,
            UserUpdate::id,
            ObjectKind::User
        )
    }

    /// Creates organizations.
    ///
    /// # Errors
    /// A [`Fatal`] error when Zendesk cannot be written to.
    pub async fn create_organizations<K: Clone>(
        &mut self,
        round: &mut Round<K>,
        orgs: Vec<(K, NewOrganization)>,
    ) -> Result<(), Fatal> {
        submit_batches!(
            self,
            round,
            orgs,
            create_many_organizations,
            Kind::Create,
            |_| 0,
            ObjectKind::Organization
        )
    }

    /// Updates organizations.
    ///
    /// # Errors
    /// A [`Fatal`] error when Zendesk cannot be written to.
    pub async fn update_organizations<K: Clone>(
        &mut self,
        round: &mut Round<K>,
        updates: Vec<(K, OrganizationUpdate)>,
    ) -> Result<(), Fatal> {
        submit_batches!(
            self,
            round,
            updates,
            update_many_organizations,
            Kind::Update,
            OrganizationUpdate::id,
            ObjectKind::Organization
        )
    }

    /// Creates memberships; one that already exists counts as [`Outcome::AlreadyPresent`].
    ///
    /// # Errors
    /// A [`Fatal`] error when Zendesk cannot be written to.
    pub async fn create_memberships<K: Clone>(
        &mut self,
        round: &mut Round<K>,
        memberships: Vec<(K, NewMembership)>,
    ) -> Result<(), Fatal> {
        submit_batches!(
            self,
            round,
            memberships,
            create_many_memberships,
            Kind::Membership,
            |_| 0,
            ObjectKind::Membership
        )
    }

    /// Waits for every job of the batch (polling, with them, every other job in flight)
    /// and maps each item's result to its key.
    ///
    /// # Errors
    /// A [`Fatal`] error when Zendesk cannot be read.
    pub async fn finish<K: Clone>(
        &mut self,
        mut round: Round<K>,
    ) -> Result<Vec<(K, Outcome)>, Fatal> {
        while round.submitted.iter().any(|s| self.waiting_for(s)) {
            self.poll_once().await?;
        }
        for job in std::mem::take(&mut round.submitted) {
            let status = match job.finished.clone() {
                Some(status) => Ok(status),
                None => match self.window.done.remove(&job.job_id) {
                    Some(status) => Ok(status),
                    None => Err(self
                        .window
                        .lost
                        .remove(&job.job_id)
                        .unwrap_or_else(|| format!("job {} was not reported", job.job_id))),
                },
            };
            match status {
                Ok(status) => round.outcomes.extend(map_results(&job, &status)),
                Err(message) => round.outcomes.extend(
                    job.keys
                        .into_iter()
                        .map(|k| (k, Outcome::Failed(message.clone()))),
                ),
            }
        }
        Ok(round.outcomes)
    }

    /// Whether a job of a batch is still in flight.
    fn waiting_for<K>(&self, job: &Submitted<K>) -> bool {
        job.finished.is_none() && self.window.pending.iter().any(|(id, _)| *id == job.job_id)
    }

    /// Waits for a free slot in the window: polls until fewer than [`MAX_JOBS_IN_FLIGHT`]
    /// jobs are in flight, whichever batch they belong to.
    async fn make_room<K: Clone>(&mut self, _round: &mut Round<K>) -> Result<(), Fatal> {
        while self.window.pending.len() >= MAX_JOBS_IN_FLIGHT {
            self.poll_once().await?;
        }
        Ok(())
    }

    /// Sleeps until the next status check is due, then asks for every pending job at once
    /// and moves the finished ones out of the window; reports the jobs left in flight when
    /// their number changed.
    async fn poll_once(&mut self) -> Result<(), Fatal> {
        let before = self.window.pending.len();
        let result = self.check_pending().await;
        let after = self.window.pending.len();
        if after != before {
            self.progress.jobs_in_flight(after);
            // The items of jobs that left the window (finished or given up on) are known.
            let pending = &self.window.pending;
            let mut known = 0;
            self.window.unreported.retain(|id, items| {
                let in_flight = pending.iter().any(|(p, _)| p == id);
                if !in_flight {
                    known += *items;
                }
                in_flight
            });
            self.items_known(known);
        }
        result
    }

    /// The work of [`Self::poll_once`]: one round of status checks.
    async fn check_pending(&mut self) -> Result<(), Fatal> {
        let clock = self.poll.clock.clone();
        let Some(due) = self.window.next_poll(&self.poll) else {
            return Ok(());
        };
        let now = clock.now();
        if due > now {
            clock.sleep(due - now).await;
        }
        let now = clock.now();
        let previous_poll = self.window.last_poll.replace(now);
        // Jobs pending past the deadline are given up on: their items are retried next run.
        let deadline = self.poll.deadline;
        let (expired, pending): (Vec<_>, Vec<_>) = std::mem::take(&mut self.window.pending)
            .into_iter()
            .partition(|(_, at)| now.duration_since(*at) >= deadline);
        self.window.pending = pending;
        for (id, _) in expired {
            let message = format!(
                "job status unknown: job {id} had not finished after {} s",
                deadline.as_secs()
            );
            self.window.lost.insert(id, message);
        }
        if self.window.pending.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = self
            .window
            .pending
            .iter()
            .map(|(id, _)| id.clone())
            .collect();
        let statuses = match self.check(&ids).await {
            Ok(statuses) => statuses,
            Err(err) if is_fatal(&err) => return Err(err),
            Err(err) => {
                // The jobs' fate is unknown: their items are reported failed so the next
                // run re-reads Zendesk and finishes what is missing.
                let message = format!("job status unknown: {err}");
                for (id, _) in std::mem::take(&mut self.window.pending) {
                    self.window.lost.insert(id, message.clone());
                }
                return Ok(());
            }
        };
        let mut finished = 0u32;
        let count =
            |state: zendesk_client::JobState| statuses.iter().filter(|s| s.status == state).count();
        let (queued, working) = (
            count(zendesk_client::JobState::Queued),
            count(zendesk_client::JobState::Working),
        );
        self.window.busy_workers = (queued > 0 && working > 0).then_some(working);
        for status in statuses {
            if !status.status.is_terminal() {
                continue;
            }
            let Some(at) = self
                .window
                .pending
                .iter()
                .position(|(id, _)| *id == status.id)
            else {
                continue;
            };
            let (id, submitted) = self.window.pending.swap_remove(at);
            let took = now.duration_since(submitted);
            // A moving average, so one odd job does not swing the cadence.
            self.window.typical = (self.window.typical * 3 + took) / 4;
            finished += 1;
            tracing::debug!(job_id = %id, state = status.status.as_str(), took_ms = took.as_millis() as u64, "job finished");
            self.window.done.insert(id, status);
        }
        if let Some(previous) = previous_poll
            && finished > 0
        {
            let seconds = now.duration_since(previous).as_secs_f64().max(0.001);
            let rate = f64::from(finished) / seconds;
            self.window.finish_rate = Some(match self.window.finish_rate {
                Some(average) => (average + rate) / 2.0,
                None => rate,
            });
        }
        self.window.misses = if finished == 0 {
            self.window.misses.saturating_add(1)
        } else {
            0
        };
        Ok(())
    }

    /// One status request for `ids` (100 a request); one request per job where Zendesk does
    /// not answer `show_many`.
    async fn check(&mut self, ids: &[String]) -> Result<Vec<JobStatus>, ZendeskError> {
        if !self.window.one_by_one {
            match self.read.show_many_job_statuses(ids).await {
                Ok(statuses) => return Ok(statuses),
                Err(ZendeskError::NotFound { .. }) => self.window.one_by_one = true,
                Err(err) => return Err(err),
            }
        }
        let mut statuses = Vec::with_capacity(ids.len());
        for id in ids {
            statuses.push(self.read.show_job_status(id).await?);
        }
        Ok(statuses)
    }
}

fn chunks<T>(items: Vec<T>) -> Vec<Vec<T>> {
    let mut items = items.into_iter().peekable();
    let mut out = Vec::new();
    while items.peek().is_some() {
        out.push(items.by_ref().take(BULK_LIMIT).collect());
    }
    out
}

/// Maps a finished job's per-item results to the submitted keys: by `index` for creates
/// (falling back to position), by record `id` for updates.
fn map_results<K: Clone>(job: &Submitted<K>, status: &JobStatus) -> Vec<(K, Outcome)> {
    let mut by_key: Vec<Option<Outcome>> = vec![None; job.keys.len()];
    for (position, result) in status.results.iter().enumerate() {
        let slot = match job.kind {
            Kind::Update => result
                .id
                .and_then(|id| job.ids.iter().position(|i| *i == id))
                .or_else(|| result.index.filter(|i| *i < job.keys.len())),
            Kind::Create | Kind::Membership => result
                .index
                .or(Some(position))
                .filter(|i| *i < job.keys.len()),
        };
        let Some(slot) = slot else { continue };
        let outcome = match result.outcome() {
            ItemOutcome::Created { id } | ItemOutcome::Updated { id } => Outcome::Done(id),
            ItemOutcome::Failed { error, details } => {
                if job.kind == Kind::Membership && already_member(&error, details.as_ref()) {
                    Outcome::AlreadyPresent
                } else {
                    let message = item_message(&error, details.as_ref());
                    if transient_item_error(&message) {
                        Outcome::Failed(message)
                    } else {
                        Outcome::Refused(message)
                    }
                }
            }
            // Zendesk listed the item without saying it failed: count it done.
            ItemOutcome::Unknown => Outcome::Done(result.id),
        };
        by_key[slot] = Some(outcome);
    }
    let job_failed = !matches!(status.status, zendesk_client::JobState::Completed);
    job.keys
        .iter()
        .cloned()
        .zip(by_key)
        .enumerate()
        .map(|(i, (key, outcome))| {
            let outcome = outcome.unwrap_or_else(|| {
                if job_failed {
                    Outcome::Failed(format!(
                        "job {} ended {}: {}",
                        job.job_id,
                        status.status.as_str(),
                        status.message.clone().unwrap_or_default()
                    ))
                } else if job.kind == Kind::Update {
                    // Zendesk lists updated records by id; one it did not list is taken as
                    // written (the next run compares values again and repairs a miss).
                    Outcome::Done(job.ids.get(i).copied())
                } else {
                    Outcome::Failed(format!(
                        "job {} reported no result for this item",
                        job.job_id
                    ))
                }
            });
            (key, outcome)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use zendesk_client::{
        JobResult, JobState, ManualClock, MockZendeskRead, MockZendeskWrite, ZendeskError,
    };

    use super::*;

    use zendesk_client::Written;

    fn queued(id: &str) -> Written<JobStatus> {
        Written::new(JobStatus::new(id, JobState::Queued))
    }

    fn poller() -> JobPoller {
        JobPoller::new(PollConfig {
            clock: Arc::new(ManualClock::new()),
            ..PollConfig::default()
        })
    }

    fn users(n: usize) -> Vec<(usize, NewUser)> {
        (0..n)
            .map(|i| {
                (
                    i,
                    NewUser::new(format!("User {i}"), format!("u{i}@example.com")),
                )
            })
            .collect()
    }

    /// A completed job whose item `i` created record `base + i`. As in recorded traffic,
    /// created items carry no `index`: they are listed in submission order.
    fn completed(id: &str, items: usize, base: u64) -> JobStatus {
        let mut status = JobStatus::new(id, JobState::Completed);
        status.results = (0..items)
            .map(|i| JobResult {
                id: Some(base + i as u64),
                status: Some("Created".into()),
                ..JobResult::default()
            })
            .collect();
        status
    }

    #[tokio::test]
    async fn created_ids_map_back_to_their_keys() {
        let mut write = MockZendeskWrite::new();
        write
            .expect_create_many_users()
            .times(1)
            .returning(|_| Ok(queued("j1")));
        let mut read = MockZendeskRead::new();
        read.expect_show_many_job_statuses().returning(|_| {
            let mut status = completed("j1", 3, 100);
            // Results come in submission order; a failed item also names its index.
            status.results[2] = JobResult {
                index: Some(2),
                error: Some("DuplicateValue".into()),
                details: Some("Email u2@example.com is already being used".into()),
                ..JobResult::default()
            };
            Ok(vec![status])
        });
        let mut writer = BulkWriter::new(&read, &write, poller());
        let mut round = Round::default();
        writer.create_users(&mut round, users(3)).await.unwrap();
        let mut outcomes = writer.finish(round).await.unwrap();
        outcomes.sort_by_key(|(k, _)| *k);
        assert_eq!(outcomes[0], (0, Outcome::Done(Some(100))));
        assert_eq!(outcomes[1], (1, Outcome::Done(Some(101))));
        assert!(matches!(&outcomes[2], (2, Outcome::Refused(m)) if m.contains("DuplicateValue")));
    }

    #[tokio::test]
    async fn a_job_finished_on_submission_is_not_polled() {
        let mut write = MockZendeskWrite::new();
        write
            .expect_create_many_users()
            .times(1)
            .returning(|_| Ok(Written::new(completed("j1", 2, 40))));
        // No expectation on the read side: any poll would fail the test.
        let read = MockZendeskRead::new();
        let mut writer = BulkWriter::new(&read, &write, poller());
        let mut round = Round::default();
        writer.create_users(&mut round, users(2)).await.unwrap();
        let outcomes = writer.finish(round).await.unwrap();
        assert_eq!(
            outcomes,
            vec![(0, Outcome::Done(Some(40))), (1, Outcome::Done(Some(41)))]
        );
    }

    #[tokio::test]
    async fn refused_bulk_import_falls_back_to_single_calls() {
        let mut write = MockZendeskWrite::new();
        write.expect_create_many_users().times(1).returning(|_| {
            Err(ZendeskError::BulkImportDisabled {
                endpoint: "POST /api/v2/users/create_many".into(),
            })
        });
        let next = AtomicUsize::new(500);
        write.expect_create_user().times(150).returning(move |user| {
            let mut value = serde_json::json!({"id": next.fetch_add(1, Ordering::SeqCst), "name": user.name});
            value["email"] = user.email.clone().into();
            Ok(Written::new(serde_json::from_value(value).unwrap()))
        });
        let read = MockZendeskRead::new();
        let mut writer = BulkWriter::new(&read, &write, poller());
        let mut round = Round::default();
        writer.create_users(&mut round, users(150)).await.unwrap();
        let outcomes = writer.finish(round).await.unwrap();
        assert_eq!(outcomes.len(), 150);
        assert!(
            outcomes
                .iter()
                .all(|(_, o)| matches!(o, Outcome::Done(Some(_))))
        );
        assert!(writer.bulk_users_disabled());
    }

    /// A simulated account for the window tests: job `n` finishes `duration(n)` after its
    /// submission (on tokio's paused clock), and a job's slot counts as taken until a status
    /// request has reported it finished, as Zendesk counts it.
    #[derive(Default)]
    struct Account {
        submitted: Vec<tokio::time::Instant>,
        reported: std::collections::HashSet<String>,
        most_in_flight: usize,
        polls: usize,
    }

    fn job_number(id: &str) -> usize {
        id.trim_start_matches('j').parse().unwrap()
    }

    fn timed_account(
        duration: fn(usize) -> Duration,
    ) -> (
        Arc<std::sync::Mutex<Account>>,
        MockZendeskWrite,
        MockZendeskRead,
    ) {
        let account = Arc::new(std::sync::Mutex::new(Account::default()));
        let mut write = MockZendeskWrite::new();
        let state = account.clone();
        write.expect_create_many_users().returning(move |items| {
            let mut account = state.lock().unwrap();
            let n = account.submitted.len();
            account.submitted.push(tokio::time::Instant::now());
            let in_flight = account.submitted.len() - account.reported.len();
            account.most_in_flight = account.most_in_flight.max(in_flight);
            assert!(items.len() <= BULK_LIMIT);
            Ok(Written::new(JobStatus::new(
                format!("j{n}"),
                JobState::Queued,
            )))
        });
        let mut read = MockZendeskRead::new();
        let state = account.clone();
        read.expect_show_many_job_statuses().returning(move |ids| {
            let mut account = state.lock().unwrap();
            account.polls += 1;
            let now = tokio::time::Instant::now();
            Ok(ids
                .iter()
                .map(|id| {
                    let n = job_number(id);
                    if now >= account.submitted[n] + duration(n) {
                        account.reported.insert(id.clone());
                        completed(id, BULK_LIMIT, n as u64 * 1000)
                    } else {
                        JobStatus::new(id.clone(), JobState::Working)
                    }
                })
                .collect())
        });
        (account, write, read)
    }

    fn paused_poller() -> JobPoller {
        JobPoller::new(PollConfig {
            clock: Arc::new(zendesk_client::TokioClock),
            ..PollConfig::default()
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_job_does_not_hold_back_the_next_ones_and_the_window_never_overflows() {
        // Job 0 takes ten minutes; every other job takes two seconds.
        let (account, write, read) =
            timed_account(|n| Duration::from_secs(if n == 0 { 600 } else { 2 }));
        let jobs = 4 * MAX_JOBS_IN_FLIGHT;
        let start = tokio::time::Instant::now();
        let mut writer = BulkWriter::new(&read, &write, paused_poller());
        let mut round = Round::default();
        writer
            .create_users(&mut round, users(jobs * BULK_LIMIT))
            .await
            .unwrap();
        {
            let account = account.lock().unwrap();
            // Every job was submitted while job 0 was still running: its slot alone was held.
            assert_eq!(account.submitted.len(), jobs);
            assert!(
                account.submitted[jobs - 1] < start + Duration::from_secs(600),
                "the last job waited for the slow one: submitted at {:?}",
                account.submitted[jobs - 1] - start
            );
            // A slot freed by a finished job is used again at once, not after the whole round.
            assert!(account.submitted[MAX_JOBS_IN_FLIGHT] < start + Duration::from_secs(4));
            assert_eq!(account.most_in_flight, MAX_JOBS_IN_FLIGHT);
            assert!(writer.peak_in_flight() <= MAX_JOBS_IN_FLIGHT);
        }

        let mut outcomes = writer.finish(round).await.unwrap();
        assert_eq!(outcomes.len(), jobs * BULK_LIMIT);
        outcomes.sort_by_key(|(k, _)| *k);
        // Results map back to their keys: item i of job n created record n * 1000 + i.
        assert_eq!(outcomes[0], (0, Outcome::Done(Some(0))));
        assert_eq!(
            outcomes[BULK_LIMIT + 7],
            (BULK_LIMIT + 7, Outcome::Done(Some(1007)))
        );
        assert_eq!(writer.in_flight(), 0);
    }

    /// An account that runs `workers` jobs at once, first come first served, each for
    /// `duration`; the others are reported `queued` until a worker takes them, as Zendesk
    /// reports them. Returns the polls made and when the last job finished.
    async fn run_on_workers(jobs: usize, workers: usize, duration: Duration) -> (usize, Duration) {
        #[derive(Default)]
        struct Workers {
            /// When each job starts and ends, computed at submission (durations are known).
            runs: Vec<(tokio::time::Instant, tokio::time::Instant)>,
            free_at: Vec<tokio::time::Instant>,
            polls: usize,
        }
        let start = tokio::time::Instant::now();
        let account = Arc::new(std::sync::Mutex::new(Workers {
            free_at: vec![start; workers],
            ..Workers::default()
        }));
        let mut write = MockZendeskWrite::new();
        let state = account.clone();
        write.expect_create_many_users().returning(move |_| {
            let mut account = state.lock().unwrap();
            let now = tokio::time::Instant::now();
            let (worker, free) = account
                .free_at
                .iter()
                .copied()
                .enumerate()
                .min_by_key(|(_, at)| *at)
                .unwrap();
            let begins = free.max(now);
            account.free_at[worker] = begins + duration;
            let n = account.runs.len();
            account.runs.push((begins, begins + duration));
            Ok(Written::new(JobStatus::new(
                format!("j{n}"),
                JobState::Queued,
            )))
        });
        let mut read = MockZendeskRead::new();
        let state = account.clone();
        read.expect_show_many_job_statuses().returning(move |ids| {
            let mut account = state.lock().unwrap();
            account.polls += 1;
            let now = tokio::time::Instant::now();
            Ok(ids
                .iter()
                .map(|id| {
                    let n = job_number(id);
                    let (begins, ends) = account.runs[n];
                    if now >= ends {
                        completed(id, BULK_LIMIT, n as u64 * 1000)
                    } else if now >= begins {
                        JobStatus::new(id.clone(), JobState::Working)
                    } else {
                        JobStatus::new(id.clone(), JobState::Queued)
                    }
                })
                .collect())
        });
        let mut writer = BulkWriter::new(&read, &write, paused_poller());
        let mut round = Round::default();
        writer
            .create_users(&mut round, users(jobs * BULK_LIMIT))
            .await
            .unwrap();
        let outcomes = writer.finish(round).await.unwrap();
        assert_eq!(outcomes.len(), jobs * BULK_LIMIT);
        let account = account.lock().unwrap();
        let last = account.runs.iter().map(|(_, ends)| *ends).max().unwrap();
        (account.polls, last - start)
    }

    #[tokio::test(start_paused = true)]
    async fn with_jobs_queued_at_zendesk_checks_wait_for_the_queue_and_no_worker_idles() {
        // 200 jobs of 2 s on 10 workers: 40 s of work at best.
        let (polls, took) = run_on_workers(200, 10, Duration::from_secs(2)).await;
        // The workers never waited for a submission: the work ended within a job's time
        // of the best possible.
        assert!(took <= Duration::from_secs(42), "took {took:?}");
        // Checks wait while the queue drains: checking at a quarter of the time jobs take
        // whatever Zendesk reports costs 30 status requests here.
        assert!(polls <= 26, "{polls} status requests for 200 jobs");
    }

    #[tokio::test(start_paused = true)]
    async fn with_nothing_queued_checks_keep_their_pace() {
        // As many workers as jobs in flight: nothing waits queued, so checks are not spaced
        // out and a finished job's slot is reused within a quarter of a job's time.
        let (_, took) = run_on_workers(200, MAX_JOBS_IN_FLIGHT, Duration::from_secs(2)).await;
        let best = Duration::from_secs(2 * 200 / MAX_JOBS_IN_FLIGHT as u64);
        assert!(
            took <= best.mul_f64(1.35),
            "took {took:?}, at best {best:?}"
        );
    }

    /// Every number of jobs in flight the writer reported, and every advance, in order.
    #[derive(Default)]
    struct Reported(
        std::sync::Mutex<Vec<usize>>,
        std::sync::Mutex<Vec<(usize, u64)>>,
    );

    impl Progress for Reported {
        fn phase(&self, _name: &str, _total: Option<u64>) {}
        fn advance(&self, done: u64) {
            // With the number of job reports before it, to tell when it came.
            let jobs = self.0.lock().unwrap().len();
            self.1.lock().unwrap().push((jobs, done));
        }
        fn jobs_in_flight(&self, jobs: usize) {
            self.0.lock().unwrap().push(jobs);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn jobs_in_flight_are_reported_as_they_rise_and_fall_back_to_zero() {
        // Jobs of two to four seconds: slots free at different times.
        let (account, write, read) = timed_account(|n| Duration::from_secs(2 + (n % 3) as u64));
        let jobs = 2 * MAX_JOBS_IN_FLIGHT + 5;
        let reported = Arc::new(Reported::default());
        let mut writer =
            BulkWriter::new(&read, &write, paused_poller()).with_progress(reported.clone());
        let mut round = Round::default();
        writer
            .create_users(&mut round, users(jobs * BULK_LIMIT))
            .await
            .unwrap();
        let outcomes = writer.finish(round).await.unwrap();
        assert_eq!(outcomes.len(), jobs * BULK_LIMIT);

        let reports = reported.0.lock().unwrap().clone();
        // The window fills one submission at a time, up to its limit and never past it.
        let filling: Vec<usize> = (1..=MAX_JOBS_IN_FLIGHT).collect();
        assert_eq!(reports[..MAX_JOBS_IN_FLIGHT], filling[..]);
        assert_eq!(reports.iter().max(), Some(&MAX_JOBS_IN_FLIGHT));
        // A report is made only on a change: each submission raises the count by one, and
        // status checks that find jobs finished lower it, before the end too.
        assert!(reports.windows(2).all(|w| w[0] != w[1]), "{reports:?}");
        let rises = 1 + reports.windows(2).filter(|w| w[1] > w[0]).count();
        assert_eq!(rises, account.lock().unwrap().submitted.len());
        let last_submission =
            reports.len() - 1 - reports.windows(2).rev().position(|w| w[1] > w[0]).unwrap();
        assert!(
            reports[..last_submission].windows(2).any(|w| w[1] < w[0]),
            "slots freed while jobs were still being submitted: {reports:?}"
        );
        // All finished: the last report says none is in flight.
        assert_eq!(reports.last(), Some(&0));
        assert_eq!(writer.in_flight(), 0);
        // Items advance nothing unless asked.
        assert!(reported.1.lock().unwrap().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn items_advance_the_progress_as_their_jobs_finish_when_asked() {
        let (account, write, read) = timed_account(|n| Duration::from_secs(2 + (n % 3) as u64));
        let jobs = 2 * MAX_JOBS_IN_FLIGHT + 5;
        let reported = Arc::new(Reported::default());
        let mut writer =
            BulkWriter::new(&read, &write, paused_poller()).with_progress(reported.clone());
        writer.begin_item_progress();
        let mut round = Round::default();
        // The last job carries 30 items.
        let items = (jobs - 1) * BULK_LIMIT + 30;
        writer.create_users(&mut round, users(items)).await.unwrap();
        let submitted_by = reported.0.lock().unwrap().len();
        writer.finish(round).await.unwrap();
        assert_eq!(writer.end_item_progress(), items as u64);

        let advances = reported.1.lock().unwrap().clone();
        let total: u64 = advances.iter().map(|(_, n)| n).sum();
        assert_eq!(total, items as u64, "each item once: {advances:?}");
        assert!(
            advances.iter().any(|(at, _)| *at < submitted_by),
            "the progress moved while jobs were still being submitted: {advances:?}"
        );
        assert!(advances.len() > 1, "{advances:?}");
        assert_eq!(account.lock().unwrap().submitted.len(), jobs);
    }

    #[tokio::test]
    async fn items_of_a_refused_batch_and_of_single_calls_advance_once_each() {
        let mut write = MockZendeskWrite::new();
        write.expect_update_many_users().times(2).returning(|_| {
            Err(ZendeskError::ValidationFailed {
                error: "RecordInvalid".into(),
                description: "bad".into(),
                details: None,
            })
        });
        write.expect_create_many_users().times(1).returning(|_| {
            Err(ZendeskError::BulkImportDisabled {
                endpoint: "POST /api/v2/users/create_many".into(),
            })
        });
        write.expect_create_user().times(3).returning(|user| {
            let value = serde_json::json!({"id": 1, "name": user.name});
            Ok(Written::new(serde_json::from_value(value).unwrap()))
        });
        let read = MockZendeskRead::new();
        let reported = Arc::new(Reported::default());
        let mut writer = BulkWriter::new(&read, &write, poller()).with_progress(reported.clone());
        writer.begin_item_progress();
        let mut round = Round::default();
        let updates = vec![(0, UserUpdate::new(5)), (1, UserUpdate::new(6))];
        writer.update_users(&mut round, updates).await.unwrap();
        writer.create_users(&mut round, users(3)).await.unwrap();
        writer.finish(round).await.unwrap();
        let advances: Vec<u64> = reported.1.lock().unwrap().iter().map(|(_, n)| *n).collect();
        assert_eq!(advances, vec![2, 1, 1, 1]);
        assert_eq!(writer.end_item_progress(), 5);
        // Turned off, items advance nothing.
        let mut round = Round::default();
        writer
            .update_users(&mut round, vec![(0, UserUpdate::new(5))])
            .await
            .unwrap();
        assert_eq!(reported.1.lock().unwrap().len(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn status_requests_follow_how_long_jobs_take_and_each_answers_for_several_jobs() {
        // Jobs of twenty seconds: checking every second, as a fixed backoff starts, would
        // spend most requests on jobs that cannot have finished.
        let (account, write, read) = timed_account(|_| Duration::from_secs(20));
        let jobs = 8 * MAX_JOBS_IN_FLIGHT;
        let mut writer = BulkWriter::new(&read, &write, paused_poller());
        let mut round = Round::default();
        writer
            .create_users(&mut round, users(jobs * BULK_LIMIT))
            .await
            .unwrap();
        let outcomes = writer.finish(round).await.unwrap();
        assert_eq!(outcomes.len(), jobs * BULK_LIMIT);
        let account = account.lock().unwrap();
        assert!(
            account.polls * 4 <= jobs,
            "{} status requests for {jobs} jobs",
            account.polls
        );
        assert_eq!(account.most_in_flight, MAX_JOBS_IN_FLIGHT);
    }

    #[tokio::test]
    async fn an_existing_membership_counts_as_present_not_failed() {
        let mut write = MockZendeskWrite::new();
        write
            .expect_create_many_memberships()
            .returning(|_| Ok(queued("m1")));
        let mut read = MockZendeskRead::new();
        read.expect_show_many_job_statuses().returning(|_| {
            let mut status = JobStatus::new("m1", JobState::Completed);
            status.results = vec![
                JobResult {
                    index: Some(0),
                    id: Some(9),
                    status: Some("Created".into()),
                    ..JobResult::default()
                },
                JobResult {
                    index: Some(1),
                    error: Some("InvalidValue".into()),
                    details: Some("User is already a member of this organization".into()),
                    ..JobResult::default()
                },
            ];
            Ok(vec![status])
        });
        let mut writer = BulkWriter::new(&read, &write, poller());
        let mut round = Round::default();
        let items = vec![
            (0, NewMembership::new(1, 10)),
            (1, NewMembership::new(1, 11)),
        ];
        writer.create_memberships(&mut round, items).await.unwrap();
        let outcomes = writer.finish(round).await.unwrap();
        assert_eq!(
            outcomes,
            vec![(0, Outcome::Done(Some(9))), (1, Outcome::AlreadyPresent)]
        );
    }

    #[tokio::test]
    async fn zendesk_unreachable_stops_the_run_but_a_refused_batch_does_not() {
        let mut write = MockZendeskWrite::new();
        write.expect_update_many_users().times(1).returning(|_| {
            Err(ZendeskError::Server {
                status: 503,
                body: "down".into(),
            })
        });
        let read = MockZendeskRead::new();
        let mut writer = BulkWriter::new(&read, &write, poller());
        let mut round = Round::default();
        let updates = vec![(0, UserUpdate::new(5))];
        assert!(writer.update_users(&mut round, updates).await.is_err());

        let mut write = MockZendeskWrite::new();
        write.expect_update_many_users().times(1).returning(|_| {
            Err(ZendeskError::ValidationFailed {
                error: "RecordInvalid".into(),
                description: "bad".into(),
                details: None,
            })
        });
        let mut writer = BulkWriter::new(&read, &write, poller());
        let mut round = Round::default();
        writer
            .update_users(&mut round, vec![(0, UserUpdate::new(5))])
            .await
            .unwrap();
        let outcomes = writer.finish(round).await.unwrap();
        assert!(matches!(&outcomes[..], [(0, Outcome::Failed(m))] if m.contains("bad")));
    }

    #[test]
    fn a_refusal_is_told_from_an_item_zendesk_could_not_process() {
        assert!(transient_item_error(
            "InternalError: the item could not be processed, try again"
        ));
        for refusal in [
            "RecordInvalid: Email: badmail is not properly formatted",
            "OrganizationUpdateFailed: Name: Acme has already been taken",
            "UserCreateFailed: Email: x@y is already being used by another user",
        ] {
            assert!(!transient_item_error(refusal), "{refusal}");
        }
    }

    /// A job Zendesk really answered (recorded from a live account, kept with the client's
    /// contract tests): 100 organizations created, results without `index`, in submission
    /// order. Each key gets the id at its position.
    #[tokio::test]
    async fn a_recorded_create_job_maps_back_by_position() {
        let recorded: serde_json::Value = serde_json::from_str(include_str!(
            "../../zendesk-client/tests/data/recorded/job_org_create_completed.json"
        ))
        .unwrap();
        let status: JobStatus = serde_json::from_value(recorded["job_status"].clone()).unwrap();
        assert!(status.results.iter().all(|r| r.index.is_none()));
        let expected: Vec<u64> = status.results.iter().filter_map(|r| r.id).collect();
        assert_eq!(expected.len(), 100);
        let mut write = MockZendeskWrite::new();
        write
            .expect_create_many_organizations()
            .times(1)
            .returning(|_| Ok(queued("V3-6032b8b01e53ef8fc637cb4881cacd82")));
        let mut read = MockZendeskRead::new();
        read.expect_show_many_job_statuses()
            .times(1)
            .returning(move |_| Ok(vec![status.clone()]));
        let mut writer = BulkWriter::new(&read, &write, poller());
        let mut round = Round::default();
        let orgs: Vec<(usize, NewOrganization)> = (0..100)
            .map(|i| (i, NewOrganization::new(format!("Org {i}"))))
            .collect();
        writer.create_organizations(&mut round, orgs).await.unwrap();
        let outcomes = writer.finish(round).await.unwrap();
        let got: Vec<(usize, Outcome)> = outcomes;
        let want: Vec<(usize, Outcome)> = expected
            .iter()
            .enumerate()
            .map(|(i, id)| (i, Outcome::Done(Some(*id))))
            .collect();
        assert_eq!(got, want);
    }

    fn warning(keys: &[&str]) -> ApiWarning {
        ApiWarning::unpermitted(keys.iter().copied())
    }

    #[tokio::test]
    async fn keys_zendesk_dropped_are_collected_once_per_run() {
        let mut write = MockZendeskWrite::new();
        write.expect_update_many_users().times(2).returning(|_| {
            Ok(queued("j").with_warning(warning(&["users.user_fields.no_such_field"])))
        });
        write.expect_create_user().times(1).returning(|user| {
            let value = serde_json::json!({"id": 7, "name": user.name});
            Ok(
                Written::new(serde_json::from_value::<zendesk_client::User>(value).unwrap())
                    .with_warning(warning(&["user.user_fields.no_such_field", "user.notes"])),
            )
        });
        write.expect_create_many_users().times(1).returning(|_| {
            Err(ZendeskError::BulkImportDisabled {
                endpoint: "POST /api/v2/users/create_many".into(),
            })
        });
        let read = MockZendeskRead::new();
        let mut writer = BulkWriter::new(&read, &write, poller());
        let mut round = Round::default();
        for _ in 0..2 {
            writer
                .update_users(&mut round, vec![(0, UserUpdate::new(5))])
                .await
                .unwrap();
        }
        writer.create_users(&mut round, users(1)).await.unwrap();
        let dropped: Vec<(ObjectKind, &str)> = writer
            .dropped_keys()
            .iter()
            .map(|k| (k.object, k.field.as_str()))
            .collect();
        assert_eq!(
            dropped,
            vec![
                (ObjectKind::User, "notes"),
                (ObjectKind::User, "user_fields.no_such_field")
            ]
        );
    }

    /// Issue 11, point 5: a 403 that is not the documented "imports not enabled" answer
    /// reaches the writer as `Forbidden`; it stops the run instead of sending one call per
    /// user, each of which would be refused the same way.
    #[tokio::test]
    async fn a_forbidden_bulk_import_stops_the_run_without_single_calls() {
        let mut write = MockZendeskWrite::new();
        write.expect_create_many_users().times(1).returning(|_| {
            Err(ZendeskError::Forbidden {
                endpoint: "POST /api/v2/users/create_many".into(),
                error: Some("Forbidden".into()),
                description: Some("You do not have access to this page.".into()),
            })
        });
        write.expect_create_user().never();
        let read = MockZendeskRead::new();
        let mut writer = BulkWriter::new(&read, &write, poller());
        let mut round = Round::default();
        let err = writer
            .create_users(&mut round, users(3))
            .await
            .expect_err("fatal");
        assert!(err.to_string().contains("You do not have access"), "{err}");
        assert!(!writer.bulk_users_disabled());
    }
}
