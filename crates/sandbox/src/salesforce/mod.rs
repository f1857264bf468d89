//! The Salesforce simulator: configuration, records, the shared handle and test helpers.

mod http;
mod model;
mod soql;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub use model::{SalesforceSnapshot, SfAccount, SfContact, SfLead, SfRelation, sf_id};

use crate::common::{
    FaultConfig, FaultInjector, HoldAnswers, LoggedRequest, MonotonicClock, RequestCounts, Script,
    lock, wait_for_held,
};
use crate::server::{RunningServer, bind, serve};
use crate::{Dataset, SandboxError};
use model::{Obj, Row};

/// How the Salesforce simulator behaves.
#[derive(Clone)]
pub struct SalesforceSimConfig {
    /// Connected app consumer key accepted by the token endpoint.
    pub client_id: String,
    /// Connected app consumer secret accepted by the token endpoint.
    pub client_secret: String,
    /// Setting "Contacts to Multiple Accounts"; off makes AccountContactRelation unknown.
    pub contacts_to_multiple_accounts: bool,
    /// Daily API request allocation reported in `Sforce-Limit-Info`; beyond it requests get 403.
    pub api_max: u64,
    /// Lifetime of issued access tokens.
    pub token_lifetime: Duration,
    /// Injected failures (`unavailable_rate`, `drop_rate` and `slow_rate` apply: the
    /// simulator has no writes).
    pub faults: FaultConfig,
}

impl Default for SalesforceSimConfig {
    fn default() -> Self {
        Self {
            client_id: "sfzd-sandbox".into(),
            client_secret: "sandbox-secret".into(),
            contacts_to_multiple_accounts: true,
            api_max: 1_000_000,
            token_lifetime: Duration::from_secs(2 * 3600),
            faults: FaultConfig::default(),
        }
    }
}

impl fmt::Debug for SalesforceSimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SalesforceSimConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field(
                "contacts_to_multiple_accounts",
                &self.contacts_to_multiple_accounts,
            )
            .field("api_max", &self.api_max)
            .field("token_lifetime", &self.token_lifetime)
            .field("faults", &self.faults)
            .finish()
    }
}

/// Records and indexes.
#[derive(Debug)]
pub(crate) struct Data {
    pub(crate) accounts: BTreeMap<String, SfAccount>,
    pub(crate) contacts: BTreeMap<String, SfContact>,
    pub(crate) leads: BTreeMap<String, SfLead>,
    pub(crate) relations: BTreeMap<String, SfRelation>,
    /// Contact Id -> relation Ids.
    pub(crate) relations_by_contact: HashMap<String, Vec<String>>,
    /// Lowercased email -> contact Ids.
    pub(crate) contacts_by_email: HashMap<String, Vec<String>>,
    /// The delete log `sobjects/{type}/deleted` reads: (object, Id, deleted date).
    pub(crate) deleted_log: Vec<(Obj, String, DateTime<Utc>)>,
    next_id: u64,
    clock: MonotonicClock,
}

impl soql::Parents for Data {
    fn parent(&self, object: Obj, id: &str) -> Option<&dyn Row> {
        match object {
            Obj::Account => self.accounts.get(id).map(|r| r as &dyn Row),
            Obj::Contact => self.contacts.get(id).map(|r| r as &dyn Row),
            Obj::Lead => self.leads.get(id).map(|r| r as &dyn Row),
            Obj::Relation => self.relations.get(id).map(|r| r as &dyn Row),
        }
    }
}

impl Data {
    fn new() -> Self {
        Self {
            accounts: BTreeMap::new(),
            contacts: BTreeMap::new(),
            leads: BTreeMap::new(),
            relations: BTreeMap::new(),
            relations_by_contact: HashMap::new(),
            contacts_by_email: HashMap::new(),
            deleted_log: Vec::new(),
            // Generated datasets number from 1; ids minted here start far above them.
            next_id: 1_000_000_000,
            clock: MonotonicClock::new(chrono::Duration::milliseconds(1)),
        }
    }

    /// "Now" as the records' stamps see it.
    pub(crate) fn clock_latest(&self) -> DateTime<Utc> {
        self.clock.latest()
    }

    fn mint(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        sf_id(prefix, self.next_id)
    }

