//! A small world for the engine's unit tests: a Salesforce and a Zendesk built on the
//! clients' `mockall` mocks, answering from data the test gives and recording every call,
//! so a test builds the world, runs [`Engine::run`] and asserts on the report, the state
//! store and what each side received. Nothing goes over HTTP and nothing waits in real
//! time: bulk jobs are polled with a [`ManualClock`].
//!
//! - [`Salesforce`] answers SOQL by fragment (`"FROM Account"`, `"FROM Contact WHERE Id IN"`):
//!   the longest fragment contained in a statement gives its records; a statement no
//!   fragment matches gets no records. Every statement is kept in order.
//! - [`Zendesk`] holds users, organizations and memberships; bulk writes change them,
//!   answer a queued job and report the job's per-item results when polled, as Zendesk
//!   does. Writes can be refused per item ([`Zendesk::refuse`]) or all at once
//!   ([`Zendesk::down`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, TimeZone, Utc};
use domain::{PersonObject, SalesforceId, Settings};
use salesforce_client::{DeletedRecords, MockSalesforceApi, QueryPage, SalesforceError};
use serde_json::{Value, json};
use zendesk_client::{
    AccountSettings, JobResult, JobState, JobStatus, ManualClock, MockZendeskRead,
    MockZendeskWrite, NewMembership, NewUser, Organization, OrganizationExportPage,
    OrganizationMembership, OrganizationUpdate, Page, PollConfig, User, UserExportPage, UserUpdate,
    Written, ZendeskError,
};

use crate::report::ApiCalls;
use crate::run::{CallCounter, Engine, NoProgress, Progress, RunOutcome, SyncOptions};
use crate::state::StateStore;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock has failed already; keep reading.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------
// Records

/// The 18-character Salesforce Id made of `prefix` (3 characters) and `n`.
pub(crate) fn sf_id(prefix: &str, n: u32) -> String {
    SalesforceId::parse(&format!("{prefix}{n:0>12}"))
        .expect("a 15-character id")
        .to_string()
}

/// Account `n`'s Id.
pub(crate) fn account_id(n: u32) -> String {
    sf_id("001", n)
}

/// Contact `n`'s Id.
pub(crate) fn contact_id(n: u32) -> String {
    sf_id("003", n)
}

/// Lead `n`'s Id.
pub(crate) fn lead_id(n: u32) -> String {
    sf_id("00Q", n)
}

/// AccountContactRelation `n`'s Id.
pub(crate) fn relation_id(n: u32) -> String {
    sf_id("07k", n)
}

/// Midnight UTC on January `day`, 2024: the tests' `SystemModstamp`s and watermarks.
pub(crate) fn day(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, day, 0, 0, 0)
        .single()
        .expect("a valid day")
}

/// A dateTime as the Salesforce API sends it.
fn sf_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// A dateTime as a SOQL condition writes it.
pub(crate) fn soql_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// An Account record named `name`, modified on January `modified`.
pub(crate) fn account(n: u32, name: &str, modified: u32) -> Value {
    json!({
        "attributes": {"type": "Account"},
        "Id": account_id(n),
        "Name": name,
        "SystemModstamp": sf_time(day(modified)),
    })
}

/// A Contact record with `email`, on account `account` when given, created and modified
/// on January `modified` (earlier contacts win their email group).
pub(crate) fn contact(n: u32, email: &str, account: Option<u32>, modified: u32) -> Value {
    json!({
        "attributes": {"type": "Contact"},
        "Id": contact_id(n),
        "Email": email,
        "FirstName": "Contact",
        "LastName": format!("{n}"),
        "AccountId": account.map(account_id),
        "CreatedDate": sf_time(day(modified)),
        "SystemModstamp": sf_time(day(modified)),
    })
}

/// An unconverted Lead record with `email`, created and modified on January `modified`.
pub(crate) fn lead(n: u32, email: &str, modified: u32) -> Value {
    json!({
        "attributes": {"type": "Lead"},
        "Id": lead_id(n),
        "Email": email,
        "FirstName": "Lead",
        "LastName": format!("{n}"),
        "IsConverted": false,
        "CreatedDate": sf_time(day(modified)),
        "SystemModstamp": sf_time(day(modified)),
    })
}

