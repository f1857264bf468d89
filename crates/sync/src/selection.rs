//! Which people a run considers, staged for grouping: every contact (or lead) on a full
//! run; on an incremental run the changed ones, those that failed last time, the contacts
//! of changed relations and of accounts linked in this run, and every record sharing an
//! email with one of them, so the syncing record is always decided on the whole group.

use chrono::{DateTime, Utc};
use domain::{Email, Person, PersonObject, SalesforceId};
use futures::TryStreamExt;
use salesforce_client::{AccountContactRelation, Contact, Lead, queries, query_stream_many, reads};

use crate::mapping;
use crate::run::{Run, SyncError, max_stamp};
use crate::staging::Staging;
use crate::state::{RecordKind, StateStore, Watermark};

/// The newest `SystemModstamp` of the people and of the relations a selection read, for
/// the watermarks the phase commits when it finishes.
#[derive(Debug, Default)]
pub(crate) struct Stamps {
    pub(crate) people: Option<DateTime<Utc>>,
    pub(crate) relations: Option<DateTime<Utc>>,
    /// People deleted in Salesforce since the last run: their failures and refusals are
    /// forgotten when the phase commits.
    pub(crate) deleted: Vec<SalesforceId>,
}

impl Run<'_, '_> {
    /// Stages the records the people phase considers, and says how new they are.
    pub(crate) async fn select_people(
        &mut self,
        state: &StateStore,
        staging: &mut Staging,
        object: PersonObject,
        secondary: bool,
    ) -> Result<Stamps, SyncError> {
        let mut stamps = Stamps::default();
        let mapping = self.options().mapping.clone();
        let fields = mapping.person_fields();
        let contacts_filter = self.options().contacts_filter.clone();
        let filter = contacts_filter.as_deref();
        let client_object = mapping::client_object(object);
        if self.full() {
            let statement = queries::changed_people(client_object, &fields, filter, None);
            self.stage_people(staging, object, vec![statement], Some(&mut stamps.people))
                .await?;
            if secondary {
                let statement = queries::indirect_relations();
                self.stage_relations(staging, vec![statement], Some(&mut stamps.relations))
                    .await?;
            }
            return Ok(stamps);
        }

        let since = self.read_since(state, Watermark::People(object))?;
        let statement = queries::changed_people(client_object, &fields, filter, since);
        self.stage_people(staging, object, vec![statement], Some(&mut stamps.people))
            .await?;
        // People deleted since: each leaves its email group, which is decided again.
        let mut left = self.read_deleted(state, object, since, &mut stamps).await?;
        // Records that failed last time, and contacts whose relations changed.
        let mut ids: Vec<String> = state
            .failed_records()?
            .into_iter()
            .filter(|f| f.kind == RecordKind::person(object) || f.kind == RecordKind::Relation)
            .map(|f| f.salesforce_id)
            .collect();
        if secondary {
            let since = self.read_since(state, Watermark::Relations)?;
            let statement = queries::relations_changed_since(since);
            let contacts = self
                .stage_relations(staging, vec![statement], Some(&mut stamps.relations))
                .await?;
            ids.extend(contacts.iter().map(ToString::to_string));
        }
        ids.sort();
        ids.dedup();
        if !ids.is_empty() {
            let statements = queries::people_by_ids(client_object, &fields, &ids, filter);
            self.stage_people(staging, object, statements, None).await?;
        }
        // Contacts of accounts that got their organization in this run.
        if object == PersonObject::Contact && !self.links.newly_linked.is_empty() {
            let accounts: Vec<String> = self
                .links
                .newly_linked
                .iter()
                .map(ToString::to_string)
                .collect();
            let statements = queries::contacts_by_accounts(&fields, &accounts, filter);
            self.stage_people(staging, object, statements, None).await?;
        }
        // Every record sharing an email with one of them, and the groups a staged record
        // was the syncing record of under another email: it left that group, which is
        // decided again in this run.
        let mut emails = staging.emails()?;
        left.extend(self.groups_left(state, staging)?);
        emails.extend(left);
        emails.sort();
        emails.dedup();
        if !emails.is_empty() {
            let statements = queries::people_by_emails(client_object, &fields, &emails, filter);
            self.stage_people(staging, object, statements, None).await?;
        }
        if secondary {
            let contacts = staging.contact_ids()?;
            let statements = queries::relations_for_contacts(&contacts);
            self.stage_relations(staging, statements, None).await?;
        }
        Ok(stamps)
    }