    /// Fills an empty Id and epoch dates; keeps given ones (datasets carry their own).
    fn stamp(
        &mut self,
        id: &mut String,
        prefix: &str,
        created: &mut DateTime<Utc>,
        modstamp: &mut DateTime<Utc>,
    ) {
        if id.is_empty() {
            *id = self.mint(prefix);
        }
        if *created == DateTime::UNIX_EPOCH {
            *created = self.clock.now();
        }
        if *modstamp == DateTime::UNIX_EPOCH || *modstamp < *created {
            *modstamp = *created;
        }
        self.clock.observe(*modstamp);
    }

    fn add_account(&mut self, mut a: SfAccount) -> String {
        self.stamp(
            &mut a.id,
            "001",
            &mut a.created_date,
            &mut a.system_modstamp,
        );
        let id = a.id.clone();
        self.accounts.insert(id.clone(), a);
        id
    }

    fn add_contact(&mut self, mut c: SfContact, with_direct_relation: bool) -> String {
        self.stamp(
            &mut c.id,
            "003",
            &mut c.created_date,
            &mut c.system_modstamp,
        );
        let id = c.id.clone();
        if let Some(email) = &c.email {
            self.contacts_by_email
                .entry(email.trim().to_lowercase())
                .or_default()
                .push(id.clone());
        }
        if let (Some(account), true) = (c.account_id.clone(), with_direct_relation) {
            let mut r = SfRelation::indirect(&account, &id, true);
            r.is_direct = true;
            r.created_date = c.created_date;
            r.system_modstamp = c.system_modstamp;
            self.add_relation(r);
        }
        self.contacts.insert(id.clone(), c);
        id
    }

    fn add_lead(&mut self, mut l: SfLead) -> String {
        self.stamp(
            &mut l.id,
            "00Q",
            &mut l.created_date,
            &mut l.system_modstamp,
        );
        let id = l.id.clone();
        self.leads.insert(id.clone(), l);
        id
    }

    fn add_relation(&mut self, mut r: SfRelation) -> String {
        self.stamp(
            &mut r.id,
            "07k",
            &mut r.created_date,
            &mut r.system_modstamp,
        );
        let id = r.id.clone();
        self.relations_by_contact
            .entry(r.contact_id.clone())
            .or_default()
            .push(id.clone());
        self.relations.insert(id.clone(), r);
        id
    }

    /// Applies `change` to a contact, bumps `SystemModstamp`, and keeps the direct
    /// relation in step with `AccountId` (the old direct relation stays as an indirect one).
    fn update_contact(
        &mut self,
        id: &str,
        change: impl FnOnce(&mut SfContact),
    ) -> Result<(), SandboxError> {
        self.update_contact_stamped(id, None, change)
    }

    /// [`Data::update_contact`] with the stamp of the transaction that made the change:
    /// `None` is "now"; `Some(t)` keeps `t` even when it is older than records written
    /// since, as when a long transaction commits late.
    fn update_contact_stamped(
        &mut self,
        id: &str,
        stamp: Option<DateTime<Utc>>,
        change: impl FnOnce(&mut SfContact),
    ) -> Result<(), SandboxError> {
        let Some(contact) = self.contacts.get(id) else {
            return Err(not_found(id));
        };
        let before = contact.clone();
        let mut after = before.clone();
        change(&mut after);
        after.id = before.id.clone();
        let now = match stamp {
            Some(t) => t,
            None => self.clock.now(),
        };
        after.system_modstamp = now;
        if before.email != after.email {
            if let Some(old) = &before.email
                && let Some(list) = self.contacts_by_email.get_mut(&old.trim().to_lowercase())
            {
                list.retain(|c| c != id);
            }
            if let Some(new) = &after.email {
                self.contacts_by_email
                    .entry(new.trim().to_lowercase())
                    .or_default()
                    .push(id.to_owned());
            }
        }
        if before.account_id != after.account_id {
            self.move_direct_relation(id, after.account_id.as_deref(), now);
        }
        self.contacts.insert(id.to_owned(), after);
        Ok(())
    }

