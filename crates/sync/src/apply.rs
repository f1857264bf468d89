//! Writing a planned chunk and counting what happened: users and existing users'
//! memberships in one batch, then the memberships of the users just created; each outcome
//! is counted in the report, and the chunk's state (syncing records, Zendesk users,
//! failures, refusals) is committed in one transaction.
//!
//! A create that Zendesk refuses because the email already belongs to a user (an identity
//! added after the users were read, search lag, or our own submission repeated after a
//! dropped connection) is resolved in the same run: the email is searched again and the
//! group's plan is made against the user found.

use std::collections::{HashMap, HashSet};

use domain::{Email, EmailGroup, SalesforceId, UserId, UserRef};
use zendesk_client::NewMembership;

use crate::chunk::{
    ChunkFailures, ChunkPlan, PendingMembership, USER_SUBJECT, WriteKey, membership_subject,
};
use crate::directory::Directory;
use crate::people::PeoplePass;
use crate::run::{Run, SyncError};
use crate::state::{NewFailure, RecordKind, StateStore};
use crate::writing::{Batch, Outcome};

fn membership_items(memberships: Vec<PendingMembership>) -> Vec<(WriteKey, NewMembership)> {
    memberships
        .into_iter()
        .filter_map(|m| Some((m.to_new()?, m)))
        .map(|(new, m)| (WriteKey::Membership(m), new))
        .collect()
}

/// Whether a refused create says that its email belongs to a user already.
pub(crate) fn email_taken(message: &str) -> bool {
    let message = message.to_lowercase();
    message.contains("already being used")
        || (message.contains("email") && message.contains("already been taken"))
}

/// A refusal to remember with the chunk: record, subject, what was sent, Zendesk's message.
type NewRefusal = (SalesforceId, String, String, String);

/// What the writes of a chunk left to commit.
#[derive(Default)]
struct Written {
    created: HashMap<Email, UserId>,
    refusals: Vec<NewRefusal>,
}

/// A chunk whose first writes (users, and memberships of existing users) are submitted:
/// the next chunk is planned and submitted while they run, so the job window stays full
/// across chunks.
pub(crate) struct SubmittedChunk {
    chunk: ChunkPlan,
    batch: Batch<WriteKey>,
}

impl Run<'_, '_> {
    /// Submits a chunk's user writes and the memberships of existing users.
    pub(crate) async fn submit_chunk(
        &mut self,
        mut chunk: ChunkPlan,
    ) -> Result<SubmittedChunk, SyncError> {
        let mut batch = Batch::default();
        self.writer
            .create_users(&mut batch, std::mem::take(&mut chunk.creates))
            .await?;
        self.writer
            .update_users(&mut batch, std::mem::take(&mut chunk.updates))
            .await?;
        self.writer
            .create_memberships(&mut batch, membership_items(std::mem::take(&mut chunk.now)))
            .await?;
        Ok(SubmittedChunk { chunk, batch })
    }

