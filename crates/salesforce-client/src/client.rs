//! [`HttpSalesforceClient`]: the [`SalesforceApi`] over HTTPS with reqwest.
//!
//! It owns the session (client-credentials token or a ready token), renews it once on
//! `401 INVALID_SESSION_ID`, retries transient failures, maps Salesforce's error bodies
//! to [`SalesforceError`], and keeps the call counts and the latest API usage.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use reqwest::header::{ACCEPT, HeaderMap};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use crate::api::{DeletedRecords, QueryPage, SalesforceApi};
use crate::config::{SalesforceAuth, SalesforceConfig, check_url};
use crate::error::{Result, SalesforceError, TransportKind, excerpt};
use crate::queries::ACR_PROBE;
use crate::retry::{self, Outcome};
use crate::usage::{
    ApiUsage, CallCounts, ENDPOINT_DELETED, ENDPOINT_QUERY, ENDPOINT_QUERY_ALL,
    ENDPOINT_QUERY_MORE, ENDPOINT_TOKEN,
};

const TOKEN_PATH: &str = "/services/oauth2/token";
const LIMIT_INFO_HEADER: &str = "Sforce-Limit-Info";
const QUERY_OPTIONS_HEADER: &str = "Sforce-Query-Options";
const REDACTED: &str = "[REDACTED]";

/// A Salesforce REST client. Cheap to clone; clones share the session, counters and usage.
///
/// ```no_run
/// # async fn run() -> salesforce_client::Result<()> {
/// use salesforce_client::{HttpSalesforceClient, SalesforceAuth, SalesforceConfig, SalesforceApi};
/// let config = SalesforceConfig::new(
///     "https://acme.my.salesforce.com",
///     "62.0",
///     SalesforceAuth::ClientCredentials {
///         client_id: "3MVG9...".into(),
///         client_secret: std::env::var("SF_CLIENT_SECRET").unwrap_or_default().into(),
///     },
/// )?;
/// let client = HttpSalesforceClient::new(config)?;
/// let page = client.query("SELECT Id FROM Account LIMIT 1").await?;
/// println!("{} accounts, {} calls", page.total_size, client.calls().total());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HttpSalesforceClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: SalesforceConfig,
    http: reqwest::Client,
    session: tokio::sync::Mutex<Option<Session>>,
    usage: Mutex<Option<ApiUsage>>,
    calls: Mutex<CallCounts>,
}

#[derive(Clone)]
struct Session {
    access_token: SecretString,
    instance_url: Url,
    /// Bumped on every renewal so that concurrent callers renew only once.
    generation: u64,
}

/// The raw answer to one request.
struct Raw {
    status: u16,
    body: String,
}

