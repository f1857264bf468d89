//! The Zendesk simulator: configuration, the shared handle and its inspection methods.

mod http;
mod model;
mod state;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;

use axum::Router;
use serde_json::{Map, Value, json};

pub use model::{ZdIdentity, ZdMembership, ZdOrganization, ZdUser, ZendeskSnapshot};

use crate::common::{
    FaultConfig, FaultInjector, HoldAnswers, LoggedRequest, RequestCounts, Script, lock,
    wait_for_held,
};
use crate::server::{RunningServer, bind, serve};
use crate::{Dataset, SandboxError};
use state::{Data, ItemError};

/// How the Zendesk simulator behaves.
#[derive(Clone)]
pub struct ZendeskSimConfig {
    /// Account setting "users can belong to multiple organizations".
    pub multiple_organizations: bool,
    /// Whether `users/create_many` and `users/create_or_update_many` are enabled (else 403).
    pub bulk_user_import: bool,
    /// OAuth client identifier accepted by `POST /oauth/tokens`.
    pub oauth_client_id: String,
    /// OAuth client secret accepted by `POST /oauth/tokens`.
    pub oauth_client_secret: String,
    /// `(email, api_token)` accepted as Basic `{email}/token:{api_token}`; `None` disables it.
    pub api_token: Option<(String, String)>,
    /// Lifetime of issued OAuth access tokens.
    pub token_lifetime: Duration,
    /// Account rate limit in requests per minute (sliding 60 s window); `None` = unlimited.
    pub rate_limit_per_minute: Option<u32>,
    /// The window of `rate_limit_per_minute` (Zendesk: one minute); tests shorten it so a
    /// 429 storm with `Retry-After` costs seconds, not minutes.
    pub rate_limit_window: Duration,
    /// Endpoint limit of `PUT /users/{id}` and `POST /users/create_or_update` per user and
    /// minute (Zendesk documents 5); `None` = unlimited.
    pub user_write_limit_per_minute: Option<u32>,
    /// Polls of a job that still report `queued` before it reports `completed`.
    pub job_polls_before_complete: u32,
    /// How long jobs take and how many run at once (none take any time by default).
    pub job_timing: JobTiming,
    /// Email addresses Zendesk refuses (compared trimmed and lower-cased): a create, an
    /// update adding the address, or a new identity fails with 422 (a failed item in a
    /// bulk job) and Zendesk's wording "Email: … is not properly formatted".
    pub refused_emails: Vec<String>,
    /// How many organizations one user may belong to; a membership past it fails
    /// (Zendesk documents 300 with multiple organizations on).
    pub max_organizations_per_user: usize,
    /// Injected failures.
    pub faults: FaultConfig,
    /// Keys of the custom user fields the account defines (`GET /api/v2/user_fields`). A
    /// write naming another key under `user_fields` is answered with success, the key
    /// dropped and named in `X-Zendesk-API-Warn`, as Zendesk does.
    pub user_fields: Vec<String>,
    /// Keys of the custom organization fields (`GET /api/v2/organization_fields`); unknown
    /// keys are dropped the same way.
    pub organization_fields: Vec<String>,
}

impl Default for ZendeskSimConfig {
    fn default() -> Self {
        Self {
            multiple_organizations: true,
            bulk_user_import: true,
            oauth_client_id: "sfzd-sandbox".into(),
            oauth_client_secret: "sandbox-secret".into(),
            api_token: None,
            token_lifetime: Duration::from_secs(2 * 3600),
            rate_limit_per_minute: None,
            rate_limit_window: Duration::from_secs(60),
            user_write_limit_per_minute: None,
            job_polls_before_complete: 1,
            job_timing: JobTiming::default(),
            refused_emails: Vec::new(),
            max_organizations_per_user: MAX_ORGANIZATIONS_PER_USER,
            faults: FaultConfig::default(),
            user_fields: Vec::new(),
            organization_fields: Vec::new(),
        }
    }
}

