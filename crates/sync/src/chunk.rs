//! Planning one chunk of email groups: read what the rules need of Zendesk (the groups'
//! users, their memberships where a group points beyond the default organization), ask
//! [`plan_group`] for each group, and sort the actions into the writes of the chunk.

use std::collections::{HashMap, HashSet};

use domain::{
    Action, Email, EmailGroup, FieldsOutcome, GroupContext, GroupPlan, MembershipOutcome,
    OrganizationId, Person, Relation, Rule, SalesforceId, UserId, UserRef, candidate_organizations,
    choose_syncing_record, group_by_email, plan_group,
};
use zendesk_client::{NewMembership, NewUser, UserUpdate};

use crate::describe::{describe_action, describe_note, plan_ids};
use crate::directory::UserRecord;
use crate::mapping;
use crate::people::PeoplePass;
use crate::run::{Run, SyncError};
use crate::state::{NewFailure, RecordKind, StateStore};

/// A membership whose write waits: for a user created later in the chunk, or for the end
/// of the first complete primary pass (secondary relationships).
#[derive(Debug, Clone)]
pub(crate) struct PendingMembership {
    pub(crate) user: UserRef,
    pub(crate) organization: OrganizationId,
    pub(crate) default: bool,
    /// The contact or relation behind it, and the contact it belongs to.
    pub(crate) source: SalesforceId,
    pub(crate) contact: SalesforceId,
}

impl PendingMembership {
    /// The membership to create, once its user exists.
    pub(crate) fn to_new(&self) -> Option<NewMembership> {
        let UserRef::Existing(user) = self.user else {
            return None;
        };
        let mut membership = NewMembership::new(user.0, self.organization.0);
        if self.default {
            membership.default = Some(true);
        }
        Some(membership)
    }
}

/// What a write in a chunk is for, to account for its outcome.
#[derive(Debug, Clone)]
pub(crate) enum WriteKey {
    /// The user of plan `usize` (create or update).
    User(usize),
    /// A membership.
    Membership(PendingMembership),
}

/// Failures of a chunk, committed with it.
#[derive(Debug, Default)]
pub(crate) struct ChunkFailures {
    pub(crate) failures: Vec<NewFailure>,
    pub(crate) failed_ids: HashSet<String>,
}

impl ChunkFailures {
    pub(crate) fn fail(
        &mut self,
        id: &SalesforceId,
        kind: RecordKind,
        email: Option<&Email>,
        message: &str,
    ) {
        self.failed_ids.insert(id.to_string());
        self.failures.push(NewFailure {
            salesforce_id: id.to_string(),
            kind,
            email: email.map(ToString::to_string),
            message: message.to_owned(),
        });
    }
}

/// A chunk's plans, sorted into writes.
#[derive(Debug, Default)]
pub(crate) struct ChunkPlan {
    /// The groups planned (groups that wait for a failed organization are left out).
    pub(crate) groups: Vec<EmailGroup>,
    /// The chunk's relations.
    pub(crate) relations: Vec<Relation>,
    /// One plan per group that has one.
    pub(crate) plans: Vec<GroupPlan>,
    /// Users to create, keyed by plan.
    pub(crate) creates: Vec<(WriteKey, NewUser)>,
    /// Users to update, keyed by plan.
    pub(crate) updates: Vec<(WriteKey, UserUpdate)>,
    /// Memberships of existing users.
    pub(crate) now: Vec<PendingMembership>,
    /// Memberships of users this chunk creates.
    pub(crate) later: Vec<PendingMembership>,
    /// Records that failed while planning.
    pub(crate) failures: ChunkFailures,
}

impl Run<'_, '_> {
    /// Plans a chunk of staged people: never writes.
    pub(crate) async fn plan_chunk(
        &mut self,
        state: &StateStore,
        pass: &mut PeoplePass<'_>,
        people: Vec<Person>,
        relations: Vec<Relation>,
    ) -> Result<ChunkPlan, SyncError> {
        let settings = pass.settings;
        let kind = RecordKind::person(settings.object());
        let mut chunk = ChunkPlan {
            groups: group_by_email(people).groups,
            relations,
            ..ChunkPlan::default()
        };
        self.hold_back_groups_of_failed_accounts(&mut chunk, kind);
        if settings.accounts_to_organizations() {
            let accounts: Vec<SalesforceId> = chunk
                .groups
                .iter()
                .flat_map(|g| g.people.iter().filter_map(|p| p.account_id.clone()))
                .chain(chunk.relations.iter().map(|r| r.account_id.clone()))
                .collect();
            self.links
                .ensure(self.engine.zendesk, accounts.iter())
                .await?;
        }
        let emails: Vec<Email> = chunk.groups.iter().map(|g| g.email.clone()).collect();
        let known = state.zendesk_users(&emails)?;
        let users = pass
            .directory
            .lookup(
                self.engine.zendesk,
                &self.options().mapping,
                &emails,
                &known,
            )
            .await?;
        let remembered = state.syncing_records(&emails)?;
        let member_of = self
            .memberships_needed(pass, &chunk, &users, &remembered)
            .await?;

        for group in &chunk.groups {
            let user = users.get(&group.email).map(|u: &UserRecord| domain::User {
                id: u.id,
                default_organization: u.default_organization,
                memberships: member_of.get(&u.id).cloned().unwrap_or_default(),
                fields: u.fields.clone(),
            });
            let ctx = GroupContext {
                settings,
                links: self.links.map(),
                remembered: remembered.get(&group.email),
                user: user.as_ref(),
                relations: &chunk.relations,
            };
            if let Some(plan) = plan_group(group, &ctx) {
                chunk.plans.push(plan);
            }
        }
        self.sort_actions(pass, &mut chunk, kind);
        Ok(chunk)
    }

