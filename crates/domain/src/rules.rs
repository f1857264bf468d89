//! The named rules behind every planned action, skip and note, in the article's words.
//!
//! A dry run prints these names and descriptions, so a support engineer can match each
//! action to the help article ("default org doesn't match", "memberships are only added").

use std::fmt;

use serde::{Deserialize, Serialize};

/// A rule of docs/behavior.md that caused an action, a skip or a decision not to act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Rule {
    /// Contacts sharing an email become one user; the syncing record speaks for it (section 4).
    SyncingRecord,
    /// No matched user: the user is created with the syncing record's mapped fields (rule 1).
    NewUser,
    /// A matched user gets the syncing record's mapped fields (rule 1).
    MappedFields,
    /// Multi-organization mode with primary relationship: the account's organization is not the
    /// user's default, so mapped fields are not synced (article: "default org doesn't match").
    DefaultOrgMismatch,
    /// Single-organization mode: the user's organization becomes the account's organization (rule 2).
    SingleOrganization,
    /// Multi-organization mode: a new user is created in the account's organization (rule 2).
    NewUserOrganization,
    /// Multi-organization mode: a matched user's default organization is never changed (rules 2, 4).
    RespectDefaultOrganization,
    /// A contact's direct account becomes a membership (rule 3, primary relationship).
    PrimaryRelationship,
    /// An active indirect account-contact relation becomes a membership (rule 3, secondary).
    SecondaryRelationship,
    /// No membership without an existing organization linked to the account (rule 3).
    OrganizationNotLinked,
    /// Memberships are only added, never deleted; existing ones are left as they are (rule 4).
    OnlyAdd,
    /// Inactive account-contact relations do not become memberships (rule 3).
    InactiveRelation,
    /// Accounts are synced to organizations, created or updated by external id (rule 5).
    AccountsToOrganizations,
    /// An unlinked organization with the account's name is linked, not duplicated (E9).
    LinkByName,
    /// Records that cannot be synced are reported and skipped (section 4, E7, E10).
    Skip,
}

impl Rule {
    /// The rule's stable name, as printed in plans and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::SyncingRecord => "syncing-record",
            Self::NewUser => "new-user",
            Self::MappedFields => "mapped-fields",
            Self::DefaultOrgMismatch => "default-org-mismatch",
            Self::SingleOrganization => "single-organization",
            Self::NewUserOrganization => "new-user-organization",
            Self::RespectDefaultOrganization => "respect-default-organization",
            Self::PrimaryRelationship => "primary-relationship",
            Self::SecondaryRelationship => "secondary-relationship",
            Self::OrganizationNotLinked => "organization-not-linked",
            Self::OnlyAdd => "only-add",
            Self::InactiveRelation => "inactive-relation",
            Self::AccountsToOrganizations => "accounts-to-organizations",
            Self::LinkByName => "link-by-name",
            Self::Skip => "skip",
        }
    }

    /// One sentence in the article's words.
    pub fn description(self) -> &'static str {
        match self {
            Self::SyncingRecord => {
                "the first contact linked to an account is the syncing record and updates the user"
            }
            Self::NewUser => "the contact is not matched with a user: a new user is created",
            Self::MappedFields => "the syncing record's mapped fields are synced to the user",
            Self::DefaultOrgMismatch => {
                "mapped fields are not synced: the account's organization is not the user's default organization (default org doesn't match)"
            }
            Self::SingleOrganization => {
                "multiple organizations is off: the user's organization is set to the account's organization"
            }
            Self::NewUserOrganization => {
                "the new user is created in the organization linked to the contact's account"
            }
            Self::RespectDefaultOrganization => {
                "the user's default organization is respected and never changed"
            }
            Self::PrimaryRelationship => {
                "the contact's primary account relationship becomes an organization membership"
            }
            Self::SecondaryRelationship => {
                "a secondary account relationship becomes an organization membership"
            }
            Self::OrganizationNotLinked => {
                "the account is not linked to an organization in Zendesk: no membership is created"
            }
            Self::OnlyAdd => "organization memberships are only added, never deleted",
            Self::InactiveRelation => "inactive account relationships do not create memberships",
            Self::AccountsToOrganizations => "the account is synced to its organization",
            Self::LinkByName => {
                "an organization with the account's name exists without a link: it is linked, not duplicated"
            }
            Self::Skip => "the record cannot be synced",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
