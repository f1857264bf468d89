//! The decision function for one email group: from the group, its accounts' links, the
//! matched user and the settings to a plan of actions (docs/behavior.md section 4, rules 1-4).
//!
//! Every action carries the rules that caused it and every decision not to act leaves a
//! [`Note`] with its rule, so a dry run explains itself in the article's terms.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::email::Email;
use crate::group::{EmailGroup, SyncingChoice, choose_syncing_record};
use crate::ids::{OrganizationId, SalesforceId, UserId};
use crate::model::{FieldValues, Relation, User, changed_fields};
use crate::rules::Rule;
use crate::settings::{EffectiveSettings, OrganizationMode};

/// Which accounts are linked to an existing Zendesk organization (its `external_id` is the
/// account's Id). Only consulted when Accounts-to-Organizations sync is on.
pub trait Links {
    /// The organization linked to `account`, if any.
    fn organization_of(&self, account: &SalesforceId) -> Option<OrganizationId>;
}

impl Links for HashMap<SalesforceId, OrganizationId> {
    fn organization_of(&self, account: &SalesforceId) -> Option<OrganizationId> {
        self.get(account).copied()
    }
}

impl Links for BTreeMap<SalesforceId, OrganizationId> {
    fn organization_of(&self, account: &SalesforceId) -> Option<OrganizationId> {
        self.get(account).copied()
    }
}

/// The user an action is about: one that exists, or the one this plan creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserRef {
    /// An existing Zendesk user.
    Existing(UserId),
    /// The user created by this plan's `CreateUser`, known by its email until Zendesk answers.
    New(Email),
}

/// A write the plan asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Action {
    /// Create a user with the syncing record's mapped fields, optionally in an organization.
    CreateUser {
        /// The user's email.
        email: Email,
        /// All mapped fields of the syncing record.
        fields: FieldValues,
        /// The organization to create the user in (its default organization).
        organization: Option<OrganizationId>,
        /// The rules behind it.
        rules: Vec<Rule>,
    },
    /// Update an existing user: changed mapped fields and, in single-organization mode only,
    /// its organization. Never its email.
    UpdateUser {
        /// The user.
        user: UserId,
        /// Only the mapped fields whose values differ.
        fields: FieldValues,
        /// The organization to set (single-organization mode only).
        organization: Option<OrganizationId>,
        /// The rules behind it.
        rules: Vec<Rule>,
    },
    /// Add an organization membership.
    AddMembership {
        /// The member.
        user: UserRef,
        /// The organization.
        organization: OrganizationId,
        /// Make it the default: only for a user without any organization.
        default: bool,
        /// Primary or secondary relationship.
        rule: Rule,
        /// The contact (primary) or AccountContactRelation (secondary) behind it.
        source: SalesforceId,
    },
}

impl Action {
    /// The rules behind the action.
    pub fn rules(&self) -> Vec<Rule> {
        match self {
            Self::CreateUser { rules, .. } | Self::UpdateUser { rules, .. } => rules.clone(),
            Self::AddMembership { rule, .. } => vec![*rule],
        }
    }
}

/// A decision not to act, with the rule behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// The rule.
    pub rule: Rule,
    /// The Salesforce record concerned, if one is.
    pub salesforce_id: Option<SalesforceId>,
    /// The organization concerned, if one is.
    pub organization: Option<OrganizationId>,
}

/// What happens to the user's mapped fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldsOutcome {
    /// Written with a new user.
    Created,
    /// Changed fields are written to the matched user.
    Written,
    /// Synced, but Zendesk already has every value: no write.
    Unchanged,
    /// Not synced: "default org doesn't match".
    SkippedDefaultOrgMismatch,
}

/// What happens to one membership the group's contacts point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MembershipOutcome {
    /// A membership is added.
    Added,
    /// The user is already a member.
    AlreadyPresent,
    /// The new user is created in this organization (no separate membership call).
    WithNewUser,
}

/// The plan for one email group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupPlan {
    /// The group's email.
    pub email: Email,
    /// The syncing record and why.
    pub syncing: SyncingChoice,
    /// The Zendesk user of the group.
    pub user: UserRef,
    /// The writes, in the order they must happen (user first, then memberships).
    pub actions: Vec<Action>,
    /// Decisions not to act.
    pub notes: Vec<Note>,
    /// The mapped fields' fate.
    pub fields: FieldsOutcome,
    /// The organization rule 2 gives the user (set now, or already the user's), if any.
    pub organization: Option<OrganizationId>,
    /// Every membership the group's contacts point at and its fate.
    pub memberships: BTreeMap<OrganizationId, (MembershipOutcome, Rule)>,
}

impl GroupPlan {
    /// Whether the plan writes nothing.
    pub fn is_noop(&self) -> bool {
        self.actions.is_empty()
    }
}