/// An active, indirect AccountContactRelation of contact `contact` to account `account`.
pub(crate) fn relation(n: u32, contact: u32, account: u32, modified: u32) -> Value {
    json!({
        "attributes": {"type": "AccountContactRelation"},
        "Id": relation_id(n),
        "ContactId": contact_id(contact),
        "AccountId": account_id(account),
        "IsDirect": false,
        "IsActive": true,
        "SystemModstamp": sf_time(day(modified)),
    })
}

// ---------------------------------------------------------------------------------------
// Salesforce

type Hook = Arc<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct SalesforceState {
    answers: Vec<(String, Vec<Value>)>,
    failing: Vec<String>,
    hooks: Vec<(String, Hook)>,
    relations_available: bool,
    statements: Vec<String>,
    calls: u64,
}

/// A Salesforce org answering SOQL by fragment; clones share the same org.
#[derive(Clone, Default)]
pub(crate) struct Salesforce {
    state: Arc<Mutex<SalesforceState>>,
}

impl Salesforce {
    /// An org with no records where AccountContactRelation is available.
    pub(crate) fn new() -> Self {
        let org = Self::default();
        lock(&org.state).relations_available = true;
        org
    }

    /// Statements containing `fragment` (and no longer fragment given) return `records`.
    pub(crate) fn answer(self, fragment: &str, records: Vec<Value>) -> Self {
        lock(&self.state)
            .answers
            .push((fragment.to_owned(), records));
        self
    }

    /// Statements containing `fragment` fail with a server error.
    pub(crate) fn fail(self, fragment: &str) -> Self {
        lock(&self.state).failing.push(fragment.to_owned());
        self
    }

    /// Runs `hook` whenever a statement containing `fragment` is answered: an explicit
    /// event in the middle of a run (say, a stop request).
    pub(crate) fn on_query(self, fragment: &str, hook: impl Fn() + Send + Sync + 'static) -> Self {
        lock(&self.state)
            .hooks
            .push((fragment.to_owned(), Arc::new(hook)));
        self
    }

    /// Whether the org has "Contacts to Multiple Accounts" turned on.
    pub(crate) fn relations_available(self, available: bool) -> Self {
        lock(&self.state).relations_available = available;
        self
    }

    /// Every SOQL statement received, in order.
    pub(crate) fn statements(&self) -> Vec<String> {
        lock(&self.state).statements.clone()
    }

    /// The statements containing `fragment`.
    pub(crate) fn statements_with(&self, fragment: &str) -> Vec<String> {
        self.statements()
            .into_iter()
            .filter(|s| s.contains(fragment))
            .collect()
    }

    /// API calls received (queries and the relation probe).
    pub(crate) fn calls(&self) -> u64 {
        lock(&self.state).calls
    }

    /// Records a statement and answers it from the fragments `usable` allows.
    fn answer_statement(
        &self,
        soql: &str,
        usable: impl Fn(&str) -> bool,
    ) -> salesforce_client::Result<QueryPage> {
        let (answer, hooks) = {
            let mut org = lock(&self.state);
            org.calls += 1;
            org.statements.push(soql.to_owned());
            let hooks: Vec<Hook> = org
                .hooks
                .iter()
                .filter(|(f, _)| soql.contains(f.as_str()))
                .map(|(_, h)| h.clone())
                .collect();
            let answer = if org.failing.iter().any(|f| soql.contains(f.as_str())) {
                Err(SalesforceError::Server {
                    status: 503,
                    body_excerpt: "unavailable (test)".into(),
                })
            } else {
                let records = org
                    .answers
                    .iter()
                    .filter(|(f, _)| soql.contains(f.as_str()) && usable(f))
                    .max_by_key(|(f, _)| f.len())
                    .map(|(_, records)| records.clone())
                    .unwrap_or_default();
                Ok(QueryPage::last(records))
            };
            (answer, hooks)
        };
        // Hooks run without the lock: they may read the org.
        for hook in hooks {
            hook();
        }
        answer
    }

    /// A mock answering from this org. `queryAll` statements (deleted rows) are answered
    /// only by fragments naming `IsDeleted`, so a fragment such as `"FROM Contact"` never
    /// reports live contacts as deleted.
    pub(crate) fn mock(&self) -> MockSalesforceApi {
        let mut mock = MockSalesforceApi::new();
        let org = self.clone();
        mock.expect_query()
            .returning(move |soql| org.answer_statement(soql, |_| true));
        let org = self.clone();
        mock.expect_query_all_rows().returning(move |soql| {
            org.answer_statement(soql, |fragment| fragment.contains("IsDeleted"))
        });
        // The test org answers every statement in one page.
        mock.expect_query_more().never();
        let state = self.state.clone();
        mock.expect_deleted_records()
            .returning(move |_object, _start, _end| {
                lock(&state).calls += 1;
                Ok(DeletedRecords {
                    deleted_records: Vec::new(),
                    earliest_date_available: None,
                    latest_date_covered: None,
                })
            });
        let state = self.state.clone();
        mock.expect_account_contact_relation_available()
            .returning(move || {
                let mut org = lock(&state);
                org.calls += 1;
                Ok(org.relations_available)
            });
        mock.expect_api_usage().returning(|| None);
        mock
    }
}

