//! Grouping contacts by email and choosing each group's syncing record (docs/behavior.md section 4).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::email::{Email, EmailError};
use crate::ids::SalesforceId;
use crate::model::{Person, PersonKind};

/// Contacts (or leads) that share one normalized email: one Zendesk user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailGroup {
    /// The normalized email.
    pub email: Email,
    /// The group's records, ordered by Id.
    pub people: Vec<Person>,
}

/// Why a record is not synced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SkipReason {
    /// No email at all.
    NoEmail,
    /// An email Zendesk would refuse.
    InvalidEmail(String),
    /// A converted lead: its contact is synced instead.
    ConvertedLead,
    /// An account without a name cannot become an organization.
    AccountWithoutName,
    /// Another account of this run already claims the organization name.
    DuplicateAccountName(String),
    /// The organization name is used by an organization linked to another account.
    OrganizationNameTaken {
        /// The name in question.
        name: String,
        /// The external id of the organization that holds it.
        linked_to: String,
    },
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoEmail => f.write_str("no email: a Zendesk user needs one"),
            Self::InvalidEmail(why) => write!(f, "invalid email: {why}"),
            Self::ConvertedLead => f.write_str("converted lead: its contact is synced instead"),
            Self::AccountWithoutName => {
                f.write_str("account has no name: a Zendesk organization needs one")
            }
            Self::DuplicateAccountName(name) => write!(
                f,
                "another account in this run has the organization name {name:?}; Zendesk names are unique"
            ),
            Self::OrganizationNameTaken { name, linked_to } => write!(
                f,
                "the organization name {name:?} is used by the organization linked to {linked_to}; Zendesk names are unique"
            ),
        }
    }
}

/// A record left out of the sync, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skip {
    /// The Salesforce record.
    pub salesforce_id: SalesforceId,
    /// Why.
    pub reason: SkipReason,
}

/// The result of grouping: the groups and the records that cannot be synced.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Grouping {
    /// Groups ordered by email.
    pub groups: Vec<EmailGroup>,
    /// Skipped records ordered by Id.
    pub skipped: Vec<Skip>,
}

/// Groups people by normalized email; records without a usable email, and converted leads,
/// are skipped with their reason. The result does not depend on the input order, and a
/// record that appears twice is kept once.
pub fn group_by_email(people: impl IntoIterator<Item = Person>) -> Grouping {
    let mut groups: BTreeMap<Email, BTreeMap<SalesforceId, Person>> = BTreeMap::new();
    let mut skipped = BTreeMap::new();
    for person in people {
        if person.kind == PersonKind::Lead && person.converted {
            skipped.insert(person.id.clone(), SkipReason::ConvertedLead);
            continue;
        }
        match Email::parse(person.email.as_deref().unwrap_or_default()) {
            Ok(email) => {
                groups
                    .entry(email)
                    .or_default()
                    .insert(person.id.clone(), person);
            }
            Err(EmailError::Missing) => {
                skipped.insert(person.id.clone(), SkipReason::NoEmail);
            }
            Err(err) => {
                skipped.insert(person.id.clone(), SkipReason::InvalidEmail(err.to_string()));
            }
        }
    }
    Grouping {
        groups: groups
            .into_iter()
            .map(|(email, people)| EmailGroup {
                email,
                people: people.into_values().collect(),
            })
            .collect(),
        skipped: skipped
            .into_iter()
            .map(|(salesforce_id, reason)| Skip {
                salesforce_id,
                reason,
            })
            .collect(),
    }
}

/// Why a record is the group's syncing record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncingReason {
    /// Remembered from an earlier run and still valid.
    Remembered,
    /// The earliest-created contact linked to an account.
    FirstLinkedToAccount,
    /// No contact of the group has an account: the earliest-created one.
    EarliestCreated,
}

/// The chosen syncing record of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncingChoice {
    /// The syncing record's Id.
    pub id: SalesforceId,
    /// Why it was chosen.
    pub reason: SyncingReason,
}

