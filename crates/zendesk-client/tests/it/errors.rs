//! Error mapping and secrecy: statuses become the right variants, and no secret ever shows
//! up in an error, a `Debug` print or a fixture.

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};
use zendesk_client::{
    Auth, HttpZendeskClient, ManualClock, ZendeskConfig, ZendeskError, ZendeskRead,
};

use crate::common::{config, fixtures_dir, harness, harness_with, json_response};

#[test]
fn plain_http_is_refused_unless_loopback() {
    let err = ZendeskConfig::new("http://acme.zendesk.com", Auth::bearer("t")).expect_err("http");
    assert!(matches!(err, ZendeskError::InvalidConfig(_)));
    assert!(ZendeskConfig::new("http://127.0.0.1:9", Auth::bearer("t")).is_ok());
    assert!(ZendeskConfig::new("http://localhost:9", Auth::bearer("t")).is_ok());
    assert!(ZendeskConfig::new("https://acme.zendesk.com", Auth::bearer("t")).is_ok());

    // A base URL changed after construction is checked again by the client.
    let mut config =
        ZendeskConfig::new("https://acme.zendesk.com", Auth::bearer("t")).expect("valid");
    config.base_url = "http://acme.zendesk.com".parse().expect("url");
    assert!(matches!(
        HttpZendeskClient::new(config),
        Err(ZendeskError::InvalidConfig(_))
    ));
}

#[tokio::test]
async fn not_found() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/999"))
        .respond_with(json_response(404, "error_404.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    let err = h.client.show_user(999).await.expect_err("404");
    assert!(
        matches!(&err, ZendeskError::NotFound { endpoint } if endpoint == "GET /api/v2/users/{id}")
    );
    assert_eq!(err.to_string(), "not found: GET /api/v2/users/{id}");
    assert_eq!(err.status(), Some(404));
}

#[tokio::test]
async fn bad_request_is_rejected_with_zendesk_error() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/organization_memberships"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "InvalidPaginationParameter", "description": "page[size] is too large"
        })))
        .expect(1)
        .mount(&h.server)
        .await;
    let err = h.client.list_memberships_page(None).await.expect_err("400");
    match err {
        ZendeskError::Rejected {
            status,
            error,
            description,
        } => {
            assert_eq!(status, 400);
            assert_eq!(error.as_deref(), Some("InvalidPaginationParameter"));
            assert_eq!(description.as_deref(), Some("page[size] is too large"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn undecodable_answer_keeps_a_short_excerpt() {
    let h = harness().await;
    let long = format!("<html>{}</html>", "x".repeat(500));
    Mock::given(method("GET"))
        .and(path("/api/v2/users/1"))
        .respond_with(ResponseTemplate::new(200).set_body_string(long))
        .expect(1)
        .mount(&h.server)
        .await;
    let err = h.client.show_user(1).await.expect_err("not json");
    match &err {
        ZendeskError::Decode { status, body, .. } => {
            assert_eq!(*status, 200);
            assert!(body.starts_with("<html>xxx"));
            assert!(body.chars().count() <= 201, "{}", body.len());
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(std::error::Error::source(&err).is_some());
}

const CLIENT_SECRET: &str = "oauth-client-secret-do-not-leak";
const ACCESS_TOKEN: &str = "access-token-do-not-leak";

fn assert_no_secret(text: &str) {
    for secret in [CLIENT_SECRET, ACCESS_TOKEN] {
        assert!(!text.contains(secret), "secret leaked in: {text}");
    }
}

fn describe(err: &ZendeskError) -> String {
    let mut text = format!("{err} | {err:?}");
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(&format!(" | {cause}"));
        source = cause.source();
    }
    text
}

#[tokio::test]
async fn secrets_never_appear_in_errors_or_debug() {
    let h = harness_with(
        Auth::oauth_client_credentials("client", CLIENT_SECRET),
        |_| {},
    )
    .await;
    assert_no_secret(&format!("{:?}", h.client));

    // A token endpoint that echoes the secret in a 500, then in an undecodable answer.
    Mock::given(method("POST"))
        .and(path("/oauth/tokens"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_string(format!("crash: client_secret={CLIENT_SECRET}")),
        )
        .up_to_n_times(3)
        .mount(&h.server)
        .await;
    let err = h.client.show_user(1).await.expect_err("token 500");
    assert!(matches!(err, ZendeskError::Server { status: 500, .. }));
    assert_no_secret(&describe(&err));

    Mock::given(method("POST"))
        .and(path("/oauth/tokens"))
        .respond_with(ResponseTemplate::new(200).set_body_string(format!(
            r#"{{"access_token": ["{ACCESS_TOKEN}"], "secret": "{CLIENT_SECRET}"}}"#
        )))
        .up_to_n_times(1)
        .mount(&h.server)
        .await;
    let err = h.client.show_user(1).await.expect_err("undecodable token");
    assert!(matches!(err, ZendeskError::Decode { .. }));
    assert_no_secret(&describe(&err));

    // With a working token, API errors do not carry it either.
    Mock::given(method("POST"))
        .and(path("/oauth/tokens"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"access_token": ACCESS_TOKEN})),
        )
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/1"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"error": "Couldn't authenticate you"})),
        )
        .mount(&h.server)
        .await;
    let err = h.client.show_user(1).await.expect_err("401");
    assert!(matches!(err, ZendeskError::Unauthorized { .. }));
    assert_no_secret(&describe(&err));
}

#[tokio::test]
async fn transport_errors_do_not_carry_the_api_token() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let clock = ManualClock::new();
    let client = HttpZendeskClient::new(config(
        &format!("http://127.0.0.1:{port}"),
        Auth::api_token("agent@example.com", ACCESS_TOKEN),
        &clock,
    ))
    .expect("client");
    let err = client.show_user(1).await.expect_err("refused");
    assert_no_secret(&describe(&err));
    assert_no_secret(&format!("{client:?}"));
}

#[test]
fn error_messages_are_short_lowercase_phrases() {
    let errors = [
        ZendeskError::Unauthorized { description: None },
        ZendeskError::RateLimited {
            retry_after: None,
            description: None,
        },
        ZendeskError::TooManyJobs { retry_after: None },
        ZendeskError::BulkImportDisabled {
            endpoint: "POST /api/v2/users/create_many".into(),
        },
        ZendeskError::Server {
            status: 503,
            body: String::new(),
        },
    ];
    for err in errors {
        let text = err.to_string();
        let first = text.chars().next().expect("non-empty");
        assert!(first.is_lowercase(), "{text}");
        assert!(!text.ends_with('.'), "{text}");
    }
}

#[test]
fn fixtures_hold_no_credentials() {
    for entry in std::fs::read_dir(fixtures_dir()).expect("fixtures dir") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("readable");
        let lower = text.to_lowercase();
        for needle in ["authorization", "bearer ", "basic ", "/token:"] {
            if path.extension().is_some_and(|e| e == "md") && needle == "authorization" {
                continue; // the README explains this very check
            }
            assert!(
                !lower.contains(needle),
                "{} contains {needle:?}",
                path.display()
            );
        }
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(&text)
        {
            for key in ["access_token", "refresh_token"] {
                if let Some(value) = map.get(key).and_then(|v| v.as_str()) {
                    assert!(
                        value.starts_with("fixture-"),
                        "{} {key} is not a fixture value",
                        path.display()
                    );
                }
            }
        }
    }
}
