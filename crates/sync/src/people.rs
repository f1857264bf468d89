//! The people phase: stage the records to consider, choose how the Zendesk side is read,
//! then chunk by chunk plan, write and commit; the first run with secondary relationships
//! writes them after its complete primary pass. Watermarks move when the phase finished.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use domain::{EffectiveSettings, Email, UserId, UserRef, group_by_email};
use zendesk_client::ZendeskError;

use crate::apply::SubmittedChunk;
use crate::chunk::{PendingMembership, refusal_reason};
use crate::directory::{Directory, DirectoryError, Memberships, UserIndex};
use crate::report::RunMode;
use crate::run::{Run, SyncError};
use crate::staging::Staging;
use crate::state::{StateStore, Watermark};

/// What the chunks of one people phase share.
pub(crate) struct PeoplePass<'s> {
    pub(crate) settings: &'s EffectiveSettings,
    /// How users are found.
    pub(crate) directory: Directory,
    /// How memberships are read.
    pub(crate) memberships: Memberships,
    /// Secondary relationships wait for the end of the first complete primary pass.
    pub(crate) defer_secondary: bool,
    /// The memberships waiting for it, until they are moved to staging after each chunk.
    pub(crate) deferred: Vec<PendingMembership>,
    /// Emails whose create was refused because a user has them: memberships deferred for
    /// the user to be created are dropped, those planned again against the found user kept.
    pub(crate) not_created: HashSet<Email>,
    /// Users created in this run that deferred memberships wait for, by email.
    pub(crate) created_users: HashMap<Email, UserId>,
    /// The emails of users to be created that deferred memberships wait for.
    pub(crate) awaited_users: HashSet<Email>,
}

