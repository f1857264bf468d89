//! One sync run: prerequisites, then accounts to organizations, then contacts (or leads)
//! to users and memberships, chunk by chunk, with the state committed as writes are
//! confirmed (docs/behavior.md sections 4 and 5).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use chrono::{DateTime, Utc};
use domain::{
    Action, Capabilities, EffectiveSettings, Email, FieldsOutcome, GroupContext, MembershipOutcome,
    OrganizationAction, OrganizationDecision, OrganizationId, OrganizationIndex, Person,
    PersonObject, Relation, Rule, SalesforceId, Settings, UserId, UserRef, candidate_organizations,
    choose_syncing_record, group_by_email, plan_group, plan_organizations,
};
use futures::TryStreamExt;
use salesforce_client::{
    AccountContactRelation, Contact, Lead, SalesforceApi, SalesforceError, queries,
    query_stream_many, reads,
};
use zendesk_client::{
    JobPoller, NewMembership, PollConfig, ZendeskError, ZendeskRead, ZendeskWrite, stream,
};

use crate::directory::{Directory, Memberships, UserRecord};
use crate::mapping::{self, FieldMapping};
use crate::report::{PlannedAction, Report, RunMode};
use crate::staging::{Staging, StagingError};
use crate::state::{NewFailure, RecordKind, StateError, StateStore};
use crate::writes::{BulkWriter, Outcome, Round};

/// Watermark scope of accounts.
pub const ACCOUNT_SCOPE: &str = "account";
/// Watermark scope of account-contact relations.
pub const RELATION_SCOPE: &str = "relation";

/// Why a run could not finish (exit status 1), or could not start (exit status 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// A setting's prerequisite is missing: nothing was written.
    #[error("configuration: {0}")]
    Prerequisites(#[from] domain::PrerequisiteError),
    /// Salesforce could not be read.
    #[error("salesforce")]
    Salesforce(#[from] SalesforceError),
    /// Zendesk could not be read or written.
    #[error("zendesk")]
    Zendesk(#[from] ZendeskError),
    /// The state file could not be used.
    #[error("state store")]
    State(#[from] StateError),
    /// Records could not be staged for grouping.
    #[error("staging")]
    Staging(#[from] StagingError),
    /// The run was asked to stop; the in-flight chunk finished first.
    #[error(
        "interrupted: the in-flight chunk finished and its state is stored; run again to continue"
    )]
    Interrupted,
}

impl SyncError {
    /// Whether the run could not start because of its configuration (exit status 2).
    pub fn is_configuration(&self) -> bool {
        matches!(self, Self::Prerequisites(_))
    }
}

/// What a run does, besides the clients it talks to.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// The integration's settings.
    pub settings: Settings,
    /// Field mappings.
    pub mapping: FieldMapping,
    /// SOQL condition on Account.
    pub accounts_filter: Option<String>,
    /// SOQL condition on Contact or Lead.
    pub contacts_filter: Option<String>,
    /// Ignore the stored watermark and consider every record.
    pub full: bool,
    /// Email groups per chunk.
    pub chunk_size: usize,
    /// How bulk jobs are polled.
    pub poll: PollConfig,
}

impl SyncOptions {
    /// Options with default mappings, no filters, chunks of 5,000 email groups.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            mapping: FieldMapping::default(),
            accounts_filter: None,
            contacts_filter: None,
            full: false,
            chunk_size: 5000,
            poll: PollConfig::default(),
        }
    }
}

/// Progress of a run, for a progress bar.
pub trait Progress: Send + Sync {
    /// A phase starts, with the number of items when known.
    fn phase(&self, name: &str, total: Option<u64>);
    /// Items of the phase are done.
    fn advance(&self, done: u64);
}

/// Progress that shows nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn phase(&self, _name: &str, _total: Option<u64>) {}
    fn advance(&self, _done: u64) {}
}

/// Reads the capabilities both systems have and validates the settings against them.
///
/// # Errors
/// An API error, or [`SyncError::Prerequisites`] naming every missing prerequisite.
pub async fn preflight(
    salesforce: &dyn SalesforceApi,
    zendesk: &dyn ZendeskRead,
    settings: Settings,
) -> Result<EffectiveSettings, SyncError> {
    let multiple_organizations = zendesk.account_settings().await?.multiple_organizations;
    let account_contact_relation =
        if settings.secondary_relationships && settings.object == PersonObject::Contact {
            Some(salesforce.account_contact_relation_available().await?)
        } else {
            None
        };
    Ok(settings.validate(Capabilities {
        multiple_organizations,
        account_contact_relation,
    })?)
}

/// The end of a run: its report, and the error that stopped it, if any.
#[derive(Debug)]
pub struct RunOutcome {
    /// The report (counts so far when the run stopped early).
    pub report: Report,
    /// Why the run stopped early.
    pub error: Option<SyncError>,
}

/// A sync run over two APIs. Without a writer it is a dry run: no write can reach Zendesk.
pub struct Engine<'a> {
    salesforce: &'a dyn SalesforceApi,
    zendesk: &'a dyn ZendeskRead,
    writer: Option<&'a dyn ZendeskWrite>,
    options: SyncOptions,
    progress: Arc<dyn Progress>,
    cancel: Arc<AtomicBool>,
}