/// Chooses the syncing record: the first contact linked to an account (earliest `CreatedDate`
/// among contacts with an `AccountId`, ties broken by lowest Id), or the earliest-created
/// contact when none has an account.
///
/// A `remembered` choice from an earlier run stands unless that contact left the group
/// (deleted, or its email changed) or it has no account while another contact has one.
/// Returns `None` only for an empty group.
pub fn choose_syncing_record(
    people: &[Person],
    remembered: Option<&SalesforceId>,
) -> Option<SyncingChoice> {
    let any_has_account = people.iter().any(|p| p.account_id.is_some());
    if let Some(person) = remembered.and_then(|r| people.iter().find(|p| &p.id == r))
        && (person.account_id.is_some() || !any_has_account)
    {
        return Some(SyncingChoice {
            id: person.id.clone(),
            reason: SyncingReason::Remembered,
        });
    }
    // A missing CreatedDate sorts last: the record cannot claim to be first.
    let key = |p: &&Person| (p.created_date.is_none(), p.created_date, p.id.clone());
    if any_has_account {
        people
            .iter()
            .filter(|p| p.account_id.is_some())
            .min_by_key(key)
            .map(|p| SyncingChoice {
                id: p.id.clone(),
                reason: SyncingReason::FirstLinkedToAccount,
            })
    } else {
        people.iter().min_by_key(key).map(|p| SyncingChoice {
            id: p.id.clone(),
            reason: SyncingReason::EarliestCreated,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::model::FieldValues;

    fn sfid(n: u32) -> SalesforceId {
        SalesforceId::parse(&format!("003000000000{n:03}")).unwrap()
    }

    fn account(n: u32) -> SalesforceId {
        SalesforceId::parse(&format!("001000000000{n:03}")).unwrap()
    }

    fn person(n: u32, email: &str, account_id: Option<u32>, day: u32) -> Person {
        Person {
            id: sfid(n),
            kind: PersonKind::Contact,
            email: Some(email.to_owned()),
            account_id: account_id.map(account),
            created_date: Some(Utc.with_ymd_and_hms(2024, 1, day, 0, 0, 0).unwrap()),
            converted: false,
            fields: FieldValues::new(),
        }
    }

    #[test]
    fn groups_by_normalized_email_and_skips_bad_ones() {
        let grouping = group_by_email([
            person(1, "Ann@Example.com", Some(1), 1),
            person(2, " ann@example.COM ", Some(2), 2),
            person(3, "", None, 3),
            person(4, "not an email", None, 4),
        ]);
        assert_eq!(grouping.groups.len(), 1);
        assert_eq!(grouping.groups[0].email.as_str(), "ann@example.com");
        assert_eq!(grouping.groups[0].people.len(), 2);
        assert_eq!(grouping.skipped.len(), 2);
        assert_eq!(grouping.skipped[0].reason, SkipReason::NoEmail);
        assert!(matches!(
            grouping.skipped[1].reason,
            SkipReason::InvalidEmail(_)
        ));
    }

    #[test]
    fn syncing_record_is_the_first_contact_linked_to_an_account() {
        let people = [
            person(1, "a@x.io", None, 1),
            person(2, "a@x.io", Some(1), 5),
            person(3, "a@x.io", Some(2), 3),
        ];
        let choice = choose_syncing_record(&people, None).unwrap();
        assert_eq!(choice.id, sfid(3));
        assert_eq!(choice.reason, SyncingReason::FirstLinkedToAccount);
    }

    #[test]
    fn ties_go_to_the_lowest_id_and_without_accounts_the_earliest_wins() {
        let tie = [
            person(7, "a@x.io", Some(1), 2),
            person(4, "a@x.io", Some(2), 2),
        ];
        assert_eq!(choose_syncing_record(&tie, None).unwrap().id, sfid(4));
        let none = [person(7, "a@x.io", None, 2), person(4, "a@x.io", None, 3)];
        let choice = choose_syncing_record(&none, None).unwrap();
        assert_eq!(
            (choice.id, choice.reason),
            (sfid(7), SyncingReason::EarliestCreated)
        );
    }

    #[test]
    fn a_remembered_choice_stands_until_it_is_invalid() {
        let people = [
            person(1, "a@x.io", Some(1), 1),
            person(2, "a@x.io", Some(2), 5),
        ];
        // A later contact was remembered (e.g. the earlier one was created after it by a
        // data import): it keeps its role.
        let kept = choose_syncing_record(&people, Some(&sfid(2))).unwrap();
        assert_eq!((kept.id, kept.reason), (sfid(2), SyncingReason::Remembered));
        // The remembered contact left the group (deleted or changed its email).
        let gone = choose_syncing_record(&people, Some(&sfid(9))).unwrap();
        assert_eq!(gone.id, sfid(1));
        // It lost its account while another contact has one.
        let lost = [
            person(1, "a@x.io", Some(1), 3),
            person(2, "a@x.io", None, 1),
        ];
        assert_eq!(
            choose_syncing_record(&lost, Some(&sfid(2))).unwrap().id,
            sfid(1)
        );
        // Without any account in the group the remembered one stays.
        let no_accounts = [person(1, "a@x.io", None, 1), person(2, "a@x.io", None, 5)];
        assert_eq!(
            choose_syncing_record(&no_accounts, Some(&sfid(2)))
                .unwrap()
                .id,
            sfid(2)
        );
    }

    #[test]
    fn converted_leads_are_skipped() {
        let mut lead = person(1, "a@x.io", None, 1);
        lead.kind = PersonKind::Lead;
        lead.converted = true;
        let grouping = group_by_email([lead]);
        assert!(grouping.groups.is_empty());
        assert_eq!(grouping.skipped[0].reason, SkipReason::ConvertedLead);
    }
}
