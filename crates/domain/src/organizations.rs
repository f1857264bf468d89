//! Accounts-to-Organizations decisions (docs/behavior.md rule 5 and E9): create, update, or link
//! an unlinked organization that already has the account's name.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::group::{Skip, SkipReason};
use crate::ids::{OrganizationId, SalesforceId};
use crate::model::{Account, FieldValues, Organization, changed_fields};
use crate::rules::Rule;

/// A write to an organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OrganizationAction {
    /// Create an organization for the account, with `external_id` = the account Id.
    Create {
        /// The account.
        account: SalesforceId,
        /// All mapped fields (`name` among them).
        fields: FieldValues,
    },
    /// Update the linked organization's changed fields.
    Update {
        /// The account.
        account: SalesforceId,
        /// The organization.
        organization: OrganizationId,
        /// Only the fields whose values differ.
        fields: FieldValues,
    },
    /// Link an unlinked organization with the account's name (set its `external_id`) and
    /// write the changed fields (E9).
    Link {
        /// The account.
        account: SalesforceId,
        /// The organization.
        organization: OrganizationId,
        /// Only the fields whose values differ.
        fields: FieldValues,
    },
}

impl OrganizationAction {
    /// The account the action syncs.
    pub fn account(&self) -> &SalesforceId {
        match self {
            Self::Create { account, .. }
            | Self::Update { account, .. }
            | Self::Link { account, .. } => account,
        }
    }

    /// The rule behind the action.
    pub fn rule(&self) -> Rule {
        match self {
            Self::Link { .. } => Rule::LinkByName,
            _ => Rule::AccountsToOrganizations,
        }
    }
}

/// The decision for one account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OrganizationDecision {
    /// A write.
    Act(OrganizationAction),
    /// The linked organization already has every mapped value.
    Unchanged {
        /// The account.
        account: SalesforceId,
        /// Its organization.
        organization: OrganizationId,
    },
    /// The account cannot be synced.
    Skipped(Skip),
}

/// Existing organizations found for a batch of accounts, indexed the way the rules look
/// them up: by external id (case-insensitive, as Zendesk compares it) and by trimmed,
/// case-insensitive name.
#[derive(Debug, Clone, Default)]
pub struct OrganizationIndex {
    by_external_id: HashMap<String, Organization>,
    by_name: HashMap<String, Organization>,
}

fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

impl OrganizationIndex {
    /// Indexes the given organizations.
    pub fn new(organizations: impl IntoIterator<Item = Organization>) -> Self {
        let mut index = Self::default();
        for organization in organizations {
            index.insert(organization);
        }
        index
    }

    /// Adds or replaces an organization.
    pub fn insert(&mut self, organization: Organization) {
        if let Some(external_id) = &organization.external_id {
            self.by_external_id
                .insert(external_id.to_lowercase(), organization.clone());
        }
        self.by_name
            .insert(name_key(&organization.name), organization);
    }

    /// The organization linked to an account.
    pub fn linked(&self, account: &SalesforceId) -> Option<&Organization> {
        self.by_external_id.get(&account.as_str().to_lowercase())
    }

    /// The organization with a name.
    pub fn named(&self, name: &str) -> Option<&Organization> {
        self.by_name.get(&name_key(name))
    }
}

/// Plans the accounts of one batch. Accounts are considered in Id order, so when two accounts
/// want the same new organization name the lower Id gets it and the other is skipped.
///
/// The accounts are taken by value: a create carries its account's fields rather than a
/// copy, so planning a large org does not hold every account's fields twice.
pub fn plan_organizations(
    accounts: Vec<Account>,
    index: &OrganizationIndex,
) -> Vec<OrganizationDecision> {
    OrganizationPlanner::default().plan(accounts, index)
}

/// Plans accounts page by page with the same answer as [`plan_organizations`] over all of
/// them, as long as the pages come in Id order (each page's Ids above the previous page's):
/// it remembers the names earlier pages claimed, so a large org is planned without holding
/// every account at once.
#[derive(Debug, Default)]
pub struct OrganizationPlanner {
    /// Names claimed so far by an account that will hold them.
    claimed: HashSet<String>,
}

impl OrganizationPlanner {
    /// Plans one page of accounts.
    pub fn plan(
        &mut self,
        mut accounts: Vec<Account>,
        index: &OrganizationIndex,
    ) -> Vec<OrganizationDecision> {
        accounts.sort_by(|a, b| a.id.cmp(&b.id));
        accounts.dedup_by(|a, b| a.id == b.id);
        plan_ordered(accounts, index, &mut self.claimed)
    }
}

fn plan_ordered(
    ordered: Vec<Account>,
    index: &OrganizationIndex,
    claimed: &mut HashSet<String>,
) -> Vec<OrganizationDecision> {
    let mut decisions = Vec::with_capacity(ordered.len());
    for account in ordered {
        let skip = |reason| {
            OrganizationDecision::Skipped(Skip {
                salesforce_id: account.id.clone(),
                reason,
            })
        };
        if let Some(existing) = index.linked(&account.id) {
            let fields = changed_fields(&account.fields, &existing.fields);
            if let Some(name) = account.organization_name() {
                claimed.insert(name_key(name));
            }
            decisions.push(if fields.is_empty() {
                OrganizationDecision::Unchanged {
                    account: account.id.clone(),
                    organization: existing.id,
                }
            } else {
                OrganizationDecision::Act(OrganizationAction::Update {
                    account: account.id.clone(),
                    organization: existing.id,
                    fields,
                })
            });
            continue;
        }
        let Some(name) = account.organization_name() else {
            decisions.push(skip(SkipReason::AccountWithoutName));
            continue;
        };
        if claimed.contains(&name_key(name)) {
            decisions.push(skip(SkipReason::DuplicateAccountName(name.to_owned())));
            continue;
        }
        claimed.insert(name_key(name));
        decisions.push(match index.named(name) {
            Some(existing) => match &existing.external_id {
                None => {
                    // The name matched case-insensitively; its exact spelling is a mapped
                    // field like any other, written with the link (E9).
                    let fields = changed_fields(&account.fields, &existing.fields);
                    OrganizationDecision::Act(OrganizationAction::Link {
                        account: account.id.clone(),
                        organization: existing.id,
                        fields,
                    })
                }
                Some(other) => skip(SkipReason::OrganizationNameTaken {
                    name: name.to_owned(),
                    linked_to: other.clone(),
                }),
            },
            None => {
                let name = name.to_owned();
                let mut fields = account.fields;
                fields.insert("name".to_owned(), Value::String(name));
                OrganizationDecision::Act(OrganizationAction::Create {
                    account: account.id,
                    fields,
                })
            }
        });
    }
    decisions
}