    fn move_direct_relation(
        &mut self,
        contact_id: &str,
        new_account: Option<&str>,
        now: DateTime<Utc>,
    ) {
        let ids = self
            .relations_by_contact
            .get(contact_id)
            .cloned()
            .unwrap_or_default();
        let mut target_exists = false;
        for rid in &ids {
            if let Some(r) = self.relations.get_mut(rid) {
                if r.is_deleted {
                    continue;
                }
                let is_target = Some(r.account_id.as_str()) == new_account;
                if r.is_direct && !is_target {
                    r.is_direct = false;
                    r.system_modstamp = now;
                } else if is_target {
                    target_exists = true;
                    if !r.is_direct || !r.is_active {
                        r.is_direct = true;
                        r.is_active = true;
                        r.system_modstamp = now;
                    }
                }
            }
        }
        if let (Some(account), false) = (new_account, target_exists) {
            let mut r = SfRelation::indirect(account, contact_id, true);
            r.is_direct = true;
            r.created_date = now;
            r.system_modstamp = now;
            self.add_relation(r);
        }
    }
}

/// `n` Ids of `pool` not yet in `chosen` (fewer when the pool runs out), drawn with `rng`
/// and added to `chosen`.
fn sample_fresh(
    pool: &[String],
    n: usize,
    rng: &mut StdRng,
    chosen: &mut std::collections::BTreeSet<String>,
) -> Vec<String> {
    let fresh: Vec<&String> = pool.iter().filter(|id| !chosen.contains(*id)).collect();
    let picked = rand::seq::index::sample(rng, fresh.len(), n.min(fresh.len()));
    let out: Vec<String> = picked.into_iter().map(|k| fresh[k].clone()).collect();
    chosen.extend(out.iter().cloned());
    out
}

fn not_found(id: &str) -> SandboxError {
    SandboxError::Rejected {
        code: "NOT_FOUND".into(),
        description: format!("no record with Id {id}"),
    }
}

/// An open query result: Ids in result order, read page by page through `nextRecordsUrl`.
#[derive(Debug)]
struct Cursor {
    query: Arc<soql::Query>,
    ids: Vec<String>,
    batch: usize,
}

/// Open query cursors per user: Salesforce keeps 10 and deletes the oldest when an
/// eleventh is opened; a locator of a deleted cursor answers `INVALID_QUERY_LOCATOR`.
const MAX_CURSORS: usize = 10;

#[derive(Debug)]
struct Inner {
    config: SalesforceSimConfig,
    base_url: String,
    data: Data,
    tokens: HashMap<String, Instant>,
    next_token: u64,
    cursors: HashMap<String, Cursor>,
    cursor_order: VecDeque<String>,
    next_cursor: u64,
    api_used: u64,
    faults: FaultInjector,
    counts: RequestCounts,
    log: Vec<LoggedRequest>,
    /// Events tests script on the request sequence.
    script: Script,
}

/// The contacts [`SalesforceSim::delete_and_readdress`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Churn {
    /// Contacts moved to the Recycle Bin.
    pub deleted: Vec<String>,
    /// Contacts whose `Email` changed.
    pub readdressed: Vec<String>,
}

impl Inner {
    /// Moves a contact and its relations to the Recycle Bin and logs the deletions; an
    /// unknown or already deleted contact is left alone.
    fn delete_contact_locked(&mut self, id: &str) {
        let now = self.data.clock.now();
        let Some(contact) = self.data.contacts.get_mut(id) else {
            return;
        };
        if contact.is_deleted {
            return;
        }
        contact.is_deleted = true;
        contact.system_modstamp = now;
        self.data
            .deleted_log
            .push((Obj::Contact, id.to_owned(), now));
        let relations = self
            .data
            .relations_by_contact
            .get(id)
            .cloned()
            .unwrap_or_default();
        for rid in relations {
            if let Some(r) = self.data.relations.get_mut(&rid)
                && !r.is_deleted
            {
                r.is_deleted = true;
                r.system_modstamp = now;
                self.data.deleted_log.push((Obj::Relation, rid, now));
            }
        }
    }
}

/// Handle to a simulated Salesforce org; clones share the same state.
#[derive(Debug, Clone)]
pub struct SalesforceSim {
    inner: Arc<Mutex<Inner>>,
}

impl SalesforceSim {
    /// A simulator with no records; call [`SalesforceSim::serve`] to listen.
    pub fn new(config: SalesforceSimConfig) -> Self {
        let inner = Inner {
            faults: FaultInjector::new(config.faults.clone()),
            config,
            base_url: String::new(),
            data: Data::new(),
            tokens: HashMap::new(),
            next_token: 1,
            cursors: HashMap::new(),
            cursor_order: VecDeque::new(),
            next_cursor: 1,
            api_used: 0,
            counts: RequestCounts::default(),
            log: Vec::new(),
            script: Script::new(),
        };
        Self {
            inner: Arc::new(Mutex::new(inner)),
        }
    }

