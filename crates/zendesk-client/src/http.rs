//! [`HttpZendeskClient`]: the reqwest implementation of the traits, with authentication,
//! rate limiting, retries and call counting.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use futures::future::BoxFuture;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::time::Instant;
use url::Url;

use crate::Result;
use crate::api::{BULK_LIMIT, ZendeskRead, ZendeskWrite};
use crate::auth::{api_token_header, bearer_header, parse_token_answer};
use crate::clock::lock;
use crate::config::{Auth, ZendeskConfig};
use crate::error::{TransportKind, ZendeskError, excerpt};
use crate::identities::NewIdentity;
use crate::jobs::JobStatus;
use crate::models::{
    AccountSettings, CustomField, Identity, NewMembership, NewOrganization, NewUser, Organization,
    OrganizationExportPage, OrganizationMembership, OrganizationUpdate, Page, User, UserExportPage,
    UserUpdate,
};
use crate::rate::{
    JobSlots, LimitScope, RateLimiter, Reservation, explicit_retry_after, limit_scope, retry_after,
};
use crate::retry::{FailureKind, RequestClass, RetryDecision, decide, jitter};
use crate::warn::{ApiWarning, Written};

const BODY_EXCERPT: usize = 200;
const PAGE_SIZE: &str = "100";
const EXPORT_PAGE_SIZE: &str = "1000";

/// How many HTTP requests a client sent, per endpoint.
///
/// Endpoints are keyed by method and path template, e.g. `GET /api/v2/users/show_many` or
/// `PUT /api/v2/users/{id}`. Every request counts: retries and OAuth token requests too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallCounts {
    by_endpoint: BTreeMap<String, u64>,
}

impl CallCounts {
    /// Requests sent in total.
    pub fn total(&self) -> u64 {
        self.by_endpoint.values().sum()
    }

    /// Requests sent per endpoint.
    pub fn by_endpoint(&self) -> &BTreeMap<String, u64> {
        &self.by_endpoint
    }

    /// Requests sent to one endpoint (0 if none).
    pub fn get(&self, endpoint: &str) -> u64 {
        self.by_endpoint.get(endpoint).copied().unwrap_or(0)
    }
}

struct CachedToken {
    header: HeaderValue,
    expires_at: Option<Instant>,
    generation: u64,
}

struct Inner {
    http: reqwest::Client,
    config: ZendeskConfig,
    origin: String,
    limiter: RateLimiter,
    slots: JobSlots,
    calls: Mutex<BTreeMap<String, u64>>,
    token: tokio::sync::Mutex<Option<CachedToken>>,
    token_generation: AtomicU64,
}

/// The Zendesk client over HTTP.
///
/// Cheap to clone: clones share the connection pool, the rate budget, the in-flight job
/// slots, the OAuth token and the call counts.
#[derive(Clone)]
pub struct HttpZendeskClient {
    inner: Arc<Inner>,
}

impl fmt::Debug for HttpZendeskClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpZendeskClient")
            .field("base_url", &self.inner.origin)
            .finish_non_exhaustive()
    }
}

/// What the engine needs to send one request.
struct Request<'a> {
    method: Method,
    url: Url,
    endpoint: String,
    body: Option<&'a Value>,
    class: RequestClass,
    authenticated: bool,
    bulk_job: bool,
    forbidden_is_bulk_disabled: bool,
    secret_body: bool,
}

struct Answer<'a> {
    status: u16,
    body: Vec<u8>,
    warning: Option<ApiWarning>,
    reservation: Option<Reservation<'a>>,
}

/// The limiter scope every bulk job submission also falls under: `TooManyJobs` holds back
/// submissions only, so the polls that let jobs finish go on.
const BULK_JOBS_SCOPE: &str = "bulk job submissions";

/// Zendesk's error body, in either of its shapes.
#[derive(Debug, Default)]
struct ApiError {
    error: Option<String>,
    description: Option<String>,
    details: Option<Value>,
}

impl ApiError {
    fn parse(body: &[u8]) -> Self {
        let Ok(value) = serde_json::from_slice::<Value>(body) else {
            return Self::default();
        };
        let text = |v: Option<&Value>| -> Option<String> {
            match v? {
                Value::String(s) => Some(s.clone()),
                Value::Object(o) => o
                    .get("title")
                    .or_else(|| o.get("message"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                _ => None,
            }
        };
        let mut parsed = Self {
            error: text(value.get("error")),
            description: text(value.get("description"))
                .or_else(|| text(value.get("error_description")))
                .or_else(|| text(value.get("message")))
                .or_else(|| {
                    value
                        .pointer("/error/message")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                }),
            details: value.get("details").cloned(),
        };
        if parsed.error.is_none()
            && let Some(first) = value.pointer("/errors/0")
        {
            parsed.error = text(first.get("code"));
            parsed.description = parsed.description.or_else(|| text(first.get("title")));
        }
        parsed
    }
}

fn transport_kind(error: &reqwest::Error) -> TransportKind {
    if error.is_timeout() {
        TransportKind::Timeout
    } else if error.is_connect() {
        TransportKind::Connect
    } else {
        TransportKind::ConnectionDropped
    }
}

fn failure_of(kind: TransportKind) -> FailureKind {
    match kind {
        TransportKind::Timeout => FailureKind::Timeout,
        TransportKind::Connect => FailureKind::ConnectFailed,
        _ => FailureKind::ConnectionDropped,
    }
}

fn decode<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|source| ZendeskError::Decode {
        status,
        body: excerpt(&String::from_utf8_lossy(body), BODY_EXCERPT),
        source,
    })
}

