//! Shared test harness: a wiremock server, a manual clock and a client wired to both.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};
use zendesk_client::{Auth, HttpZendeskClient, ManualClock, RetryConfig, ZendeskConfig};

pub const TOKEN: &str = "test-bearer-token";
pub const BEARER: &str = "Bearer test-bearer-token";

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/fixtures")
}

/// A fixture's text, with `{BASE}` replaced by `base`.
pub fn fixture_text(name: &str, base: &str) -> String {
    let path = fixtures_dir().join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
        .replace("{BASE}", base)
}

/// A fixture as JSON, with `{BASE}` replaced by `base`.
pub fn fixture_with_base(name: &str, base: &str) -> Value {
    serde_json::from_str(&fixture_text(name, base))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// A fixture as JSON.
pub fn fixture(name: &str) -> Value {
    fixture_with_base(name, "https://example.zendesk.com")
}

/// A JSON answer with the given status and fixture body.
pub fn json_response(status: u16, name: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(fixture(name))
}

pub fn fast_retry() -> RetryConfig {
    RetryConfig {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(120),
    }
}

pub fn config(base: &str, auth: Auth, clock: &ManualClock) -> ZendeskConfig {
    let mut config = ZendeskConfig::new(base, auth).expect("valid test config");
    config.retry = fast_retry();
    config.requests_per_minute = 10_000;
    config.timeout = Duration::from_secs(5);
    config.clock = Arc::new(clock.clone());
    config
}

pub struct Harness {
    pub server: MockServer,
    pub clock: ManualClock,
    pub client: HttpZendeskClient,
}

impl Harness {
    pub fn base(&self) -> String {
        self.server.uri()
    }
}

/// A server with a last-resort mock that must never match: an unexpected request makes the
/// test fail when the server is dropped, naming the mock.
pub async fn server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(599).set_body_string("unexpected request"))
        .with_priority(u8::MAX)
        .named("catch-all: no request should reach this")
        .expect(0)
        .mount(&server)
        .await;
    server
}

pub async fn harness_with(auth: Auth, tweak: impl FnOnce(&mut ZendeskConfig)) -> Harness {
    let server = server().await;
    let clock = ManualClock::new();
    let mut config = config(&server.uri(), auth, &clock);
    tweak(&mut config);
    let client = HttpZendeskClient::new(config).expect("client");
    Harness {
        server,
        clock,
        client,
    }
}

pub async fn harness() -> Harness {
    harness_with(Auth::bearer(TOKEN), |_| {}).await
}
