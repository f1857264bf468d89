//! Writing a planned chunk and counting what happened: users and existing users'
//! memberships in one batch, then the memberships of the users just created; each outcome
//! is counted in the report, and the chunk's state (syncing records, Zendesk users,
//! failures, cleared failures) is committed in one transaction.

use std::collections::HashMap;

use domain::{Email, SalesforceId, UserId, UserRef};
use zendesk_client::NewMembership;

use crate::chunk::{ChunkFailures, ChunkPlan, PendingMembership, WriteKey};
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

impl Run<'_, '_> {
    /// Writes a chunk's plan and commits its state.
    pub(crate) async fn apply_chunk(
        &mut self,
        state: &mut StateStore,
        pass: &mut PeoplePass<'_>,
        chunk: ChunkPlan,
    ) -> Result<(), SyncError> {
        let ChunkPlan {
            groups,
            relations,
            plans,
            creates,
            updates,
            now,
            later,
            mut failures,
        } = chunk;
        let kind = RecordKind::person(pass.settings.object());

        let mut batch = Batch::default();
        self.writer.create_users(&mut batch, creates).await?;
        self.writer.update_users(&mut batch, updates).await?;
        self.writer
            .create_memberships(&mut batch, membership_items(now))
            .await?;
        let mut created: HashMap<Email, UserId> = HashMap::new();
        for (key, outcome) in self.writer.finish(batch).await? {
            match key {
                WriteKey::User(index) => {
                    let plan = &plans[index];
                    let is_create = matches!(plan.user, UserRef::New(_));
                    match outcome {
                        Outcome::Done(id) => {
                            if is_create {
                                self.report.users.created += 1;
                                if let Some(id) = id {
                                    created.insert(plan.email.clone(), UserId(id));
                                }
                            } else {
                                self.report.users.updated += 1;
                            }
                        }
                        Outcome::AlreadyPresent => self.report.users.unchanged += 1,
                        Outcome::Failed(message) => {
                            self.report.users.failed += 1;
                            self.report.error(plan.syncing.id.to_string(), &message);
                            failures.fail(&plan.syncing.id, kind, Some(&plan.email), &message);
                        }
                    }
                }
                WriteKey::Membership(m) => self.count_membership(&m, outcome, &mut failures),
            }
        }
        let resolved: Vec<PendingMembership> = later
            .into_iter()
            .filter_map(|mut m| {
                let UserRef::New(email) = &m.user else {
                    return Some(m);
                };
                m.user = UserRef::Existing(*created.get(email)?);
                Some(m)
            })
            .collect();
        failures
            .failures
            .extend(self.write_memberships(resolved).await?);
        pass.created_users.extend(created);

        if !self.commits() {
            return Ok(());
        }
        let syncing: Vec<(Email, SalesforceId)> = plans
            .iter()
            .map(|p| (p.email.clone(), p.syncing.id.clone()))
            .collect();
        let failed_ids: std::collections::HashSet<&str> = failures
            .failures
            .iter()
            .map(|f| f.salesforce_id.as_str())
            .collect();
        let succeeded: Vec<String> = groups
            .iter()
            .flat_map(|g| g.people.iter().map(|p| p.id.to_string()))
            .chain(relations.iter().map(|r| r.id.to_string()))
            .filter(|id| !failed_ids.contains(id.as_str()))
            .collect();
        let zendesk_users: Vec<(Email, UserId)> = plans
            .iter()
            .filter_map(|p| {
                let id = match &p.user {
                    UserRef::Existing(id) => *id,
                    UserRef::New(email) => *pass.created_users.get(email)?,
                };
                Some((p.email.clone(), id))
            })
            .collect();
        state.transaction(|tx| {
            tx.set_syncing_records(&syncing)?;
            tx.set_zendesk_users(&zendesk_users)?;
            tx.record_failures(&failures.failures)?;
            tx.clear_failures(&succeeded)?;
            Ok(())
        })?;
        Ok(())
    }

    /// Writes memberships of existing users in one batch and returns the failures.
    pub(crate) async fn write_memberships(
        &mut self,
        memberships: Vec<PendingMembership>,
    ) -> Result<Vec<NewFailure>, SyncError> {
        let mut failures = ChunkFailures::default();
        if memberships.is_empty() {
            return Ok(failures.failures);
        }
        let mut batch = Batch::default();
        self.writer
            .create_memberships(&mut batch, membership_items(memberships))
            .await?;
        for (key, outcome) in self.writer.finish(batch).await? {
            if let WriteKey::Membership(m) = key {
                self.count_membership(&m, outcome, &mut failures);
            }
        }
        Ok(failures.failures)
    }

    fn count_membership(
        &mut self,
        membership: &PendingMembership,
        outcome: Outcome,
        failures: &mut ChunkFailures,
    ) {
        match outcome {
            Outcome::Done(_) => self.report.memberships.created += 1,
            Outcome::AlreadyPresent => self.report.memberships.already_present += 1,
            Outcome::Failed(message) => {
                self.report.memberships.failed += 1;
                self.report.error(membership.source.to_string(), &message);
                failures.fail(&membership.contact, RecordKind::Contact, None, &message);
            }
        }
    }
}