impl<'a> Engine<'a> {
    /// An engine; `writer = None` makes every run a dry run.
    pub fn new(
        salesforce: &'a dyn SalesforceApi,
        zendesk: &'a dyn ZendeskRead,
        writer: Option<&'a dyn ZendeskWrite>,
        options: SyncOptions,
    ) -> Self {
        Self {
            salesforce,
            zendesk,
            writer,
            options,
            progress: Arc::new(NoProgress),
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Reports progress to `progress`.
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = progress;
        self
    }

    /// Stops after the in-flight chunk once `cancel` is set.
    pub fn with_cancel(mut self, cancel: Arc<AtomicBool>) -> Self {
        self.cancel = cancel;
        self
    }

    /// Runs once against `state`.
    pub async fn run(&self, state: &mut StateStore) -> RunOutcome {
        let started = Instant::now();
        let dry_run = self.writer.is_none();
        let settings = self.options.settings;
        let people_scope = settings.object.to_string();
        let primary_scope = if settings.contacts_to_users {
            people_scope.as_str()
        } else {
            ACCOUNT_SCOPE
        };
        let mode = match state.watermark(primary_scope) {
            Ok(Some(_)) if !self.options.full => RunMode::Incremental,
            Ok(_) => RunMode::Full,
            Err(err) => {
                return RunOutcome {
                    report: Report::new(RunMode::Full, dry_run),
                    error: Some(err.into()),
                };
            }
        };
        let mut run = Run {
            engine: self,
            report: Report::new(mode, dry_run),
            links: HashMap::new(),
            looked_up: HashSet::new(),
            newly_linked: Vec::new(),
            all_organizations_known: false,
            failed_accounts: HashSet::new(),
            planned_organizations: HashMap::new(),
            writer: self.writer.map(|w| {
                BulkWriter::new(self.zendesk, w, JobPoller::new(self.options.poll.clone()))
            }),
        };
        let run_id = match state.begin_run(mode.as_str(), dry_run) {
            Ok(id) => id,
            Err(err) => {
                return RunOutcome {
                    report: run.report,
                    error: Some(err.into()),
                };
            }
        };
        let result = run.execute(state).await;
        // Said even when the run stopped later: the operator should know either way.
        if run
            .writer
            .as_ref()
            .is_some_and(BulkWriter::bulk_users_disabled)
        {
            run.report.warn_once(
                "Zendesk refused bulk user import (403): users were created one call at a time; ask Zendesk Support to enable bulk user import to save API calls",
            );
        }

        let mut report = run.report;
        report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let outcome = match &result {
            Err(SyncError::Interrupted) => "interrupted",
            Err(_) => "failed",
            Ok(()) if report.has_failures() => "partial",
            Ok(()) => "ok",
        };
        let json = serde_json::to_string(&report).unwrap_or_default();
        let finished = state.finish_run(run_id, outcome, &json);
        let error = result.err().or(finished.err().map(SyncError::from));
        RunOutcome { report, error }
    }
}

/// A membership whose write waits: for a user created later in the chunk, or for the end
/// of the first complete primary pass (secondary relationships).
#[derive(Debug, Clone)]
struct PendingMembership {
    user: UserRef,
    organization: OrganizationId,
    default: bool,
    /// The contact or relation behind it, and the contact it belongs to.
    source: SalesforceId,
    contact: SalesforceId,
}

/// What a write in a chunk is for, to account for its outcome.
#[derive(Debug, Clone)]
enum WriteKey {
    /// The user of group `usize` (create or update).
    User(usize),
    /// A membership.
    Membership(PendingMembership),
}

struct Run<'e, 'a> {
    engine: &'e Engine<'a>,
    report: Report,
    /// Account to organization, for accounts known to be linked.
    links: HashMap<SalesforceId, OrganizationId>,
    /// Accounts whose organization was looked up (linked or not).
    looked_up: HashSet<SalesforceId>,
    /// Accounts whose organization this run created or linked.
    newly_linked: Vec<SalesforceId>,
    /// The whole organization list was read: no account needs a lookup.
    all_organizations_known: bool,
    /// Accounts whose organization write failed in this run: their contacts wait for the
    /// next run rather than being synced as if the account had no organization.
    failed_accounts: HashSet<SalesforceId>,
    /// On a dry run, stand-in ids for the organizations the run would create, so contacts
    /// are planned as the real run would plan them.
    planned_organizations: HashMap<OrganizationId, SalesforceId>,
    writer: Option<BulkWriter<'a>>,
}

fn max_stamp(current: &mut Option<DateTime<Utc>>, stamp: Option<DateTime<Utc>>) {
    if let Some(stamp) = stamp {
        *current = Some(current.map_or(stamp, |c| c.max(stamp)));
    }
}

fn person_kind(object: PersonObject) -> RecordKind {
    match object {
        PersonObject::Contact => RecordKind::Contact,
        PersonObject::Lead => RecordKind::Lead,
    }
}

impl Run<'_, '_> {
    fn options(&self) -> &SyncOptions {
        &self.engine.options
    }

    fn full(&self) -> bool {
        self.report.mode == RunMode::Full
    }

    async fn execute(&mut self, state: &mut StateStore) -> Result<(), SyncError> {
        let effective = preflight(
            self.engine.salesforce,
            self.engine.zendesk,
            self.options().settings,
        )
        .await?;
        tracing::info!(mode = ?effective.mode(), run = self.report.mode.as_str(), dry_run = self.report.dry_run, "sync run starts");
        if effective.accounts_to_organizations() {
            self.accounts_phase(state).await?;
        }
        if self.engine.cancel.load(Ordering::SeqCst) {
            return Err(SyncError::Interrupted);
        }
        if effective.contacts_to_users() {
            self.people_phase(state, &effective).await?;
        }
        Ok(())
    }

