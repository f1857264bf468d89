//! The accounts phase (rule 5, E9): accounts become organizations before any contact is
//! synced, and [`OrganizationLinks`] remembers for the rest of the run which account has
//! which organization, looking up the ones it has not seen yet.

use std::collections::{BTreeSet, HashMap, HashSet};

use domain::{
    OrganizationAction, OrganizationDecision, OrganizationId, OrganizationIndex,
    OrganizationPlanner, SalesforceId,
};
use futures::TryStreamExt;
use salesforce_client::{queries, query_stream_many, reads};
use zendesk_client::{NewOrganization, OrganizationUpdate, ZendeskError, ZendeskRead, stream};

use crate::describe::describe_org_action;
use crate::mapping;
use crate::run::{Run, SyncError, max_stamp};
use crate::staging::Staging;
use crate::state::{NewFailure, RecordKind, StateStore, Watermark};
use crate::writing::{Batch, Outcome};

/// Which account has which organization, as far as this run knows.
#[derive(Debug, Default)]
pub(crate) struct OrganizationLinks {
    /// Account to organization, for accounts known to be linked.
    links: HashMap<SalesforceId, OrganizationId>,
    /// Accounts whose organization was looked up (linked or not).
    looked_up: HashSet<SalesforceId>,
    /// Accounts whose organization this run created or linked.
    pub(crate) newly_linked: Vec<SalesforceId>,
    /// The whole organization list was read: no account needs a lookup.
    all_known: bool,
    /// Accounts whose organization write failed in this run: their contacts wait for the
    /// next run rather than being synced as if the account had no organization.
    pub(crate) failed: HashSet<SalesforceId>,
    /// Organizations this run created, for plan lines ("the new organization of ...").
    pub(crate) created: HashMap<OrganizationId, SalesforceId>,
}

impl OrganizationLinks {
    /// The links, as the rules read them.
    pub(crate) fn map(&self) -> &HashMap<SalesforceId, OrganizationId> {
        &self.links
    }

    pub(crate) fn get(&self, account: &SalesforceId) -> Option<OrganizationId> {
        self.links.get(account).copied()
    }

    fn insert(&mut self, account: SalesforceId, organization: OrganizationId) {
        self.links.insert(account, organization);
    }

    /// Remembers the account an organization carries as its external id.
    pub(crate) fn remember(&mut self, org: &zendesk_client::Organization) {
        if let Some(account) = org
            .external_id
            .as_deref()
            .and_then(|e| SalesforceId::parse(e).ok())
        {
            self.links.insert(account.clone(), OrganizationId(org.id));
            self.looked_up.insert(account);
        }
    }

    /// How a plan line names an organization.
    pub(crate) fn name(&self, organization: OrganizationId) -> String {
        match self.created.get(&organization) {
            Some(account) => format!("the new organization of account {account}"),
            None => format!("organization {organization}"),
        }
    }

    /// Looks up, 100 external ids a call, the organizations of accounts not yet known.
    ///
    /// # Errors
    /// The lookup's error.
    pub(crate) async fn ensure<'x>(
        &mut self,
        zendesk: &dyn ZendeskRead,
        accounts: impl Iterator<Item = &'x SalesforceId>,
    ) -> Result<(), ZendeskError> {
        if self.all_known {
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
        for org in zendesk
            .show_many_organizations_by_external_ids(&ids)
            .await?
        {
            self.remember(&org);
        }
        self.looked_up.extend(missing);
        Ok(())
    }
}

/// Whether a refused organization create says its name is taken.
fn name_taken(message: &str) -> bool {
    let message = message.to_lowercase();
    message.contains("name") && message.contains("already been taken")
}

/// What a write of the accounts phase is for.
#[derive(Debug, Clone)]
struct OrgWrite {
    account: SalesforceId,
    /// The organization the write updates or links; `None` for a create.
    organization: Option<OrganizationId>,
    /// What a create sent, to link the organization found instead when Zendesk says the
    /// name is taken.
    created_with: Option<CreatedWith>,
}

/// A create's fields, kept as JSON text while its job runs: a few dozen bytes instead of a
/// map per account, since every create of a large first run is in flight at some point.
#[derive(Debug, Clone)]
struct CreatedWith(Box<str>);

impl From<&domain::FieldValues> for CreatedWith {
    fn from(fields: &domain::FieldValues) -> Self {
        Self(
            serde_json::to_string(fields)
                .unwrap_or_default()
                .into_boxed_str(),
        )
    }
}

