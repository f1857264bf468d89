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
            // Generated datasets number from 1; ids minted here start far above them.
            next_id: 1_000_000_000,
            clock: MonotonicClock::new(chrono::Duration::milliseconds(1)),
        }
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
        let Some(contact) = self.contacts.get(id) else {
            return Err(not_found(id));
        };
        let before = contact.clone();
        let mut after = before.clone();
        change(&mut after);
        after.id = before.id.clone();
        let now = self.clock.now();
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

    /// Changes an account through `change` and bumps its `SystemModstamp`.
    ///
    /// # Errors
    /// [`SandboxError::Rejected`] when no account has that Id.
    pub fn update_account(
        &self,
        id: &str,
        change: impl FnOnce(&mut SfAccount),
    ) -> Result<(), SandboxError> {
        let mut inner = lock(&self.inner);
        let now = inner.data.clock.now();
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

    /// Soft-deletes a contact and its relations (visible only through `queryAll`).
    ///
    /// # Errors
    /// [`SandboxError::Rejected`] when no contact has that Id.
    pub fn delete_contact(&self, id: &str) -> Result<(), SandboxError> {
        let mut inner = lock(&self.inner);
        let now = inner.data.clock.now();
        let contact = inner
            .data
            .contacts
            .get_mut(id)
            .ok_or_else(|| not_found(id))?;
        contact.is_deleted = true;
        contact.system_modstamp = now;
        let relations = inner
            .data
            .relations_by_contact
            .get(id)
            .cloned()
            .unwrap_or_default();
        for rid in relations {
            if let Some(r) = inner.data.relations.get_mut(&rid) {
                r.is_deleted = true;
                r.system_modstamp = now;
            }
        }
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