impl fmt::Debug for ZendeskSimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZendeskSimConfig")
            .field("multiple_organizations", &self.multiple_organizations)
            .field("bulk_user_import", &self.bulk_user_import)
            .field("oauth_client_id", &self.oauth_client_id)
            .field("oauth_client_secret", &"[redacted]")
            .field(
                "api_token",
                &self
                    .api_token
                    .as_ref()
                    .map(|(email, _)| (email, "[redacted]")),
            )
            .field("token_lifetime", &self.token_lifetime)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field("rate_limit_window", &self.rate_limit_window)
            .field(
                "user_write_limit_per_minute",
                &self.user_write_limit_per_minute,
            )
            .field("job_polls_before_complete", &self.job_polls_before_complete)
            .field("job_timing", &self.job_timing)
            .field("refused_emails", &self.refused_emails)
            .field(
                "max_organizations_per_user",
                &self.max_organizations_per_user,
            )
            .field("faults", &self.faults)
            .field("user_fields", &self.user_fields)
            .field("organization_fields", &self.organization_fields)
            .finish()
    }
}

/// How long the simulator's background jobs take, the way Zendesk runs them: a job waits
/// `queued` until one of the account's `concurrency` workers is free (first come, first
/// served), then works for `base + per_item * items`, give or take `jitter`, then reports
/// `completed`. The default takes no time, so tests that do not care stay fast.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobTiming {
    /// Time every job takes, whatever its size.
    pub base: Duration,
    /// Time each item of a job adds.
    pub per_item: Duration,
    /// Spread of a job's duration, as a fraction of it: 0.25 makes a job take between 75%
    /// and 125% of its nominal time (seeded, so runs repeat).
    pub jitter: f64,
    /// Jobs of the account that run at once; the others wait queued. Zendesk does not
    /// document this number (only the cap of 30 queued or running jobs).
    pub concurrency: usize,
}

impl Default for JobTiming {
    fn default() -> Self {
        Self {
            base: Duration::ZERO,
            per_item: Duration::ZERO,
            jitter: 0.0,
            concurrency: MAX_INFLIGHT_JOBS,
        }
    }
}

/// What the account's jobs cost so far, for a lower bound on a run's wall time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct JobTotals {
    /// Jobs submitted.
    pub jobs: u64,
    /// The sum of their durations (the time workers spent on them).
    pub busy: Duration,
    /// The concurrency they ran with.
    pub concurrency: usize,
    /// When the first job was submitted, measured from the last reset.
    pub first_submitted: Option<Duration>,
}

/// A background job as the simulator tracks it.
#[derive(Debug)]
struct Job {
    id: String,
    job_type: &'static str,
    total: usize,
    results: Vec<Value>,
    polls_left: u32,
    seen_completed: bool,
    /// When a worker takes the job up, and when it is done.
    starts: Instant,
    ends: Instant,
}

/// Jobs count as in flight until a poll has reported them completed.
const MAX_INFLIGHT_JOBS: usize = 30;

/// Zendesk's documented limit: "you can add a user to as many as 300 organizations".
pub const MAX_ORGANIZATIONS_PER_USER: usize = 300;

#[derive(Debug)]
struct Inner {
    config: ZendeskSimConfig,
    base_url: String,
    data: Data,
    jobs: HashMap<String, Job>,
    inflight: Vec<String>,
    next_job: u64,
    /// When each of the account's job workers is next free.
    workers: Vec<Instant>,
    /// Jitter of job durations.
    job_rng: StdRng,
    /// What jobs cost since the last reset, and when that reset was.
    job_totals: JobTotals,
    totals_since: Instant,
    tokens: HashMap<String, Instant>,
    next_token: u64,
    next_request: u64,
    window: VecDeque<Instant>,
    /// Recent single-user writes per user id, for the per-user endpoint limit.
    user_writes: HashMap<u64, VecDeque<Instant>>,
    faults: FaultInjector,
    /// Set when the request being processed created a bulk create job, so the delivery
    /// of its answer can be cut after the job exists.
    bulk_create_accepted: bool,
    /// Answers of accepted bulk creates still to cut, set by a test.
    drop_bulk_create_answers: u32,
    counts: RequestCounts,
    log: Vec<LoggedRequest>,
    /// Events tests script on the request sequence.
    script: Script,
}