fn check_bulk<T>(items: &[T], what: &str) -> Result<()> {
    if items.is_empty() {
        return Err(ZendeskError::InvalidRequest(format!("no {what} to send")));
    }
    if items.len() > BULK_LIMIT {
        return Err(ZendeskError::InvalidRequest(format!(
            "{} {what} exceed the bulk limit of {BULK_LIMIT}",
            items.len()
        )));
    }
    Ok(())
}

fn join_external_ids(ids: &[String]) -> Result<String> {
    if let Some(bad) = ids.iter().find(|id| id.contains(',')) {
        return Err(ZendeskError::InvalidRequest(format!(
            "external id `{bad}` contains a comma and cannot be looked up in a list"
        )));
    }
    Ok(ids.join(","))
}

#[derive(Deserialize)]
struct UserEnvelope {
    user: User,
}
#[derive(Deserialize)]
struct OrganizationEnvelope {
    organization: Organization,
}
#[derive(Deserialize)]
struct OrganizationsEnvelope {
    #[serde(default)]
    organizations: Vec<Organization>,
}
#[derive(Deserialize)]
struct MembershipEnvelope {
    organization_membership: OrganizationMembership,
}
#[derive(Deserialize)]
struct MembershipsEnvelope {
    #[serde(default)]
    organization_memberships: Vec<OrganizationMembership>,
    #[serde(default)]
    meta: Option<CursorMeta>,
}
#[derive(Deserialize)]
struct CursorMeta {
    #[serde(default)]
    has_more: bool,
    #[serde(default)]
    after_cursor: Option<String>,
}
#[derive(Deserialize)]
struct FieldsEnvelope {
    #[serde(default, alias = "organization_fields")]
    user_fields: Vec<CustomField>,
    #[serde(default)]
    meta: Option<CursorMeta>,
}
#[derive(Deserialize)]
struct JobEnvelope {
    job_status: JobStatus,
}
#[derive(Deserialize)]
struct JobsEnvelope {
    #[serde(default)]
    job_statuses: Vec<JobStatus>,
}
#[derive(Deserialize)]
struct UserExportAnswer {
    #[serde(default)]
    users: Vec<User>,
    #[serde(default)]
    identities: Vec<Identity>,
    #[serde(default)]
    after_cursor: Option<String>,
    #[serde(default)]
    end_of_stream: bool,
}
#[derive(Deserialize)]
struct OrganizationExportAnswer {
    #[serde(default)]
    organizations: Vec<Organization>,
    #[serde(default)]
    next_page: Option<String>,
    #[serde(default)]
    end_of_stream: bool,
}

