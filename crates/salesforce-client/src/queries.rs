//! SOQL statements for the reads the sync needs.
//!
//! Every builder takes the fields the caller wants (e.g. mapped custom fields) and adds
//! the ones its typed record needs ([`ACCOUNT_FIELDS`], [`CONTACT_FIELDS`], ...). The
//! optional `filter` is the operator's raw SOQL condition, wrapped in parentheses.
//! Watermarked reads compare `SystemModstamp > since` and order by `SystemModstamp, Id`
//! so that the caller can advance its watermark from the records it has seen. Values
//! (emails, ids) are quoted with [`soql::quote`] and split over several statements with
//! [`ChunkLimits`].

use chrono::{DateTime, Utc};

use crate::records::{ACCOUNT_FIELDS, CONTACT_FIELDS, LEAD_FIELDS, RELATION_FIELDS};
use crate::soql::{self, ChunkLimits, Select};

/// The probe run by
/// [`account_contact_relation_available`](crate::SalesforceApi::account_contact_relation_available).
pub const ACR_PROBE: &str = "SELECT Id FROM AccountContactRelation LIMIT 1";

const WATERMARK_ORDER: &str = "SystemModstamp, Id";

/// The Salesforce object synced as Zendesk users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PersonObject {
    /// `Contact`.
    Contact,
    /// `Lead` (converted leads are always excluded).
    Lead,
}

impl PersonObject {
    /// The object's API name.
    pub fn api_name(self) -> &'static str {
        match self {
            PersonObject::Contact => "Contact",
            PersonObject::Lead => "Lead",
        }
    }

    /// The fields its typed record needs.
    pub fn required_fields(self) -> &'static [&'static str] {
        match self {
            PersonObject::Contact => CONTACT_FIELDS,
            PersonObject::Lead => LEAD_FIELDS,
        }
    }

    fn select(self, fields: &[&str], filter: Option<&str>) -> Select {
        let select = Select::new(self.api_name())
            .fields(self.required_fields())
            .fields(fields);
        let select = match self {
            // A converted lead lives on as a Contact; syncing both would duplicate the person.
            PersonObject::Lead => select.condition("IsConverted = false"),
            PersonObject::Contact => select,
        };
        select.filter(filter)
    }
}

fn watermark(select: Select, since: Option<DateTime<Utc>>) -> Select {
    match since {
        Some(ts) => select
            .condition(format!("SystemModstamp > {}", soql::datetime(ts)))
            .order_by(WATERMARK_ORDER),
        None => select,
    }
}

/// Accounts matching `filter`, changed after `since` when given.
pub fn accounts(fields: &[&str], filter: Option<&str>, since: Option<DateTime<Utc>>) -> String {
    let select = Select::new("Account").fields(ACCOUNT_FIELDS).fields(fields);
    watermark(select.filter(filter), since).build()
}

/// Contacts or (unconverted) leads matching `filter`, changed after `since` when given.
pub fn changed_people(
    object: PersonObject,
    fields: &[&str],
    filter: Option<&str>,
    since: Option<DateTime<Utc>>,
) -> String {
    watermark(object.select(fields, filter), since).build()
}

/// Fields of [`deleted_people`]: what a deleted person's hand-over needs (which email
/// group lost a member, and when).
pub const DELETED_PERSON_FIELDS: &[&str] = &["Id", "Email", "IsDeleted", "SystemModstamp"];

/// Contacts or leads deleted after `since` (all deleted ones in the Recycle Bin when
/// `None`): `SELECT Id, Email, IsDeleted, SystemModstamp FROM Contact|Lead WHERE
/// IsDeleted = true [AND SystemModstamp > since] ORDER BY SystemModstamp, Id`.
///
/// Only the `queryAll` resource returns deleted rows: run it with
/// [`SalesforceApi::query_all_rows`](crate::SalesforceApi::query_all_rows) or
/// [`reads::deleted_people`](crate::reads::deleted_people); through `query` it always
/// answers nothing. Deleting a record sets its `SystemModstamp`, so the watermark works
/// as for changed records. The operator's filter is not applied: a deleted record that
/// matched it when it was synced must still be handed over, and one that did not is
/// simply unknown to the caller. Converted leads are not excluded either (a deleted
/// lead is gone whatever it was).
pub fn deleted_people(object: PersonObject, since: Option<DateTime<Utc>>) -> String {
    let select = Select::new(object.api_name())
        .fields(DELETED_PERSON_FIELDS)
        .condition("IsDeleted = true");
    let select = match since {
        Some(ts) => select.condition(format!("SystemModstamp > {}", soql::datetime(ts))),
        None => select,
    };
    // Ordered even without a watermark, so a caller can advance one from the rows seen.
    select.order_by(WATERMARK_ORDER).build()
}

