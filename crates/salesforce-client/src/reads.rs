//! Typed streams for the sync's reads: [`queries`] statements run through
//! [`query_stream`].
//!
//! Each stream yields one `Vec` of records per Salesforce page and ends after the first
//! error. The SOQL is built before the stream is returned, so the arguments need not
//! outlive it.

use chrono::{DateTime, Utc};
use futures::Stream;

use crate::api::{SalesforceApi, query_all_rows_stream, query_stream, query_stream_many};
use crate::error::Result;
use crate::queries::{self, PersonObject};
use crate::records::{Account, AccountContactRelation, Contact, Lead};

/// Accounts matching `filter`, changed after `since` when given ([`queries::accounts`]).
pub fn accounts<'a>(
    api: &'a dyn SalesforceApi,
    fields: &[&str],
    filter: Option<&str>,
    since: Option<DateTime<Utc>>,
) -> impl Stream<Item = Result<Vec<Account>>> + Send + 'a {
    query_stream(api, queries::accounts(fields, filter, since))
}

/// Contacts changed after `since` ([`queries::changed_people`]).
pub fn changed_contacts<'a>(
    api: &'a dyn SalesforceApi,
    fields: &[&str],
    filter: Option<&str>,
    since: Option<DateTime<Utc>>,
) -> impl Stream<Item = Result<Vec<Contact>>> + Send + 'a {
    query_stream(
        api,
        queries::changed_people(PersonObject::Contact, fields, filter, since),
    )
}

/// Unconverted leads changed after `since` ([`queries::changed_people`]).
pub fn changed_leads<'a>(
    api: &'a dyn SalesforceApi,
    fields: &[&str],
    filter: Option<&str>,
    since: Option<DateTime<Utc>>,
) -> impl Stream<Item = Result<Vec<Lead>>> + Send + 'a {
    query_stream(
        api,
        queries::changed_people(PersonObject::Lead, fields, filter, since),
    )
}

/// Contacts or leads deleted after `since` ([`queries::deleted_people`], run through
/// `queryAll`), decoded as [`Contact`] (a deleted lead has the same fields that matter
/// here: `Id`, `Email`, `IsDeleted`, `SystemModstamp`).
pub fn deleted_people<'a>(
    api: &'a dyn SalesforceApi,
    object: PersonObject,
    since: Option<DateTime<Utc>>,
) -> impl Stream<Item = Result<Vec<Contact>>> + Send + 'a {
    query_all_rows_stream(api, queries::deleted_people(object, since))
}

/// Contacts with one of `emails` ([`queries::people_by_emails`]).
pub fn contacts_by_emails<'a>(
    api: &'a dyn SalesforceApi,
    fields: &[&str],
    emails: &[String],
    filter: Option<&str>,
) -> impl Stream<Item = Result<Vec<Contact>>> + Send + 'a {
    query_stream_many(
        api,
        queries::people_by_emails(PersonObject::Contact, fields, emails, filter),
    )
}

/// Unconverted leads with one of `emails` ([`queries::people_by_emails`]).
pub fn leads_by_emails<'a>(
    api: &'a dyn SalesforceApi,
    fields: &[&str],
    emails: &[String],
    filter: Option<&str>,
) -> impl Stream<Item = Result<Vec<Lead>>> + Send + 'a {
    query_stream_many(
        api,
        queries::people_by_emails(PersonObject::Lead, fields, emails, filter),
    )
}

/// Contacts of the given accounts ([`queries::contacts_by_accounts`]).
pub fn contacts_by_accounts<'a>(
    api: &'a dyn SalesforceApi,
    fields: &[&str],
    account_ids: &[String],
    filter: Option<&str>,
) -> impl Stream<Item = Result<Vec<Contact>>> + Send + 'a {
    query_stream_many(
        api,
        queries::contacts_by_accounts(fields, account_ids, filter),
    )
}

/// AccountContactRelations of the given contacts ([`queries::relations_for_contacts`]).
pub fn relations_for_contacts<'a>(
    api: &'a dyn SalesforceApi,
    contact_ids: &[String],
) -> impl Stream<Item = Result<Vec<AccountContactRelation>>> + Send + 'a {
    query_stream_many(api, queries::relations_for_contacts(contact_ids))
}

/// AccountContactRelations changed after `since` ([`queries::relations_changed_since`]).
pub fn relations_changed_since<'a>(
    api: &'a dyn SalesforceApi,
    since: Option<DateTime<Utc>>,
) -> impl Stream<Item = Result<Vec<AccountContactRelation>>> + Send + 'a {
    query_stream(api, queries::relations_changed_since(since))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{MockSalesforceApi, QueryPage};
    use futures::TryStreamExt;
    use serde_json::json;

    #[tokio::test]
    async fn relations_for_contacts_runs_one_query_per_chunk_and_decodes() {
        let mut mock = MockSalesforceApi::new();
        mock.expect_query()
            .withf(|q| q.contains("FROM AccountContactRelation WHERE ContactId IN ('003A')"))
            .times(1)
            .returning(|_| {
                Ok(QueryPage::last(vec![json!({
                    "attributes": {"type": "AccountContactRelation"},
                    "Id": "07k1", "AccountId": "001A", "ContactId": "003A",
                    "IsDirect": true, "IsActive": true,
                    "SystemModstamp": "2024-01-31T23:01:01.000+0000"
                })]))
            });
        let rels: Vec<Vec<AccountContactRelation>> =
            relations_for_contacts(&mock, &["003A".to_owned()])
                .try_collect()
                .await
                .expect("relations");
        assert_eq!(rels.concat()[0].account_id, "001A");
        assert!(rels.concat()[0].is_direct);
    }

    #[tokio::test]
    async fn deleted_people_run_through_query_all() {
        let mut mock = MockSalesforceApi::new();
        mock.expect_query().never();
        mock.expect_query_all_rows()
            .withf(|q| q.starts_with("SELECT Id, Email, IsDeleted, SystemModstamp FROM Lead"))
            .times(1)
            .returning(|_| {
                Ok(QueryPage::last(vec![json!({
                    "attributes": {"type": "Lead"},
                    "Id": "00QA", "Email": "gone@example.com", "IsDeleted": true,
                    "SystemModstamp": "2024-01-31T23:01:01.000+0000"
                })]))
            });
        let gone: Vec<Vec<Contact>> = deleted_people(&mock, PersonObject::Lead, None)
            .try_collect()
            .await
            .expect("deleted");
        assert!(gone.concat()[0].is_deleted);
        assert_eq!(gone.concat()[0].email.as_deref(), Some("gone@example.com"));
    }

    #[tokio::test]
    async fn no_emails_means_no_calls() {
        let mut mock = MockSalesforceApi::new();
        mock.expect_query().never();
        let leads: Vec<Vec<Lead>> = leads_by_emails(&mock, &[], &[], None)
            .try_collect()
            .await
            .expect("leads");
        assert!(leads.is_empty());
    }
}