impl HttpZendeskClient {
    /// A client for the configured account.
    ///
    /// # Errors
    ///
    /// [`ZendeskError::InvalidConfig`] when the configuration is invalid (see
    /// [`ZendeskConfig::validate`]) or the HTTP client cannot be built.
    pub fn new(config: ZendeskConfig) -> Result<Self> {
        config.validate()?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(config.user_agent.clone())
            .timeout(config.timeout)
            .build()
            .map_err(|e| ZendeskError::InvalidConfig(format!("cannot build http client: {e}")))?;
        let origin = config.base_url.as_str().trim_end_matches('/').to_owned();
        let limiter = RateLimiter::new(
            config.requests_per_minute,
            config.rate_limit_low_watermark,
            config.clock.clone(),
        );
        let slots = JobSlots::new(
            config.max_inflight_jobs,
            config.inflight_job_ttl,
            config.clock.clone(),
        );
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                config,
                origin,
                limiter,
                slots,
                calls: Mutex::new(BTreeMap::new()),
                token: tokio::sync::Mutex::new(None),
                token_generation: AtomicU64::new(0),
            }),
        })
    }

    /// A snapshot of the requests sent so far by this client and its clones.
    pub fn calls(&self) -> CallCounts {
        CallCounts {
            by_endpoint: lock(&self.inner.calls).clone(),
        }
    }

    /// Bulk jobs submitted and not yet seen finished.
    pub fn inflight_jobs(&self) -> usize {
        self.inner.slots.in_flight()
    }

    /// The first URL of the organization export starting at `start_time` (unix seconds; at
    /// least one minute in the past), for [`ZendeskRead::export_organizations_page`].
    ///
    /// # Errors
    ///
    /// [`ZendeskError::InvalidRequest`] for a negative start time or one less than a minute
    /// in the past.
    pub fn organization_export_url(&self, start_time: i64) -> Result<String> {
        // Zendesk refuses a start time in the last minute (those changes are not final yet).
        let latest = chrono::Utc::now().timestamp() - 60;
        if !(0..=latest).contains(&start_time) {
            return Err(ZendeskError::InvalidRequest(
                "start_time must be between 0 and one minute ago".into(),
            ));
        }
        Ok(self
            .url(
                "/api/v2/incremental/organizations",
                &[("start_time", start_time.to_string())],
            )?
            .to_string())
    }

    fn url(&self, path: &str, query: &[(&str, String)]) -> Result<Url> {
        let mut url = Url::parse(&format!("{}{path}", self.inner.origin))
            .map_err(|e| ZendeskError::InvalidRequest(format!("bad url for {path}: {e}")))?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (key, value) in query {
                pairs.append_pair(key, value);
            }
        }
        Ok(url)
    }

    /// Accepts a `next_page` URL only when it points at the configured account, so
    /// credentials are never sent elsewhere.
    fn same_origin(&self, raw: &str) -> Result<Url> {
        let url = Url::parse(raw)
            .map_err(|e| ZendeskError::InvalidRequest(format!("next page is not a url: {e}")))?;
        let base = &self.inner.config.base_url;
        if url.scheme() != base.scheme()
            || url.host_str() != base.host_str()
            || url.port_or_known_default() != base.port_or_known_default()
        {
            return Err(ZendeskError::InvalidRequest(
                "next page url points outside the configured account".into(),
            ));
        }
        Ok(url)
    }

    fn count(&self, endpoint: &str) {
        *lock(&self.inner.calls)
            .entry(endpoint.to_owned())
            .or_insert(0) += 1;
    }

    /// The `Authorization` header and the token generation it belongs to.
    ///
    /// Returns a boxed future: fetching a token goes through `execute`, which asks for
    /// headers, and a named future type breaks that cycle.
    fn auth_header(&self) -> BoxFuture<'_, Result<(HeaderValue, u64)>> {
        Box::pin(async move {
            match &self.inner.config.auth {
                Auth::BearerToken(token) => Ok((bearer_header(token)?, 0)),
                Auth::ApiToken { email, token } => Ok((api_token_header(email, token)?, 0)),
                Auth::OAuthClientCredentials {
                    client_id,
                    client_secret,
                    scope,
                } => {
                    let mut cached = self.inner.token.lock().await;
                    let now = self.inner.config.clock.now();
                    if let Some(token) = cached.as_ref() {
                        let fresh = token
                            .expires_at
                            .is_none_or(|at| now + self.inner.config.token_refresh_margin < at);
                        if fresh {
                            return Ok((token.header.clone(), token.generation));
                        }
                    }
                    let token = self.fetch_token(client_id, client_secret, scope).await?;
                    let generation =
                        self.inner.token_generation.fetch_add(1, Ordering::Relaxed) + 1;
                    let header = bearer_header(&token.access_token)?;
                    *cached = Some(CachedToken {
                        header: header.clone(),
                        expires_at: token.expires_in.map(|d| self.inner.config.clock.now() + d),
                        generation,
                    });
                    Ok((header, generation))
                }
            }
        })
    }

    async fn fetch_token(
        &self,
        client_id: &str,
        client_secret: &SecretString,
        scope: &str,
    ) -> Result<crate::auth::OAuthToken> {
        use secrecy::ExposeSecret;
        tracing::debug!("requesting an oauth access token");
        let body = json!({
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret.expose_secret(),
            "scope": scope,
        });
        let answer = self
            .execute(Request {
                method: Method::POST,
                url: self.url("/oauth/tokens", &[])?,
                endpoint: "POST /oauth/tokens".into(),
                body: Some(&body),
                class: RequestClass::Read,
                authenticated: false,
                bulk_job: false,
                forbidden_is_bulk_disabled: false,
                secret_body: true,
            })
            .await
            .map_err(|e| match e {
                ZendeskError::Rejected {
                    status: 400,
                    description,
                    ..
                } => ZendeskError::Unauthorized { description },
                other => other,
            })?;
        parse_token_answer(answer.status, &answer.body)
    }

    async fn invalidate_token(&self, generation: u64) {
        let mut cached = self.inner.token.lock().await;
        if cached.as_ref().is_some_and(|t| t.generation == generation) {
            *cached = None;
        }
    }

    /// Sends a request until it succeeds or the retry policy gives up.
    async fn execute<'s>(&'s self, request: Request<'_>) -> Result<Answer<'s>> {
        let reservation = if request.bulk_job {
            Some(self.inner.slots.reserve().await)
        } else {
            None
        };
        let config = &self.inner.config;
        // The concrete method and path: a limit on one record holds back this key only.
        let target = format!("{} {}", request.method, request.url.path());
        let mut scopes = vec![request.endpoint.as_str(), target.as_str()];
        if request.bulk_job {
            scopes.push(BULK_JOBS_SCOPE);
        }
        let is_oauth = matches!(config.auth, Auth::OAuthClientCredentials { .. });
        let mut attempt: u32 = 0;
        let mut reauthenticated = false;
        loop {
            attempt += 1;
            self.inner.limiter.acquire(&scopes).await;
            let mut builder = self
                .inner
                .http
                .request(request.method.clone(), request.url.clone());
            let mut generation = 0;
            if request.authenticated {
                let (header, token_generation) = self.auth_header().await?;
                generation = token_generation;
                builder = builder.header(AUTHORIZATION, header);
            }
            if let Some(body) = request.body {
                let bytes = serde_json::to_vec(body).map_err(|e| {
                    ZendeskError::InvalidRequest(format!("cannot encode body: {e}"))
                })?;
                builder = builder
                    .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                    .body(bytes);
            }
            self.count(&request.endpoint);
            let (failure, wait_hint, error) = match builder.send().await {
                Err(source) => {
                    let kind = transport_kind(&source);
                    (
                        failure_of(kind),
                        None,
                        ZendeskError::Transport { kind, source },
                    )
                }
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    if let Some(id) = headers
                        .get("x-zendesk-request-id")
                        .and_then(|v| v.to_str().ok())
                    {
                        tracing::debug!(request_id = id, endpoint = %request.endpoint, status = status.as_u16(), "zendesk answered");
                    }
                    self.inner.limiter.observe(&request.endpoint, &headers);
                    if request.bulk_job {
                        self.inner.slots.observe(&headers);
                    }
                    match response.bytes().await {
                        Err(source) => {
                            let kind = transport_kind(&source);
                            (
                                failure_of(kind),
                                None,
                                ZendeskError::Transport { kind, source },
                            )
                        }
                        Ok(body) => {
                            let body = body.to_vec();
                            if status.is_success() {
                                let warning = ApiWarning::from_headers(&headers);
                                if let Some(warning) = &warning {
                                    tracing::debug!(endpoint = %request.endpoint, unpermitted_keys = ?warning.unpermitted_keys, "zendesk dropped keys from the request");
                                }
                                return Ok(Answer {
                                    status: status.as_u16(),
                                    body,
                                    warning,
                                    reservation,
                                });
                            }
                            if status == StatusCode::UNAUTHORIZED
                                && request.authenticated
                                && is_oauth
                                && !reauthenticated
                            {
                                // The token may have been revoked or expired early: fetch a
                                // new one once and repeat (a 401 was not processed).
                                tracing::debug!(endpoint = %request.endpoint, "401: renewing the oauth token");
                                reauthenticated = true;
                                self.invalidate_token(generation).await;
                                attempt -= 1;
                                continue;
                            }
                            let api = ApiError::parse(&body);
                            let too_many_jobs = api.error.as_deref() == Some("TooManyJobs");
                            // A limit's wait may be given as the window's reset, which real
                            // answers carry on every response; for other failures only an
                            // explicit Retry-After is a wait.
                            let wait = if status == StatusCode::TOO_MANY_REQUESTS || too_many_jobs {
                                retry_after(&headers)
                            } else {
                                explicit_retry_after(&headers)
                            };
                            if let Some(wait) = wait {
                                if too_many_jobs {
                                    // Only new jobs are refused; polls let the queue drain.
                                    self.inner.limiter.pause_scope(
                                        &LimitScope::Endpoint(BULK_JOBS_SCOPE.to_owned()),
                                        wait,
                                    );
                                } else if status == StatusCode::TOO_MANY_REQUESTS {
                                    // Hold back what the limit names: the account, one
                                    // endpoint or one record.
                                    let scope =
                                        limit_scope(&headers, &body, &request.endpoint, &target);
                                    tracing::debug!(endpoint = %request.endpoint, ?scope, wait_ms = wait.as_millis() as u64, "rate limited");
                                    self.inner.limiter.pause_scope(&scope, wait);
                                }
                            }
                            let failure = if too_many_jobs {
                                FailureKind::TooManyJobs
                            } else {
                                FailureKind::Status(status.as_u16())
                            };
                            let error = self.status_error(
                                &request,
                                status.as_u16(),
                                api,
                                &body,
                                wait,
                                too_many_jobs,
                            );
                            (failure, wait, error)
                        }
                    }
                }
            };
            match decide(&config.retry, failure, request.class, attempt, wait_hint) {
                RetryDecision::Wait(delay) => {
                    // Honour a server-given wait exactly; spread our own backoff.
                    let delay = if wait_hint.is_some() {
                        delay
                    } else {
                        jitter(delay)
                    };
                    tracing::debug!(endpoint = %request.endpoint, attempt, ?failure, delay_ms = delay.as_millis() as u64, "retrying");
                    config.clock.sleep(delay).await;
                }
                RetryDecision::GiveUp => return Err(error),
            }
        }
    }

    fn status_error(
        &self,
        request: &Request<'_>,
        status: u16,
        api: ApiError,
        body: &[u8],
        retry_after: Option<std::time::Duration>,
        too_many_jobs: bool,
    ) -> ZendeskError {
        let endpoint = request.endpoint.clone();
        if too_many_jobs {
            return ZendeskError::TooManyJobs { retry_after };
        }
        match status {
            401 => ZendeskError::Unauthorized {
                description: api.description.or(api.error),
            },
            403 if request.forbidden_is_bulk_disabled && names_disabled_import(&api, body) => {
                ZendeskError::BulkImportDisabled { endpoint }
            }
            403 => ZendeskError::Forbidden {
                endpoint,
                error: api.error,
                description: api.description,
            },
            404 => ZendeskError::NotFound { endpoint },
            422 => ZendeskError::ValidationFailed {
                error: api.error.unwrap_or_else(|| "RecordInvalid".into()),
                description: api.description.unwrap_or_default(),
                details: api.details,
            },
            429 => ZendeskError::RateLimited {
                retry_after,
                description: api.description.or_else(|| plain_text(body)),
            },
            500..=599 => ZendeskError::Server {
                status,
                body: if request.secret_body {
                    "<withheld>".into()
                } else {
                    excerpt(&String::from_utf8_lossy(body), BODY_EXCERPT)
                },
            },
            _ => ZendeskError::Rejected {
                status,
                error: api.error,
                description: api.description,
            },
        }
    }

    fn read_request(&self, url: Url, endpoint: &str) -> Request<'static> {
        Request {
            method: Method::GET,
            url,
            endpoint: format!("GET {endpoint}"),
            body: None,
            class: RequestClass::Read,
            authenticated: true,
            bulk_job: false,
            forbidden_is_bulk_disabled: false,
            secret_body: false,
        }
    }

    async fn get<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T> {
        let url = self.url(path, query)?;
        let answer = self.execute(self.read_request(url, endpoint)).await?;
        decode(answer.status, &answer.body)
    }

    async fn single_write<T: DeserializeOwned>(
        &self,
        method: Method,
        endpoint: &str,
        path: &str,
        body: &Value,
    ) -> Result<Written<T>> {
        let answer = self
            .execute(Request {
                endpoint: format!("{method} {endpoint}"),
                method,
                url: self.url(path, &[])?,
                body: Some(body),
                class: RequestClass::SingleWrite,
                authenticated: true,
                bulk_job: false,
                forbidden_is_bulk_disabled: false,
                secret_body: false,
            })
            .await?;
        Ok(Written {
            value: decode(answer.status, &answer.body)?,
            warning: answer.warning,
        })
    }

    async fn bulk_write(
        &self,
        method: Method,
        path: &str,
        body: &Value,
        user_import: bool,
    ) -> Result<Written<JobStatus>> {
        let answer = self
            .execute(Request {
                endpoint: format!("{method} {path}"),
                method,
                url: self.url(path, &[])?,
                body: Some(body),
                class: RequestClass::BulkWrite,
                authenticated: true,
                bulk_job: true,
                forbidden_is_bulk_disabled: user_import,
                secret_body: false,
            })
            .await?;
        let job: JobEnvelope = decode(answer.status, &answer.body)?;
        let job = job.job_status;
        if let Some(reservation) = answer.reservation {
            reservation.commit(&job.id);
            if job.status.is_terminal() {
                self.inner.slots.release(&job.id);
            }
        }
        tracing::debug!(job_id = %job.id, endpoint = path, "bulk job queued");
        Ok(Written {
            value: job,
            warning: answer.warning,
        })
    }

    /// Every page of a custom field list (cursor pagination, 100 a page).
    async fn list_fields(&self, path: &str) -> Result<Vec<CustomField>> {
        let mut fields = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![("page[size]", PAGE_SIZE.to_owned())];
            if let Some(cursor) = cursor.take() {
                query.push(("page[after]", cursor));
            }
            let answer: FieldsEnvelope = self.get(path, path, &query).await?;
            fields.extend(answer.user_fields);
            match answer
                .meta
                .filter(|m| m.has_more)
                .and_then(|m| m.after_cursor)
            {
                Some(next) => cursor = Some(next),
                None => return Ok(fields),
            }
        }
    }

    fn release_finished(&self, statuses: &[JobStatus]) {
        for status in statuses.iter().filter(|s| s.status.is_terminal()) {
            self.inner.slots.release(&status.id);
        }
    }

    fn membership_page(answer: MembershipsEnvelope) -> Page<OrganizationMembership> {
        let next_cursor = answer
            .meta
            .filter(|meta| meta.has_more)
            .and_then(|meta| meta.after_cursor);
        Page {
            items: answer.organization_memberships,
            next_cursor,
        }
    }
}