/// Contacts or (unconverted) leads whose `Email` is one of `emails`, in chunks within
/// the default [`ChunkLimits`]. Emails are compared case-insensitively by Salesforce,
/// so duplicates differing only in case are sent once; blank emails are skipped.
pub fn people_by_emails(
    object: PersonObject,
    fields: &[&str],
    emails: &[String],
    filter: Option<&str>,
) -> Vec<String> {
    people_by_emails_with(object, fields, emails, filter, &ChunkLimits::default())
}

/// [`people_by_emails`] with explicit chunk limits.
pub fn people_by_emails_with(
    object: PersonObject,
    fields: &[&str],
    emails: &[String],
    filter: Option<&str>,
    limits: &ChunkLimits,
) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let emails: Vec<String> = emails
        .iter()
        .map(|e| e.trim())
        .filter(|e| !e.is_empty() && seen.insert(e.to_lowercase()))
        .map(str::to_owned)
        .collect();
    object
        .select(fields, filter)
        .build_in_chunks("Email", &emails, limits)
}

/// Contacts or (unconverted) leads whose `Id` is one of `ids`, in chunks (records to read
/// again, such as those that failed in an earlier run).
pub fn people_by_ids(
    object: PersonObject,
    fields: &[&str],
    ids: &[String],
    filter: Option<&str>,
) -> Vec<String> {
    object
        .select(fields, filter)
        .build_in_chunks("Id", ids, &ChunkLimits::default())
}

/// Accounts matching `filter` whose `Id` is one of `ids`, in chunks.
pub fn accounts_by_ids(fields: &[&str], ids: &[String], filter: Option<&str>) -> Vec<String> {
    Select::new("Account")
        .fields(ACCOUNT_FIELDS)
        .fields(fields)
        .filter(filter)
        .build_in_chunks("Id", ids, &ChunkLimits::default())
}

/// Contacts whose `AccountId` is one of `account_ids`, in chunks.
pub fn contacts_by_accounts(
    fields: &[&str],
    account_ids: &[String],
    filter: Option<&str>,
) -> Vec<String> {
    contacts_by_accounts_with(fields, account_ids, filter, &ChunkLimits::default())
}

/// [`contacts_by_accounts`] with explicit chunk limits.
pub fn contacts_by_accounts_with(
    fields: &[&str],
    account_ids: &[String],
    filter: Option<&str>,
    limits: &ChunkLimits,
) -> Vec<String> {
    PersonObject::Contact
        .select(fields, filter)
        .build_in_chunks("AccountId", account_ids, limits)
}

/// AccountContactRelations of the given contacts, in chunks.
pub fn relations_for_contacts(contact_ids: &[String]) -> Vec<String> {
    relations_for_contacts_with(contact_ids, &ChunkLimits::default())
}

/// [`relations_for_contacts`] with explicit chunk limits.
pub fn relations_for_contacts_with(contact_ids: &[String], limits: &ChunkLimits) -> Vec<String> {
    Select::new("AccountContactRelation")
        .fields(RELATION_FIELDS)
        .build_in_chunks("ContactId", contact_ids, limits)
}

/// Every indirect (secondary) AccountContactRelation: `IsDirect = false`.
pub fn indirect_relations() -> String {
    Select::new("AccountContactRelation")
        .fields(RELATION_FIELDS)
        .condition("IsDirect = false")
        .build()
}