    // ---------------------------------------------------------------- accounts

    async fn accounts_phase(&mut self, state: &mut StateStore) -> Result<(), SyncError> {
        let sf = self.engine.salesforce;
        let since = if self.full() {
            None
        } else {
            state.watermark(ACCOUNT_SCOPE)?
        };
        let mapping = self.options().mapping.clone();
        let fields = mapping.account_fields();
        let filter = self.options().accounts_filter.clone();
        let mut accounts = Vec::new();
        let mut stamp = None;
        let mut pages = Box::pin(reads::accounts(sf, &fields, filter.as_deref(), since));
        while let Some(page) = pages.try_next().await? {
            for account in page {
                max_stamp(&mut stamp, account.system_modstamp);
                match mapping::account_from(&account, &mapping) {
                    Ok(account) => accounts.push(account),
                    Err(bad) => self.report.skip(bad.id, bad.reason),
                }
            }
        }
        drop(pages);
        // Accounts that failed last time are read again even if unchanged since.
        let retry: Vec<String> = state
            .failed_records()?
            .into_iter()
            .filter(|f| f.kind == RecordKind::Account)
            .map(|f| f.salesforce_id)
            .collect();
        if since.is_some() && !retry.is_empty() {
            let statements = queries::accounts_by_ids(&fields, &retry, filter.as_deref());
            let mut pages = Box::pin(query_stream_many::<salesforce_client::Account>(
                sf, statements,
            ));
            while let Some(page) = pages.try_next().await? {
                accounts.extend(
                    page.iter()
                        .filter_map(|a| mapping::account_from(a, &mapping).ok()),
                );
            }
        }
        self.engine
            .progress
            .phase("organizations", Some(accounts.len() as u64));

        let index = self.organization_index(&accounts).await?;
        let decisions = plan_organizations(&accounts, &index);
        let mut creates = Vec::new();
        let mut updates = Vec::new();
        for decision in decisions {
            match decision {
                OrganizationDecision::Unchanged {
                    account,
                    organization,
                } => {
                    self.report.organizations.unchanged += 1;
                    self.links.insert(account, organization);
                }
                OrganizationDecision::Skipped(skip) => {
                    self.report
                        .skip(skip.salesforce_id.to_string(), skip.reason.to_string());
                }
                OrganizationDecision::Act(action) => {
                    self.plan_line(
                        describe_org_action(&action),
                        vec![action.rule()],
                        vec![action.account().to_string()],
                    );
                    match action {
                        OrganizationAction::Create { account, fields } => {
                            creates.push((
                                account.clone(),
                                mapping::new_organization(&account, &fields),
                            ));
                        }
                        OrganizationAction::Update {
                            account,
                            organization,
                            fields,
                        } => {
                            self.links.insert(account.clone(), organization);
                            match mapping::organization_update(organization, &fields, None) {
                                Ok(update) => updates.push((account, update)),
                                Err(message) => self.fail_account(&account, &message),
                            }
                        }
                        OrganizationAction::Link {
                            account,
                            organization,
                            fields,
                        } => {
                            match mapping::organization_update(
                                organization,
                                &fields,
                                Some(&account),
                            ) {
                                Ok(update) => updates.push((account, update)),
                                Err(message) => self.fail_account(&account, &message),
                            }
                        }
                    }
                }
            }
        }

        let mut failures = Vec::new();
        let mut succeeded = Vec::new();
        match self.writer.as_mut() {
            None => {
                self.report.organizations.created += creates.len() as u64;
                self.report.organizations.updated += updates.len() as u64;
                for (n, (account, _)) in creates.iter().enumerate() {
                    // Ids counted down from the top never collide with Zendesk's.
                    let stand_in = OrganizationId(u64::MAX - n as u64);
                    self.links.insert(account.clone(), stand_in);
                    self.planned_organizations.insert(stand_in, account.clone());
                }
                for (account, update) in &updates {
                    self.links
                        .insert(account.clone(), OrganizationId(update.id()));
                }
            }
            Some(writer) => {
                let org_ids: HashMap<SalesforceId, u64> =
                    updates.iter().map(|(a, u)| (a.clone(), u.id())).collect();
                let mut round = Round::default();
                let created: HashSet<SalesforceId> =
                    creates.iter().map(|(a, _)| a.clone()).collect();
                writer.create_organizations(&mut round, creates).await?;
                writer.update_organizations(&mut round, updates).await?;
                for (account, outcome) in writer.finish(round).await? {
                    let result = match outcome {
                        Outcome::Done(id) => Ok(id),
                        Outcome::AlreadyPresent => Ok(None),
                        Outcome::Failed(message) => Err(message),
                    };
                    match result {
                        Ok(id) => {
                            if created.contains(&account) {
                                self.report.organizations.created += 1;
                            } else {
                                self.report.organizations.updated += 1;
                            }
                            if let Some(id) = id.or_else(|| org_ids.get(&account).copied()) {
                                if !self.links.contains_key(&account) {
                                    self.newly_linked.push(account.clone());
                                }
                                self.links.insert(account.clone(), OrganizationId(id));
                            }
                            succeeded.push(account.to_string());
                        }
                        Err(message) => {
                            self.report.organizations.failed += 1;
                            self.report.error(account.to_string(), &message);
                            // An update that failed leaves a linked organization; a create
                            // or a link that failed leaves the account without one.
                            if !self.links.contains_key(&account) {
                                self.failed_accounts.insert(account.clone());
                            }
                            failures.push(NewFailure {
                                salesforce_id: account.to_string(),
                                kind: RecordKind::Account,
                                email: None,
                                message,
                            });
                        }
                    }
                }
            }
        }
        self.engine.progress.advance(accounts.len() as u64);
        if self.writer.is_some() {
            state.transaction(|tx| {
                tx.record_failures(&failures)?;
                tx.clear_failures(&succeeded)?;
                if let Some(stamp) = stamp {
                    tx.set_watermark(ACCOUNT_SCOPE, stamp)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    fn fail_account(&mut self, account: &SalesforceId, message: &str) {
        if !self.links.contains_key(account) {
            self.failed_accounts.insert(account.clone());
        }
        self.report.organizations.failed += 1;
        self.report.error(account.to_string(), message);
    }

    /// The organizations the accounts' decisions depend on: all of them through the export
    /// on a full run (fewest calls for many accounts), else by external id and by name.
    async fn organization_index(
        &mut self,
        accounts: &[domain::Account],
    ) -> Result<OrganizationIndex, SyncError> {
        let zd = self.engine.zendesk;
        let mapping = &self.engine.options.mapping;
        let to_domain = |org: &zendesk_client::Organization| domain::Organization {
            id: OrganizationId(org.id),
            name: org.name.clone(),
            external_id: org.external_id.clone(),
            fields: mapping::organization_fields(org, mapping),
        };
        let mut index = OrganizationIndex::default();
        if self.full() {
            let mut orgs = Box::pin(stream::organizations_export_stream(zd, None));
            let mut all = Vec::new();
            let loaded = loop {
                match orgs.try_next().await {
                    Ok(Some(org)) => all.push(org),
                    Ok(None) => break true,
                    // An account without access to the export still syncs, by lookups.
                    Err(ZendeskError::NotFound { .. } | ZendeskError::Forbidden { .. }) => {
                        break false;
                    }
                    Err(err) => return Err(err.into()),
                }
            };
            if loaded {
                for org in &all {
                    self.remember_link(org);
                    index.insert(to_domain(org));
                }
                // Every organization is known now: an account missing from `links` is unlinked.
                self.all_organizations_known = true;
                return Ok(index);
            }
        }
        let ids: Vec<String> = accounts.iter().map(|a| a.id.to_string()).collect();
        for org in zd.show_many_organizations_by_external_ids(&ids).await? {
            self.remember_link(&org);
            index.insert(to_domain(&org));
        }
        for account in accounts {
            self.looked_up.insert(account.id.clone());
            if index.linked(&account.id).is_some() {
                continue;
            }
            if let Some(name) = account.organization_name() {
                for org in zd.search_organizations_by_name(name).await? {
                    self.remember_link(&org);
                    index.insert(to_domain(&org));
                }
            }
        }
        Ok(index)
    }

    fn remember_link(&mut self, org: &zendesk_client::Organization) {
        if let Some(account) = org
            .external_id
            .as_deref()
            .and_then(|e| SalesforceId::parse(e).ok())
        {
            self.links.insert(account.clone(), OrganizationId(org.id));
            self.looked_up.insert(account);
        }
    }

    fn plan_line(&mut self, action: String, rules: Vec<Rule>, salesforce_ids: Vec<String>) {
        if self.report.dry_run {
            self.report.plan.push(PlannedAction {
                action,
                rules: rules.iter().map(|r| r.name().to_owned()).collect(),
                salesforce_ids,
            });
        } else {
            tracing::debug!(%action, rules = ?rules, ids = ?salesforce_ids, "planned");
        }
    }
}

fn describe_org_action(action: &OrganizationAction) -> String {
    match action {
        OrganizationAction::Create { fields, .. } => {
            format!(
                "create organization {}",
                fields
                    .get("name")
                    .map(ToString::to_string)
                    .unwrap_or_default()
            )
        }
        OrganizationAction::Update {
            organization,
            fields,
            ..
        } => {
            format!(
                "update organization {organization}: {}",
                fields.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        }
        OrganizationAction::Link { organization, .. } => {
            format!("link organization {organization} (same name, no external id) to its account")
        }
    }
}

/// Per-chunk accounting of failures and successes for the state store.
#[derive(Default)]
struct ChunkState {
    failures: Vec<NewFailure>,
    failed_ids: HashSet<String>,
}

impl ChunkState {
    fn fail(&mut self, id: &SalesforceId, kind: RecordKind, email: Option<&Email>, message: &str) {
        self.failed_ids.insert(id.to_string());
        self.failures.push(NewFailure {
            salesforce_id: id.to_string(),
            kind,
            email: email.map(ToString::to_string),
            message: message.to_owned(),
        });
    }
}

impl Run<'_, '_> {
    // ---------------------------------------------------------------- people

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

    async fn stage_relations(
        &mut self,
        staging: &mut Staging,
        statements: Vec<String>,
        stamp: Option<&mut Option<DateTime<Utc>>>,
    ) -> Result<Vec<SalesforceId>, SyncError> {
        let mut pages = Box::pin(query_stream_many::<AccountContactRelation>(
            self.engine.salesforce,
            statements,
        ));
        let mut contacts = Vec::new();
        let mut stamp = stamp;
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

    async fn people_phase(
        &mut self,
        state: &mut StateStore,
        settings: &EffectiveSettings,
    ) -> Result<(), SyncError> {
        let object = settings.object();
        let scope = object.to_string();
        let secondary = settings.syncs_secondary_relationships();
        let mut staging = Staging::new()?;
        let mut people_stamp = None;
        let mut relation_stamp = None;
        let client_object = to_client_object(object);
        let mapping = self.options().mapping.clone();
        let fields = mapping.person_fields();
        let contacts_filter = self.options().contacts_filter.clone();
        let filter = contacts_filter.as_deref();
        // Secondary relationships turned on after earlier runs: every relation is new to
        // the sync, so this pass considers every record, as a full run does.
        if secondary && !self.full() && state.watermark(RELATION_SCOPE)?.is_none() {
            tracing::info!(
                "secondary relationships are synced for the first time: considering every record"
            );
            self.report.mode = RunMode::Full;
        }

        // 1. The records to consider, staged.
        if self.full() {
            let statement = queries::changed_people(client_object, &fields, filter, None);
            self.stage_people(
                &mut staging,
                object,
                vec![statement],
                Some(&mut people_stamp),
            )
            .await?;
            if secondary {
                let statement = queries::indirect_relations();
                self.stage_relations(&mut staging, vec![statement], Some(&mut relation_stamp))
                    .await?;
            }
        } else {
            let since = state.watermark(&scope)?;
            let statement = queries::changed_people(client_object, &fields, filter, since);
            self.stage_people(
                &mut staging,
                object,
                vec![statement],
                Some(&mut people_stamp),
            )
            .await?;
            // Records that failed last time, and contacts whose relations changed.
            let mut ids: Vec<String> = state
                .failed_records()?
                .into_iter()
                .filter(|f| f.kind == person_kind(object) || f.kind == RecordKind::Relation)
                .map(|f| f.salesforce_id)
                .collect();
            if secondary {
                let since = state.watermark(RELATION_SCOPE)?;
                let statement = queries::relations_changed_since(since);
                let contacts = self
                    .stage_relations(&mut staging, vec![statement], Some(&mut relation_stamp))
                    .await?;
                ids.extend(contacts.iter().map(ToString::to_string));
            }
            ids.sort();
            ids.dedup();
            if !ids.is_empty() {
                let statements = queries::people_by_ids(client_object, &fields, &ids, filter);
                self.stage_people(&mut staging, object, statements, None)
                    .await?;
            }
            // Contacts of accounts that got their organization in this run.
            if object == PersonObject::Contact && !self.newly_linked.is_empty() {
                let accounts: Vec<String> =
                    self.newly_linked.iter().map(ToString::to_string).collect();
                let statements = queries::contacts_by_accounts(&fields, &accounts, filter);
                self.stage_people(&mut staging, object, statements, None)
                    .await?;
            }
            // Every contact sharing an email with one of them: the syncing record is always
            // decided on the whole group.
            let emails = staging.emails()?;
            if !emails.is_empty() {
                let statements = queries::people_by_emails(client_object, &fields, &emails, filter);
                self.stage_people(&mut staging, object, statements, None)
                    .await?;
            }
            if secondary {
                let contacts = staging.contact_ids()?;
                let statements = queries::relations_for_contacts(&contacts);
                self.stage_relations(&mut staging, statements, None).await?;
            }
        }
        for skip in group_by_email(staging.ungroupable()?).skipped {
            self.report
                .skip(skip.salesforce_id.to_string(), skip.reason.to_string());
        }

        // 2. How the Zendesk side is read.
        let email_count = staging.email_count()?;
        let zd = self.engine.zendesk;
        let export = self.full()
            && match zd.count_users().await {
                // Searching costs one call per email, the export one per 1,000 users.
                Ok(Some(users)) => users / 1000 < email_count,
                Ok(None) => true,
                Err(err) if err.is_retryable() => return Err(err.into()),
                Err(_) => true,
            };
        let mut export = export;
        let directory = if export && email_count > 0 {
            match Directory::load(zd, &self.options().mapping).await {
                Ok(directory) => directory,
                // Without access to the export the run still works, one search per email.
                Err(ZendeskError::NotFound { .. } | ZendeskError::Forbidden { .. }) => {
                    self.report.warn_once(
                        "the Zendesk incremental user export is not available to these credentials: users are looked up one search per email (more API calls)",
                    );
                    export = false;
                    Directory::Search
                }
                Err(err) => return Err(err.into()),
            }
        } else {
            Directory::Search
        };
        let mut memberships = if export {
            Memberships::Account(None)
        } else {
            Memberships::PerUser
        };

        // 3. Chunk by chunk: plan, write, commit.
        let defer_secondary = secondary && !state.primary_pass_complete(&scope)?;
        let mut deferred: Vec<PendingMembership> = Vec::new();
        let mut created_users: HashMap<Email, UserId> = HashMap::new();
        self.engine.progress.phase("users", Some(email_count));
        let mut after: Option<String> = None;
        while let Some((people, last)) =
            staging.next_chunk(after.as_deref(), self.options().chunk_size.max(1))?
        {
            let ids: Vec<&SalesforceId> = people.iter().map(|p| &p.id).collect();
            let relations = if secondary {
                staging.relations_of(&ids)?
            } else {
                Vec::new()
            };
            let groups = self
                .process_chunk(
                    state,
                    settings,
                    people,
                    relations,
                    &directory,
                    &mut memberships,
                    defer_secondary,
                    &mut deferred,
                    &mut created_users,
                )
                .await?;
            self.engine.progress.advance(groups);
            after = Some(last);
            if self.engine.cancel.load(Ordering::SeqCst) {
                return Err(SyncError::Interrupted);
            }
        }

        // 4. The secondary pass of the first run, after the complete primary pass.
        if !deferred.is_empty() {
            tracing::info!(
                memberships = deferred.len(),
                "primary pass complete; syncing secondary relationships"
            );
            if self.writer.is_some() {
                state.set_primary_pass_complete(&scope)?;
            }
            let mut chunk_state = ChunkState::default();
            // A dry run created nobody: its new users' memberships are counted as planned.
            let dry_run = self.writer.is_none();
            let resolved = deferred
                .into_iter()
                .filter_map(|mut m| {
                    if let UserRef::New(email) = &m.user
                        && !dry_run
                    {
                        m.user = UserRef::Existing(*created_users.get(email)?);
                    }
                    Some(m)
                })
                .collect();
            self.write_memberships(resolved, &mut chunk_state).await?;
            if self.writer.is_some() {
                state.record_failures(&chunk_state.failures)?;
            }
        }
        if secondary && relation_stamp.is_none() && state.watermark(RELATION_SCOPE)?.is_none() {
            // No relation was read: mark the pass done from an hour before now, so the next
            // run reads only relations created since (an hour of overlap covers clock skew).
            relation_stamp =
                Some(people_stamp.unwrap_or_else(|| Utc::now() - chrono::Duration::hours(1)));
        }
        if self.writer.is_some() {
            state.transaction(|tx| {
                tx.set_primary_pass_complete(&scope)?;
                if let Some(stamp) = people_stamp {
                    tx.set_watermark(&scope, stamp)?;
                }
                if let Some(stamp) = relation_stamp {
                    tx.set_watermark(RELATION_SCOPE, stamp)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Looks up the organizations of accounts not yet known.
    async fn ensure_links(
        &mut self,
        accounts: impl Iterator<Item = &SalesforceId>,
    ) -> Result<(), SyncError> {
        if self.all_organizations_known {
            return Ok(());
        }
        let missing: BTreeSet<SalesforceId> = accounts
            .filter(|a| !self.looked_up.contains(*a))
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = missing.iter().map(ToString::to_string).collect();
        for org in self
            .engine
            .zendesk
            .show_many_organizations_by_external_ids(&ids)
            .await?
        {
            self.remember_link(&org);
        }
        self.looked_up.extend(missing);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn process_chunk(
        &mut self,
        state: &mut StateStore,
        settings: &EffectiveSettings,
        people: Vec<Person>,
        relations: Vec<Relation>,
        directory: &Directory,
        memberships: &mut Memberships,
        defer_secondary: bool,
        deferred: &mut Vec<PendingMembership>,
        created_users: &mut HashMap<Email, UserId>,
    ) -> Result<u64, SyncError> {
        let zd = self.engine.zendesk;
        let kind = person_kind(settings.object());
        let grouping = group_by_email(people);
        let mut groups = grouping.groups;
        if !self.failed_accounts.is_empty() {
            // A group pointing at an account whose organization failed in this run waits for
            // the next run: synced now, its user could get another default organization
            // that rule 4 would then keep for ever.
            let mut waiting = ChunkState::default();
            groups.retain(|group| {
                let blocked = group.people.iter().find_map(|p| {
                    p.account_id
                        .iter()
                        .chain(
                            relations
                                .iter()
                                .filter(|r| r.contact_id == p.id)
                                .map(|r| &r.account_id),
                        )
                        .find(|a| self.failed_accounts.contains(*a))
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
            for failure in &waiting.failures {
                self.report.users.failed += 1;
                self.report
                    .error(failure.salesforce_id.clone(), &failure.message);
            }
            if self.writer.is_some() {
                state.record_failures(&waiting.failures)?;
            }
        }
        let planned = self.planned_organizations.clone();
        let org_name = move |o: OrganizationId| match planned.get(&o) {
            Some(account) => format!("the new organization of account {account}"),
            None => format!("organization {o}"),
        };
        if settings.accounts_to_organizations() {
            let accounts: Vec<SalesforceId> = groups
                .iter()
                .flat_map(|g| g.people.iter().filter_map(|p| p.account_id.clone()))
                .chain(relations.iter().map(|r| r.account_id.clone()))
                .collect();
            self.ensure_links(accounts.iter()).await?;
        }
        let links = &self.links;
        let emails: Vec<Email> = groups.iter().map(|g| g.email.clone()).collect();
        let email_keys: Vec<String> = emails.iter().map(ToString::to_string).collect();
        let known = state.zendesk_users(&email_keys)?;
        let users = directory
            .lookup(zd, &self.options().mapping, &emails, &known)
            .await?;
        let remembered: HashMap<String, SalesforceId> = state
            .syncing_records(&email_keys)?
            .into_iter()
            .filter_map(|(email, id)| Some((email, SalesforceId::parse(&id).ok()?)))
            .collect();

        // Read memberships only for users whose groups point beyond their default organization.
        let mut need: Vec<UserId> = Vec::new();
        for group in &groups {
            let (Some(user), Some(choice)) = (
                users.get(&group.email),
                choose_syncing_record(&group.people, remembered.get(group.email.as_str())),
            ) else {
                continue;
            };
            let (candidates, _) =
                candidate_organizations(group, &choice.id, settings, links, &relations);
            if candidates
                .iter()
                .any(|c| Some(c.organization) != user.default_organization)
            {
                need.push(user.id);
            }
        }
        need.sort();
        need.dedup();
        let member_of = memberships.of(zd, &need).await?;

        // Plan every group.
        let mut plans = Vec::with_capacity(groups.len());
        for group in &groups {
            let user = users.get(&group.email).map(|u: &UserRecord| domain::User {
                id: u.id,
                default_organization: u.default_organization,
                memberships: member_of.get(&u.id).cloned().unwrap_or_default(),
                fields: u.fields.clone(),
            });
            let ctx = GroupContext {
                settings,
                links,
                remembered: remembered.get(group.email.as_str()),
                user: user.as_ref(),
                relations: &relations,
            };
            if let Some(plan) = plan_group(group, &ctx) {
                plans.push(plan);
            }
        }
        let relation_contact: HashMap<&SalesforceId, &SalesforceId> =
            relations.iter().map(|r| (&r.id, &r.contact_id)).collect();

        // Sort the actions into writes.
        let mut creates = Vec::new();
        let mut updates = Vec::new();
        let mut now: Vec<PendingMembership> = Vec::new();
        let mut later: Vec<PendingMembership> = Vec::new();
        let mut chunk = ChunkState::default();
        for (index, plan) in plans.iter().enumerate() {
            let ids = || plan_ids(plan, &groups);
            match plan.fields {
                FieldsOutcome::SkippedDefaultOrgMismatch => {
                    self.report.users.fields_skipped_default_org_mismatch += 1
                }
                FieldsOutcome::Unchanged | FieldsOutcome::Written | FieldsOutcome::Created => {}
            }
            let present = plan
                .memberships
                .values()
                .filter(|(o, _)| *o == MembershipOutcome::AlreadyPresent)
                .count();
            self.report.memberships.already_present += present as u64;
            let mut user_written = false;
            for note in &plan.notes {
                if let Some(text) = describe_note(note, &plan.user, &org_name) {
                    self.plan_line(text, vec![note.rule], ids());
                }
            }
            for action in &plan.actions {
                self.plan_line(describe_action(action, &org_name), action.rules(), ids());
                match action {
                    Action::CreateUser {
                        email,
                        fields,
                        organization,
                        ..
                    } => {
                        user_written = true;
                        creates.push((
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
                            Ok(update) => updates.push((WriteKey::User(index), update)),
                            Err(message) => {
                                self.report.users.failed += 1;
                                self.report.error(plan.syncing.id.to_string(), &message);
                                chunk.fail(&plan.syncing.id, kind, Some(&plan.email), &message);
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
                        if *rule == Rule::SecondaryRelationship && defer_secondary {
                            deferred.push(pending);
                        } else if matches!(user, UserRef::New(_)) {
                            later.push(pending);
                        } else {
                            now.push(pending);
                        }
                    }
                }
            }
            if !user_written && matches!(plan.user, UserRef::Existing(_)) {
                self.report.users.unchanged += 1;
            }
        }

        // Write: users and existing users' memberships in one round, then the memberships of
        // the users just created.
        match self.writer.as_mut() {
            None => {
                self.report.users.created += creates.len() as u64;
                self.report.users.updated += updates.len() as u64;
                self.report.memberships.created += (now.len() + later.len()) as u64;
            }
            Some(writer) => {
                let mut round = Round::default();
                writer.create_users(&mut round, creates).await?;
                writer.update_users(&mut round, updates).await?;
                let memberships_now: Vec<(WriteKey, NewMembership)> = now
                    .into_iter()
                    .filter_map(|m| Some((new_membership(&m)?, m)))
                    .map(|(nm, m)| (WriteKey::Membership(m), nm))
                    .collect();
                writer
                    .create_memberships(&mut round, memberships_now)
                    .await?;
                let outcomes = writer.finish(round).await?;
                let mut created: HashMap<Email, UserId> = HashMap::new();
                for (key, outcome) in outcomes {
                    match key {
                        WriteKey::User(index) => {
                            let plan = &plans[index];
                            let is_create = matches!(plan.user, UserRef::New(_));
                            match outcome {
                                Outcome::Done(id) => {
                                    if is_create {
                                        self.report.users.created += 1;
                                        if let Some(id) = id {
                                            created.insert(plan.email.clone(), UserId(id));
                                        }
                                    } else {
                                        self.report.users.updated += 1;
                                    }
                                }
                                Outcome::AlreadyPresent => self.report.users.unchanged += 1,
                                Outcome::Failed(message) => {
                                    self.report.users.failed += 1;
                                    self.report.error(plan.syncing.id.to_string(), &message);
                                    chunk.fail(&plan.syncing.id, kind, Some(&plan.email), &message);
                                }
                            }
                        }
                        WriteKey::Membership(m) => self.count_membership(&m, outcome, &mut chunk),
                    }
                }
                let resolved: Vec<PendingMembership> = later
                    .into_iter()
                    .filter_map(|mut m| {
                        let UserRef::New(email) = &m.user else {
                            return Some(m);
                        };
                        m.user = UserRef::Existing(*created.get(email)?);
                        Some(m)
                    })
                    .collect();
                self.write_memberships(resolved, &mut chunk).await?;
                created_users.extend(created);
            }
        }

        // Commit the chunk: remembered syncing records, failures, successes.
        if self.writer.is_some() {
            let syncing: Vec<(String, String)> = plans
                .iter()
                .map(|p| (p.email.to_string(), p.syncing.id.to_string()))
                .collect();
            let succeeded: Vec<String> = groups
                .iter()
                .flat_map(|g| g.people.iter().map(|p| p.id.to_string()))
                .chain(relations.iter().map(|r| r.id.to_string()))
                .filter(|id| !chunk.failed_ids.contains(id))
                .collect();
            let zendesk_users: Vec<(String, u64)> = plans
                .iter()
                .filter_map(|p| {
                    let id = match &p.user {
                        UserRef::Existing(id) => *id,
                        UserRef::New(email) => *created_users.get(email)?,
                    };
                    Some((p.email.to_string(), id.0))
                })
                .collect();
            state.transaction(|tx| {
                tx.set_syncing_records(&syncing)?;
                tx.set_zendesk_users(&zendesk_users)?;
                tx.record_failures(&chunk.failures)?;
                tx.clear_failures(&succeeded)?;
                Ok(())
            })?;
        }
        Ok(groups.len() as u64)
    }

    async fn write_memberships(
        &mut self,
        memberships: Vec<PendingMembership>,
        chunk: &mut ChunkState,
    ) -> Result<(), SyncError> {
        let Some(writer) = self.writer.as_mut() else {
            self.report.memberships.created += memberships.len() as u64;
            return Ok(());
        };
        if memberships.is_empty() {
            return Ok(());
        }
        let items: Vec<(WriteKey, NewMembership)> = memberships
            .into_iter()
            .filter_map(|m| Some((new_membership(&m)?, m)))
            .map(|(nm, m)| (WriteKey::Membership(m), nm))
            .collect();
        let mut round = Round::default();
        writer.create_memberships(&mut round, items).await?;
        for (key, outcome) in writer.finish(round).await? {
            if let WriteKey::Membership(m) = key {
                self.count_membership(&m, outcome, chunk);
            }
        }
        Ok(())
    }

    fn count_membership(
        &mut self,
        membership: &PendingMembership,
        outcome: Outcome,
        chunk: &mut ChunkState,
    ) {
        match outcome {
            Outcome::Done(_) => self.report.memberships.created += 1,
            Outcome::AlreadyPresent => self.report.memberships.already_present += 1,
            Outcome::Failed(message) => {
                self.report.memberships.failed += 1;
                self.report.error(membership.source.to_string(), &message);
                chunk.fail(&membership.contact, RecordKind::Contact, None, &message);
            }
        }
    }
}

fn new_membership(m: &PendingMembership) -> Option<NewMembership> {
    let UserRef::Existing(user) = m.user else {
        return None;
    };
    let mut membership = NewMembership::new(user.0, m.organization.0);
    if m.default {
        membership.default = Some(true);
    }
    Some(membership)
}

fn to_client_object(object: PersonObject) -> salesforce_client::PersonObject {
    match object {
        PersonObject::Contact => salesforce_client::PersonObject::Contact,
        PersonObject::Lead => salesforce_client::PersonObject::Lead,
    }
}

fn plan_ids(plan: &domain::GroupPlan, groups: &[domain::EmailGroup]) -> Vec<String> {
    groups
        .iter()
        .find(|g| g.email == plan.email)
        .map(|g| g.people.iter().map(|p| p.id.to_string()).collect())
        .unwrap_or_default()
}

/// A decision not to act, as a plan line; notes that add nothing for an operator are left out.
fn describe_note(
    note: &domain::Note,
    user: &UserRef,
    org_name: &dyn Fn(OrganizationId) -> String,
) -> Option<String> {
    let who = match user {
        UserRef::Existing(id) => format!("user {id}"),
        UserRef::New(email) => format!("new user {email}"),
    };
    let org = note
        .organization
        .map(org_name)
        .unwrap_or_else(|| "organization -".to_owned());
    Some(match note.rule {
        Rule::DefaultOrgMismatch => {
            format!(
                "no write: mapped fields of {who} not synced (its default {org} is not the account's)"
            )
        }
        Rule::RespectDefaultOrganization => {
            format!("no write: default {org} of {who} kept")
        }
        Rule::OnlyAdd => format!("no write: membership of {who} in {org} kept"),
        Rule::OrganizationNotLinked => {
            format!("no write: no membership for {who}: the account has no organization in Zendesk")
        }
        Rule::InactiveRelation => {
            format!("no write: no membership for {who} in {org}: relation inactive")
        }
        _ => return None,
    })
}

fn describe_action(action: &Action, org_name: &dyn Fn(OrganizationId) -> String) -> String {
    match action {
        Action::CreateUser {
            email,
            organization,
            ..
        } => match organization {
            Some(org) => format!("create user {email} in {}", org_name(*org)),
            None => format!("create user {email}"),
        },
        Action::UpdateUser {
            user,
            fields,
            organization,
            ..
        } => {
            let mut parts: Vec<String> = fields.keys().cloned().collect();
            if let Some(org) = organization {
                parts.push(format!("organization -> {}", org_name(*org)));
            }
            format!("update user {user}: {}", parts.join(", "))
        }
        Action::AddMembership {
            user,
            organization,
            default,
            ..
        } => {
            let who = match user {
                UserRef::Existing(id) => format!("user {id}"),
                UserRef::New(email) => format!("new user {email}"),
            };
            let default = if *default { " (default)" } else { "" };
            format!("add {who} to {}{default}", org_name(*organization))
        }
    }
}
