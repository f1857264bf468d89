//! Client configuration: where Zendesk is, how to authenticate, and the budgets and delays
//! the client keeps to.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::clock::{Clock, TokioClock};
use crate::error::ZendeskError;
use crate::retry::RetryConfig;

/// How the client authenticates.
///
/// Secrets are [`SecretString`]s: `Debug` prints them redacted.
#[derive(Clone)]
pub enum Auth {
    /// OAuth client credentials grant (`POST /oauth/tokens`), the recommended choice for a
    /// background service. Tokens expire; the client fetches a new one shortly before expiry
    /// and once more when a request is answered 401.
    OAuthClientCredentials {
        /// The OAuth client's identifier (not its numeric id).
        client_id: String,
        /// The OAuth client's secret.
        client_secret: SecretString,
        /// Space-separated scopes, e.g. `"read write"`.
        scope: String,
    },
    /// A ready OAuth access token, sent as `Authorization: Bearer …`. It is not refreshed.
    BearerToken(SecretString),
    /// A legacy API token, sent as `Authorization: Basic base64("{email}/token:{token}")`.
    ///
    /// **Deprecated by Zendesk:** API tokens can no longer be created from 2026-10-27 and are
    /// permanently deactivated on **2027-04-30**. Use
    /// [`Auth::OAuthClientCredentials`] for anything meant to outlive that date.
    ApiToken {
        /// The email address of the acting Zendesk user.
        email: String,
        /// The API token.
        token: SecretString,
    },
}

impl Auth {
    /// OAuth client credentials with the `"read write"` scope.
    pub fn oauth_client_credentials(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Self::OAuthClientCredentials {
            client_id: client_id.into(),
            client_secret: SecretString::from(client_secret.into()),
            scope: "read write".to_owned(),
        }
    }

    /// A ready bearer token.
    pub fn bearer(token: impl Into<String>) -> Self {
        Self::BearerToken(SecretString::from(token.into()))
    }

    /// A legacy API token (retired by Zendesk on 2027-04-30, see [`Auth::ApiToken`]).
    pub fn api_token(email: impl Into<String>, token: impl Into<String>) -> Self {
        Self::ApiToken {
            email: email.into(),
            token: SecretString::from(token.into()),
        }
    }
}

impl fmt::Debug for Auth {
    // Written by hand so that no future field can print a secret by accident.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OAuthClientCredentials {
                client_id, scope, ..
            } => f
                .debug_struct("OAuthClientCredentials")
                .field("client_id", client_id)
                .field("client_secret", &"[REDACTED]")
                .field("scope", scope)
                .finish(),
            Self::BearerToken(_) => f.debug_tuple("BearerToken").field(&"[REDACTED]").finish(),
            Self::ApiToken { email, .. } => f
                .debug_struct("ApiToken")
                .field("email", email)
                .field("token", &"[REDACTED]")
                .finish(),
        }
    }
}

/// Everything [`crate::HttpZendeskClient`] needs. Build it with [`ZendeskConfig::new`] and
/// adjust the public fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ZendeskConfig {
    /// The account's base URL, e.g. `https://acme.zendesk.com` (the API lives under `/api/v2/`).
    pub base_url: Url,
    /// How to authenticate.
    pub auth: Auth,
    /// Client-side budget shared by every call of a client and its clones (default 400, the
    /// Suite Growth/Professional account limit; lower it when other integrations share the
    /// account).
    pub requests_per_minute: u32,
    /// Timeout of one HTTP request (default 30 s).
    pub timeout: Duration,
    /// Retry policy.
    pub retry: RetryConfig,
    /// Bulk jobs this client keeps queued or running at once (default 30, Zendesk's account
    /// cap; the `zendesk-ratelimit-inflight-jobs` header can lower it further).
    pub max_inflight_jobs: usize,
    /// An in-flight job slot nobody released (its status was never polled) is freed after
    /// this long (default 1 h), so a forgotten job cannot block submissions forever.
    pub inflight_job_ttl: Duration,
    /// When a rate-limit header reports this many requests or fewer remaining, the client
    /// spreads the rest over the time until the window resets (default 10).
    pub rate_limit_low_watermark: u64,
    /// An OAuth token is renewed this long before it expires (default 60 s).
    pub token_refresh_margin: Duration,
    /// The `User-Agent` sent.
    pub user_agent: String,
    /// The time source for every wait (default: tokio's clock).
    pub clock: Arc<dyn Clock>,
}