// ---------------------------------------------------------------------------------------
// Zendesk

#[derive(Default)]
struct ZendeskState {
    multiple_organizations: bool,
    exports_forbidden: bool,
    user_count: Option<Option<u64>>,
    down: bool,
    refused: Vec<String>,
    killed: Vec<String>,
    bulk_import_disabled: bool,
    users: BTreeMap<u64, User>,
    organizations: BTreeMap<u64, Organization>,
    /// Records reads do not see yet (search lag, or made by a submission whose answer was
    /// lost) until a create collides with them.
    unseen_users: BTreeMap<u64, User>,
    unseen_organizations: BTreeMap<u64, Organization>,
    memberships: Vec<OrganizationMembership>,
    jobs: HashMap<String, JobStatus>,
    next_id: u64,
    calls: Vec<String>,
    membership_writes: Vec<NewMembership>,
    memberships_listed_for: Vec<u64>,
    user_updates: Vec<Value>,
    organization_updates: Vec<Value>,
}

impl ZendeskState {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn refusal(&self, item: &str) -> Option<JobResult> {
        self.refused
            .iter()
            .find(|needle| item.contains(needle.as_str()))
            .map(|needle| JobResult {
                error: Some("RecordInvalid".into()),
                details: Some(Value::String(format!("refused by the test ({needle})"))),
                ..JobResult::default()
            })
    }

    /// A job holding an item that mentions a [`Zendesk::kill_jobs_with`] needle: it ends
    /// killed, having written nothing.
    fn killed_job(&mut self, items: &[String]) -> Option<JobStatus> {
        if !self
            .killed
            .iter()
            .any(|needle| items.iter().any(|item| item.contains(needle.as_str())))
        {
            return None;
        }
        let id = format!("job-{}", self.jobs.len() + 1);
        let mut status = JobStatus::new(id.clone(), JobState::Killed);
        status.message = Some("killed by the test".into());
        self.jobs.insert(id.clone(), status);
        Some(JobStatus::new(id, JobState::Queued))
    }

    /// Stores a finished job and answers its submission as queued, so the engine polls.
    fn job(&mut self, results: Vec<JobResult>) -> JobStatus {
        let id = format!("job-{}", self.jobs.len() + 1);
        let mut status = JobStatus::new(id.clone(), JobState::Completed);
        status.results = results;
        self.jobs.insert(id.clone(), status);
        JobStatus::new(id, JobState::Queued)
    }

    fn write_error(&self) -> Option<ZendeskError> {
        self.down.then(|| ZendeskError::Server {
            status: 503,
            body: "unavailable (test)".into(),
        })
    }

    /// Whether a user has `email`; an unseen one becomes visible, as Zendesk's answer
    /// makes it known.
    fn email_taken(&mut self, email: &str) -> bool {
        let has = |u: &User| u.emails().any(|e| e.eq_ignore_ascii_case(email));
        if let Some(id) = self.unseen_users.values().find(|u| has(u)).map(|u| u.id) {
            if let Some(user) = self.unseen_users.remove(&id) {
                self.users.insert(id, user);
            }
            return true;
        }
        self.users.values().any(has)
    }

    /// Whether an organization is named `name`; an unseen one becomes visible.
    fn name_taken(&mut self, name: &str) -> bool {
        let named = |o: &Organization| o.name.trim().eq_ignore_ascii_case(name.trim());
        if let Some(id) = self
            .unseen_organizations
            .values()
            .find(|o| named(o))
            .map(|o| o.id)
        {
            if let Some(org) = self.unseen_organizations.remove(&id) {
                self.organizations.insert(id, org);
            }
            return true;
        }
        self.organizations.values().any(named)
    }

    fn add_membership(&mut self, user_id: u64, organization_id: u64, default: bool) -> bool {
        if self
            .memberships
            .iter()
            .any(|m| m.user_id == user_id && m.organization_id == organization_id)
        {
            return false;
        }
        let id = self.id();
        self.memberships.push(OrganizationMembership {
            id,
            user_id,
            organization_id,
            default,
        });
        true
    }