/// Where a GET goes.
enum Target<'a> {
    Query(&'a str),
    QueryMore(&'a str),
    /// `queryAll`: like `Query`, with deleted and merged records.
    QueryAll(&'a str),
    /// `sobjects/{object}/deleted/?start=..&end=..`.
    Deleted {
        object: &'a str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    instance_url: String,
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiErrorItem {
    #[serde(default)]
    message: String,
    error_code: String,
    #[serde(default)]
    fields: Vec<String>,
}

/// Salesforce sends a JSON array of errors; a few endpoints send a single object.
#[derive(Deserialize)]
#[serde(untagged)]
enum ApiErrorBody {
    Many(Vec<ApiErrorItem>),
    One(ApiErrorItem),
}

impl fmt::Debug for HttpSalesforceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSalesforceClient")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl HttpSalesforceClient {
    /// Builds a client. No request is sent until the first call.
    ///
    /// # Errors
    ///
    /// [`SalesforceError::InvalidConfig`] when the configuration does not validate or the
    /// HTTP client cannot be built.
    pub fn new(config: SalesforceConfig) -> Result<Self> {
        config.validate()?;
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(std::time::Duration::from_secs(30)))
            .user_agent(concat!("salesforce-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                SalesforceError::InvalidConfig(format!("cannot build http client: {e}"))
            })?;
        let session = match &config.auth {
            SalesforceAuth::AccessToken {
                access_token,
                instance_url,
            } => Some(Session {
                access_token: access_token.clone(),
                instance_url: instance_url.clone(),
                generation: 0,
            }),
            SalesforceAuth::ClientCredentials { .. } => None,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                http,
                session: tokio::sync::Mutex::new(session),
                usage: Mutex::new(None),
                calls: Mutex::new(CallCounts::default()),
            }),
        })
    }

    /// Requests sent so far, by endpoint, retries and token requests included.
    pub fn calls(&self) -> CallCounts {
        self.inner
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The configuration the client runs with.
    pub fn config(&self) -> &SalesforceConfig {
        &self.inner.config
    }

    /// Makes sure a session exists, fetching a token with client credentials if needed,
    /// so that bad credentials surface before any work starts.
    ///
    /// # Errors
    ///
    /// [`SalesforceError::Auth`] when the token endpoint refuses the credentials; transport,
    /// server or decode errors of the token request.
    pub async fn authenticate(&self) -> Result<()> {
        self.session().await.map(|_| ())
    }

    async fn session(&self) -> Result<Session> {
        let mut guard = self.inner.session.lock().await;
        if let Some(session) = guard.as_ref() {
            return Ok(session.clone());
        }
        let session = self.fetch_token(0).await?;
        *guard = Some(session.clone());
        Ok(session)
    }

    /// Replaces the session that failed with `stale_generation`, unless another caller
    /// already did.
    async fn renew(&self, stale_generation: u64) -> Result<Session> {
        let mut guard = self.inner.session.lock().await;
        if let Some(current) = guard.as_ref()
            && current.generation != stale_generation
        {
            return Ok(current.clone());
        }
        let session = self.fetch_token(stale_generation + 1).await?;
        *guard = Some(session.clone());
        Ok(session)
    }

    fn can_reauthenticate(&self) -> bool {
        matches!(
            self.inner.config.auth,
            SalesforceAuth::ClientCredentials { .. }
        )
    }

    async fn fetch_token(&self, generation: u64) -> Result<Session> {
        let SalesforceAuth::ClientCredentials {
            client_id,
            client_secret,
        } = &self.inner.config.auth
        else {
            return Err(SalesforceError::SessionExpired {
                message: "no credentials to obtain a new access token".into(),
                reauthenticated: false,
            });
        };
        let url = self
            .inner
            .config
            .login_url
            .join(TOKEN_PATH)
            .map_err(|e| SalesforceError::InvalidConfig(format!("login_url: {e}")))?;
        tracing::debug!(%url, "requesting salesforce access token");
        let raw = self
            .send(ENDPOINT_TOKEN, || {
                self.inner
                    .http
                    .post(url.clone())
                    .header(ACCEPT, "application/json")
                    .form(&[
                        ("grant_type", "client_credentials"),
                        ("client_id", client_id.as_str()),
                        ("client_secret", client_secret.expose_secret()),
                    ])
            })
            .await?;
        if (200..300).contains(&raw.status) {
            // The body holds the access token, so a decode failure must not quote it.
            let token: TokenResponse =
                serde_json::from_str(&raw.body).map_err(|e| SalesforceError::Decode {
                    status: raw.status,
                    body_excerpt: "(token response withheld)".into(),
                    source: Some(e),
                })?;
            let instance_url = Url::parse(&token.instance_url).map_err(|e| {
                SalesforceError::InvalidConfig(format!(
                    "instance_url from the token endpoint is not a URL: {e}"
                ))
            })?;
            check_url("instance_url from the token endpoint", &instance_url)?;
            return Ok(Session {
                access_token: SecretString::from(token.access_token),
                instance_url,
                generation,
            });
        }
        if let Ok(err) = serde_json::from_str::<OAuthError>(&raw.body) {
            return Err(SalesforceError::Auth {
                status: raw.status,
                error: self.redact(&err.error),
                description: self.redact(&err.error_description),
            });
        }
        Err(self.unexpected(raw))
    }

    fn unexpected(&self, raw: Raw) -> SalesforceError {
        let body_excerpt = excerpt(&self.redact(&raw.body));
        if raw.status >= 500 {
            SalesforceError::Server {
                status: raw.status,
                body_excerpt,
            }
        } else {
            SalesforceError::Decode {
                status: raw.status,
                body_excerpt,
                source: None,
            }
        }
    }

    /// Removes the client secret and the current access token from text that is about
    /// to be kept in an error, in case a server echoes them.
    fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        let mut secrets: Vec<String> = Vec::new();
        match &self.inner.config.auth {
            SalesforceAuth::ClientCredentials { client_secret, .. } => {
                secrets.push(client_secret.expose_secret().to_owned());
            }
            SalesforceAuth::AccessToken { access_token, .. } => {
                secrets.push(access_token.expose_secret().to_owned());
            }
        }
        if let Ok(guard) = self.inner.session.try_lock()
            && let Some(s) = guard.as_ref()
        {
            secrets.push(s.access_token.expose_secret().to_owned());
        }
        for secret in secrets.iter().filter(|s| s.len() >= 4) {
            out = out.replace(secret.as_str(), REDACTED);
        }
        out
    }

    /// Sends one logical request with retries; every attempt is counted.
    async fn send<F>(&self, endpoint: &'static str, build: F) -> Result<Raw>
    where
        F: Fn() -> reqwest::RequestBuilder,
    {
        retry::run(&self.inner.config.retry, |attempt| {
            let request = build();
            async move {
                self.inner
                    .calls
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .record(endpoint);
                let response = match request.send().await {
                    Ok(response) => response,
                    Err(e) => return transport_failure(endpoint, attempt, e),
                };
                let status = response.status().as_u16();
                self.note_usage(response.headers());
                match response.text().await {
                    Ok(body) => {
                        tracing::debug!(endpoint, attempt, status, "salesforce answered");
                        (Outcome::Status(status), Ok(Raw { status, body }))
                    }
                    Err(e) => transport_failure(endpoint, attempt, e),
                }
            }
        })
        .await
    }

    fn note_usage(&self, headers: &HeaderMap) {
        let usage = headers
            .get(LIMIT_INFO_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(ApiUsage::parse_limit_info);
        if let Some(usage) = usage {
            tracing::trace!(used = usage.used, max = usage.max, "salesforce api usage");
            *self
                .inner
                .usage
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(usage);
        }
    }

    async fn get_page(&self, target: Target<'_>) -> Result<QueryPage> {
        self.get_json(target).await
    }

    async fn get_json<T: DeserializeOwned>(&self, target: Target<'_>) -> Result<T> {
        let endpoint = match target {
            Target::Query(_) => ENDPOINT_QUERY,
            Target::QueryMore(_) => ENDPOINT_QUERY_MORE,
            Target::QueryAll(_) => ENDPOINT_QUERY_ALL,
            Target::Deleted { .. } => ENDPOINT_DELETED,
        };
        let mut session = self.session().await?;
        let mut reauthenticated = false;
        loop {
            let url = self.target_url(&target, &session.instance_url)?;
            let token = session.access_token.clone();
            let batch_size = self.inner.config.batch_size;
            let raw = self
                .send(endpoint, || {
                    let request = self
                        .inner
                        .http
                        .get(url.clone())
                        .bearer_auth(token.expose_secret())
                        .header(ACCEPT, "application/json");
                    match batch_size {
                        Some(n) => request.header(QUERY_OPTIONS_HEADER, format!("batchSize={n}")),
                        None => request,
                    }
                })
                .await?;
            match self.interpret(raw) {
                Err(SalesforceError::SessionExpired { message, .. }) => {
                    if reauthenticated || !self.can_reauthenticate() {
                        return Err(SalesforceError::SessionExpired {
                            message,
                            reauthenticated,
                        });
                    }
                    tracing::info!("salesforce session expired; re-authenticating once");
                    session = self.renew(session.generation).await?;
                    reauthenticated = true;
                }
                other => return other,
            }
        }
    }

    fn target_url(&self, target: &Target<'_>, instance: &Url) -> Result<Url> {
        match target {
            Target::Query(soql) | Target::QueryAll(soql) => {
                let resource = match target {
                    Target::QueryAll(_) => "queryAll",
                    _ => "query",
                };
                let path = format!(
                    "/services/data/v{}/{resource}",
                    self.inner.config.api_version
                );
                let mut url = instance
                    .join(&path)
                    .map_err(|e| SalesforceError::InvalidConfig(format!("instance_url: {e}")))?;
                // form-urlencoding turns `+` into %2B and `'` into %27, so literals survive intact.
                url.query_pairs_mut().append_pair("q", soql);
                Ok(url)
            }
            Target::Deleted { object, start, end } => {
                // An API name is letters, digits and underscores (`Contact`, `Foo__c`);
                // anything else would change the path.
                if object.is_empty()
                    || !object
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
                {
                    return Err(SalesforceError::InvalidConfig(format!(
                        "`{}` is not an sObject API name",
                        excerpt(object)
                    )));
                }
                let path = format!(
                    "/services/data/v{}/sobjects/{object}/deleted/",
                    self.inner.config.api_version
                );
                let mut url = instance
                    .join(&path)
                    .map_err(|e| SalesforceError::InvalidConfig(format!("instance_url: {e}")))?;
                // ISO 8601 with an explicit UTC offset; the `+` is percent-encoded here.
                let stamp = |t: &DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string();
                url.query_pairs_mut()
                    .append_pair("start", &stamp(start))
                    .append_pair("end", &stamp(end));
                Ok(url)
            }
            Target::QueryMore(next) => {
                let invalid = || SalesforceError::InvalidNextRecordsUrl(excerpt(next));
                if !next.starts_with('/') || next.starts_with("//") {
                    return Err(invalid());
                }
                let url = instance.join(next).map_err(|_| invalid())?;
                // The bearer token must only ever go to the instance it was issued for.
                if url.origin() != instance.origin() {
                    return Err(invalid());
                }
                Ok(url)
            }
        }
    }

    fn interpret<T: DeserializeOwned>(&self, raw: Raw) -> Result<T> {
        if (200..300).contains(&raw.status) {
            return serde_json::from_str(&raw.body).map_err(|e| SalesforceError::Decode {
                status: raw.status,
                body_excerpt: excerpt(&self.redact(&raw.body)),
                source: Some(e),
            });
        }
        let errors = match serde_json::from_str::<ApiErrorBody>(&raw.body) {
            Ok(ApiErrorBody::Many(items)) => items,
            Ok(ApiErrorBody::One(item)) => vec![item],
            Err(_) => Vec::new(),
        };
        if let Some(limit) = errors
            .iter()
            .find(|e| e.error_code == "REQUEST_LIMIT_EXCEEDED")
        {
            return Err(SalesforceError::RequestLimitExceeded {
                status: raw.status,
                message: self.redact(&limit.message),
            });
        }
        if raw.status == 401 {
            let message = errors
                .first()
                .map(|e| self.redact(&e.message))
                .unwrap_or_else(|| "unauthorized".into());
            return Err(SalesforceError::SessionExpired {
                message,
                reauthenticated: false,
            });
        }
        if let Some(invalid) = errors.iter().find(|e| e.error_code == "INVALID_TYPE") {
            return Err(SalesforceError::ObjectNotAvailable {
                object: unsupported_object(&invalid.message),
                message: self.redact(&invalid.message),
            });
        }
        match errors.into_iter().next() {
            Some(first) if raw.status < 500 => Err(SalesforceError::Query {
                status: raw.status,
                error_code: first.error_code,
                message: self.redact(&first.message),
                fields: first.fields,
            }),
            _ => Err(self.unexpected(raw)),
        }
    }
}

fn transport_failure<T>(endpoint: &str, attempt: u32, e: reqwest::Error) -> (Outcome, Result<T>) {
    let (outcome, kind) = if e.is_builder() {
        (Outcome::InvalidRequest, TransportKind::Request)
    } else if e.is_timeout() {
        (Outcome::Timeout, TransportKind::Timeout)
    } else if e.is_connect() {
        (Outcome::ConnectFailed, TransportKind::Connect)
    } else {
        (Outcome::ConnectionDropped, TransportKind::Connection)
    };
    tracing::debug!(endpoint, attempt, %kind, "salesforce request failed");
    (outcome, Err(SalesforceError::Transport { kind, source: e }))
}

/// Extracts `Foo` from `... sObject type 'Foo' is not supported ...`.
fn unsupported_object(message: &str) -> Option<String> {
    let start = message.find("sObject type '")? + "sObject type '".len();
    let rest = &message[start..];
    let end = rest.find('\'')?;
    Some(rest[..end].to_owned())
}

#[async_trait]
impl SalesforceApi for HttpSalesforceClient {
    async fn query(&self, soql: &str) -> Result<QueryPage> {
        self.get_page(Target::Query(soql)).await
    }

    async fn query_more(&self, next_records_url: &str) -> Result<QueryPage> {
        self.get_page(Target::QueryMore(next_records_url)).await
    }

    async fn query_all_rows(&self, soql: &str) -> Result<QueryPage> {
        self.get_page(Target::QueryAll(soql)).await
    }

    async fn deleted_records(
        &self,
        object: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<DeletedRecords> {
        self.get_json(Target::Deleted { object, start, end }).await
    }

    async fn account_contact_relation_available(&self) -> Result<bool> {
        match self.query(ACR_PROBE).await {
            Ok(_) => Ok(true),
            Err(SalesforceError::ObjectNotAvailable { .. }) => {
                tracing::info!(
                    "AccountContactRelation is not available (Contacts to Multiple Accounts is off)"
                );
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    fn api_usage(&self) -> Option<ApiUsage> {
        *self
            .inner
            .usage
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_unsupported_object() {
        let msg = "\nSELECT Id FROM AccountContactRelation LIMIT 1\n               ^\nERROR at Row:1:Column:16\nsObject type 'AccountContactRelation' is not supported.";
        assert_eq!(
            unsupported_object(msg).as_deref(),
            Some("AccountContactRelation")
        );
        assert_eq!(unsupported_object("something else"), None);
    }

    fn client() -> HttpSalesforceClient {
        let config = SalesforceConfig::new(
            "https://acme.my.salesforce.com",
            "62.0",
            SalesforceAuth::AccessToken {
                access_token: SecretString::from("00Dtoken!value"),
                instance_url: Url::parse("https://acme.my.salesforce.com").expect("url"),
            },
        )
        .expect("config");
        HttpSalesforceClient::new(config).expect("client")
    }

    #[test]
    fn next_records_url_must_stay_on_the_instance() {
        let c = client();
        let instance = Url::parse("https://acme.my.salesforce.com").expect("url");
        let ok = c
            .target_url(
                &Target::QueryMore("/services/data/v62.0/query/01g-2000"),
                &instance,
            )
            .expect("path");
        assert_eq!(
            ok.as_str(),
            "https://acme.my.salesforce.com/services/data/v62.0/query/01g-2000"
        );
        for bad in [
            "https://evil.example/x",
            "//evil.example/x",
            "services/data",
            "",
        ] {
            assert!(
                matches!(
                    c.target_url(&Target::QueryMore(bad), &instance),
                    Err(SalesforceError::InvalidNextRecordsUrl(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn query_url_encodes_plus_and_quotes() {
        let c = client();
        let instance = Url::parse("https://acme.my.salesforce.com").expect("url");
        let url = c
            .target_url(
                &Target::Query("SELECT Id FROM Contact WHERE Email = 'a+b@x.com'"),
                &instance,
            )
            .expect("url");
        assert_eq!(
            url.as_str(),
            "https://acme.my.salesforce.com/services/data/v62.0/query?q=SELECT+Id+FROM+Contact+WHERE+Email+%3D+%27a%2Bb%40x.com%27"
        );
    }

    #[test]
    fn debug_shows_no_token() {
        let shown = format!("{:?}", client());
        assert!(!shown.contains("00Dtoken"), "{shown}");
    }
}
