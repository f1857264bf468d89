//! Shared test helpers: fixtures, servers standing in for the login host and the instance, clients.

use std::time::Duration;

use salesforce_client::{
    HttpSalesforceClient, RetryConfig, SalesforceAuth, SalesforceConfig, SecretString, Url,
};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub const API_VERSION: &str = "62.0";
pub const QUERY_PATH: &str = "/services/data/v62.0/query";
pub const TOKEN_PATH: &str = "/services/oauth2/token";
pub const CLIENT_ID: &str = "3MVG9-test-client-id";
pub const CLIENT_SECRET: &str = "s3cr3t-client-value";
pub const FIRST_TOKEN: &str = "fake-access-token-first";
pub const SECOND_TOKEN: &str = "fake-access-token-second";

/// A response body from `fixtures/salesforce/`.
pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/data/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

/// A JSON response with a fixture body.
pub fn json(status: u16, name: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(fixture(name), "application/json")
}

/// Retries fast enough for tests: three attempts, a millisecond or two apart.
pub fn fast_retry() -> RetryConfig {
    RetryConfig {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
    }
}

/// A login server and a separate instance server, so the tests see data calls go to
/// the `instance_url` from the token answer.
pub struct Org {
    pub login: MockServer,
    pub instance: MockServer,
}

impl Org {
    pub async fn start() -> Self {
        let org = Self {
            login: MockServer::start().await,
            instance: MockServer::start().await,
        };
        catch_all(&org.login).await;
        catch_all(&org.instance).await;
        org
    }

    /// The token answer issuing `token` for this org's instance.
    pub fn token_response(&self, token: &str) -> ResponseTemplate {
        let body = fixture("token_success.json")
            .replace("{{instance_url}}", &self.instance.uri())
            .replace(FIRST_TOKEN, token);
        ResponseTemplate::new(200).set_body_raw(body, "application/json")
    }

    /// Accepts the client credentials `n` times, issuing `token`.
    pub async fn issue_token(&self, token: &str, n: u64) {
        token_request()
            .respond_with(self.token_response(token))
            .up_to_n_times(n)
            .expect(n)
            .mount(&self.login)
            .await;
    }

    pub fn config(&self) -> SalesforceConfig {
        SalesforceConfig::new(
            &self.login.uri(),
            API_VERSION,
            SalesforceAuth::ClientCredentials {
                client_id: CLIENT_ID.into(),
                client_secret: SecretString::from(CLIENT_SECRET),
            },
        )
        .expect("config")
        .with_retry(fast_retry())
    }

    pub fn client(&self) -> HttpSalesforceClient {
        HttpSalesforceClient::new(self.config()).expect("client")
    }

    /// A client with a ready token for the instance (no login).
    pub fn token_client(&self, token: &str) -> HttpSalesforceClient {
        HttpSalesforceClient::new(self.token_config(token)).expect("client")
    }

    /// A configuration with a ready token for the instance, and fast retries.
    pub fn token_config(&self, token: &str) -> SalesforceConfig {
        SalesforceConfig::new(
            &self.login.uri(),
            API_VERSION,
            SalesforceAuth::AccessToken {
                access_token: SecretString::from(token),
                instance_url: Url::parse(&self.instance.uri()).expect("url"),
            },
        )
        .expect("config")
        .with_retry(fast_retry())
    }

    /// The `q` parameters of the queries the instance received, in order.
    pub async fn received_queries(&self) -> Vec<String> {
        received_q(&self.instance).await
    }
}

pub async fn received_q(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "q")
                .map(|(_, v)| v.into_owned())
        })
        .collect()
}

/// A well-formed client credentials token request.
pub fn token_request() -> wiremock::MockBuilder {
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("grant_type=client_credentials"))
        .and(body_string_contains(format!("client_id={CLIENT_ID}")))
        .and(body_string_contains(format!(
            "client_secret={CLIENT_SECRET}"
        )))
}

/// A query request carrying `token`.
pub fn query_with(token: &str) -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path(QUERY_PATH))
        .and(header("authorization", format!("Bearer {token}")))
}

/// Answers anything no other mock matched with 418 and a body naming the request, so a
/// test that sends something unexpected fails with that name in its error.
async fn catch_all(server: &MockServer) {
    Mock::given(wiremock::matchers::any())
        .respond_with(|req: &Request| {
            ResponseTemplate::new(418)
                .set_body_string(format!("unexpected request: {} {}", req.method, req.url))
        })
        .with_priority(u8::MAX)
        .mount(server)
        .await;
}