    /// Creates a simulator and serves it on `127.0.0.1:0`.
    ///
    /// # Errors
    /// [`SandboxError::Bind`] when no local port can be bound.
    pub async fn start(config: SalesforceSimConfig) -> Result<(Self, RunningServer), SandboxError> {
        let sim = Self::new(config);
        let server = sim.serve().await?;
        Ok((sim, server))
    }

    /// Serves this simulator on `127.0.0.1:0`; its URL becomes the token's `instance_url`.
    ///
    /// # Errors
    /// [`SandboxError::Bind`] when no local port can be bound.
    pub async fn serve(&self) -> Result<RunningServer, SandboxError> {
        let (listener, url) = bind().await?;
        lock(&self.inner).base_url = url.clone();
        let router = Router::new()
            .fallback(http::handle)
            .with_state(self.clone());
        Ok(serve(listener, url, router))
    }

    /// Serves this simulator like [`SalesforceSim::serve`], its router passed through `wrap` first
    /// (the recording layer of `crate::recording` uses it).
    pub(crate) async fn serve_wrapped(
        &self,
        wrap: impl FnOnce(Router) -> Router,
    ) -> Result<RunningServer, SandboxError> {
        let (listener, url) = bind().await?;
        lock(&self.inner).base_url = url.clone();
        let router = Router::new()
            .fallback(http::handle)
            .with_state(self.clone());
        Ok(serve(listener, url, wrap(router)))
    }

    /// Base URL of the running server (empty before [`SalesforceSim::serve`]).
    pub fn base_url(&self) -> String {
        lock(&self.inner).base_url.clone()
    }

    /// Adds an account; returns its Id (minted when empty).
    pub fn add_account(&self, account: SfAccount) -> String {
        lock(&self.inner).data.add_account(account)
    }

    /// Adds a contact and, when it has an `AccountId`, its direct AccountContactRelation.
    pub fn add_contact(&self, contact: SfContact) -> String {
        lock(&self.inner).data.add_contact(contact, true)
    }

    /// Adds a lead; returns its Id.
    pub fn add_lead(&self, lead: SfLead) -> String {
        lock(&self.inner).data.add_lead(lead)
    }

    /// Adds an AccountContactRelation; returns its Id.
    pub fn add_relation(&self, relation: SfRelation) -> String {
        lock(&self.inner).data.add_relation(relation)
    }

    /// Changes a contact through `change` and bumps its `SystemModstamp` to a new "now".
    /// A changed `AccountId` moves the direct relation; the old one stays as indirect.
    ///
    /// # Errors
    /// [`SandboxError::Rejected`] when no contact has that Id.
    pub fn update_contact(
        &self,
        id: &str,
        change: impl FnOnce(&mut SfContact),
    ) -> Result<(), SandboxError> {
        lock(&self.inner).data.update_contact(id, change)
    }

    /// Changes a contact through `change` as a transaction stamped `system_modstamp` would:
    /// the record gets exactly that `SystemModstamp`, even when it is older than records
    /// already written (and read) since. Salesforce stamps a record when its transaction
    /// starts, so a long transaction commits changes that look older than what a reader
    /// has already seen; incremental reads must look back to find them.
    ///
    /// # Errors
    /// [`SandboxError::Rejected`] when no contact has that Id.
    pub fn update_contact_at(
        &self,
        id: &str,
        system_modstamp: DateTime<Utc>,
        change: impl FnOnce(&mut SfContact),
    ) -> Result<(), SandboxError> {
        lock(&self.inner)
            .data
            .update_contact_stamped(id, Some(system_modstamp), change)
    }

    /// Gives a contact a new `Email` (a re-addressed contact), bumping `SystemModstamp`.
    ///
    /// # Errors
    /// [`SandboxError::Rejected`] when no contact has that Id.
    pub fn set_contact_email(&self, id: &str, email: Option<&str>) -> Result<(), SandboxError> {
        let email = email.map(str::to_owned);
        self.update_contact(id, move |c| c.email = email)
    }

