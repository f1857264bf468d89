//! Client configuration: where to log in, which API version, how to authenticate and retry.

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::error::{Result, SalesforceError};
use crate::retry::RetryConfig;

/// The smallest batch size Salesforce accepts in `Sforce-Query-Options`.
pub const MIN_BATCH_SIZE: u32 = 200;
/// The largest batch size Salesforce accepts in `Sforce-Query-Options`.
pub const MAX_BATCH_SIZE: u32 = 2000;
/// The default timeout of one HTTP request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// How the client authenticates.
///
/// `Debug` never shows the secrets: they are [`SecretString`]s.
#[derive(Debug, Clone)]
pub enum SalesforceAuth {
    /// OAuth 2.0 client credentials flow against `{login_url}/services/oauth2/token`.
    ///
    /// The client fetches a token before the first call and again once when a call is
    /// answered with `401 INVALID_SESSION_ID`.
    ClientCredentials {
        /// The consumer key of the connected app / external client app.
        client_id: String,
        /// The consumer secret.
        client_secret: SecretString,
    },
    /// A ready access token, e.g. from another tool. It cannot be renewed: an expired
    /// session surfaces as [`SalesforceError::SessionExpired`].
    AccessToken {
        /// The bearer token.
        access_token: SecretString,
        /// The org's instance URL, e.g. `https://mycompany.my.salesforce.com`.
        instance_url: Url,
    },
}

/// Everything [`HttpSalesforceClient`](crate::HttpSalesforceClient) needs.
#[derive(Debug, Clone)]
pub struct SalesforceConfig {
    /// The org's My Domain URL (client credentials do not work with `login.salesforce.com`).
    pub login_url: Url,
    /// API version without the `v`, e.g. `62.0`.
    pub api_version: String,
    /// How to authenticate.
    pub auth: SalesforceAuth,
    /// Records per page requested via `Sforce-Query-Options: batchSize=N` (200..=2000).
    /// `None` leaves it to Salesforce (up to 2000).
    pub batch_size: Option<u32>,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
    /// Retry policy for server errors, timeouts and dropped connections.
    pub retry: RetryConfig,
}

impl SalesforceConfig {
    /// Builds a validated configuration with default batch size, timeout and retries.
    ///
    /// `api_version` may be given as `62.0` or `v62.0`.
    ///
    /// # Errors
    ///
    /// [`SalesforceError::InvalidConfig`] when a URL does not parse, uses plain `http`
    /// for a host that is not loopback, or the API version is not like `62.0`.
    pub fn new(login_url: &str, api_version: &str, auth: SalesforceAuth) -> Result<Self> {
        let login_url = Url::parse(login_url)
            .map_err(|e| SalesforceError::InvalidConfig(format!("login_url is not a URL: {e}")))?;
        let config = Self {
            login_url,
            api_version: api_version
                .strip_prefix('v')
                .unwrap_or(api_version)
                .to_owned(),
            auth,
            batch_size: None,
            timeout: DEFAULT_TIMEOUT,
            retry: RetryConfig::default(),
        };
        config.validate()?;
        Ok(config)
    }

    /// Sets the query batch size (see [`SalesforceConfig::batch_size`]).
    #[must_use]
    pub fn with_batch_size(mut self, batch_size: u32) -> Self {
        self.batch_size = Some(batch_size);
        self
    }

    /// Sets the per-request timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the retry policy.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// Checks the configuration; the fields are public, so the client checks again.
    ///
    /// # Errors
    ///
    /// [`SalesforceError::InvalidConfig`] naming the first problem found.
    pub fn validate(&self) -> Result<()> {
        check_url("login_url", &self.login_url)?;
        if let SalesforceAuth::AccessToken { instance_url, .. } = &self.auth {
            check_url("instance_url", instance_url)?;
        }
        if !is_api_version(&self.api_version) {
            return Err(SalesforceError::InvalidConfig(format!(
                "api_version {:?} is not like \"62.0\"",
                self.api_version
            )));
        }
        if let Some(size) = self.batch_size
            && !(MIN_BATCH_SIZE..=MAX_BATCH_SIZE).contains(&size)
        {
            return Err(SalesforceError::InvalidConfig(format!(
                "batch_size {size} is outside {MIN_BATCH_SIZE}..={MAX_BATCH_SIZE}"
            )));
        }
        if self.timeout.is_zero() {
            return Err(SalesforceError::InvalidConfig("timeout is zero".into()));
        }
        self.retry.validate()
    }
}