/// Everything besides the group that the decision depends on.
pub struct GroupContext<'a> {
    /// Validated settings.
    pub settings: &'a EffectiveSettings,
    /// Account-organization links.
    pub links: &'a dyn Links,
    /// The syncing record remembered from earlier runs.
    pub remembered: Option<&'a SalesforceId>,
    /// The Zendesk user matched by the group's email.
    pub user: Option<&'a User>,
    /// Account-contact relations of the group's contacts (others are ignored).
    pub relations: &'a [Relation],
}

/// A membership the group's contacts point at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// The organization.
    pub organization: OrganizationId,
    /// Primary or secondary relationship.
    pub rule: Rule,
    /// The contact or relation behind it.
    pub source: SalesforceId,
}

/// The memberships the group's contacts point at (rule 3), primary ones first, one per
/// organization; plus notes for relations that give none. Empty unless memberships are
/// created under the settings. The sync uses it to know which memberships it must read.
pub fn candidate_organizations(
    group: &EmailGroup,
    syncing: &SalesforceId,
    settings: &EffectiveSettings,
    links: &dyn Links,
    relations: &[Relation],
) -> (Vec<Candidate>, Vec<Note>) {
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut notes = Vec::new();
    if !settings.creates_memberships() {
        return (candidates, notes);
    }
    let mut push = |candidate: Candidate| {
        if !candidates
            .iter()
            .any(|c| c.organization == candidate.organization)
        {
            candidates.push(candidate);
        }
    };
    // The syncing record's account first, so a new user's first membership is its own.
    let people = group
        .people
        .iter()
        .filter(|p| &p.id == syncing)
        .chain(group.people.iter().filter(|p| &p.id != syncing));
    for person in people {
        let Some(account) = &person.account_id else {
            continue;
        };
        match links.organization_of(account) {
            Some(organization) => push(Candidate {
                organization,
                rule: Rule::PrimaryRelationship,
                source: person.id.clone(),
            }),
            None => notes.push(Note {
                rule: Rule::OrganizationNotLinked,
                salesforce_id: Some(person.id.clone()),
                organization: None,
            }),
        }
    }
    if settings.syncs_secondary_relationships() {
        let contacts: BTreeSet<&SalesforceId> = group.people.iter().map(|p| &p.id).collect();
        let mut relations: Vec<&Relation> = relations
            .iter()
            .filter(|r| !r.is_direct && contacts.contains(&r.contact_id))
            .collect();
        relations.sort_by(|a, b| a.id.cmp(&b.id));
        relations.dedup_by(|a, b| a.id == b.id);
        for relation in relations {
            if !relation.is_active {
                notes.push(Note {
                    rule: Rule::InactiveRelation,
                    salesforce_id: Some(relation.id.clone()),
                    organization: links.organization_of(&relation.account_id),
                });
                continue;
            }
            match links.organization_of(&relation.account_id) {
                Some(organization) => push(Candidate {
                    organization,
                    rule: Rule::SecondaryRelationship,
                    source: relation.id.clone(),
                }),
                None => notes.push(Note {
                    rule: Rule::OrganizationNotLinked,
                    salesforce_id: Some(relation.id.clone()),
                    organization: None,
                }),
            }
        }
    }
    (candidates, notes)
}