    /// The most recent `SystemModstamp` of any record, as a reader that has just read
    /// everything would have seen it.
    pub fn latest_modstamp(&self) -> Option<DateTime<Utc>> {
        let inner = lock(&self.inner);
        let d = &inner.data;
        d.accounts
            .values()
            .map(|r| r.system_modstamp)
            .chain(d.contacts.values().map(|r| r.system_modstamp))
            .chain(d.leads.values().map(|r| r.system_modstamp))
            .chain(d.relations.values().map(|r| r.system_modstamp))
            .max()
    }

    /// Changes an account through `change` and bumps its `SystemModstamp`.
    ///
    /// # Errors
    /// [`SandboxError::Rejected`] when no account has that Id.
    pub fn update_account(
        &self,
        id: &str,
        change: impl FnOnce(&mut SfAccount),
    ) -> Result<(), SandboxError> {
        self.update_account_stamped(id, None, change)
    }

    /// Changes an account as a transaction stamped `system_modstamp` would (a late commit,
    /// see [`SalesforceSim::update_contact_at`]).
    ///
    /// # Errors
    /// [`SandboxError::Rejected`] when no account has that Id.
    pub fn update_account_at(
        &self,
        id: &str,
        system_modstamp: DateTime<Utc>,
        change: impl FnOnce(&mut SfAccount),
    ) -> Result<(), SandboxError> {
        self.update_account_stamped(id, Some(system_modstamp), change)
    }

    /// Changes a lead through `change` and bumps its `SystemModstamp` (to
    /// `system_modstamp` when given: a late commit, see [`SalesforceSim::update_contact_at`]).
    ///
    /// # Errors
    /// [`SandboxError::Rejected`] when no lead has that Id.
    pub fn update_lead(
        &self,
        id: &str,
        system_modstamp: Option<DateTime<Utc>>,
        change: impl FnOnce(&mut SfLead),
    ) -> Result<(), SandboxError> {
        let mut inner = lock(&self.inner);
        let now = match system_modstamp {
            Some(t) => t,
            None => inner.data.clock.now(),
        };
        let lead = inner.data.leads.get_mut(id).ok_or_else(|| not_found(id))?;
        change(lead);
        lead.id = id.to_owned();
        lead.system_modstamp = now;
        Ok(())
    }

    fn update_account_stamped(
        &self,
        id: &str,
        system_modstamp: Option<DateTime<Utc>>,
        change: impl FnOnce(&mut SfAccount),
    ) -> Result<(), SandboxError> {
        let mut inner = lock(&self.inner);
        let now = match system_modstamp {
            Some(t) => t,
            None => inner.data.clock.now(),
        };
        let account = inner
            .data
            .accounts
            .get_mut(id)
            .ok_or_else(|| not_found(id))?;
        change(account);
        account.id = id.to_owned();
        account.system_modstamp = now;
        Ok(())
    }

    /// Bumps `SystemModstamp` of the given contacts without changing anything else.
    pub fn touch_contacts(&self, ids: &[String]) {
        let mut inner = lock(&self.inner);
        for id in ids {
            let now = inner.data.clock.now();
            if let Some(c) = inner.data.contacts.get_mut(id) {
                c.system_modstamp = now;
            }
        }
    }

    /// Soft-deletes a contact and its relations: they move to the Recycle Bin (`IsDeleted =
    /// true`, a new `SystemModstamp`), only `queryAll` returns them, and the contact is
    /// listed by `sobjects/Contact/deleted`. Deleting a deleted contact changes nothing.
    ///
    /// # Errors
    /// [`SandboxError::Rejected`] when no contact has that Id.
    pub fn delete_contact(&self, id: &str) -> Result<(), SandboxError> {
        let mut inner = lock(&self.inner);
        if !inner.data.contacts.contains_key(id) {
            return Err(not_found(id));
        }
        inner.delete_contact_locked(id);
        Ok(())
    }

    /// Soft-deletes a lead (Recycle Bin: only `queryAll` returns it; listed by
    /// `sobjects/Lead/deleted`). Deleting a deleted lead changes nothing.
    ///
    /// # Errors
    /// [`SandboxError::Rejected`] when no lead has that Id.
    pub fn delete_lead(&self, id: &str) -> Result<(), SandboxError> {
        let mut inner = lock(&self.inner);
        let now = inner.data.clock.now();
        let lead = inner.data.leads.get_mut(id).ok_or_else(|| not_found(id))?;
        if lead.is_deleted {
            return Ok(());
        }
        lead.is_deleted = true;
        lead.system_modstamp = now;
        inner.data.deleted_log.push((Obj::Lead, id.to_owned(), now));
        Ok(())
    }