impl Run<'_, '_> {
    pub(crate) async fn people_phase(
        &mut self,
        state: &mut StateStore,
        settings: &EffectiveSettings,
    ) -> Result<(), SyncError> {
        let object = settings.object();
        let secondary = settings.syncs_secondary_relationships();
        // Secondary relationships turned on after earlier runs: every relation is new to
        // the sync, so this pass considers every record, as a full run does.
        if secondary && !self.full() && state.watermark(Watermark::Relations)?.is_none() {
            tracing::info!(
                "secondary relationships are synced for the first time: considering every record"
            );
            self.report.mode = RunMode::Full;
        }

        // 1. The records to consider, staged.
        let mut staging = Staging::new()?;
        let mut stamps = self
            .select_people(state, &mut staging, object, secondary)
            .await?;
        for skip in group_by_email(staging.ungroupable()?).skipped {
            self.report
                .skip(skip.salesforce_id.to_string(), skip.reason.to_string());
        }

        // 2. How the Zendesk side is read.
        let email_count = staging.email_count()?;
        let (directory, memberships) = self.choose_directory(state, email_count).await?;
        let mut pass = PeoplePass {
            settings,
            directory,
            memberships,
            defer_secondary: secondary && !state.primary_pass_complete(object)?,
            deferred: Vec::new(),
            not_created: HashSet::new(),
            created_users: HashMap::new(),
            awaited_users: HashSet::new(),
        };

        // 3. Chunk by chunk: plan, write, commit. A chunk's writes are submitted before the
        // previous chunk is finished, so Zendesk's job slots do not idle between chunks;
        // chunks hold distinct emails, so neither plan depends on the other's writes.
        self.engine.progress.phase("users", Some(email_count));
        let mut after: Option<String> = None;
        let mut in_flight: Option<(SubmittedChunk, u64)> = None;
        loop {
            let next = if self.engine.cancelled() {
                None
            } else {
                staging.next_chunk(after.as_deref(), self.options().chunk_size.max(1))?
            };
            let submitted = match next {
                Some((people, last)) => {
                    let relations = if secondary {
                        let ids: Vec<_> = people.iter().map(|p| &p.id).collect();
                        staging.relations_of(&ids)?
                    } else {
                        Vec::new()
                    };
                    let plan = self.plan_chunk(state, &mut pass, people, relations).await?;
                    let groups = plan.groups.len() as u64;
                    after = Some(last);
                    Some((self.submit_chunk(plan).await?, groups))
                }
                None => None,
            };
            let done = submitted.is_none();
            if let Some((previous, groups)) = std::mem::replace(&mut in_flight, submitted) {
                self.apply_chunk(state, &mut pass, previous).await?;
                self.engine.progress.advance(groups);
            }
            // Deferred memberships wait on disk: on a large first run they are many.
            if !pass.deferred.is_empty() {
                staging.defer(&std::mem::take(&mut pass.deferred))?;
            }
            if done {
                break;
            }
        }
        if self.engine.cancelled() {
            return Err(SyncError::Interrupted);
        }

        // Records refused in earlier runs and not read in this one are still not in
        // Zendesk: the report lists them every run until they change.
        self.list_remembered_refusals(state)?;

        // 4. The secondary pass of the first run, after the complete primary pass.
        let deferred = staging.deferred_count()?;
        if deferred > 0 {
            self.secondary_pass(state, &staging, &pass, object, deferred)
                .await?;
        }
        if secondary
            && stamps.relations.is_none()
            && state.watermark(Watermark::Relations)?.is_none()
        {
            // No relation was read: mark the pass done from an hour before now, so the next
            // run reads only relations created since (an hour of overlap covers clock skew).
            stamps.relations = Some(
                stamps
                    .people
                    .unwrap_or_else(|| Utc::now() - chrono::Duration::hours(1)),
            );
        }
        if self.commits() {
            let deleted: Vec<String> = stamps.deleted.iter().map(ToString::to_string).collect();
            state.transaction(|tx| {
                // A deleted record is not retried, and its refusals are moot.
                tx.clear_failures(&deleted)?;
                tx.clear_refusals(&stamps.deleted)?;
                tx.set_primary_pass_complete(object)?;
                if let Some(stamp) = stamps.people {
                    tx.set_watermark(Watermark::People(object), stamp)?;
                }
                if let Some(stamp) = stamps.relations {
                    tx.set_watermark(Watermark::Relations, stamp)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Writes the secondary memberships deferred to the end of the first complete primary
    /// pass, read back from staging a page at a time. A membership of a user created in
    /// this run takes the id the state file remembers for its email (a dry run: the
    /// stand-in id it handed out).
    async fn secondary_pass(
        &mut self,
        state: &mut StateStore,
        staging: &Staging,
        pass: &PeoplePass<'_>,
        object: domain::PersonObject,
        total: u64,
    ) -> Result<(), SyncError> {
        // Large pages keep the job window full; the window drains only at a page's end.
        const PAGE: usize = 25_000;
        self.engine.progress.phase("memberships", Some(total));
        tracing::info!(
            memberships = total,
            "primary pass complete; syncing secondary relationships"
        );
        if self.commits() {
            state.transaction(|tx| tx.set_primary_pass_complete(object))?;
        }
        let mut after = 0;
        while let Some((page, last)) = staging.next_deferred::<PendingMembership>(after, PAGE)? {
            after = last;
            let count = page.len() as u64;
            let emails: Vec<Email> = page
                .iter()
                .filter_map(|m| match &m.user {
                    UserRef::New(email) if !pass.not_created.contains(email) => Some(email.clone()),
                    _ => None,
                })
                .collect();
            let from_state;
            let created = if self.commits() {
                from_state = state.zendesk_users(&emails)?;
                &from_state
            } else {
                &pass.created_users
            };
            let resolved: Vec<PendingMembership> = page
                .into_iter()
                .filter_map(|mut m| {
                    if let UserRef::New(email) = &m.user {
                        if pass.not_created.contains(email) {
                            return None;
                        }
                        m.user = UserRef::Existing(*created.get(email)?);
                    }
                    Some(m)
                })
                .collect();
            let mut refusals = Vec::new();
            self.writer.begin_item_progress();
            let failures = self.write_memberships(resolved, &mut refusals).await?;
            let advanced = self.writer.end_item_progress();
            self.engine.progress.advance(count.saturating_sub(advanced));
            let confirmed = std::mem::take(&mut self.confirmed_memberships);
            if self.commits() {
                state.transaction(|tx| {
                    tx.record_failures(&failures)?;
                    for (record, subject, sent, message) in &refusals {
                        tx.record_refusal(record, subject, sent, message)?;
                    }
                    tx.remember_memberships(&confirmed)?;
                    Ok(())
                })?;
            }
        }
        Ok(())
    }

    fn list_remembered_refusals(&mut self, state: &StateStore) -> Result<(), SyncError> {
        let listed: std::collections::HashSet<String> = self
            .report
            .skipped
            .iter()
            .map(|s| s.salesforce_id.clone())
            .chain(self.report.errors.iter().map(|e| e.salesforce_id.clone()))
            .collect();
        for (record, subject, refusal) in state.all_refusals()? {
            if !listed.contains(record.as_str()) {
                self.report
                    .skip(record.to_string(), refusal_reason(&subject, &refusal));
            }
        }
        Ok(())
    }

    /// Reads every user through the export on a full run when that costs fewer calls than
    /// one search per email (1,000 users a call), and remembers every email's user in the
    /// state file; else reads remembered users by id and searches the rest (none, once a
    /// full run remembered the whole account, unless this is a dry run).
    async fn choose_directory(
        &mut self,
        state: &mut StateStore,
        email_count: u64,
    ) -> Result<(Directory, Memberships), SyncError> {
        let zd = self.engine.zendesk;
        let export = self.full()
            && email_count > 0
            && match zd.count_users().await {
                Ok(Some(users)) => users / 1000 < email_count,
                Ok(None) => true,
                Err(err) if err.is_retryable() => return Err(err.into()),
                Err(_) => true,
            };
        if export {
            let read_at = Utc::now();
            match UserIndex::load(zd, &self.options().mapping).await {
                Ok(index) => {
                    if self.commits() {
                        remember_directory(state, &index, read_at)?;
                    }
                    return Ok((Directory::Indexed(index), Memberships::Account(None)));
                }
                // Without access to the export the run still works, one search per email.
                Err(DirectoryError::Zendesk(
                    ZendeskError::NotFound { .. } | ZendeskError::Forbidden { .. },
                )) => {
                    self.report.warn_once(
                        "the Zendesk incremental user export is not available to these credentials: users are looked up one search per email (more API calls)",
                    );
                }
                Err(err) => return Err(err.into()),
            }
        }
        // An incremental run that writes lets Zendesk's answers to its writes say what the
        // state file does not remember. A dry run cannot learn by writing, and a full run
        // is the one that checks everything again, so both ask Zendesk first.
        if self.commits() && !self.full() {
            let unknown_is_absent = state.zendesk_directory_read_at()?.is_some();
            Ok((
                Directory::Search { unknown_is_absent },
                Memberships::Remembered,
            ))
        } else {
            Ok((
                Directory::Search {
                    unknown_is_absent: false,
                },
                Memberships::PerUser,
            ))
        }
    }
}

/// Replaces the users the state file remembers with every user the export read, page by
/// page. Until the last page is stored, the file says the account was not read, so a run
/// stopped half way leaves later runs searching what they do not find, as before.
fn remember_directory(
    state: &mut StateStore,
    index: &UserIndex,
    read_at: chrono::DateTime<Utc>,
) -> Result<(), SyncError> {
    const PAGE: usize = 10_000;
    state.transaction(|tx| tx.forget_zendesk_directory())?;
    let mut after: Option<Email> = None;
    loop {
        let page = index
            .user_ids(after.as_ref(), PAGE)
            .map_err(DirectoryError::from)?;
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        state.transaction(|tx| tx.set_zendesk_users(&page))?;
        if page.len() < PAGE {
            break;
        }
    }
    state.transaction(|tx| tx.set_zendesk_directory_read(read_at))?;
    Ok(())
}
