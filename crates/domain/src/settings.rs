//! Settings of the integration, the Zendesk and Salesforce capabilities they depend on, and
//! the mode they add up to (docs/behavior.md section 2).
//!
//! [`Settings::validate`] is the only way to obtain [`EffectiveSettings`], so the rules never
//! see a combination whose prerequisites are missing.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which Salesforce object becomes Zendesk users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PersonObject {
    /// Contacts (the default).
    #[default]
    Contact,
    /// Leads: they have no account, so they sync like contacts without one (E10).
    Lead,
}

impl fmt::Display for PersonObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Contact => "contact",
            Self::Lead => "lead",
        })
    }
}

/// The integration's own four settings plus the synced object, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Accounts are synced to organizations and account-organization links are used.
    pub accounts_to_organizations: bool,
    /// Contacts (or leads) are synced to users.
    pub contacts_to_users: bool,
    /// Contacts or leads.
    pub object: PersonObject,
    /// "Sync primary relationship": a contact's direct account becomes a membership.
    pub primary_relationship: bool,
    /// "Sync secondary relationships": indirect account-contact relations become memberships.
    pub secondary_relationships: bool,
}

/// What the two systems were found to support; read from them, never assumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Zendesk's "users can belong to multiple organizations" account setting.
    pub multiple_organizations: bool,
    /// Salesforce has AccountContactRelation ("Contacts to Multiple Accounts").
    /// `None` when it was not asked because secondary relationships are off.
    pub account_contact_relation: Option<bool>,
}

/// One prerequisite a setting needs and did not get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Prerequisite {
    /// `secondary_relationships` needs `accounts_to_organizations`.
    SecondaryNeedsAccountsToOrganizations,
    /// `secondary_relationships` needs `contacts_to_users`.
    SecondaryNeedsContactsToUsers,
    /// `secondary_relationships` needs `primary_relationship`.
    SecondaryNeedsPrimaryRelationship,
    /// `secondary_relationships` needs multiple organizations in Zendesk.
    SecondaryNeedsMultipleOrganizations,
    /// `secondary_relationships` needs AccountContactRelation in Salesforce.
    SecondaryNeedsAccountContactRelation,
    /// `secondary_relationships` syncs contacts' relations; leads have none.
    SecondaryNeedsContacts,
    /// `primary_relationship` needs `accounts_to_organizations`.
    PrimaryNeedsAccountsToOrganizations,
    /// `primary_relationship` needs multiple organizations in Zendesk.
    PrimaryNeedsMultipleOrganizations,
}

impl fmt::Display for Prerequisite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SecondaryNeedsAccountsToOrganizations => {
                "sync.secondary_relationships needs sync.accounts_to_organizations = true"
            }
            Self::SecondaryNeedsContactsToUsers => {
                "sync.secondary_relationships needs sync.contacts_to_users = true"
            }
            Self::SecondaryNeedsPrimaryRelationship => {
                "sync.secondary_relationships needs sync.primary_relationship = true"
            }
            Self::SecondaryNeedsMultipleOrganizations => {
                "sync.secondary_relationships needs \"Allow users to belong to multiple organizations\" turned on in Zendesk (Admin Center > People > Configuration > End users)"
            }
            Self::SecondaryNeedsAccountContactRelation => {
                "sync.secondary_relationships needs AccountContactRelation in Salesforce: turn on \"Contacts to Multiple Accounts\" (Setup > Account Settings)"
            }
            Self::SecondaryNeedsContacts => {
                "sync.secondary_relationships needs sync.object = \"contact\" (leads have no account relations)"
            }
            Self::PrimaryNeedsAccountsToOrganizations => {
                "sync.primary_relationship needs sync.accounts_to_organizations = true"
            }
            Self::PrimaryNeedsMultipleOrganizations => {
                "sync.primary_relationship needs \"Allow users to belong to multiple organizations\" turned on in Zendesk (Admin Center > People > Configuration > End users)"
            }
        })
    }
}

/// The settings cannot be used: every missing prerequisite is named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} prerequisite(s) missing: {}", .missing.len(), join(.missing))]
pub struct PrerequisiteError {
    /// Every prerequisite that failed, in a stable order.
    pub missing: Vec<Prerequisite>,
}

fn join(missing: &[Prerequisite]) -> String {
    missing
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// How users relate to organizations under the effective settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrganizationMode {
    /// Accounts-to-Organizations sync is off: no account is linked, users get no organization.
    Unlinked,
    /// Multiple organizations is off in Zendesk: a user has one organization, which the sync sets.
    SingleOrganization,
    /// Accounts-to-Organizations, Contacts-to-Users and multiple organizations are all on.
    MultiOrganization,
}

/// Validated settings: the only input the rules accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectiveSettings {
    settings: Settings,
    capabilities: Capabilities,
    mode: OrganizationMode,
}