    /// Finishes a submitted chunk: counts its first writes, writes the memberships of the
    /// users it created, resolves refused creates, and commits its state.
    pub(crate) async fn apply_chunk(
        &mut self,
        state: &mut StateStore,
        pass: &mut PeoplePass<'_>,
        submitted: SubmittedChunk,
    ) -> Result<(), SyncError> {
        let kind = RecordKind::person(pass.settings.object());
        let SubmittedChunk { chunk, batch } = submitted;
        let ChunkPlan {
            groups,
            relations,
            mut plans,
            creates: _,
            updates: _,
            now: _,
            later,
            mut failures,
            sent,
            refusals: _,
            mut refused,
            seen_memberships,
        } = chunk;

        let mut written = Written::default();
        let mut taken: Vec<usize> = Vec::new();
        let outcomes = self.writer.finish(batch).await?;
        for (key, outcome) in self.check_refused_memberships(outcomes).await? {
            match key {
                WriteKey::User(index) => {
                    let plan = &plans[index];
                    let is_create = matches!(plan.user, UserRef::New(_));
                    match outcome {
                        Outcome::Done(id) => {
                            if is_create {
                                self.report.users.created += 1;
                                if let Some(id) = id {
                                    written.created.insert(plan.email.clone(), UserId(id));
                                }
                            } else {
                                self.report.users.updated += 1;
                            }
                        }
                        Outcome::AlreadyPresent => self.report.users.unchanged += 1,
                        Outcome::Refused(message) if is_create && email_taken(&message) => {
                            taken.push(index);
                        }
                        Outcome::Refused(message) => {
                            self.report.users.failed += 1;
                            self.report.error(plan.syncing.id.to_string(), &message);
                            refused.insert(plan.syncing.id.clone());
                            written.refusals.push((
                                plan.syncing.id.clone(),
                                USER_SUBJECT.to_owned(),
                                sent.get(&index).cloned().unwrap_or_default(),
                                message,
                            ));
                        }
                        Outcome::Failed(message) => {
                            self.report.users.failed += 1;
                            self.report.error(plan.syncing.id.to_string(), &message);
                            failures.fail(&plan.syncing.id, kind, Some(&plan.email), &message);
                        }
                    }
                }
                WriteKey::Membership(m) => {
                    self.count_membership(&m, outcome, &mut failures, &mut written.refusals);
                }
            }
        }
        let resolved: Vec<PendingMembership> = later
            .into_iter()
            .filter_map(|mut m| {
                let UserRef::New(email) = &m.user else {
                    return Some(m);
                };
                m.user = UserRef::Existing(*written.created.get(email)?);
                Some(m)
            })
            .collect();
        let membership_failures = self
            .write_memberships(resolved, &mut written.refusals)
            .await?;
        failures.failures.extend(membership_failures);
        if !taken.is_empty() {
            let taken: Vec<&domain::GroupPlan> = taken.iter().map(|i| &plans[*i]).collect();
            let resolved_plans = self
                .resolve_taken_emails(
                    pass,
                    &groups,
                    &relations,
                    &taken,
                    &mut failures,
                    &mut written,
                )
                .await?;
            plans.extend(resolved_plans);
        }
        // A dry run keeps the stand-in ids of the users its deferred secondary memberships
        // wait for (a run that writes reads them back from the state file); no other
        // created user is kept, or memory would grow with every user created.
        for (email, user) in &written.created {
            if pass.awaited_users.contains(email) {
                pass.created_users.insert(email.clone(), *user);
            }
        }
        let confirmed = std::mem::take(&mut self.confirmed_memberships);

        if !self.commits() {
            return Ok(());
        }
        let syncing: Vec<(Email, SalesforceId)> = plans
            .iter()
            .map(|p| (p.email.clone(), p.syncing.id.clone()))
            .collect();
        let failed_ids: HashSet<&str> = failures
            .failures
            .iter()
            .map(|f| f.salesforce_id.as_str())
            .collect();
        let succeeded: Vec<SalesforceId> = groups
            .iter()
            .flat_map(|g| g.people.iter().map(|p| p.id.clone()))
            .chain(relations.iter().map(|r| r.id.clone()))
            .filter(|id| !failed_ids.contains(id.as_str()))
            .collect();
        let succeeded_text: Vec<String> = succeeded.iter().map(ToString::to_string).collect();
        // Records written now need no refusal remembered; held-back or refused ones keep it.
        let accepted: Vec<SalesforceId> = succeeded
            .into_iter()
            .filter(|id| !refused.contains(id))
            .collect();
        let zendesk_users: Vec<(Email, UserId)> = plans
            .iter()
            .filter_map(|p| {
                let id = match &p.user {
                    UserRef::Existing(id) => *id,
                    UserRef::New(email) => *written.created.get(email)?,
                };
                Some((p.email.clone(), id))
            })
            .collect();
        state.transaction(|tx| {
            tx.set_syncing_records(&syncing)?;
            tx.set_zendesk_users(&zendesk_users)?;
            tx.record_failures(&failures.failures)?;
            tx.clear_failures(&succeeded_text)?;
            tx.clear_refusals(&accepted)?;
            for (record, subject, sent, message) in &written.refusals {
                tx.record_refusal(record, subject, sent, message)?;
            }
            tx.remember_memberships(&seen_memberships)?;
            tx.remember_memberships(&confirmed)?;
            Ok(())
        })?;
        Ok(())
    }

    /// Creates Zendesk refused because the email belongs to a user already: the emails are
    /// searched again (matching every email identity) and each group is planned and written
    /// against the user found, in this run. Returns the new plans.
    async fn resolve_taken_emails(
        &mut self,
        pass: &mut PeoplePass<'_>,
        groups: &[EmailGroup],
        relations: &[domain::Relation],
        taken: &[&domain::GroupPlan],
        failures: &mut ChunkFailures,
        written: &mut Written,
    ) -> Result<Vec<domain::GroupPlan>, SyncError> {
        let kind = RecordKind::person(pass.settings.object());
        let emails: Vec<Email> = taken.iter().map(|plan| plan.email.clone()).collect();
        let users =
            Directory::search(self.engine.zendesk, &self.options().mapping, &emails).await?;
        tracing::info!(
            refused = taken.len(),
            found = users.len(),
            "creates refused because the email already belongs to a user (an identity added since the read, or a repeated submission): planning against the users found"
        );
        let mut retry_groups = Vec::new();
        let mut remembered = HashMap::new();
        for plan in taken {
            if users.contains_key(&plan.email) {
                // Memberships deferred for the user this plan meant to create are planned
                // again against the user found.
                pass.not_created.insert(plan.email.clone());
                if let Some(group) = groups.iter().find(|g| g.email == plan.email) {
                    retry_groups.push(group.clone());
                    remembered.insert(plan.email.clone(), plan.syncing.id.clone());
                }
            } else {
                let message = format!(
                    "Zendesk says {} belongs to a user already, but no user with it was found; retried next run",
                    plan.email
                );
                self.report.users.failed += 1;
                self.report.error(plan.syncing.id.to_string(), &message);
                failures.fail(&plan.syncing.id, kind, Some(&plan.email), &message);
            }
        }
        if retry_groups.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<UserId> = users.values().map(|u| u.id).collect();
        let member_of = pass.memberships.of(self.engine.zendesk, &ids).await?;
        let mut retry = ChunkPlan {
            plans: self.plan_groups(
                pass,
                &retry_groups,
                relations,
                &users,
                &member_of,
                &remembered,
            ),
            groups: retry_groups,
            relations: relations.to_vec(),
            ..ChunkPlan::default()
        };
        self.sort_actions(pass, &mut retry, kind);
        let mut batch = Batch::default();
        self.writer.update_users(&mut batch, retry.updates).await?;
        self.writer
            .create_memberships(&mut batch, membership_items(retry.now))
            .await?;
        let outcomes = self.writer.finish(batch).await?;
        for (key, outcome) in self.check_refused_memberships(outcomes).await? {
            match key {
                WriteKey::User(index) => {
                    let plan = &retry.plans[index];
                    match outcome {
                        Outcome::Done(_) | Outcome::AlreadyPresent => {
                            self.report.users.updated += 1
                        }
                        Outcome::Refused(message) | Outcome::Failed(message) => {
                            self.report.users.failed += 1;
                            self.report.error(plan.syncing.id.to_string(), &message);
                            failures.fail(&plan.syncing.id, kind, Some(&plan.email), &message);
                        }
                    }
                }
                WriteKey::Membership(m) => {
                    self.count_membership(&m, outcome, failures, &mut written.refusals);
                }
            }
        }
        Ok(retry.plans)
    }