    fn create_user(&mut self, new: &NewUser) -> User {
        let id = self.id();
        let user: User = serde_json::from_value(json!({
            "id": id,
            "name": new.name,
            "email": new.email,
            "organization_id": new.organization_id,
            "user_fields": new.user_fields,
        }))
        .expect("a user");
        if let Some(org) = new.organization_id {
            self.add_membership(id, org, true);
        }
        self.users.insert(id, user.clone());
        user
    }
}

fn user_json(id: u64, email: &str, organization: Option<u64>) -> User {
    serde_json::from_value(json!({
        "id": id,
        "name": format!("User {id}"),
        "email": email,
        "organization_id": organization,
        "role": "end-user",
    }))
    .expect("a user")
}

fn not_found(endpoint: &str) -> ZendeskError {
    ZendeskError::NotFound {
        endpoint: endpoint.to_owned(),
    }
}

/// A Zendesk account; clones share the same account.
#[derive(Clone, Default)]
pub(crate) struct Zendesk {
    state: Arc<Mutex<ZendeskState>>,
}

impl Zendesk {
    /// An empty account allowing users in several organizations. Ids it hands out start
    /// at 1,000, above the ids tests give their own records.
    pub(crate) fn new() -> Self {
        let account = Self::default();
        {
            let mut state = lock(&account.state);
            state.multiple_organizations = true;
            state.next_id = 1000;
        }
        account
    }

    /// Sets "Allow users to belong to multiple organizations".
    pub(crate) fn multiple_organizations(self, on: bool) -> Self {
        lock(&self.state).multiple_organizations = on;
        self
    }

    /// An end user with `email`, whose default organization is `organization`.
    pub(crate) fn user(self, id: u64, email: &str, organization: Option<u64>) -> Self {
        {
            let mut state = lock(&self.state);
            state.users.insert(id, user_json(id, email, organization));
            if let Some(org) = organization {
                state.add_membership(id, org, true);
            }
        }
        self
    }

    /// Renames user `id`, say to the name its contact maps to.
    pub(crate) fn rename_user(&self, id: u64, name: &str) {
        if let Some(user) = lock(&self.state).users.get_mut(&id) {
            name.clone_into(&mut user.name);
        }
    }

    /// An organization, linked to an account when `external_id` is given.
    pub(crate) fn organization(self, id: u64, name: &str, external_id: Option<&str>) -> Self {
        let org: Organization = serde_json::from_value(json!({
            "id": id, "name": name, "external_id": external_id,
        }))
        .expect("an organization");
        lock(&self.state).organizations.insert(id, org);
        self
    }

    /// A user that reads do not find (search lag, or created by a submission whose answer
    /// was lost) until a create with its email is refused.
    pub(crate) fn unseen_user(self, id: u64, email: &str, organization: Option<u64>) -> Self {
        lock(&self.state)
            .unseen_users
            .insert(id, user_json(id, email, organization));
        self
    }

    /// An organization that reads do not find until a create with its name is refused.
    pub(crate) fn unseen_organization(
        self,
        id: u64,
        name: &str,
        external_id: Option<&str>,
    ) -> Self {
        let org: Organization = serde_json::from_value(json!({
            "id": id, "name": name, "external_id": external_id,
        }))
        .expect("an organization");
        lock(&self.state).unseen_organizations.insert(id, org);
        self
    }

    /// A (non-default) membership.
    pub(crate) fn membership(self, user: u64, organization: u64) -> Self {
        lock(&self.state).add_membership(user, organization, false);
        self
    }

    /// The incremental exports answer 403, as for credentials without access to them.
    pub(crate) fn exports_forbidden(self) -> Self {
        lock(&self.state).exports_forbidden = true;
        self
    }

    /// What `GET /api/v2/users/count` answers (by default: the users held).
    pub(crate) fn user_count(self, count: Option<u64>) -> Self {
        lock(&self.state).user_count = Some(count);
        self
    }

    /// Write items that mention `needle` (a user's email or name, an organization's name
    /// or external id, `membership <user> <organization>`) fail in their job.
    pub(crate) fn refuse(self, needle: &str) -> Self {
        lock(&self.state).refused.push(needle.to_owned());
        self
    }