/// Handle to a simulated Zendesk account; clones share the same state.
#[derive(Debug, Clone)]
pub struct ZendeskSim {
    inner: Arc<Mutex<Inner>>,
}

impl ZendeskSim {
    /// A simulator with no records; call [`ZendeskSim::serve`] to listen.
    pub fn new(config: ZendeskSimConfig) -> Self {
        let mut data = Data::new(config.multiple_organizations);
        data.max_organizations_per_user = config.max_organizations_per_user;
        for email in &config.refused_emails {
            data.refuse_email(email);
        }
        let inner = Inner {
            data,
            faults: FaultInjector::new(config.faults.clone()),
            config,
            base_url: String::new(),
            jobs: HashMap::new(),
            inflight: Vec::new(),
            next_job: 1,
            workers: Vec::new(),
            job_rng: StdRng::seed_from_u64(0x5f2d),
            job_totals: JobTotals::default(),
            totals_since: Instant::now(),
            tokens: HashMap::new(),
            next_token: 1,
            next_request: 1,
            window: VecDeque::new(),
            user_writes: HashMap::new(),
            bulk_create_accepted: false,
            drop_bulk_create_answers: 0,
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
    pub async fn start(config: ZendeskSimConfig) -> Result<(Self, RunningServer), SandboxError> {
        let sim = Self::new(config);
        let server = sim.serve().await?;
        Ok((sim, server))
    }

    /// Serves this simulator on `127.0.0.1:0`.
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

    /// Serves this simulator like [`ZendeskSim::serve`], its router passed through `wrap` first
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

    /// Base URL of the running server (empty before [`ZendeskSim::serve`]).
    pub fn base_url(&self) -> String {
        lock(&self.inner).base_url.clone()
    }

    /// Copies of all records.
    pub fn snapshot(&self) -> ZendeskSnapshot {
        let inner = lock(&self.inner);
        ZendeskSnapshot {
            users: inner.data.users.values().cloned().collect(),
            organizations: inner.data.orgs.values().cloned().collect(),
            memberships: inner.data.memberships.values().cloned().collect(),
        }
    }

    /// The user holding `email` as any identity (case-insensitive).
    pub fn user_by_email(&self, email: &str) -> Option<ZdUser> {
        let inner = lock(&self.inner);
        let id = inner.data.emails.get(&email.trim().to_lowercase())?;
        inner.data.users.get(id).cloned()
    }

    /// The organization carrying `external_id` (case-insensitive).
    pub fn organization_by_external_id(&self, external_id: &str) -> Option<ZdOrganization> {
        let inner = lock(&self.inner);
        let id = inner.data.org_by_external_id(external_id)?;
        inner.data.orgs.get(&id).cloned()
    }

    /// Memberships of one user, default first then by organization name.
    pub fn memberships_of(&self, user_id: u64) -> Vec<ZdMembership> {
        let inner = lock(&self.inner);
        inner
            .data
            .user_memberships_sorted(user_id)
            .into_iter()
            .cloned()
            .collect()
    }

    /// Request counters since start or the last [`ZendeskSim::reset_counts`].
    pub fn counts(&self) -> RequestCounts {
        lock(&self.inner).counts.clone()
    }

    /// Every request seen since start or the last [`ZendeskSim::reset_counts`].
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        lock(&self.inner).log.clone()
    }

    /// Clears counters, the request log and the job totals.
    pub fn reset_counts(&self) {
        let mut inner = lock(&self.inner);
        inner.counts = RequestCounts::default();
        inner.log.clear();
        inner.job_totals = JobTotals::default();
        inner.totals_since = Instant::now();
    }

    /// What the jobs submitted since start or the last [`ZendeskSim::reset_counts`] cost.
    pub fn job_totals(&self) -> JobTotals {
        let inner = lock(&self.inner);
        JobTotals {
            concurrency: inner.config.job_timing.concurrency.max(1),
            ..inner.job_totals
        }
    }

    /// Changes how long jobs take from now on.
    pub fn set_job_timing(&self, timing: JobTiming) {
        lock(&self.inner).config.job_timing = timing;
    }

    /// Jobs submitted but not yet seen completed by a poll.
    pub fn inflight_jobs(&self) -> usize {
        lock(&self.inner).inflight.len()
    }

    /// Changes the account's "multiple organizations" setting.
    pub fn set_multiple_organizations(&self, enabled: bool) {
        let mut inner = lock(&self.inner);
        inner.config.multiple_organizations = enabled;
        inner.data.multiple_organizations = enabled;
    }

    /// Enables or disables bulk user imports.
    pub fn set_bulk_user_import(&self, enabled: bool) {
        lock(&self.inner).config.bulk_user_import = enabled;
    }

    /// Replaces the fault configuration from the next request on, e.g. to start or end an
    /// outage (`unavailable_rate = 1.0`: every request answered 503) while a client runs.
    pub fn set_faults(&self, faults: FaultConfig) {
        let mut inner = lock(&self.inner);
        inner.faults = FaultInjector::new(faults.clone());
        inner.config.faults = faults;
    }

    /// Invalidates every issued OAuth token (the next call answers 401).
    pub fn expire_tokens(&self) {
        lock(&self.inner).tokens.clear();
    }

    /// Adds an email identity to a user with the rules of
    /// `POST /api/v2/users/{id}/identities` (the address must not belong to another user
    /// nor be refused); returns the identity id. The user's primary `email` is unchanged.
    ///
    /// # Errors
    /// [`SandboxError::Rejected`] for an unknown user or a refused, malformed or taken address.
    pub fn add_identity(&self, user_id: u64, email: &str) -> Result<u64, SandboxError> {
        lock(&self.inner)
            .data
            .add_identity(user_id, email, true)
            .map_err(rejected)
    }

    /// Makes Zendesk refuse `email` from now on (see [`ZendeskSimConfig::refused_emails`]).
    pub fn refuse_email(&self, email: &str) {
        let mut inner = lock(&self.inner);
        inner.config.refused_emails.push(email.to_owned());
        inner.data.refuse_email(email);
    }

    /// Changes how many organizations one user may belong to.
    pub fn set_max_organizations_per_user(&self, limit: usize) {
        let mut inner = lock(&self.inner);
        inner.config.max_organizations_per_user = limit;
        inner.data.max_organizations_per_user = limit;
    }

    /// Cuts the answers of the next `n` accepted bulk creates half-way: each job is created
    /// and runs, but the client gets a broken answer (a dropped connection after Zendesk
    /// accepted the submission). Counts down as answers are cut.
    pub fn drop_next_bulk_create_answers(&self, n: u32) {
        lock(&self.inner).drop_bulk_create_answers = n;
    }

    /// Holds back the answers `hold` names until [`ZendeskSim::release_answers`]: the
    /// requests are processed (writes applied), their answers wait. Replaces an earlier
    /// hold.
    pub fn hold_answers(&self, hold: HoldAnswers) {
        lock(&self.inner).script.hold(hold);
    }

    /// Holds no further answers; those already held wait for
    /// [`ZendeskSim::release_answers`].
    pub fn stop_holding(&self) {
        lock(&self.inner).script.stop_holding();
    }

    /// Sends every held answer and holds no more.
    pub fn release_answers(&self) {
        lock(&self.inner).script.release();
    }

    /// Returns once an answer is held since the last [`ZendeskSim::hold_answers`]: the
    /// client is waiting at the named request.
    pub async fn answer_held(&self) {
        let held = lock(&self.inner).script.held();
        wait_for_held(held, 1).await;
    }

    /// Answers held since the last [`ZendeskSim::hold_answers`].
    pub fn held_answers(&self) -> u64 {
        *lock(&self.inner).script.held().borrow()
    }

    /// From now on, forgets every issued OAuth token after each `answered`-th API request
    /// answered 200: sessions expire mid-run at exact points, whatever the timing.
    pub fn expire_tokens_every(&self, answered: u64) {
        lock(&self.inner).script.expire_tokens_every(answered);
    }

    /// From now on, just before every `requests`-th API request another client of the
    /// account spends what is left of the rate-limit window, so that request is answered
    /// 429 with `Retry-After`: a limit the client could not foresee from the headers.
    /// Needs [`ZendeskSimConfig::rate_limit_per_minute`].
    pub fn spend_rate_limit_every(&self, requests: u64) {
        lock(&self.inner).script.spend_budget_every(requests);
    }

    /// Creates a user from an API-shaped object (`{"name":..,"email":..,"organization_id":..}`),
    /// with the same rules as `POST /api/v2/users`.
    ///
    /// # Errors
    /// [`SandboxError::Rejected`] when a rule rejects it (duplicate email, unknown organization).
    pub fn add_user(&self, user: Value) -> Result<u64, SandboxError> {
        let obj = object(user)?;
        lock(&self.inner).data.create_user(&obj).map_err(rejected)
    }

    /// Creates an organization from an API-shaped object (`{"name":..,"external_id":..}`).
    ///
    /// # Errors
    /// [`SandboxError::Rejected`] when the name or external id is taken.
    pub fn add_organization(&self, organization: Value) -> Result<u64, SandboxError> {
        let obj = object(organization)?;
        lock(&self.inner).data.create_org(&obj).map_err(rejected)
    }

    /// Creates a membership with the rules of `POST /api/v2/organization_memberships`.
    ///
    /// # Errors
    /// [`SandboxError::Rejected`] for unknown ids, an existing membership, or a second
    /// membership while multiple organizations is off.
    pub fn add_membership(
        &self,
        user_id: u64,
        organization_id: u64,
        default: bool,
    ) -> Result<u64, SandboxError> {
        lock(&self.inner)
            .data
            .create_membership(user_id, organization_id, default)
            .map_err(rejected)
    }

    /// Loads the dataset's Zendesk side (organizations, then users and their memberships).
    ///
    /// # Errors
    /// [`SandboxError::Rejected`] when the dataset breaks a Zendesk rule.
    pub fn load(&self, dataset: &Dataset) -> Result<(), SandboxError> {
        let mut inner = lock(&self.inner);
        let mut org_ids = Vec::with_capacity(dataset.zendesk_organizations.len());
        for org in &dataset.zendesk_organizations {
            let mut obj = Map::new();
            obj.insert("name".into(), json!(org.name));
            if let Some(ext) = &org.external_id {
                obj.insert("external_id".into(), json!(ext));
            }
            org_ids.push(inner.data.create_org(&obj).map_err(rejected)?);
        }
        for user in &dataset.zendesk_users {
            let mut obj = Map::new();
            obj.insert("name".into(), json!(user.name));
            obj.insert("email".into(), json!(user.email));
            obj.insert("verified".into(), json!(true));
            if let Some(org) = user.organization.and_then(|i| org_ids.get(i)) {
                obj.insert("organization_id".into(), json!(org));
            }
            let id = inner.data.create_user(&obj).map_err(rejected)?;
            // A single-organization account cannot hold extra memberships.
            let extras = if inner.data.multiple_organizations {
                user.extra_organizations.as_slice()
            } else {
                &[]
            };
            for extra in extras {
                if let Some(org) = org_ids.get(*extra) {
                    inner
                        .data
                        .create_membership(id, *org, false)
                        .map_err(rejected)?;
                }
            }
            for email in &user.secondary_emails {
                inner.data.add_identity(id, email, true).map_err(rejected)?;
            }
        }
        Ok(())
    }
}

fn object(v: Value) -> Result<Map<String, Value>, SandboxError> {
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(SandboxError::Rejected {
            code: "InvalidValue".into(),
            description: "expected a JSON object".into(),
        }),
    }
}

fn rejected(e: ItemError) -> SandboxError {
    SandboxError::Rejected {
        code: e.code.into(),
        description: e.description,
    }
}