    /// A copy of one contact.
    pub fn contact(&self, id: &str) -> Option<SfContact> {
        lock(&self.inner).data.contacts.get(id).cloned()
    }

    /// Copies of all records.
    pub fn snapshot(&self) -> SalesforceSnapshot {
        let inner = lock(&self.inner);
        SalesforceSnapshot {
            accounts: inner.data.accounts.values().cloned().collect(),
            contacts: inner.data.contacts.values().cloned().collect(),
            leads: inner.data.leads.values().cloned().collect(),
            relations: inner.data.relations.values().cloned().collect(),
        }
    }

    /// Invalidates every issued token (the next API call answers 401 `INVALID_SESSION_ID`).
    pub fn expire_tokens(&self) {
        lock(&self.inner).tokens.clear();
    }

    /// Holds back the answers `hold` names until [`SalesforceSim::release_answers`]: the
    /// requests are processed, their answers wait. Replaces an earlier hold.
    pub fn hold_answers(&self, hold: HoldAnswers) {
        lock(&self.inner).script.hold(hold);
    }

    /// Holds no further answers; those already held wait for
    /// [`SalesforceSim::release_answers`].
    pub fn stop_holding(&self) {
        lock(&self.inner).script.stop_holding();
    }

    /// Sends every held answer and holds no more.
    pub fn release_answers(&self) {
        lock(&self.inner).script.release();
    }

    /// Returns once an answer is held since the last [`SalesforceSim::hold_answers`].
    pub async fn answer_held(&self) {
        let held = lock(&self.inner).script.held();
        wait_for_held(held, 1).await;
    }

    /// Answers held since the last [`SalesforceSim::hold_answers`].
    pub fn held_answers(&self) -> u64 {
        *lock(&self.inner).script.held().borrow()
    }

    /// From now on, forgets every issued token after each `answered`-th API request
    /// answered 200: sessions expire mid-run at exact points, whatever the timing.
    pub fn expire_tokens_every(&self, answered: u64) {
        lock(&self.inner).script.expire_tokens_every(answered);
    }

    /// Turns "Contacts to Multiple Accounts" on or off.
    pub fn set_contacts_to_multiple_accounts(&self, enabled: bool) {
        lock(&self.inner).config.contacts_to_multiple_accounts = enabled;
    }

    /// API requests counted against the daily allocation so far.
    pub fn api_usage(&self) -> u64 {
        lock(&self.inner).api_used
    }

    /// Request counters since start or the last [`SalesforceSim::reset_counts`].
    pub fn counts(&self) -> RequestCounts {
        lock(&self.inner).counts.clone()
    }

