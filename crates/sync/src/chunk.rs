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
use crate::state::{NewFailure, RecordKind, Refusal, StateStore};

/// A membership whose write waits: for a user created later in the chunk, or for the end
/// of the first complete primary pass (secondary relationships; those wait in staging).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct PendingMembership {
    pub(crate) user: UserRef,
    pub(crate) organization: OrganizationId,
    pub(crate) default: bool,
    /// The contact or relation behind it, and the contact it belongs to.
    pub(crate) source: SalesforceId,
    pub(crate) contact: SalesforceId,
}

impl PendingMembership {
    /// What the write sends, to remember a refusal by.
    pub(crate) fn fingerprint(&self) -> String {
        let user = match &self.user {
            UserRef::Existing(id) => Some(id.0),
            UserRef::New(_) => None,
        };
        serde_json::json!({"user": user, "organization": self.organization.0, "default": self.default})
            .to_string()
    }

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
    /// What each user write of a plan sends, as JSON, to remember a refusal by.
    pub(crate) sent: HashMap<usize, String>,
    /// Refusals remembered from earlier runs for the chunk's records.
    pub(crate) refusals: HashMap<(SalesforceId, String), Refusal>,
    /// Records whose writes are held back (refused before, unchanged since) or were refused
    /// in this run: their refusal stays remembered.
    pub(crate) refused: HashSet<SalesforceId>,
    /// Memberships the chunk's plans were made against, remembered with the chunk so later
    /// runs need not list them again.
    pub(crate) seen_memberships: Vec<(UserId, OrganizationId)>,
}

/// Each group's own relations (those of its contacts), so the rules look through a few
/// relations per group rather than all of the chunk's: the same answer, without a cost
/// that grows with the square of the chunk.
fn relations_by_group(groups: &[EmailGroup], relations: &[Relation]) -> Vec<Vec<Relation>> {
    let mut by_contact: HashMap<&SalesforceId, Vec<&Relation>> = HashMap::new();
    for relation in relations {
        by_contact
            .entry(&relation.contact_id)
            .or_default()
            .push(relation);
    }
    groups
        .iter()
        .map(|group| {
            group
                .people
                .iter()
                .filter_map(|p| by_contact.get(&p.id))
                .flatten()
                .map(|r| (*r).clone())
                .collect()
        })
        .collect()
}

/// How a held-back refusal reads in the report's `skipped`.
pub(crate) fn refusal_reason(subject: &str, refusal: &Refusal) -> String {
    format!(
        "Zendesk refused this {subject} on {}: {}; it is sent again when the record changes in Salesforce (or on a --full run)",
        refusal.refused_at.format("%Y-%m-%d %H:%M UTC"),
        refusal.message
    )
}

/// The refusal subject of a user write.
pub(crate) const USER_SUBJECT: &str = "user";