    /// Jobs holding an item that mentions `needle` (as for [`Zendesk::refuse`]) end
    /// killed without writing anything: the items' fate is a failure to retry, not a
    /// refusal.
    pub(crate) fn kill_jobs_with(self, needle: &str) -> Self {
        lock(&self.state).killed.push(needle.to_owned());
        self
    }

    /// Bulk user import is not enabled on the account (403 on `create_many`).
    pub(crate) fn bulk_import_disabled(self) -> Self {
        lock(&self.state).bulk_import_disabled = true;
        self
    }

    /// Every write submission fails with a 503 (Zendesk cannot be written to).
    pub(crate) fn down(self) -> Self {
        lock(&self.state).down = true;
        self
    }

    /// The API methods called, in order (`create_many_users`, `search_users_by_email`...).
    pub(crate) fn calls(&self) -> Vec<String> {
        lock(&self.state).calls.clone()
    }

    /// How many times `method` was called.
    pub(crate) fn calls_to(&self, method: &str) -> usize {
        self.calls().iter().filter(|c| *c == method).count()
    }

    /// The write methods called, in order.
    pub(crate) fn writes(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| {
                c.starts_with("create") || c.starts_with("update") || c.starts_with("make_default")
            })
            .collect()
    }

    /// The users now held.
    pub(crate) fn users(&self) -> Vec<User> {
        lock(&self.state).users.values().cloned().collect()
    }

    /// The user with `email`, if any.
    pub(crate) fn user_with(&self, email: &str) -> Option<User> {
        self.users()
            .into_iter()
            .find(|u| u.email.as_deref() == Some(email))
    }

    /// The organizations now held.
    pub(crate) fn organizations(&self) -> Vec<Organization> {
        lock(&self.state).organizations.values().cloned().collect()
    }

    /// The memberships now held.
    pub(crate) fn memberships(&self) -> Vec<OrganizationMembership> {
        lock(&self.state).memberships.clone()
    }

    /// Every membership submitted for creation, in order.
    pub(crate) fn membership_writes(&self) -> Vec<NewMembership> {
        lock(&self.state).membership_writes.clone()
    }

    /// The users whose memberships were listed one by one, in order.
    pub(crate) fn memberships_listed_for(&self) -> Vec<u64> {
        lock(&self.state).memberships_listed_for.clone()
    }

    /// Every user update submitted, as sent (batch form, with `id`).
    pub(crate) fn user_updates(&self) -> Vec<Value> {
        lock(&self.state).user_updates.clone()
    }

    /// Every organization update submitted, as sent (batch form, with `id`).
    pub(crate) fn organization_updates(&self) -> Vec<Value> {
        lock(&self.state).organization_updates.clone()
    }

    /// API calls received.
    pub(crate) fn call_count(&self) -> u64 {
        lock(&self.state).calls.len() as u64
    }

    /// A read mock answering from this account.
    pub(crate) fn read(&self) -> MockZendeskRead {
        let mut mock = MockZendeskRead::new();
        macro_rules! answer {
            ($expect:ident, $name:literal, |$state:ident $(, $arg:ident)*| $body:expr) => {{
                let shared = self.state.clone();
                mock.$expect().returning(move |$($arg),*| {
                    let mut $state = lock(&shared);
                    $state.calls.push($name.to_owned());
                    $body
                });
            }};
        }
        answer!(expect_account_settings, "account_settings", |s| Ok(
            AccountSettings::new(s.multiple_organizations)
        ));
        answer!(expect_show_user, "show_user", |s, id| s
            .users
            .get(&id)
            .cloned()
            .ok_or_else(|| not_found("GET /api/v2/users/{id}")));
        answer!(expect_show_many_users, "show_many_users", |s, ids| Ok(ids
            .iter()
            .filter_map(|id| s.users.get(id).cloned())
            .collect()));
        answer!(
            expect_show_many_users_by_external_ids,
            "show_many_users_by_external_ids",
            |s, ids| Ok(s
                .users
                .values()
                .filter(|u| u
                    .external_id
                    .as_ref()
                    .is_some_and(|e| ids.iter().any(|i| i.eq_ignore_ascii_case(e))))
                .cloned()
                .collect())
        );
        answer!(
            expect_search_users_by_email,
            "search_users_by_email",
            |s, email| Ok(s
                .users
                .values()
                .filter(|u| u.emails().any(|e| e.eq_ignore_ascii_case(email)))
                .cloned()
                .collect())
        );
        answer!(expect_count_users, "count_users", |s| Ok(s
            .user_count
            .unwrap_or(Some(s.users.len() as u64))));
        answer!(
            expect_export_users_page,
            "export_users_page",
            |s, _cursor| {
                if s.exports_forbidden {
                    return Err(ZendeskError::Forbidden {
                        endpoint: "GET /api/v2/incremental/users/cursor".into(),
                        error: None,
                        description: None,
                    });
                }
                Ok(UserExportPage {
                    users: s.users.values().cloned().collect(),
                    after_cursor: Some("end".into()),
                    end_of_stream: true,
                })
            }
        );
        answer!(
            expect_export_organizations_page,
            "export_organizations_page",
            |s, _next| {
                if s.exports_forbidden {
                    return Err(ZendeskError::Forbidden {
                        endpoint: "GET /api/v2/incremental/organizations".into(),
                        error: None,
                        description: None,
                    });
                }
                Ok(OrganizationExportPage::new(
                    s.organizations.values().cloned().collect(),
                    None,
                    true,
                ))
            }
        );
        answer!(
            expect_show_many_organizations_by_external_ids,
            "show_many_organizations_by_external_ids",
            |s, ids| Ok(s
                .organizations
                .values()
                .filter(|o| o
                    .external_id
                    .as_ref()
                    .is_some_and(|e| ids.iter().any(|i| i.eq_ignore_ascii_case(e))))
                .cloned()
                .collect())
        );
        answer!(
            expect_search_organizations_by_name,
            "search_organizations_by_name",
            |s, name| Ok(s
                .organizations
                .values()
                .filter(|o| o.name.eq_ignore_ascii_case(name))
                .cloned()
                .collect())
        );
        answer!(
            expect_list_user_memberships_page,
            "list_user_memberships_page",
            |s, user, _cursor| Ok(Page {
                items: {
                    s.memberships_listed_for.push(user);
                    s.memberships
                        .iter()
                        .filter(|m| m.user_id == user)
                        .cloned()
                        .collect()
                },
                next_cursor: None,
            })
        );
        answer!(
            expect_list_memberships_page,
            "list_memberships_page",
            |s, _cursor| Ok(Page {
                items: s.memberships.clone(),
                next_cursor: None,
            })
        );
        answer!(expect_show_job_status, "show_job_status", |s, id| s
            .jobs
            .get(id)
            .cloned()
            .ok_or_else(|| not_found("GET /api/v2/job_statuses/{id}")));
        answer!(
            expect_show_many_job_statuses,
            "show_many_job_statuses",
            |s, ids| Ok(ids
                .iter()
                .filter_map(|id| s.jobs.get(id).cloned())
                .collect())
        );
        mock
    }

    /// A write mock changing this account.
    pub(crate) fn write(&self) -> MockZendeskWrite {
        let mut mock = MockZendeskWrite::new();
        macro_rules! answer {
            ($expect:ident, $name:literal, |$state:ident, $arg:ident| $body:expr) => {{
                let shared = self.state.clone();
                mock.$expect().returning(move |$arg| {
                    let mut $state = lock(&shared);
                    $state.calls.push($name.to_owned());
                    if let Some(err) = $state.write_error() {
                        return Err(err);
                    }
                    $body
                });
            }};
        }
        answer!(expect_create_user, "create_user", |s, new| {
            match s.refusal(&format!("{} {}", new.email, new.name)) {
                Some(_) => Err(ZendeskError::ValidationFailed {
                    error: "RecordInvalid".into(),
                    description: "refused by the test".into(),
                    details: None,
                }),
                None => Ok(Written::new(s.create_user(new))),
            }
        });
        answer!(expect_create_many_users, "create_many_users", |s, users| {
            if s.bulk_import_disabled {
                return Err(ZendeskError::BulkImportDisabled {
                    endpoint: "POST /api/v2/users/create_many".into(),
                });
            }
            let items: Vec<String> = users
                .iter()
                .map(|u| format!("{} {}", u.email, u.name))
                .collect();
            if let Some(job) = s.killed_job(&items) {
                return Ok(Written::new(job));
            }
            let mut results = Vec::new();
            for (index, new) in users.iter().enumerate() {
                let result = match s.refusal(&format!("{} {}", new.email, new.name)) {
                    Some(refused) => refused,
                    None if s.email_taken(&new.email) => JobResult {
                        error: Some("DuplicateValue".into()),
                        details: Some(
                            format!("Email: {} is already being used by another user", new.email)
                                .into(),
                        ),
                        ..JobResult::default()
                    },
                    None => JobResult {
                        id: Some(s.create_user(new).id),
                        status: Some("Created".into()),
                        ..JobResult::default()
                    },
                };
                results.push(JobResult {
                    index: Some(index),
                    ..result
                });
            }
            Ok(Written::new(s.job(results)))
        });
        answer!(
            expect_update_many_users,
            "update_many_users",
            |s, updates| {
                let mut results = Vec::new();
                for update in updates {
                    let sent = update.to_json(true);
                    s.user_updates.push(sent.clone());
                    let result = match s.refusal(&sent.to_string()) {
                        Some(refused) => refused,
                        None => {
                            apply_user_update(&mut s, update, &sent);
                            JobResult {
                                status: Some("Updated".into()),
                                ..JobResult::default()
                            }
                        }
                    };
                    results.push(JobResult {
                        id: Some(update.id()),
                        ..result
                    });
                }
                Ok(Written::new(s.job(results)))
            }
        );
        answer!(
            expect_create_many_organizations,
            "create_many_organizations",
            |s, orgs| {
                let mut results = Vec::new();
                for (index, new) in orgs.iter().enumerate() {
                    let item = format!(
                        "{} {}",
                        new.name,
                        new.external_id.clone().unwrap_or_default()
                    );
                    let result = match s.refusal(&item) {
                        Some(refused) => refused,
                        None if s.name_taken(&new.name) => JobResult {
                            error: Some("DuplicateValue".into()),
                            details: Some("Name: has already been taken".into()),
                            ..JobResult::default()
                        },
                        None => {
                            let id = s.id();
                            let org: Organization = serde_json::from_value(json!({
                                "id": id, "name": new.name, "external_id": new.external_id,
                                "organization_fields": new.organization_fields,
                            }))
                            .expect("an organization");
                            s.organizations.insert(id, org);
                            JobResult {
                                id: Some(id),
                                status: Some("Created".into()),
                                ..JobResult::default()
                            }
                        }
                    };
                    results.push(JobResult {
                        index: Some(index),
                        ..result
                    });
                }
                Ok(Written::new(s.job(results)))
            }
        );
        answer!(
            expect_update_many_organizations,
            "update_many_organizations",
            |s, updates| {
                let mut results = Vec::new();
                for update in updates {
                    let sent = update.to_json(true);
                    s.organization_updates.push(sent.clone());
                    let current = s
                        .organizations
                        .get(&update.id())
                        .map(|o| o.name.clone())
                        .unwrap_or_default();
                    let result = match s.refusal(&format!("{current} {sent}")) {
                        Some(refused) => refused,
                        None => {
                            apply_organization_update(&mut s, update, &sent);
                            JobResult {
                                status: Some("Updated".into()),
                                ..JobResult::default()
                            }
                        }
                    };
                    results.push(JobResult {
                        id: Some(update.id()),
                        ..result
                    });
                }
                Ok(Written::new(s.job(results)))
            }
        );
        answer!(
            expect_create_many_memberships,
            "create_many_memberships",
            |s, memberships| {
                let items: Vec<String> = memberships
                    .iter()
                    .map(|m| format!("membership {} {}", m.user_id, m.organization_id))
                    .collect();
                if let Some(job) = s.killed_job(&items) {
                    return Ok(Written::new(job));
                }
                let mut results = Vec::new();
                for (index, new) in memberships.iter().enumerate() {
                    s.membership_writes.push(*new);
                    let item = format!("membership {} {}", new.user_id, new.organization_id);
                    let result = match s.refusal(&item) {
                        Some(refused) => refused,
                        None if s.add_membership(
                            new.user_id,
                            new.organization_id,
                            new.default == Some(true),
                        ) =>
                        {
                            JobResult {
                                id: Some(s.next_id),
                                status: Some("Created".into()),
                                ..JobResult::default()
                            }
                        }
                        None => JobResult {
                            error: Some("InvalidValue".into()),
                            details: Some("User is already a member of this organization".into()),
                            ..JobResult::default()
                        },
                    };
                    results.push(JobResult {
                        index: Some(index),
                        ..result
                    });
                }
                Ok(Written::new(s.job(results)))
            }
        );
        // Single-record calls the engine does not use; any call fails the test.
        mock.expect_update_user().never();
        mock.expect_create_or_update_many_users().never();
        mock.expect_create_organization().never();
        mock.expect_update_organization().never();
        mock.expect_create_membership().never();
        mock.expect_make_default_membership().never();
        mock.expect_create_user_identity().never();
        mock
    }
}