    /// A group pointing at an account whose organization failed in this run waits for the
    /// next run: synced now, its user could get another default organization that rule 4
    /// would then keep for ever.
    fn hold_back_groups_of_failed_accounts(&mut self, chunk: &mut ChunkPlan, kind: RecordKind) {
        if self.links.failed.is_empty() {
            return;
        }
        let failed = &self.links.failed;
        let relations = &chunk.relations;
        let waiting = &mut chunk.failures;
        chunk.groups.retain(|group| {
            let blocked = group.people.iter().find_map(|p| {
                p.account_id
                    .iter()
                    .chain(
                        relations
                            .iter()
                            .filter(|r| r.contact_id == p.id)
                            .map(|r| &r.account_id),
                    )
                    .find(|a| failed.contains(*a))
                    .cloned()
            });
            let Some(account) = blocked else { return true };
            let message = format!(
                "waits for the organization of account {account}, which failed in this run"
            );
            for person in &group.people {
                waiting.fail(&person.id, kind, Some(&group.email), &message);
            }
            false
        });
        for failure in &chunk.failures.failures {
            self.report.users.failed += 1;
            self.report
                .error(failure.salesforce_id.clone(), &failure.message);
        }
    }

    /// Memberships, read only for users whose groups point beyond their default organization.
    async fn memberships_needed(
        &mut self,
        pass: &mut PeoplePass<'_>,
        chunk: &ChunkPlan,
        users: &HashMap<Email, UserRecord>,
        remembered: &HashMap<Email, SalesforceId>,
    ) -> Result<HashMap<UserId, std::collections::BTreeSet<OrganizationId>>, SyncError> {
        let mut need: Vec<UserId> = Vec::new();
        for group in &chunk.groups {
            let (Some(user), Some(choice)) = (
                users.get(&group.email),
                choose_syncing_record(&group.people, remembered.get(&group.email)),
            ) else {
                continue;
            };
            let (candidates, _) = candidate_organizations(
                group,
                &choice.id,
                pass.settings,
                self.links.map(),
                &chunk.relations,
            );
            if candidates
                .iter()
                .any(|c| Some(c.organization) != user.default_organization)
            {
                need.push(user.id);
            }
        }
        need.sort();
        need.dedup();
        Ok(pass.memberships.of(self.engine.zendesk, &need).await?)
    }

    /// Counts the plans, prints their lines and sorts their actions into writes.
    fn sort_actions(&mut self, pass: &mut PeoplePass<'_>, chunk: &mut ChunkPlan, kind: RecordKind) {
        let relation_contact: HashMap<&SalesforceId, &SalesforceId> = chunk
            .relations
            .iter()
            .map(|r| (&r.id, &r.contact_id))
            .collect();
        for (index, plan) in chunk.plans.iter().enumerate() {
            let ids = || plan_ids(plan, &chunk.groups);
            if plan.fields == FieldsOutcome::SkippedDefaultOrgMismatch {
                self.report.users.fields_skipped_default_org_mismatch += 1;
            }
            let present = plan
                .memberships
                .values()
                .filter(|(o, _)| *o == MembershipOutcome::AlreadyPresent)
                .count();
            self.report.memberships.already_present += present as u64;
            let links = &self.links;
            let org_name = |o: OrganizationId| links.name(o);
            let mut lines = Vec::new();
            for note in &plan.notes {
                if let Some(text) = describe_note(note, &plan.user, &org_name) {
                    lines.push((text, vec![note.rule]));
                }
            }
            let mut user_written = false;
            for action in &plan.actions {
                lines.push((describe_action(action, &org_name), action.rules()));
                match action {
                    Action::CreateUser {
                        email,
                        fields,
                        organization,
                        ..
                    } => {
                        user_written = true;
                        chunk.creates.push((
                            WriteKey::User(index),
                            mapping::new_user(email, fields, *organization),
                        ));
                    }
                    Action::UpdateUser {
                        user,
                        fields,
                        organization,
                        ..
                    } => {
                        user_written = true;
                        match mapping::user_update(*user, fields, *organization) {
                            Ok(update) => chunk.updates.push((WriteKey::User(index), update)),
                            Err(message) => {
                                self.report.users.failed += 1;
                                self.report.error(plan.syncing.id.to_string(), &message);
                                chunk.failures.fail(
                                    &plan.syncing.id,
                                    kind,
                                    Some(&plan.email),
                                    &message,
                                );
                            }
                        }
                    }
                    Action::AddMembership {
                        user,
                        organization,
                        default,
                        rule,
                        source,
                    } => {
                        let contact = relation_contact
                            .get(source)
                            .map_or_else(|| source.clone(), |c| (*c).clone());
                        let pending = PendingMembership {
                            user: user.clone(),
                            organization: *organization,
                            default: *default,
                            source: source.clone(),
                            contact,
                        };
                        if *rule == Rule::SecondaryRelationship && pass.defer_secondary {
                            pass.deferred.push(pending);
                        } else if matches!(user, UserRef::New(_)) {
                            chunk.later.push(pending);
                        } else {
                            chunk.now.push(pending);
                        }
                    }
                }
            }
            for (text, rules) in lines {
                self.plan_line(text, &rules, ids());
            }
            if !user_written && matches!(plan.user, UserRef::Existing(_)) {
                self.report.users.unchanged += 1;
            }
        }
    }
}