    /// Reads the people deleted since `since` (one `queryAll` page per 2,000 rows) and
    /// returns the emails of the groups they leave: the deleted record's own email, and the
    /// group it was the syncing record of.
    async fn read_deleted(
        &mut self,
        state: &StateStore,
        object: PersonObject,
        since: Option<DateTime<Utc>>,
        stamps: &mut Stamps,
    ) -> Result<Vec<String>, SyncError> {
        let client_object = mapping::client_object(object);
        let mut emails = Vec::new();
        let mut pages = Box::pin(reads::deleted_people(
            self.engine.salesforce,
            client_object,
            since,
        ));
        while let Some(page) = pages.try_next().await? {
            for record in page {
                max_stamp(&mut stamps.people, record.system_modstamp);
                if let Some(email) = record.email.as_deref().and_then(|e| Email::parse(e).ok()) {
                    emails.push(email.to_string());
                }
                if let Ok(id) = SalesforceId::parse(&record.id) {
                    stamps.deleted.push(id);
                }
            }
        }
        drop(pages);
        if !stamps.deleted.is_empty() {
            tracing::info!(
                deleted = stamps.deleted.len(),
                "people deleted in Salesforce since the last run: their email groups are decided again"
            );
            emails.extend(
                state
                    .emails_synced_by(&stamps.deleted)?
                    .into_iter()
                    .map(|(email, _)| email.to_string()),
            );
        }
        Ok(emails)
    }

    /// The emails of groups whose remembered syncing record is staged with another email.
    fn groups_left(&self, state: &StateStore, staging: &Staging) -> Result<Vec<String>, SyncError> {
        let staged = staging.grouped_people()?;
        let ids: Vec<SalesforceId> = staged
            .iter()
            .filter_map(|(id, _)| SalesforceId::parse(id).ok())
            .collect();
        let now: std::collections::HashMap<&str, &str> = staged
            .iter()
            .map(|(id, email)| (id.as_str(), email.as_str()))
            .collect();
        let left: Vec<String> = state
            .emails_synced_by(&ids)?
            .into_iter()
            .filter(|(email, id)| now.get(id.as_str()) != Some(&email.as_str()))
            .map(|(email, id)| {
                tracing::debug!(%email, record = %id, "the syncing record left its group; deciding it again");
                email.to_string()
            })
            .collect();
        Ok(left)
    }

    /// Runs SOQL statements for people and stages what they return.
    async fn stage_people(
        &mut self,
        staging: &mut Staging,
        object: PersonObject,
        statements: Vec<String>,
        stamp: Option<&mut Option<DateTime<Utc>>>,
    ) -> Result<u64, SyncError> {
        let mapping = self.options().mapping.clone();
        match object {
            PersonObject::Contact => {
                self.stage_records(staging, statements, stamp, |c: &Contact| {
                    (c.system_modstamp, mapping::person_from_contact(c, &mapping))
                })
                .await
            }
            PersonObject::Lead => {
                self.stage_records(staging, statements, stamp, |l: &Lead| {
                    (l.system_modstamp, mapping::person_from_lead(l, &mapping))
                })
                .await
            }
        }
    }

    /// Stages the people of one record type; records that do not convert are skipped
    /// with their reason, and `stamp` keeps the highest `SystemModstamp` seen.
    async fn stage_records<T: serde::de::DeserializeOwned + Send>(
        &mut self,
        staging: &mut Staging,
        statements: Vec<String>,
        mut stamp: Option<&mut Option<DateTime<Utc>>>,
        convert: impl Fn(&T) -> (Option<DateTime<Utc>>, Result<Person, mapping::BadRecord>),
    ) -> Result<u64, SyncError> {
        let mut pages = Box::pin(query_stream_many::<T>(self.engine.salesforce, statements));
        let mut count = 0;
        while let Some(page) = pages.try_next().await? {
            let mut people = Vec::with_capacity(page.len());
            for record in &page {
                let (modstamp, person) = convert(record);
                if let Some(stamp) = stamp.as_deref_mut() {
                    max_stamp(stamp, modstamp);
                }
                match person {
                    Ok(person) => people.push(person),
                    Err(bad) => self.report.skip(bad.id, bad.reason),
                }
            }
            count += people.len() as u64;
            staging.add_people(&people)?;
        }
        Ok(count)
    }

    /// Stages relations and returns the contacts they belong to.
    async fn stage_relations(
        &mut self,
        staging: &mut Staging,
        statements: Vec<String>,
        mut stamp: Option<&mut Option<DateTime<Utc>>>,
    ) -> Result<Vec<SalesforceId>, SyncError> {
        let mut pages = Box::pin(query_stream_many::<AccountContactRelation>(
            self.engine.salesforce,
            statements,
        ));
        let mut contacts = Vec::new();
        while let Some(page) = pages.try_next().await? {
            let mut relations = Vec::with_capacity(page.len());
            for relation in &page {
                if let Some(stamp) = stamp.as_deref_mut() {
                    max_stamp(stamp, relation.system_modstamp);
                }
                match mapping::relation_from(relation) {
                    Ok(relation) => {
                        contacts.push(relation.contact_id.clone());
                        relations.push(relation);
                    }
                    Err(bad) => self.report.skip(bad.id, bad.reason),
                }
            }
            staging.add_relations(&relations)?;
        }
        Ok(contacts)
    }
}
