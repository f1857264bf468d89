//! Authentication: OAuth client credentials (token request, re-auth on 401, expiry),
//! bearer tokens and legacy API tokens.

use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, ResponseTemplate};
use zendesk_client::{Auth, ZendeskError, ZendeskRead};

use crate::common::{harness_with, json_response};

fn oauth() -> Auth {
    Auth::oauth_client_credentials("sync-client", "oauth-client-secret-42")
}

fn token_answer(token: &str, expires_in: Option<u64>) -> ResponseTemplate {
    let mut body = json!({"access_token": token, "token_type": "bearer", "scope": "read write"});
    if let Some(secs) = expires_in {
        body["expires_in"] = json!(secs);
    }
    ResponseTemplate::new(200).set_body_json(body)
}

#[tokio::test]
async fn oauth_client_credentials_fetches_a_token_then_uses_it() {
    let h = harness_with(oauth(), |_| {}).await;
    Mock::given(method("POST"))
        .and(path("/oauth/tokens"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "grant_type": "client_credentials",
            "client_id": "sync-client",
            "client_secret": "oauth-client-secret-42",
            "scope": "read write"
        })))
        .respond_with(json_response(200, "oauth_token.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/87193"))
        .and(header("authorization", "Bearer fixture-access-token-1"))
        .respond_with(json_response(200, "users_show.json"))
        .expect(2)
        .mount(&h.server)
        .await;
    h.client.show_user(87193).await.expect("first");
    h.client.show_user(87193).await.expect("second, same token");
    let calls = h.client.calls();
    assert_eq!(calls.get("POST /oauth/tokens"), 1);
    assert_eq!(calls.total(), 3, "token requests are counted");
}

#[tokio::test]
async fn oauth_401_reauthenticates_once_and_repeats() {
    let h = harness_with(oauth(), |_| {}).await;
    Mock::given(method("POST"))
        .and(path("/oauth/tokens"))
        .respond_with(token_answer("token-one", None))
        .up_to_n_times(1)
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/tokens"))
        .respond_with(token_answer("token-two", None))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/1"))
        .and(header("authorization", "Bearer token-one"))
        .respond_with(json_response(401, "error_401.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/1"))
        .and(header("authorization", "Bearer token-two"))
        .respond_with(json_response(200, "users_show.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    let user = h
        .client
        .show_user(1)
        .await
        .expect("repeated with a new token");
    assert_eq!(user.id, 87193);
    assert!(h.clock.sleeps().is_empty(), "a re-auth is not a backoff");
}

#[tokio::test]
async fn oauth_persistent_401_is_unauthorized_after_one_reauth() {
    let h = harness_with(oauth(), |_| {}).await;
    Mock::given(method("POST"))
        .and(path("/oauth/tokens"))
        .respond_with(token_answer("revoked", None))
        .expect(2)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/1"))
        .respond_with(json_response(401, "error_401.json"))
        .expect(2)
        .mount(&h.server)
        .await;
    let err = h.client.show_user(1).await.expect_err("401");
    match err {
        ZendeskError::Unauthorized { description } => {
            assert_eq!(description.as_deref(), Some("Couldn't authenticate you"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn oauth_token_is_renewed_before_it_expires() {
    let h = harness_with(oauth(), |c| {
        c.token_refresh_margin = Duration::from_secs(60)
    })
    .await;
    Mock::given(method("POST"))
        .and(path("/oauth/tokens"))
        .respond_with(token_answer("early", Some(3600)))
        .up_to_n_times(1)
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/tokens"))
        .respond_with(token_answer("late", Some(3600)))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/1"))
        .and(header("authorization", "Bearer early"))
        .respond_with(json_response(200, "users_show.json"))
        .expect(2)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/1"))
        .and(header("authorization", "Bearer late"))
        .respond_with(json_response(200, "users_show.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    h.client.show_user(1).await.expect("fresh token");
    h.clock.advance(Duration::from_secs(3600 - 61));
    h.client
        .show_user(1)
        .await
        .expect("still valid outside the margin");
    h.clock.advance(Duration::from_secs(2));
    h.client
        .show_user(1)
        .await
        .expect("renewed inside the margin");
}

#[tokio::test]
async fn rejected_client_credentials_are_unauthorized() {
    let h = harness_with(oauth(), |_| {}).await;
    Mock::given(method("POST"))
        .and(path("/oauth/tokens"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"error": "invalid_client", "error_description": "Client authentication failed"}),
        ))
        .expect(1)
        .mount(&h.server)
        .await;
    let err = h.client.show_user(1).await.expect_err("no token");
    assert!(matches!(err, ZendeskError::Unauthorized { .. }), "{err:?}");
}

#[tokio::test]
async fn bearer_token_401_is_not_retried() {
    let h = harness_with(Auth::bearer("static-token"), |_| {}).await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/1"))
        .and(header("authorization", "Bearer static-token"))
        .respond_with(json_response(401, "error_401.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    let err = h.client.show_user(1).await.expect_err("401");
    assert!(matches!(err, ZendeskError::Unauthorized { .. }));
}

#[tokio::test]
async fn api_token_uses_basic_email_slash_token() {
    let h = harness_with(
        Auth::api_token(
            "jdoe@example.com",
            "6wiIBWbGkBMo1mRDMuVwkw1EPsNkeUj95PIz2akv",
        ),
        |_| {},
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/1"))
        .and(header(
            "authorization",
            "Basic amRvZUBleGFtcGxlLmNvbS90b2tlbjo2d2lJQldiR2tCTW8xbVJETXVWd2t3MUVQc05rZVVqOTVQSXoyYWt2",
        ))
        .respond_with(json_response(200, "users_show.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    h.client.show_user(1).await.expect("authenticated");
}