fn apply_user_update(state: &mut ZendeskState, update: &UserUpdate, sent: &Value) {
    let Some(user) = state.users.get_mut(&update.id()) else {
        return;
    };
    if let Some(name) = sent.get("name").and_then(Value::as_str) {
        user.name = name.to_owned();
    }
    if let Some(org) = sent.get("organization_id").and_then(Value::as_u64) {
        user.organization_id = Some(org);
    }
}

fn apply_organization_update(state: &mut ZendeskState, update: &OrganizationUpdate, sent: &Value) {
    let Some(org) = state.organizations.get_mut(&update.id()) else {
        return;
    };
    if let Some(name) = sent.get("name").and_then(Value::as_str) {
        name.clone_into(&mut org.name);
    }
    if let Some(external_id) = sent.get("external_id").and_then(Value::as_str) {
        org.external_id = Some(external_id.to_owned());
    }
}

// ---------------------------------------------------------------------------------------
// Runs

/// Accounts to organizations and contacts to users, without relationships.
pub(crate) fn orgs_and_users() -> Settings {
    Settings {
        accounts_to_organizations: true,
        contacts_to_users: true,
        object: PersonObject::Contact,
        primary_relationship: false,
        secondary_relationships: false,
    }
}

/// Accounts to organizations only.
pub(crate) fn accounts_only() -> Settings {
    Settings {
        contacts_to_users: false,
        ..orgs_and_users()
    }
}