/// Plans one email group. Returns `None` for an empty group.
///
/// The plan depends only on its inputs, not on their order: people are ordered by Id and
/// relations by Id before any decision.
pub fn plan_group(group: &EmailGroup, ctx: &GroupContext<'_>) -> Option<GroupPlan> {
    let settings = ctx.settings;
    let syncing = choose_syncing_record(&group.people, ctx.remembered)?;
    let record = group.people.iter().find(|p| p.id == syncing.id)?;
    let mode = settings.mode();

    // `o`: the syncing record's account's organization, when accounts are linked.
    let org = match (mode, &record.account_id) {
        (OrganizationMode::Unlinked, _) | (_, None) => None,
        (_, Some(account)) => ctx.links.organization_of(account),
    };
    let (candidates, mut notes) =
        candidate_organizations(group, &syncing.id, settings, ctx.links, ctx.relations);
    let mut actions = Vec::new();
    let mut memberships = BTreeMap::new();

    let (user_ref, fields, organization) = match ctx.user {
        None => {
            // Rule 1: a new user with the mapped fields; rule 2: in the account's organization.
            let organization_rule = match mode {
                OrganizationMode::SingleOrganization => Some(Rule::SingleOrganization),
                OrganizationMode::MultiOrganization => Some(Rule::NewUserOrganization),
                OrganizationMode::Unlinked => None,
            };
            let organization = org.filter(|_| organization_rule.is_some());
            let mut rules = vec![Rule::SyncingRecord, Rule::NewUser];
            rules.extend(organization.and(organization_rule));
            actions.push(Action::CreateUser {
                email: group.email.clone(),
                fields: record.fields.clone(),
                organization,
                rules,
            });
            let user = UserRef::New(group.email.clone());
            // Rule 3: the new user's own organization comes with it; the others are added.
            let mut default_given = organization.is_some();
            for candidate in candidates {
                if Some(candidate.organization) == organization {
                    memberships.insert(
                        candidate.organization,
                        (MembershipOutcome::WithNewUser, candidate.rule),
                    );
                    continue;
                }
                memberships.insert(
                    candidate.organization,
                    (MembershipOutcome::Added, candidate.rule),
                );
                actions.push(Action::AddMembership {
                    user: user.clone(),
                    organization: candidate.organization,
                    default: !std::mem::replace(&mut default_given, true),
                    rule: candidate.rule,
                    source: candidate.source,
                });
            }
            (user, FieldsOutcome::Created, organization)
        }
        Some(user) => {
            let has_no_organization = user.default_organization.is_none();
            // Rule 1: "default org doesn't match" keeps the fields as they are. A user with no
            // organization at all gets `o` as its default through rule 3, so it matches.
            let mismatch = settings.creates_memberships()
                && org.is_some()
                && !has_no_organization
                && user.default_organization != org;
            let changed = if mismatch {
                notes.push(Note {
                    rule: Rule::DefaultOrgMismatch,
                    salesforce_id: Some(record.id.clone()),
                    organization: user.default_organization,
                });
                FieldValues::new()
            } else {
                changed_fields(&record.fields, &user.fields)
            };
            let fields = match (mismatch, changed.is_empty()) {
                (true, _) => FieldsOutcome::SkippedDefaultOrgMismatch,
                (false, true) => FieldsOutcome::Unchanged,
                (false, false) => FieldsOutcome::Written,
            };

            // Rule 2: single-organization mode moves the user; multi never changes a default.
            let mut set_organization = None;
            let mut organization = None;
            match (mode, org) {
                (OrganizationMode::SingleOrganization, Some(o)) => {
                    organization = Some(o);
                    if user.default_organization != Some(o) {
                        set_organization = Some(o);
                    } else {
                        notes.push(Note {
                            rule: Rule::SingleOrganization,
                            salesforce_id: Some(record.id.clone()),
                            organization: Some(o),
                        });
                    }
                }
                (OrganizationMode::MultiOrganization, Some(o))
                    if user.default_organization.is_some_and(|d| d != o) =>
                {
                    notes.push(Note {
                        rule: Rule::RespectDefaultOrganization,
                        salesforce_id: Some(record.id.clone()),
                        organization: user.default_organization,
                    });
                }
                _ => {}
            }
            if !changed.is_empty() || set_organization.is_some() {
                let mut rules = vec![Rule::SyncingRecord];
                if !changed.is_empty() {
                    rules.push(Rule::MappedFields);
                }
                if set_organization.is_some() {
                    rules.push(Rule::SingleOrganization);
                }
                actions.push(Action::UpdateUser {
                    user: user.id,
                    fields: changed,
                    organization: set_organization,
                    rules,
                });
            }

            // Rules 3 and 4: add what is missing, keep everything else.
            let member_of = |o: OrganizationId| {
                user.memberships.contains(&o) || user.default_organization == Some(o)
            };
            // A user without any organization gets `o` (else the first candidate) as default.
            let default_target = has_no_organization
                .then(|| {
                    org.filter(|o| candidates.iter().any(|c| c.organization == *o))
                        .or_else(|| candidates.first().map(|c| c.organization))
                })
                .flatten();
            for candidate in &candidates {
                if member_of(candidate.organization) {
                    memberships.insert(
                        candidate.organization,
                        (MembershipOutcome::AlreadyPresent, candidate.rule),
                    );
                    continue;
                }
                memberships.insert(
                    candidate.organization,
                    (MembershipOutcome::Added, candidate.rule),
                );
                actions.push(Action::AddMembership {
                    user: UserRef::Existing(user.id),
                    organization: candidate.organization,
                    default: default_target == Some(candidate.organization),
                    rule: candidate.rule,
                    source: candidate.source.clone(),
                });
            }
            if settings.creates_memberships()
                && let Some(default) = user.default_organization
                && !candidates.iter().any(|c| c.organization == default)
            {
                notes.push(Note {
                    rule: Rule::OnlyAdd,
                    salesforce_id: None,
                    organization: Some(default),
                });
            }
            (UserRef::Existing(user.id), fields, organization)
        }
    };

    Some(GroupPlan {
        email: group.email.clone(),
        syncing,
        user: user_ref,
        actions,
        notes,
        fields,
        organization,
        memberships,
    })
}