impl CreatedWith {
    fn fields(&self) -> domain::FieldValues {
        serde_json::from_str(&self.0).unwrap_or_default()
    }
}

impl Run<'_, '_> {
    /// Reads the accounts to consider, plans them with [`plan_organizations`] and writes the
    /// organizations in bulk; the account watermark moves once every write is confirmed.
    pub(crate) async fn accounts_phase(&mut self, state: &mut StateStore) -> Result<(), SyncError> {
        let since = self.read_since(state, Watermark::Accounts)?;
        // The accounts are staged on disk and planned a page at a time in Id order, so a
        // large org's accounts are never all in memory.
        let mut staging = Staging::new()?;
        let stamp = self.stage_accounts(state, since, &mut staging).await?;
        let total = staging.account_count()?;
        self.engine.progress.phase("organizations", Some(total));

        let mut index = OrganizationIndex::default();
        let indexed_all = self.full() && self.index_all_organizations(&mut index).await?;
        // Accounts are planned a thousand at a time and their writes submitted as they are
        // planned, so neither the accounts nor the planned organizations are all in memory.
        const SUBMIT_EVERY: usize = 1000;
        let progress = self.engine.progress.clone();
        self.writer.begin_item_progress();
        let mut batch = Batch::default();
        let mut writes = 0u64;
        let mut creates: Vec<(OrgWrite, NewOrganization)> = Vec::new();
        let mut updates: Vec<(OrgWrite, OrganizationUpdate)> = Vec::new();
        let mut planner = OrganizationPlanner::default();
        let mut after: Option<String> = None;
        let mut decisions = Vec::new().into_iter();
        loop {
            let Some(decision) = decisions.next() else {
                let Some((page, last)) = staging.next_accounts(after.as_deref(), SUBMIT_EVERY)?
                else {
                    break;
                };
                after = Some(last);
                if !indexed_all {
                    self.look_up_organizations(&page, &mut index).await?;
                }
                decisions = planner.plan(page, &index).into_iter();
                continue;
            };
            if creates.len() >= SUBMIT_EVERY {
                self.writer
                    .create_organizations(&mut batch, std::mem::take(&mut creates))
                    .await?;
            }
            if updates.len() >= SUBMIT_EVERY {
                self.writer
                    .update_organizations(&mut batch, std::mem::take(&mut updates))
                    .await?;
            }
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
                    if self.wants_plan_lines() {
                        self.plan_line(
                            describe_org_action(&action),
                            &[action.rule()],
                            vec![action.account().to_string()],
                        );
                    }
                    let (account, organization, update) = match action {
                        OrganizationAction::Create { account, fields } => {
                            let new = mapping::new_organization(&account, &fields);
                            let key = OrgWrite {
                                account,
                                organization: None,
                                created_with: Some(CreatedWith::from(&fields)),
                            };
                            creates.push((key, new));
                            writes += 1;
                            continue;
                        }
                        OrganizationAction::Update {
                            account,
                            organization,
                            fields,
                        } => {
                            self.links.insert(account.clone(), organization);
                            let update = mapping::organization_update(organization, &fields, None);
                            (account, organization, update)
                        }
                        OrganizationAction::Link {
                            account,
                            organization,
                            fields,
                        } => {
                            let update =
                                mapping::organization_update(organization, &fields, Some(&account));
                            (account, organization, update)
                        }
                    };
                    match update {
                        Ok(update) => {
                            writes += 1;
                            updates.push((
                                OrgWrite {
                                    account,
                                    organization: Some(organization),
                                    created_with: None,
                                },
                                update,
                            ));
                        }
                        Err(message) => self.fail_account(&account, &message),
                    }
                }
            }
        }
        // Accounts without a write are done; the others as their jobs finish.
        progress.advance(total.saturating_sub(writes));
        self.writer
            .create_organizations(&mut batch, creates)
            .await?;
        self.writer
            .update_organizations(&mut batch, updates)
            .await?;
        let mut failures = Vec::new();
        let mut succeeded = Vec::new();
        let mut outcomes = self.writer.finish(batch).await?;
        let advanced = self.writer.end_item_progress();
        progress.advance(writes.saturating_sub(advanced));
        // Creates refused because the name is taken may be our own, submitted again after a
        // dropped connection, or an organization created meanwhile: look them up now.
        let taken: Vec<SalesforceId> = outcomes
            .iter()
            .filter(|(w, o)| {
                w.organization.is_none() && matches!(o, Outcome::Refused(m) if name_taken(m))
            })
            .map(|(w, _)| w.account.clone())
            .collect();
        if !taken.is_empty() {
            let wanted: HashMap<SalesforceId, CreatedWith> = outcomes
                .iter()
                .filter(|(w, _)| taken.contains(&w.account))
                .filter_map(|(w, _)| Some((w.account.clone(), w.created_with.clone()?)))
                .collect();
            let resolved = self.resolve_taken_names(&wanted, &taken).await?;
            for (write, outcome) in &mut outcomes {
                if let Some(found) = resolved.get(&write.account) {
                    *outcome = found.clone();
                }
            }
        }
        for (write, outcome) in outcomes {
            let account = write.account;
            match outcome {
                Outcome::Done(id) => {
                    if write.organization.is_some() {
                        self.report.organizations.updated += 1;
                    } else {
                        self.report.organizations.created += 1;
                    }
                    if let Some(id) = id.map(OrganizationId).or(write.organization) {
                        // Only plan lines name organizations by their account, and only
                        // incremental runs read the contacts of newly linked accounts
                        // again: neither list is kept otherwise, as both grow with the org.
                        if write.organization.is_none() && self.wants_plan_lines() {
                            self.links.created.insert(id, account.clone());
                        }
                        if self.links.get(&account).is_none() && !self.full() {
                            self.links.newly_linked.push(account.clone());
                        }
                        self.links.insert(account.clone(), id);
                    }
                    succeeded.push(account.to_string());
                }
                Outcome::AlreadyPresent => succeeded.push(account.to_string()),
                Outcome::Refused(message) | Outcome::Failed(message) => {
                    self.fail_account(&account, &message);
                    failures.push(NewFailure {
                        salesforce_id: account.to_string(),
                        kind: RecordKind::Account,
                        email: None,
                        message,
                    });
                }
            }
        }
        if self.commits() {
            state.transaction(|tx| {
                tx.record_failures(&failures)?;
                tx.clear_failures(&succeeded)?;
                if let Some(stamp) = stamp {
                    tx.set_watermark(Watermark::Accounts, stamp)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Stages the accounts changed since `since` (all of them without it), plus the
    /// accounts that failed last time, and returns the newest `SystemModstamp` read.
    async fn stage_accounts(
        &mut self,
        state: &StateStore,
        since: Option<chrono::DateTime<chrono::Utc>>,
        staging: &mut Staging,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, SyncError> {
        let sf = self.engine.salesforce;
        let mapping = self.options().mapping.clone();
        let fields = mapping.account_fields();
        let filter = self.options().accounts_filter.clone();
        let mut stamp = None;
        let mut pages = Box::pin(reads::accounts(sf, &fields, filter.as_deref(), since));
        while let Some(page) = pages.try_next().await? {
            let mut accounts = Vec::with_capacity(page.len());
            for account in page {
                max_stamp(&mut stamp, account.system_modstamp);
                match mapping::account_from(&account, &mapping) {
                    Ok(account) => accounts.push(account),
                    Err(bad) => self.report.skip(bad.id, bad.reason),
                }
            }
            staging.add_accounts(&accounts)?;
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
                let accounts: Vec<domain::Account> = page
                    .iter()
                    .filter_map(|a| mapping::account_from(a, &mapping).ok())
                    .collect();
                staging.add_accounts(&accounts)?;
            }
        }
        Ok(stamp)
    }

    /// Finds the organizations of accounts whose create was refused because the name is
    /// taken: one that carries the account's Id is the one created (by an earlier
    /// submission of the same job); one with the name and no external id is linked.
    async fn resolve_taken_names(
        &mut self,
        wanted: &HashMap<SalesforceId, CreatedWith>,
        taken: &[SalesforceId],
    ) -> Result<HashMap<SalesforceId, Outcome>, SyncError> {
        let zd = self.engine.zendesk;
        let ids: Vec<String> = taken.iter().map(ToString::to_string).collect();
        let mut resolved = HashMap::new();
        for org in zd.show_many_organizations_by_external_ids(&ids).await? {
            if let Some(account) = org
                .external_id
                .as_deref()
                .and_then(|e| SalesforceId::parse(e).ok())
                .filter(|a| taken.contains(a))
            {
                resolved.insert(account, Outcome::Done(Some(org.id)));
            }
        }
        let mut links = Vec::new();
        for account in taken.iter().filter(|a| !resolved.contains_key(*a)) {
            let Some(wanted) = wanted.get(account) else {
                continue;
            };
            let fields = wanted.fields();
            let Some(name) = fields.get("name").and_then(|n| n.as_str()) else {
                continue;
            };
            let unlinked = zd
                .search_organizations_by_name(name)
                .await?
                .into_iter()
                .find(|o| {
                    o.external_id.is_none() && o.name.trim().eq_ignore_ascii_case(name.trim())
                });
            if let Some(org) = unlinked
                && let Ok(update) =
                    mapping::organization_update(OrganizationId(org.id), &fields, Some(account))
            {
                links.push((
                    OrgWrite {
                        account: account.clone(),
                        organization: Some(OrganizationId(org.id)),
                        created_with: None,
                    },
                    update,
                ));
            }
        }
        if !links.is_empty() {
            let mut batch = Batch::default();
            self.writer.update_organizations(&mut batch, links).await?;
            for (write, outcome) in self.writer.finish(batch).await? {
                let outcome = match outcome {
                    Outcome::Done(_) => Outcome::Done(write.organization.map(|o| o.0)),
                    other => other,
                };
                resolved.insert(write.account, outcome);
            }
        }
        tracing::info!(
            refused = taken.len(),
            resolved = resolved.len(),
            "organization creates refused because the name is taken (a repeated submission or an organization created meanwhile): resolved by reading them"
        );
        Ok(resolved)
    }

    fn fail_account(&mut self, account: &SalesforceId, message: &str) {
        // An update that failed leaves a linked organization; a create or a link that
        // failed leaves the account without one.
        if self.links.get(account).is_none() {
            self.links.failed.insert(account.clone());
        }
        self.report.organizations.failed += 1;
        self.report.error(account.to_string(), message);
    }

    /// Reads every organization through the export into `index` (a full run: the fewest
    /// calls for many accounts). Returns `false` when the export is not available to these
    /// credentials: the accounts' organizations are then looked up page by page.
    async fn index_all_organizations(
        &mut self,
        index: &mut OrganizationIndex,
    ) -> Result<bool, SyncError> {
        let zd = self.engine.zendesk;
        let mapping = &self.engine.options.mapping;
        let mut orgs = Box::pin(stream::organizations_export_stream(zd, None));
        let mut all = Vec::new();
        loop {
            match orgs.try_next().await {
                Ok(Some(org)) => all.push(org),
                Ok(None) => break,
                // An account without access to the export still syncs, by lookups.
                Err(ZendeskError::NotFound { .. } | ZendeskError::Forbidden { .. }) => {
                    return Ok(false);
                }
                Err(err) => return Err(err.into()),
            }
        }
        for org in &all {
            self.links.remember(org);
            index.insert(domain_organization(org, mapping));
        }
        // Every organization is known now: an account missing from the links is unlinked.
        self.links.all_known = true;
        Ok(true)
    }

    /// Adds to `index` the organizations a page of accounts' decisions depend on: by
    /// external id (100 a call), and by name for the accounts not linked yet.
    async fn look_up_organizations(
        &mut self,
        accounts: &[domain::Account],
        index: &mut OrganizationIndex,
    ) -> Result<(), SyncError> {
        let zd = self.engine.zendesk;
        let mapping = &self.engine.options.mapping;
        let ids: Vec<String> = accounts.iter().map(|a| a.id.to_string()).collect();
        for org in zd.show_many_organizations_by_external_ids(&ids).await? {
            self.links.remember(&org);
            index.insert(domain_organization(&org, mapping));
        }
        for account in accounts {
            self.links.looked_up.insert(account.id.clone());
            if index.linked(&account.id).is_some() {
                continue;
            }
            if let Some(name) = account.organization_name() {
                for org in zd.search_organizations_by_name(name).await? {
                    self.links.remember(&org);
                    index.insert(domain_organization(&org, mapping));
                }
            }
        }
        Ok(())
    }
}

fn domain_organization(
    org: &zendesk_client::Organization,
    mapping: &crate::mapping::FieldMapping,
) -> domain::Organization {
    domain::Organization {
        id: OrganizationId(org.id),
        name: org.name.clone(),
        external_id: org.external_id.clone(),
        fields: mapping::organization_fields(org, mapping),
    }
}