    /// Every request seen since start or the last [`SalesforceSim::reset_counts`].
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        lock(&self.inner).log.clone()
    }

    /// Clears counters and the request log (the API usage counter keeps counting).
    pub fn reset_counts(&self) {
        let mut inner = lock(&self.inner);
        inner.counts = RequestCounts::default();
        inner.log.clear();
    }

    /// Loads the dataset's Salesforce side. Relations in the dataset are taken as given
    /// (the generator includes each contact's direct relation).
    pub fn load(&self, dataset: &Dataset) {
        let mut inner = lock(&self.inner);
        for a in &dataset.accounts {
            inner.data.add_account(a.clone());
        }
        for c in &dataset.contacts {
            inner.data.add_contact(c.clone(), false);
        }
        for l in &dataset.leads {
            inner.data.add_lead(l.clone());
        }
        for r in &dataset.relations {
            inner.data.add_relation(r.clone());
        }
    }

    /// Deletes `deleted_fraction` and re-addresses `readdressed_fraction` of the live
    /// contacts, chosen by `seed` (the same seed and data give the same choice), as happens
    /// between two runs in a real org. Deletions prefer contacts that share their email
    /// with others, half of them the group's first-created one (the syncing record, whose
    /// role another contact must take over). A re-addressed contact gets either a new
    /// address of its own or, every other time, the address of another live contact
    /// (joining that group). Returns the Ids of each kind, in Id order.
    pub fn delete_and_readdress(
        &self,
        deleted_fraction: f64,
        readdressed_fraction: f64,
        seed: u64,
    ) -> Churn {
        let mut inner = lock(&self.inner);
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5EED_DE1E);
        let live: Vec<(String, Option<String>, DateTime<Utc>)> = inner
            .data
            .contacts
            .values()
            .filter(|c| !c.is_deleted)
            .map(|c| {
                (
                    c.id.clone(),
                    c.email.as_ref().map(|e| e.trim().to_lowercase()),
                    c.created_date,
                )
            })
            .collect();
        let mut groups: BTreeMap<String, Vec<(DateTime<Utc>, String)>> = BTreeMap::new();
        for (id, email, created) in &live {
            if let Some(email) = email.as_ref().filter(|e| !e.is_empty()) {
                groups
                    .entry(email.clone())
                    .or_default()
                    .push((*created, id.clone()));
            }
        }
        let mut shared: Vec<String> = Vec::new();
        let mut firsts: Vec<String> = Vec::new();
        for members in groups.values_mut().filter(|m| m.len() > 1) {
            members.sort();
            firsts.push(members[0].1.clone());
            shared.extend(members.iter().skip(1).map(|(_, id)| id.clone()));
        }
        let n_deleted = ((live.len() as f64) * deleted_fraction.clamp(0.0, 1.0)).round() as usize;
        let n_readdressed =
            ((live.len() as f64) * readdressed_fraction.clamp(0.0, 1.0)).round() as usize;
        let mut chosen: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        let all: Vec<String> = live.iter().map(|(id, _, _)| id.clone()).collect();
        let mut deleted = sample_fresh(&firsts, n_deleted / 2, &mut rng, &mut chosen);
        deleted.extend(sample_fresh(&shared, n_deleted / 4, &mut rng, &mut chosen));
        let rest = n_deleted.saturating_sub(deleted.len());
        deleted.extend(sample_fresh(&all, rest, &mut rng, &mut chosen));
        let readdressed = sample_fresh(&all, n_readdressed, &mut rng, &mut chosen);
        deleted.sort();
        let mut readdressed = readdressed;
        readdressed.sort();
        let stay: Vec<String> = live
            .iter()
            .filter(|(id, email, _)| email.is_some() && !chosen.contains(id))
            .filter_map(|(_, email, _)| email.clone())
            .collect();
        for id in &deleted {
            inner.delete_contact_locked(id);
        }
        for (k, id) in readdressed.iter().enumerate() {
            let joined = (k % 2 == 1 && !stay.is_empty())
                .then(|| stay[rng.random_range(0..stay.len())].clone());
            let email = joined
                .unwrap_or_else(|| format!("moved.{}@readdressed.example.org", id.to_lowercase()));
            let _ = inner.data.update_contact(id, |c| c.email = Some(email));
        }
        Churn {
            deleted,
            readdressed,
        }
    }

    /// Changes `fraction` of the live contacts, chosen by `seed`: most get a new Title and
    /// Phone, about a quarter move to another account. Returns the changed Ids in order.
    pub fn change_fraction(&self, fraction: f64, seed: u64) -> Vec<String> {
        let mut inner = lock(&self.inner);
        let mut rng = StdRng::seed_from_u64(seed);
        let ids: Vec<String> = inner
            .data
            .contacts
            .values()
            .filter(|c| !c.is_deleted)
            .map(|c| c.id.clone())
            .collect();
        let accounts: Vec<String> = inner.data.accounts.keys().cloned().collect();
        let wanted = ((ids.len() as f64) * fraction.clamp(0.0, 1.0)).round() as usize;
        let mut chosen = rand::seq::index::sample(&mut rng, ids.len(), wanted).into_vec();
        chosen.sort_unstable();
        let mut changed = Vec::with_capacity(wanted);
        for index in chosen {
            let id = &ids[index];
            let move_account = !accounts.is_empty() && rng.random_bool(0.25);
            let new_account = if move_account {
                Some(accounts[rng.random_range(0..accounts.len())].clone())
            } else {
                None
            };
            let title =
                crate::generator::TITLES[rng.random_range(0..crate::generator::TITLES.len())];
            let phone = format!("+1 555 {:04}", rng.random_range(0..10_000));
            let result = inner.data.update_contact(id, |c| {
                if let Some(account) = new_account {
                    c.account_id = Some(account);
                } else {
                    c.title = Some(title.to_owned());
                    c.phone = Some(phone);
                }
            });
            if result.is_ok() {
                changed.push(id.clone());
            }
        }
        changed
    }
}