/// The refusal subject of a membership write.
pub(crate) fn membership_subject(organization: OrganizationId) -> String {
    format!("membership {organization}")
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
            .memberships_needed(state, pass, &chunk, &users, &remembered)
            .await?;
        chunk.seen_memberships = member_of
            .iter()
            .flat_map(|(user, orgs)| orgs.iter().map(move |o| (*user, *o)))
            .collect();

        chunk.plans = self.plan_groups(
            pass,
            &chunk.groups,
            &chunk.relations,
            &users,
            &member_of,
            &remembered,
        );
        // A --full run sends refused records again; other runs hold back what Zendesk
        // refused before, as long as it is still exactly what would be sent.
        if !self.full() {
            let mut records: Vec<SalesforceId> = chunk
                .groups
                .iter()
                .flat_map(|g| g.people.iter().map(|p| p.id.clone()))
                .chain(chunk.relations.iter().map(|r| r.id.clone()))
                .collect();
            records.sort();
            records.dedup();
            chunk.refusals = state.refusals(&records)?;
        }
        self.sort_actions(pass, &mut chunk, kind);
        Ok(chunk)
    }

    /// One plan per group that needs one, against the Zendesk users and memberships read.
    pub(crate) fn plan_groups(
        &self,
        pass: &PeoplePass<'_>,
        groups: &[EmailGroup],
        relations: &[Relation],
        users: &HashMap<Email, UserRecord>,
        member_of: &HashMap<UserId, std::collections::BTreeSet<OrganizationId>>,
        remembered: &HashMap<Email, SalesforceId>,
    ) -> Vec<GroupPlan> {
        let relations = relations_by_group(groups, relations);
        groups
            .iter()
            .zip(&relations)
            .filter_map(|(group, relations)| {
                let user = users.get(&group.email).map(|u: &UserRecord| domain::User {
                    id: u.id,
                    default_organization: u.default_organization,
                    memberships: member_of.get(&u.id).cloned().unwrap_or_default(),
                    fields: u.fields.clone(),
                });
                let ctx = GroupContext {
                    settings: pass.settings,
                    links: self.links.map(),
                    remembered: remembered.get(&group.email),
                    user: user.as_ref(),
                    relations,
                };
                plan_group(group, &ctx)
            })
            .collect()
    }

    /// Whether `record`'s write of `subject` sends what Zendesk refused before; if so the
    /// record is listed in `skipped` with Zendesk's message instead of being sent again.
    fn held_back(
        &mut self,
        chunk: &mut ChunkPlan,
        record: &SalesforceId,
        subject: &str,
        sent: &str,
    ) -> bool {
        let Some(refusal) = chunk.refusals.get(&(record.clone(), subject.to_owned())) else {
            return false;
        };
        if refusal.sent != sent {
            return false;
        }
        self.report
            .skip(record.to_string(), refusal_reason(subject, refusal));
        chunk.refused.insert(record.clone());
        true
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

    /// Memberships, read only for users whose groups point beyond their default organization
    /// and only where the state file does not remember every organization asked about.
    async fn memberships_needed(
        &mut self,
        state: &StateStore,
        pass: &mut PeoplePass<'_>,
        chunk: &ChunkPlan,
        users: &HashMap<Email, UserRecord>,
        remembered: &HashMap<Email, SalesforceId>,
    ) -> Result<HashMap<UserId, std::collections::BTreeSet<OrganizationId>>, SyncError> {
        let mut need: HashMap<UserId, std::collections::BTreeSet<OrganizationId>> = HashMap::new();
        let relations = relations_by_group(&chunk.groups, &chunk.relations);
        for (group, relations) in chunk.groups.iter().zip(&relations) {
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
                relations,
            );
            let beyond: Vec<OrganizationId> = candidates
                .iter()
                .map(|c| c.organization)
                .filter(|o| Some(*o) != user.default_organization)
                .collect();
            if !beyond.is_empty() {
                need.entry(user.id).or_default().extend(beyond);
            }
        }
        let mut need: Vec<_> = need.into_iter().collect();
        need.sort();
        let known = if pass.memberships.uses_remembered() {
            let users: Vec<UserId> = need.iter().map(|(u, _)| *u).collect();
            state.known_memberships(&users)?
        } else {
            HashMap::new()
        };
        Ok(pass
            .memberships
            .covering(self.engine.zendesk, &need, known)
            .await?)
    }

    /// Counts the plans, prints their lines and sorts their actions into writes.
    pub(crate) fn sort_actions(
        &mut self,
        pass: &mut PeoplePass<'_>,
        chunk: &mut ChunkPlan,
        kind: RecordKind,
    ) {
        let relation_contact: HashMap<SalesforceId, SalesforceId> = chunk
            .relations
            .iter()
            .map(|r| (r.id.clone(), r.contact_id.clone()))
            .collect();
        let plans = std::mem::take(&mut chunk.plans);
        for (index, plan) in plans.iter().enumerate() {
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
            let mut lines = Vec::new();
            if self.wants_plan_lines() {
                let links = &self.links;
                let org_name = |o: OrganizationId| links.name(o);
                for note in &plan.notes {
                    if let Some(text) = describe_note(note, &plan.user, &org_name) {
                        lines.push((text, vec![note.rule]));
                    }
                }
                for action in &plan.actions {
                    lines.push((describe_action(action, &org_name), action.rules()));
                }
            }
            for (text, rules) in lines {
                self.plan_line(text, &rules, ids());
            }
            let mut user_written = false;
            for action in &plan.actions {
                match action {
                    Action::CreateUser {
                        email,
                        fields,
                        organization,
                        ..
                    } => {
                        user_written = true;
                        let new = mapping::new_user(email, fields, *organization);
                        let sent = serde_json::json!({"create": email.as_str(), "fields": fields, "organization": organization.map(|o| o.0)}).to_string();
                        if !self.held_back(chunk, &plan.syncing.id, USER_SUBJECT, &sent) {
                            chunk.sent.insert(index, sent);
                            chunk.creates.push((WriteKey::User(index), new));
                        }
                    }
                    Action::UpdateUser {
                        user,
                        fields,
                        organization,
                        ..
                    } => {
                        user_written = true;
                        match mapping::user_update(*user, fields, *organization) {
                            Ok(update) => {
                                let sent = serde_json::json!({"update": user.0, "fields": fields, "organization": organization.map(|o| o.0)}).to_string();
                                if !self.held_back(chunk, &plan.syncing.id, USER_SUBJECT, &sent) {
                                    chunk.sent.insert(index, sent);
                                    chunk.updates.push((WriteKey::User(index), update));
                                }
                            }
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
                            .cloned()
                            .unwrap_or_else(|| source.clone());
                        let pending = PendingMembership {
                            user: user.clone(),
                            organization: *organization,
                            default: *default,
                            source: source.clone(),
                            contact,
                        };
                        let subject = membership_subject(*organization);
                        let sent = pending.fingerprint();
                        if matches!(user, UserRef::Existing(_))
                            && self.held_back(chunk, source, &subject, &sent)
                        {
                            continue;
                        }
                        if *rule == Rule::SecondaryRelationship && pass.defer_secondary {
                            // A dry run creates no user to read back from the state file:
                            // the stand-in ids it hands out are kept for these memberships.
                            if let UserRef::New(email) = &pending.user
                                && !self.commits()
                            {
                                pass.awaited_users.insert(email.clone());
                            }
                            pass.deferred.push(pending);
                        } else if matches!(user, UserRef::New(_)) {
                            chunk.later.push(pending);
                        } else {
                            chunk.now.push(pending);
                        }
                    }
                }
            }
            if !user_written && matches!(plan.user, UserRef::Existing(_)) {
                self.report.users.unchanged += 1;
            }
        }
        chunk.plans = plans;
    }
}