impl ZendeskConfig {
    /// Configuration with defaults for the account at `base_url`.
    ///
    /// # Errors
    ///
    /// [`ZendeskError::InvalidConfig`] when `base_url` is not an absolute URL, or uses plain
    /// `http` for a host that is not loopback (127.0.0.0/8, ::1, localhost).
    pub fn new(base_url: &str, auth: Auth) -> Result<Self, ZendeskError> {
        let base_url = Url::parse(base_url)
            .map_err(|e| ZendeskError::InvalidConfig(format!("base url is not a url: {e}")))?;
        validate_base_url(&base_url)?;
        Ok(Self {
            base_url,
            auth,
            requests_per_minute: 400,
            timeout: Duration::from_secs(30),
            retry: RetryConfig::default(),
            max_inflight_jobs: 30,
            inflight_job_ttl: Duration::from_secs(3600),
            rate_limit_low_watermark: 10,
            token_refresh_margin: Duration::from_secs(60),
            user_agent: format!("zendesk-client/{}", env!("CARGO_PKG_VERSION")),
            clock: Arc::new(TokioClock),
        })
    }

    /// Checks the values a caller may have changed after [`ZendeskConfig::new`].
    ///
    /// # Errors
    ///
    /// [`ZendeskError::InvalidConfig`] naming the first invalid value.
    pub fn validate(&self) -> Result<(), ZendeskError> {
        validate_base_url(&self.base_url)?;
        if self.requests_per_minute == 0 {
            return Err(invalid("requests_per_minute must be at least 1"));
        }
        if self.max_inflight_jobs == 0 {
            return Err(invalid("max_inflight_jobs must be at least 1"));
        }
        if self.retry.max_attempts == 0 {
            return Err(invalid("retry.max_attempts must be at least 1"));
        }
        if let Auth::ApiToken { email, .. } = &self.auth
            && !email.contains('@')
        {
            return Err(invalid("api token email must be an email address"));
        }
        Ok(())
    }
}

fn invalid(reason: &str) -> ZendeskError {
    ZendeskError::InvalidConfig(reason.to_owned())
}

fn validate_base_url(url: &Url) -> Result<(), ZendeskError> {
    if url.host().is_none() {
        return Err(invalid("base url must have a host"));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_secure_url(url) => {}
        "http" => {
            return Err(invalid(
                "base url must use https (plain http is allowed only for loopback hosts)",
            ));
        }
        _ => return Err(invalid("base url must use https")),
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("base url must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("base url must not carry credentials"));
    }
    Ok(())
}

/// The transport rule of this crate: `https`, or plain `http` only to a loopback host
/// (`localhost`, 127.0.0.0/8, `::1`: local test servers and simulators), so credentials
/// never cross a network in clear. Callers that validate URLs earlier (a configuration
/// loader) use this same rule.
pub fn is_secure_url(url: &Url) -> bool {
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => match url.host() {
            Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_rules() {
        let cases = [
            ("https://acme.zendesk.com", true),
            ("https://acme.zendesk.com/", true),
            ("http://127.0.0.1:8080", true),
            ("http://127.1.2.3", true),
            ("http://localhost:3000", true),
            ("http://[::1]:3000", true),
            ("http://acme.zendesk.com", false),
            ("http://10.0.0.1", false),
            ("http://127.example.com", false),
            ("ftp://acme.zendesk.com", false),
            ("https://acme.zendesk.com/?x=1", false),
            ("https://user:pw@acme.zendesk.com", false),
            ("not a url", false),
        ];
        for (url, ok) in cases {
            let got = ZendeskConfig::new(url, Auth::bearer("t"));
            assert_eq!(got.is_ok(), ok, "{url}: {:?}", got.err());
            if let Err(e) = got {
                assert!(matches!(e, ZendeskError::InvalidConfig(_)), "{url}");
            }
        }
    }

    #[test]
    fn defaults() {
        let config = ZendeskConfig::new("https://acme.zendesk.com", Auth::bearer("t"))
            .expect("valid config");
        assert_eq!(config.requests_per_minute, 400);
        assert_eq!(config.timeout, Duration::from_secs(30));
        assert_eq!(config.max_inflight_jobs, 30);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn validate_rejects_zero_budgets() {
        let mut config = ZendeskConfig::new("https://acme.zendesk.com", Auth::bearer("t"))
            .expect("valid config");
        config.requests_per_minute = 0;
        assert!(config.validate().is_err());
    }

    #[test]
    fn debug_redacts_every_secret() {
        let auths = [
            Auth::oauth_client_credentials("client-x", "oauth-secret-123"),
            Auth::bearer("bearer-secret-123"),
            Auth::api_token("agent@example.com", "api-secret-123"),
        ];
        for auth in auths {
            let config =
                ZendeskConfig::new("https://acme.zendesk.com", auth).expect("valid config");
            let debug = format!("{config:?}");
            assert!(!debug.contains("secret-123"), "{debug}");
            assert!(debug.contains("REDACTED"), "{debug}");
        }
    }
}