mod identities;

#[async_trait]
impl ZendeskRead for HttpZendeskClient {
    async fn account_settings(&self) -> Result<AccountSettings> {
        let body: Value = self
            .get("/api/v2/account/settings", "/api/v2/account/settings", &[])
            .await?;
        Ok(AccountSettings::from_response(&body))
    }

    async fn show_user(&self, id: u64) -> Result<User> {
        let (key, value) = identities::INCLUDE_IDENTITIES;
        let answer: identities::UserWithIdentities = self
            .get(
                "/api/v2/users/{id}",
                &format!("/api/v2/users/{id}"),
                &[(key, value.to_owned())],
            )
            .await?;
        Ok(answer.into_user())
    }

    async fn show_many_users(&self, ids: &[u64]) -> Result<Vec<User>> {
        let mut users = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BULK_LIMIT) {
            let ids = chunk
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let (key, value) = identities::INCLUDE_IDENTITIES;
            let answer: identities::UsersWithIdentities = self
                .get(
                    "/api/v2/users/show_many",
                    "/api/v2/users/show_many",
                    &[("ids", ids), (key, value.to_owned())],
                )
                .await?;
            users.extend(answer.into_users());
        }
        Ok(users)
    }

    async fn show_many_users_by_external_ids(&self, external_ids: &[String]) -> Result<Vec<User>> {
        let mut users = Vec::with_capacity(external_ids.len());
        for chunk in external_ids.chunks(BULK_LIMIT) {
            let ids = join_external_ids(chunk)?;
            let (key, value) = identities::INCLUDE_IDENTITIES;
            let answer: identities::UsersWithIdentities = self
                .get(
                    "/api/v2/users/show_many",
                    "/api/v2/users/show_many",
                    &[("external_ids", ids), (key, value.to_owned())],
                )
                .await?;
            users.extend(answer.into_users());
        }
        Ok(users)
    }

    async fn search_users_by_email(&self, email: &str) -> Result<Vec<User>> {
        let email = email.trim();
        // An address has no white space or quotes, so the `email:` keyword takes it bare,
        // as Zendesk's search reference writes it.
        if email.is_empty() || email.contains(['"', ' ', '\t']) {
            return Err(ZendeskError::InvalidRequest(
                "not a searchable email address".into(),
            ));
        }
        let (key, value) = identities::INCLUDE_IDENTITIES;
        let answer: identities::UsersWithIdentities = self
            .get(
                "/api/v2/users/search",
                "/api/v2/users/search",
                &[("query", format!("email:{email}")), (key, value.to_owned())],
            )
            .await?;
        self.searched_users(answer, email).await
    }

    async fn count_users(&self) -> Result<Option<u64>> {
        match self
            .get::<Value>("/api/v2/users/count", "/api/v2/users/count", &[])
            .await
        {
            Ok(body) => Ok(body.pointer("/count/value").and_then(Value::as_u64)),
            Err(ZendeskError::NotFound { .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    async fn export_users_page(&self, cursor: Option<String>) -> Result<UserExportPage> {
        let mut query = match cursor {
            Some(cursor) => vec![("cursor", cursor)],
            None => vec![("start_time", "0".to_owned())],
        };
        query.push(("include", "identities".to_owned()));
        query.push(("per_page", EXPORT_PAGE_SIZE.to_owned()));
        let path = "/api/v2/incremental/users/cursor";
        let answer: UserExportAnswer = self.get(path, path, &query).await?;
        let mut users = answer.users;
        let mut identities: BTreeMap<u64, Vec<Identity>> = BTreeMap::new();
        for identity in answer.identities {
            if let Some(user_id) = identity.user_id {
                identities.entry(user_id).or_default().push(identity);
            }
        }
        for user in &mut users {
            if let Some(found) = identities.remove(&user.id) {
                user.identities.extend(found);
            }
        }
        Ok(UserExportPage {
            users,
            after_cursor: answer.after_cursor,
            end_of_stream: answer.end_of_stream,
        })
    }

    async fn export_organizations_page(
        &self,
        next_page: Option<String>,
    ) -> Result<OrganizationExportPage> {
        let url = match next_page {
            Some(next) => self.same_origin(&next)?,
            None => self.url(
                "/api/v2/incremental/organizations",
                &[("start_time", "0".to_owned())],
            )?,
        };
        let answer = self
            .execute(self.read_request(url, "/api/v2/incremental/organizations"))
            .await?;
        let page: OrganizationExportAnswer = decode(answer.status, &answer.body)?;
        Ok(OrganizationExportPage {
            organizations: page.organizations,
            next_page: page.next_page,
            end_of_stream: page.end_of_stream,
        })
    }

    async fn show_many_organizations_by_external_ids(
        &self,
        external_ids: &[String],
    ) -> Result<Vec<Organization>> {
        let mut organizations = Vec::with_capacity(external_ids.len());
        let path = "/api/v2/organizations/show_many";
        for chunk in external_ids.chunks(BULK_LIMIT) {
            let ids = join_external_ids(chunk)?;
            let answer: OrganizationsEnvelope =
                self.get(path, path, &[("external_ids", ids)]).await?;
            organizations.extend(answer.organizations);
        }
        Ok(organizations)
    }

    async fn search_organizations_by_name(&self, name: &str) -> Result<Vec<Organization>> {
        let path = "/api/v2/organizations/search";
        let answer: OrganizationsEnvelope =
            self.get(path, path, &[("name", name.to_owned())]).await?;
        Ok(answer.organizations)
    }

    async fn list_user_memberships_page(
        &self,
        user_id: u64,
        cursor: Option<String>,
    ) -> Result<Page<OrganizationMembership>> {
        let mut query = vec![("page[size]", PAGE_SIZE.to_owned())];
        if let Some(cursor) = cursor {
            query.push(("page[after]", cursor));
        }
        let answer: MembershipsEnvelope = self
            .get(
                "/api/v2/users/{id}/organization_memberships",
                &format!("/api/v2/users/{user_id}/organization_memberships"),
                &query,
            )
            .await?;
        Ok(Self::membership_page(answer))
    }

    async fn list_memberships_page(
        &self,
        cursor: Option<String>,
    ) -> Result<Page<OrganizationMembership>> {
        let mut query = vec![("page[size]", PAGE_SIZE.to_owned())];
        if let Some(cursor) = cursor {
            query.push(("page[after]", cursor));
        }
        let path = "/api/v2/organization_memberships";
        let answer: MembershipsEnvelope = self.get(path, path, &query).await?;
        Ok(Self::membership_page(answer))
    }

    async fn list_user_fields(&self) -> Result<Vec<CustomField>> {
        self.list_fields("/api/v2/user_fields").await
    }

    async fn list_organization_fields(&self) -> Result<Vec<CustomField>> {
        self.list_fields("/api/v2/organization_fields").await
    }

    async fn show_job_status(&self, id: &str) -> Result<JobStatus> {
        if id.is_empty() || id.contains('/') {
            return Err(ZendeskError::InvalidRequest("not a job id".into()));
        }
        let answer: JobEnvelope = self
            .get(
                "/api/v2/job_statuses/{id}",
                &format!("/api/v2/job_statuses/{id}"),
                &[],
            )
            .await?;
        self.release_finished(std::slice::from_ref(&answer.job_status));
        Ok(answer.job_status)
    }

    async fn show_many_job_statuses(&self, ids: &[String]) -> Result<Vec<JobStatus>> {
        let mut statuses = Vec::with_capacity(ids.len());
        let path = "/api/v2/job_statuses/show_many";
        for chunk in ids.chunks(BULK_LIMIT) {
            let answer: JobsEnvelope = self.get(path, path, &[("ids", chunk.join(","))]).await?;
            self.release_finished(&answer.job_statuses);
            statuses.extend(answer.job_statuses);
        }
        Ok(statuses)
    }

    async fn list_user_identities(&self, user_id: u64) -> Result<Vec<Identity>> {
        self.user_identities(user_id).await
    }
}

#[async_trait]
impl ZendeskWrite for HttpZendeskClient {
    async fn create_user(&self, user: &NewUser) -> Result<Written<User>> {
        let body = json!({ "user": user.to_json() });
        let answer: Written<UserEnvelope> = self
            .single_write(Method::POST, "/api/v2/users", "/api/v2/users", &body)
            .await?;
        Ok(unwrap(answer, |a| a.user))
    }

    async fn update_user(&self, update: &UserUpdate) -> Result<Written<User>> {
        if update.is_empty() {
            return Err(ZendeskError::InvalidRequest(
                "the user update changes nothing".into(),
            ));
        }
        let body = json!({ "user": update.to_json(false) });
        let answer: Written<UserEnvelope> = self
            .single_write(
                Method::PUT,
                "/api/v2/users/{id}",
                &format!("/api/v2/users/{}", update.id()),
                &body,
            )
            .await?;
        Ok(unwrap(answer, |a| a.user))
    }

    async fn create_many_users(&self, users: &[NewUser]) -> Result<Written<JobStatus>> {
        check_bulk(users, "users")?;
        let body = json!({ "users": users.iter().map(NewUser::to_json).collect::<Vec<_>>() });
        self.bulk_write(Method::POST, "/api/v2/users/create_many", &body, true)
            .await
    }

    async fn create_or_update_many_users(&self, users: &[NewUser]) -> Result<Written<JobStatus>> {
        check_bulk(users, "users")?;
        let body = json!({ "users": users.iter().map(NewUser::to_json).collect::<Vec<_>>() });
        self.bulk_write(
            Method::POST,
            "/api/v2/users/create_or_update_many",
            &body,
            true,
        )
        .await
    }

    async fn update_many_users(&self, updates: &[UserUpdate]) -> Result<Written<JobStatus>> {
        check_bulk(updates, "user updates")?;
        let body = json!({ "users": updates.iter().map(|u| u.to_json(true)).collect::<Vec<_>>() });
        self.bulk_write(Method::PUT, "/api/v2/users/update_many", &body, false)
            .await
    }

    async fn create_organization(&self, org: &NewOrganization) -> Result<Written<Organization>> {
        let body = json!({ "organization": org.to_json() });
        let answer: Written<OrganizationEnvelope> = self
            .single_write(
                Method::POST,
                "/api/v2/organizations",
                "/api/v2/organizations",
                &body,
            )
            .await?;
        Ok(unwrap(answer, |a| a.organization))
    }

    async fn update_organization(
        &self,
        update: &OrganizationUpdate,
    ) -> Result<Written<Organization>> {
        if update.is_empty() {
            return Err(ZendeskError::InvalidRequest(
                "the organization update changes nothing".into(),
            ));
        }
        let body = json!({ "organization": update.to_json(false) });
        let answer: Written<OrganizationEnvelope> = self
            .single_write(
                Method::PUT,
                "/api/v2/organizations/{id}",
                &format!("/api/v2/organizations/{}", update.id()),
                &body,
            )
            .await?;
        Ok(unwrap(answer, |a| a.organization))
    }

    async fn create_many_organizations(
        &self,
        orgs: &[NewOrganization],
    ) -> Result<Written<JobStatus>> {
        check_bulk(orgs, "organizations")?;
        let body = json!({ "organizations": orgs.iter().map(NewOrganization::to_json).collect::<Vec<_>>() });
        self.bulk_write(
            Method::POST,
            "/api/v2/organizations/create_many",
            &body,
            false,
        )
        .await
    }

    async fn update_many_organizations(
        &self,
        updates: &[OrganizationUpdate],
    ) -> Result<Written<JobStatus>> {
        check_bulk(updates, "organization updates")?;
        let body =
            json!({ "organizations": updates.iter().map(|u| u.to_json(true)).collect::<Vec<_>>() });
        self.bulk_write(
            Method::PUT,
            "/api/v2/organizations/update_many",
            &body,
            false,
        )
        .await
    }

    async fn create_membership(
        &self,
        membership: &NewMembership,
    ) -> Result<Written<OrganizationMembership>> {
        let body = json!({ "organization_membership": membership });
        let path = "/api/v2/organization_memberships";
        let answer: Written<MembershipEnvelope> =
            self.single_write(Method::POST, path, path, &body).await?;
        Ok(unwrap(answer, |a| a.organization_membership))
    }

    async fn create_many_memberships(
        &self,
        memberships: &[NewMembership],
    ) -> Result<Written<JobStatus>> {
        check_bulk(memberships, "memberships")?;
        let body = json!({ "organization_memberships": memberships });
        self.bulk_write(
            Method::POST,
            "/api/v2/organization_memberships/create_many",
            &body,
            false,
        )
        .await
    }

    async fn make_default_membership(
        &self,
        user_id: u64,
        membership_id: u64,
    ) -> Result<Vec<OrganizationMembership>> {
        let answer: Written<MembershipsEnvelope> = self
            .single_write(
                Method::PUT,
                "/api/v2/users/{user_id}/organization_memberships/{id}/make_default",
                &format!(
                    "/api/v2/users/{user_id}/organization_memberships/{membership_id}/make_default"
                ),
                &Value::Object(Default::default()),
            )
            .await?;
        Ok(answer.value.organization_memberships)
    }

    async fn create_user_identity(&self, user_id: u64, identity: &NewIdentity) -> Result<Identity> {
        self.add_user_identity(user_id, identity).await
    }
}

/// Takes the record out of its envelope, keeping the answer's warning.
fn unwrap<E, T>(answer: Written<E>, record: impl FnOnce(E) -> T) -> Written<T> {
    Written {
        value: record(answer.value),
        warning: answer.warning,
    }
}

/// Whether a 403 on a bulk user import is the refusal Zendesk documents for accounts
/// whose bulk (data) imports are not enabled. Zendesk's reference says only "a 403
/// Forbidden error is returned if data imports are not enabled"; the answer names imports.
/// A 403 for a missing scope or role ("You do not have access to this page") is not that:
/// it is an authorization error, and falling back to single calls would only repeat it.
fn names_disabled_import(api: &ApiError, body: &[u8]) -> bool {
    let text = [api.error.as_deref(), api.description.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let text = if text.is_empty() {
        String::from_utf8_lossy(body).into_owned()
    } else {
        text
    };
    text.to_ascii_lowercase().contains("import")
}

/// A short plain-text answer (Zendesk's 429s are `text/plain`), trimmed; `None` for JSON
/// or an empty body.
fn plain_text(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() || text.starts_with('{') {
        None
    } else {
        Some(excerpt(text, BODY_EXCERPT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_shapes() {
        let classic = ApiError::parse(br#"{"error":"RecordInvalid","description":"Record validation errors","details":{"email":[{"error":"DuplicateValue"}]}}"#);
        assert_eq!(classic.error.as_deref(), Some("RecordInvalid"));
        assert_eq!(
            classic.description.as_deref(),
            Some("Record validation errors")
        );
        assert!(classic.details.is_some());
        let newer =
            ApiError::parse(br#"{"errors":[{"code":"TooManyRequests","title":"Slow down"}]}"#);
        assert_eq!(newer.error.as_deref(), Some("TooManyRequests"));
        assert_eq!(newer.description.as_deref(), Some("Slow down"));
        let nested = ApiError::parse(
            br#"{"error":{"title":"Forbidden","message":"You do not have access"}}"#,
        );
        assert_eq!(nested.error.as_deref(), Some("Forbidden"));
        assert_eq!(
            nested.description.as_deref(),
            Some("You do not have access")
        );
        let text = ApiError::parse(b"Too Many Requests");
        assert!(text.error.is_none());
    }

    #[test]
    fn bulk_limits() {
        assert!(check_bulk::<u8>(&[], "x").is_err());
        assert!(check_bulk(&[0u8; 100], "x").is_ok());
        assert!(check_bulk(&[0u8; 101], "x").is_err());
    }
}