/// AccountContactRelations changed after `since` (all of them when `None`).
pub fn relations_changed_since(since: Option<DateTime<Utc>>) -> String {
    watermark(
        Select::new("AccountContactRelation").fields(RELATION_FIELDS),
        since,
    )
    .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn records_read_again_by_id_keep_the_object_rules_and_filter() {
        let ids = [
            "00Q000000000001AAA".to_owned(),
            "00Q000000000002AAA".to_owned(),
        ];
        let leads = people_by_ids(PersonObject::Lead, &["Title"], &ids, Some("Rating = 'Hot'"));
        assert_eq!(leads.len(), 1);
        assert!(leads[0].contains("IsConverted = false"), "{}", leads[0]);
        assert!(leads[0].contains("(Rating = 'Hot')"), "{}", leads[0]);
        assert!(
            leads[0].contains("Id IN ('00Q000000000001AAA','00Q000000000002AAA')"),
            "{}",
            leads[0]
        );
        let accounts = accounts_by_ids(&["Tier__c"], &ids[..1], None);
        assert!(
            accounts[0]
                .starts_with("SELECT Id, Name, SystemModstamp, Tier__c FROM Account WHERE Id IN"),
            "{}",
            accounts[0]
        );
        assert!(
            indirect_relations().ends_with("FROM AccountContactRelation WHERE IsDirect = false")
        );
    }

    fn ts() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 31, 23, 1, 1)
            .single()
            .expect("ts")
    }

    #[test]
    fn accounts_with_filter_and_watermark() {
        assert_eq!(
            accounts(
                &["Tier__c", "name"],
                Some("Type = 'Customer' OR Type = 'Partner'"),
                Some(ts())
            ),
            "SELECT Id, Name, SystemModstamp, Tier__c FROM Account \
             WHERE (Type = 'Customer' OR Type = 'Partner') AND SystemModstamp > 2024-01-31T23:01:01Z \
             ORDER BY SystemModstamp, Id"
        );
        assert_eq!(
            accounts(&[], None, None),
            "SELECT Id, Name, SystemModstamp FROM Account"
        );
    }

    #[test]
    fn changed_leads_exclude_converted() {
        let q = changed_people(
            PersonObject::Lead,
            &["Company"],
            Some("LeadSource = 'Web'"),
            Some(ts()),
        );
        assert_eq!(
            q,
            "SELECT Id, Email, FirstName, LastName, CreatedDate, SystemModstamp, IsConverted, ConvertedContactId, Company \
             FROM Lead WHERE IsConverted = false AND (LeadSource = 'Web') \
             AND SystemModstamp > 2024-01-31T23:01:01Z ORDER BY SystemModstamp, Id"
        );
        let c = changed_people(PersonObject::Contact, &[], None, None);
        assert_eq!(
            c,
            "SELECT Id, Email, FirstName, LastName, AccountId, CreatedDate, SystemModstamp FROM Contact"
        );
    }

    #[test]
    fn people_by_emails_quotes_dedups_and_chunks() {
        let emails: Vec<String> = [
            "o'brien@x.com",
            "O'Brien@X.com",
            " ",
            "back\\slash@x.com",
            "c@x.com",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let limits = ChunkLimits {
            max_items: 2,
            ..ChunkLimits::default()
        };
        let qs = people_by_emails_with(PersonObject::Contact, &[], &emails, None, &limits);
        assert_eq!(qs.len(), 2);
        assert!(
            qs[0].ends_with(r"WHERE Email IN ('o\'brien@x.com','back\\slash@x.com')"),
            "{}",
            qs[0]
        );
        assert!(qs[1].ends_with("WHERE Email IN ('c@x.com')"), "{}", qs[1]);
        assert!(people_by_emails(PersonObject::Lead, &[], &[], None).is_empty());
        let lead = people_by_emails(PersonObject::Lead, &[], &["a@b.c".into()], Some("X = 1"));
        assert!(
            lead[0].ends_with("WHERE Email IN ('a@b.c') AND IsConverted = false AND (X = 1)"),
            "{}",
            lead[0]
        );
    }

    #[test]
    fn default_limits_keep_500_items_per_chunk() {
        let ids: Vec<String> = (0..1001).map(|i| format!("001{i:015}")).collect();
        let qs = contacts_by_accounts(&[], &ids, None);
        assert_eq!(qs.len(), 3, "500 + 500 + 1");
        assert_eq!(qs[0].matches("'001").count(), 500);
        assert_eq!(qs[2].matches("'001").count(), 1);
    }

    #[test]
    fn deleted_people_select_the_recycle_bin_since_the_watermark() {
        assert_eq!(
            deleted_people(PersonObject::Contact, Some(ts())),
            "SELECT Id, Email, IsDeleted, SystemModstamp FROM Contact \
             WHERE IsDeleted = true AND SystemModstamp > 2024-01-31T23:01:01Z \
             ORDER BY SystemModstamp, Id"
        );
        assert_eq!(
            deleted_people(PersonObject::Lead, None),
            "SELECT Id, Email, IsDeleted, SystemModstamp FROM Lead \
             WHERE IsDeleted = true ORDER BY SystemModstamp, Id"
        );
    }

    #[test]
    fn relations() {
        assert_eq!(
            relations_changed_since(Some(ts())),
            "SELECT Id, AccountId, ContactId, IsDirect, IsActive, SystemModstamp FROM AccountContactRelation \
             WHERE SystemModstamp > 2024-01-31T23:01:01Z ORDER BY SystemModstamp, Id"
        );
        assert_eq!(
            relations_for_contacts(&["003A".into(), "003B".into()]),
            vec![
                "SELECT Id, AccountId, ContactId, IsDirect, IsActive, SystemModstamp FROM AccountContactRelation \
                 WHERE ContactId IN ('003A','003B')"
            ]
        );
    }
}