impl Settings {
    /// Checks every prerequisite of docs/behavior.md section 2 and derives the mode.
    ///
    /// # Errors
    /// Returns a [`PrerequisiteError`] naming every missing prerequisite.
    pub fn validate(
        self,
        capabilities: Capabilities,
    ) -> Result<EffectiveSettings, PrerequisiteError> {
        let mut missing = Vec::new();
        if self.secondary_relationships {
            if !self.accounts_to_organizations {
                missing.push(Prerequisite::SecondaryNeedsAccountsToOrganizations);
            }
            if !self.contacts_to_users {
                missing.push(Prerequisite::SecondaryNeedsContactsToUsers);
            }
            if !self.primary_relationship {
                missing.push(Prerequisite::SecondaryNeedsPrimaryRelationship);
            }
            if !capabilities.multiple_organizations {
                missing.push(Prerequisite::SecondaryNeedsMultipleOrganizations);
            }
            if self.object == PersonObject::Lead {
                missing.push(Prerequisite::SecondaryNeedsContacts);
            } else if capabilities.account_contact_relation != Some(true) {
                missing.push(Prerequisite::SecondaryNeedsAccountContactRelation);
            }
        }
        if self.primary_relationship {
            if !self.accounts_to_organizations {
                missing.push(Prerequisite::PrimaryNeedsAccountsToOrganizations);
            }
            if !capabilities.multiple_organizations {
                missing.push(Prerequisite::PrimaryNeedsMultipleOrganizations);
            }
        }
        if !missing.is_empty() {
            return Err(PrerequisiteError { missing });
        }
        let mode = if !self.accounts_to_organizations {
            OrganizationMode::Unlinked
        } else if !capabilities.multiple_organizations {
            OrganizationMode::SingleOrganization
        } else if self.contacts_to_users {
            OrganizationMode::MultiOrganization
        } else {
            // Organizations are synced but no user is: there is no user organization to decide.
            OrganizationMode::Unlinked
        };
        Ok(EffectiveSettings {
            settings: self,
            capabilities,
            mode,
        })
    }
}

impl EffectiveSettings {
    /// The configured settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The capabilities read from both systems.
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// The organization mode.
    pub fn mode(&self) -> OrganizationMode {
        self.mode
    }

    /// Accounts are synced to organizations and their links used.
    pub fn accounts_to_organizations(&self) -> bool {
        self.settings.accounts_to_organizations
    }

    /// Contacts or leads are synced to users.
    pub fn contacts_to_users(&self) -> bool {
        self.settings.contacts_to_users
    }

    /// Memberships are created (multi-organization mode with primary relationship on).
    pub fn creates_memberships(&self) -> bool {
        self.mode == OrganizationMode::MultiOrganization && self.settings.primary_relationship
    }

    /// Secondary relationships become memberships too.
    pub fn syncs_secondary_relationships(&self) -> bool {
        self.creates_memberships() && self.settings.secondary_relationships
    }

    /// The synced person object.
    pub fn object(&self) -> PersonObject {
        self.settings.object
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(a2o: bool, primary: bool, secondary: bool) -> Settings {
        Settings {
            accounts_to_organizations: a2o,
            contacts_to_users: true,
            object: PersonObject::Contact,
            primary_relationship: primary,
            secondary_relationships: secondary,
        }
    }

    const MULTI: Capabilities = Capabilities {
        multiple_organizations: true,
        account_contact_relation: Some(true),
    };

    #[test]
    fn e8_secondary_without_multiple_organizations_names_the_missing_prerequisite() {
        let caps = Capabilities {
            multiple_organizations: false,
            account_contact_relation: Some(true),
        };
        let err = settings(true, true, true).validate(caps).unwrap_err();
        assert_eq!(
            err.missing,
            vec![
                Prerequisite::SecondaryNeedsMultipleOrganizations,
                Prerequisite::PrimaryNeedsMultipleOrganizations
            ]
        );
        assert!(err.to_string().contains("multiple organizations"), "{err}");
    }

    #[test]
    fn every_missing_prerequisite_is_named_at_once() {
        let caps = Capabilities {
            multiple_organizations: false,
            account_contact_relation: Some(false),
        };
        let mut s = settings(false, false, true);
        s.contacts_to_users = false;
        let err = s.validate(caps).unwrap_err();
        assert_eq!(err.missing.len(), 5, "{err}");
        assert!(err.to_string().contains("Contacts to Multiple Accounts"));
    }

    #[test]
    fn primary_needs_accounts_to_organizations() {
        let err = settings(false, true, false).validate(MULTI).unwrap_err();
        assert_eq!(
            err.missing,
            vec![Prerequisite::PrimaryNeedsAccountsToOrganizations]
        );
    }

    #[test]
    fn lead_sync_cannot_have_secondary_relationships() {
        let mut s = settings(true, true, true);
        s.object = PersonObject::Lead;
        let err = s.validate(MULTI).unwrap_err();
        assert_eq!(err.missing, vec![Prerequisite::SecondaryNeedsContacts]);
    }

    #[test]
    fn modes_follow_the_profiles() {
        let single = Capabilities {
            multiple_organizations: false,
            account_contact_relation: None,
        };
        let p1 = settings(false, false, false).validate(single).unwrap();
        let p2 = settings(false, false, false).validate(MULTI).unwrap();
        let p3 = settings(true, false, false).validate(single).unwrap();
        let p4 = settings(true, true, false).validate(MULTI).unwrap();
        let p5 = settings(true, true, true).validate(MULTI).unwrap();
        assert_eq!(p1.mode(), OrganizationMode::Unlinked);
        assert_eq!(p2.mode(), OrganizationMode::Unlinked);
        assert_eq!(p3.mode(), OrganizationMode::SingleOrganization);
        assert_eq!(p4.mode(), OrganizationMode::MultiOrganization);
        assert!(p4.creates_memberships() && !p4.syncs_secondary_relationships());
        assert!(p5.syncs_secondary_relationships());
    }
}