/// Contacts to users only, without organizations.
pub(crate) fn users_only() -> Settings {
    Settings {
        accounts_to_organizations: false,
        ..orgs_and_users()
    }
}

/// [`orgs_and_users`] with memberships for each contact's account (multi-organization).
pub(crate) fn with_memberships() -> Settings {
    Settings {
        primary_relationship: true,
        ..orgs_and_users()
    }
}

/// Options for `settings` whose bulk jobs are polled on a [`ManualClock`]: every wait
/// between status checks returns at once.
pub(crate) fn options(settings: Settings) -> SyncOptions {
    SyncOptions {
        poll: PollConfig {
            clock: Arc::new(ManualClock::new()),
            ..PollConfig::default()
        },
        ..SyncOptions::new(settings)
    }
}

/// Both systems of a test, and the options the engine runs with.
pub(crate) struct World {
    pub(crate) salesforce: Salesforce,
    pub(crate) zendesk: Zendesk,
    pub(crate) options: SyncOptions,
    /// Set to ask the run to stop.
    pub(crate) cancel: Arc<AtomicBool>,
    /// Where the engine reports progress.
    pub(crate) progress: Arc<dyn Progress>,
}

impl World {
    /// A world of the two systems, run with `settings`.
    pub(crate) fn new(salesforce: Salesforce, zendesk: Zendesk, settings: Settings) -> Self {
        Self {
            salesforce,
            zendesk,
            options: options(settings),
            cancel: Arc::new(AtomicBool::new(false)),
            progress: Arc::new(NoProgress),
        }
    }