    /// Writes memberships of existing users in one batch and returns the failures.
    pub(crate) async fn write_memberships(
        &mut self,
        memberships: Vec<PendingMembership>,
        refusals: &mut Vec<NewRefusal>,
    ) -> Result<Vec<NewFailure>, SyncError> {
        let mut failures = ChunkFailures::default();
        if memberships.is_empty() {
            return Ok(failures.failures);
        }
        let mut batch = Batch::default();
        self.writer
            .create_memberships(&mut batch, membership_items(memberships))
            .await?;
        let outcomes = self.writer.finish(batch).await?;
        for (key, outcome) in self.check_refused_memberships(outcomes).await? {
            if let WriteKey::Membership(m) = key {
                self.count_membership(&m, outcome, &mut failures, refusals);
            }
        }
        Ok(failures.failures)
    }

    /// A membership create Zendesk refused may be one that exists already, in words the
    /// writer did not recognize as "already a member": an incremental run writes the
    /// memberships the state file does not remember rather than listing them first. Each
    /// refused membership's user is listed once (one call per such user, only on refusals),
    /// and a membership found there counts as already present instead of an error.
    async fn check_refused_memberships(
        &mut self,
        outcomes: Vec<(WriteKey, Outcome)>,
    ) -> Result<Vec<(WriteKey, Outcome)>, SyncError> {
        let users: Vec<UserId> = outcomes
            .iter()
            .filter_map(|(key, outcome)| match (key, outcome) {
                (WriteKey::Membership(m), Outcome::Refused(_)) => match m.user {
                    UserRef::Existing(user) => Some(user),
                    UserRef::New(_) => None,
                },
                _ => None,
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if users.is_empty() {
            return Ok(outcomes);
        }
        let member_of = crate::directory::Memberships::PerUser
            .of(self.engine.zendesk, &users)
            .await?;
        Ok(outcomes
            .into_iter()
            .map(|(key, outcome)| {
                let present = match (&key, &outcome) {
                    (WriteKey::Membership(m), Outcome::Refused(_)) => match m.user {
                        UserRef::Existing(user) => member_of
                            .get(&user)
                            .is_some_and(|orgs| orgs.contains(&m.organization)),
                        UserRef::New(_) => false,
                    },
                    _ => false,
                };
                if present {
                    (key, Outcome::AlreadyPresent)
                } else {
                    (key, outcome)
                }
            })
            .collect())
    }

    fn count_membership(
        &mut self,
        membership: &PendingMembership,
        outcome: Outcome,
        failures: &mut ChunkFailures,
        refusals: &mut Vec<NewRefusal>,
    ) {
        if matches!(outcome, Outcome::Done(_) | Outcome::AlreadyPresent)
            && let UserRef::Existing(user) = membership.user
        {
            self.confirmed_memberships
                .push((user, membership.organization));
        }
        match outcome {
            Outcome::Done(_) => self.report.memberships.created += 1,
            Outcome::AlreadyPresent => self.report.memberships.already_present += 1,
            Outcome::Refused(message) => {
                // A per-record limit (the user's organization limit, say): reported once,
                // then held back until the record changes.
                self.report.memberships.failed += 1;
                self.report.error(membership.source.to_string(), &message);
                refusals.push((
                    membership.source.clone(),
                    membership_subject(membership.organization),
                    membership.fingerprint(),
                    message,
                ));
            }
            Outcome::Failed(message) => {
                self.report.memberships.failed += 1;
                self.report.error(membership.source.to_string(), &message);
                failures.fail(&membership.contact, RecordKind::Contact, None, &message);
            }
        }
    }
}
