//! Token flow, session expiry and re-authentication, and keeping secrets out of output.

use salesforce_client::{ENDPOINT_QUERY, ENDPOINT_TOKEN, SalesforceApi, SalesforceError};
use wiremock::ResponseTemplate;

use crate::support::*;

#[tokio::test]
async fn client_credentials_token_then_query_on_the_instance() {
    let org = Org::start().await;
    org.issue_token(FIRST_TOKEN, 1).await;
    query_with(FIRST_TOKEN)
        .respond_with(json(200, "query_accounts.json"))
        .expect(2)
        .mount(&org.instance)
        .await;
    let client = org.client();

    client
        .query("SELECT Id FROM Account")
        .await
        .expect("first query");
    let page = client
        .query("SELECT Id FROM Account")
        .await
        .expect("second query");

    assert_eq!(page.records.len(), 2);
    let calls = client.calls();
    assert_eq!(calls.get(ENDPOINT_TOKEN), 1, "the token is reused");
    assert_eq!(calls.get(ENDPOINT_QUERY), 2);
    assert_eq!(calls.total(), 3);
}

#[tokio::test]
async fn bad_credentials_are_an_auth_error_with_the_oauth_code() {
    for (fixture_name, code) in [
        ("token_invalid_client_id.json", "invalid_client_id"),
        ("token_invalid_grant.json", "invalid_grant"),
    ] {
        let org = Org::start().await;
        token_request()
            .respond_with(json(400, fixture_name))
            .expect(1)
            .mount(&org.login)
            .await;
        let client = org.client();

        let err = client
            .query("SELECT Id FROM Account")
            .await
            .expect_err("auth fails");

        match &err {
            SalesforceError::Auth {
                status,
                error,
                description,
            } => {
                assert_eq!((*status, error.as_str()), (400, code));
                assert!(!description.is_empty());
            }
            other => panic!("expected auth error, got {other:?}"),
        }
        assert!(err.to_string().contains(code), "{err}");
        assert!(!err.is_retryable());
        assert_eq!(
            client.calls().get(ENDPOINT_QUERY),
            0,
            "no data call without a token"
        );
        assert_eq!(
            client.calls().get(ENDPOINT_TOKEN),
            1,
            "a refused grant is not retried"
        );
    }
}

#[tokio::test]
async fn authenticate_surfaces_bad_credentials_before_any_query() {
    let org = Org::start().await;
    token_request()
        .respond_with(json(400, "token_invalid_client_id.json"))
        .mount(&org.login)
        .await;
    let err = org.client().authenticate().await.expect_err("refused");
    assert!(matches!(err, SalesforceError::Auth { .. }), "{err:?}");
}

#[tokio::test]
async fn expired_session_reauthenticates_once_and_repeats_the_read() {
    let org = Org::start().await;
    // The first token is issued once, the second afterwards.
    token_request()
        .respond_with(org.token_response(FIRST_TOKEN))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&org.login)
        .await;
    token_request()
        .respond_with(org.token_response(SECOND_TOKEN))
        .with_priority(2)
        .expect(1)
        .mount(&org.login)
        .await;
    query_with(FIRST_TOKEN)
        .respond_with(json(401, "error_invalid_session_id.json"))
        .expect(1)
        .mount(&org.instance)
        .await;
    query_with(SECOND_TOKEN)
        .respond_with(json(200, "query_accounts.json"))
        .expect(1)
        .mount(&org.instance)
        .await;
    let client = org.client();

    let page = client
        .query("SELECT Id, Name FROM Account")
        .await
        .expect("repeated read");

    assert_eq!(page.records.len(), 2);
    assert_eq!(
        org.received_queries().await,
        vec!["SELECT Id, Name FROM Account"; 2],
        "the same read is repeated"
    );
    assert_eq!(client.calls().get(ENDPOINT_TOKEN), 2);
    assert_eq!(client.calls().get(ENDPOINT_QUERY), 2);
}

#[tokio::test]
async fn a_fresh_session_rejected_again_is_not_retried_forever() {
    let org = Org::start().await;
    token_request()
        .respond_with(org.token_response(FIRST_TOKEN))
        .expect(2)
        .mount(&org.login)
        .await;
    query_with(FIRST_TOKEN)
        .respond_with(json(401, "error_invalid_session_id.json"))
        .expect(2)
        .mount(&org.instance)
        .await;
    let client = org.client();

    let err = client
        .query("SELECT Id FROM Account")
        .await
        .expect_err("still rejected");

    assert!(
        matches!(&err, SalesforceError::SessionExpired { reauthenticated: true, message } if message == "Session expired or invalid"),
        "{err:?}"
    );
    assert_eq!(client.calls().get(ENDPOINT_TOKEN), 2);
    assert_eq!(client.calls().get(ENDPOINT_QUERY), 2);
}

#[tokio::test]
async fn a_ready_token_that_expired_is_a_clear_session_error() {
    let org = Org::start().await;
    query_with("ready-made-token")
        .respond_with(json(401, "error_invalid_session_id.json"))
        .expect(1)
        .mount(&org.instance)
        .await;
    let client = org.token_client("ready-made-token");

    let err = client
        .query("SELECT Id FROM Account")
        .await
        .expect_err("expired");

    assert!(
        matches!(
            err,
            SalesforceError::SessionExpired {
                reauthenticated: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("session expired"), "{err}");
    assert_eq!(
        client.calls().get(ENDPOINT_TOKEN),
        0,
        "nothing to log in with"
    );
    assert_eq!(client.calls().total(), 1);
}

#[tokio::test]
async fn secrets_never_appear_in_debug_or_errors() {
    let org = Org::start().await;
    org.issue_token(FIRST_TOKEN, 1).await;
    // A misbehaving server that echoes the credentials back in its error bodies.
    let echo = format!(
        r#"[{{"message":"bad: Bearer {FIRST_TOKEN} secret {CLIENT_SECRET}","errorCode":"MALFORMED_QUERY"}}]"#
    );
    query_with(FIRST_TOKEN)
        .respond_with(ResponseTemplate::new(400).set_body_raw(echo, "application/json"))
        .mount(&org.instance)
        .await;
    let client = org.client();

    let query_err = client
        .query("SELECT Id FROM Account")
        .await
        .expect_err("rejected");

    let login_only = Org::start().await;
    let echo_auth = format!(
        r#"{{"error":"invalid_client","error_description":"secret {CLIENT_SECRET} is wrong"}}"#
    );
    token_request()
        .respond_with(ResponseTemplate::new(401).set_body_raw(echo_auth, "application/json"))
        .mount(&login_only.login)
        .await;
    let auth_err = login_only
        .client()
        .authenticate()
        .await
        .expect_err("refused");

    let shown = format!(
        "{query_err} {query_err:?} {auth_err} {auth_err:?} {client:?} {:?} {:?}",
        org.config(),
        org.token_client(FIRST_TOKEN)
    );
    for secret in [CLIENT_SECRET, FIRST_TOKEN] {
        assert!(!shown.contains(secret), "{secret} leaked in: {shown}");
    }
    assert!(shown.contains("[REDACTED]"), "{shown}");
}