    /// The API calls both systems received so far, as the binary's clients count them.
    pub(crate) fn call_counter(&self) -> CallCounter {
        let (salesforce, zendesk) = (self.salesforce.clone(), self.zendesk.clone());
        Arc::new(move || ApiCalls {
            salesforce: salesforce.calls(),
            zendesk: zendesk.call_count(),
        })
    }

    /// A real run: the engine gets a writer.
    pub(crate) async fn run(&self, state: &mut StateStore) -> RunOutcome {
        self.run_with(state, true).await
    }

    /// A dry run: the engine gets no writer.
    pub(crate) async fn dry_run(&self, state: &mut StateStore) -> RunOutcome {
        self.run_with(state, false).await
    }

    async fn run_with(&self, state: &mut StateStore, write: bool) -> RunOutcome {
        let salesforce = self.salesforce.mock();
        let read = self.zendesk.read();
        let writer = self.zendesk.write();
        let engine = Engine::new(
            &salesforce,
            &read,
            write.then_some(&writer as &dyn zendesk_client::ZendeskWrite),
            self.options.clone(),
        )
        .with_cancel(self.cancel.clone())
        .with_progress(self.progress.clone())
        .with_call_counter(self.call_counter());
        engine.run(state).await
    }
}

/// A fresh in-memory state store.
pub(crate) fn state() -> StateStore {
    StateStore::open_in_memory().expect("an in-memory state store")
}