fn is_api_version(v: &str) -> bool {
    let mut parts = v.split('.');
    let digits =
        |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    digits(parts.next()) && digits(parts.next()) && parts.next().is_none()
}

/// Requires `https`, or `http` only for loopback hosts (local test servers).
pub(crate) fn check_url(name: &str, url: &Url) -> Result<()> {
    match url.scheme() {
        "https" => {}
        "http" if is_secure_url(url) => {}
        "http" => {
            return Err(SalesforceError::InvalidConfig(format!(
                "{name} uses plain http for a non-loopback host; use https"
            )));
        }
        other => {
            return Err(SalesforceError::InvalidConfig(format!(
                "{name} has unsupported scheme {other:?}"
            )));
        }
    }
    if url.host().is_none() {
        return Err(SalesforceError::InvalidConfig(format!(
            "{name} has no host"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(SalesforceError::InvalidConfig(format!(
            "{name} must not contain credentials"
        )));
    }
    Ok(())
}

/// The transport rule of this crate: `https`, or plain `http` only to a loopback host
/// (`localhost`, 127.0.0.0/8, `::1`: local test servers and simulators), so credentials
/// never cross a network in clear.
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

    fn token_auth(instance: &str) -> SalesforceAuth {
        SalesforceAuth::AccessToken {
            access_token: SecretString::from("00Dxx!secret-token"),
            instance_url: Url::parse(instance).expect("url"),
        }
    }

    #[test]
    fn url_schemes() {
        let cases = [
            ("https://acme.my.salesforce.com", true),
            ("http://127.0.0.1:8080", true),
            ("http://127.1.2.3", true),
            ("http://localhost:9000", true),
            ("http://[::1]:9000", true),
            ("http://acme.my.salesforce.com", false),
            ("http://10.0.0.1", false),
            ("http://localhost.evil.com", false),
            ("ftp://acme.my.salesforce.com", false),
            ("https://user:pw@acme.my.salesforce.com", false),
        ];
        for (url, ok) in cases {
            let parsed = Url::parse(url).expect("url");
            assert_eq!(check_url("login_url", &parsed).is_ok(), ok, "{url}");
        }
    }

    #[test]
    fn instance_url_is_checked_too() {
        let err = SalesforceConfig::new(
            "https://acme.my.salesforce.com",
            "62.0",
            token_auth("http://acme.my.salesforce.com"),
        )
        .expect_err("plain http instance");
        assert!(err.to_string().contains("instance_url"), "{err}");
    }

    #[test]
    fn api_versions() {
        for (v, ok) in [
            ("62.0", true),
            ("v62.0", true),
            ("62", false),
            ("62.x", false),
            ("", false),
            ("6.2.0", false),
        ] {
            let r = SalesforceConfig::new(
                "https://a.my.salesforce.com",
                v,
                token_auth("https://a.my.salesforce.com"),
            );
            assert_eq!(r.is_ok(), ok, "{v}");
        }
    }

    #[test]
    fn batch_size_range() {
        let c = SalesforceConfig::new(
            "https://a.my.salesforce.com",
            "62.0",
            token_auth("https://a.my.salesforce.com"),
        )
        .expect("config");
        assert!(c.clone().with_batch_size(199).validate().is_err());
        assert!(c.clone().with_batch_size(200).validate().is_ok());
        assert!(c.clone().with_batch_size(2000).validate().is_ok());
        assert!(c.with_batch_size(2001).validate().is_err());
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = SalesforceConfig::new(
            "https://a.my.salesforce.com",
            "62.0",
            SalesforceAuth::ClientCredentials {
                client_id: "3MVG9-client".into(),
                client_secret: SecretString::from("super-secret-value"),
            },
        )
        .expect("config");
        let shown = format!("{c:?} {:?}", token_auth("https://a.my.salesforce.com"));
        assert!(!shown.contains("super-secret-value"), "{shown}");
        assert!(!shown.contains("secret-token"), "{shown}");
        assert!(shown.contains("REDACTED"), "{shown}");
    }
}
