//! Zendesk's limits as the real API states them: 429s that name a narrower limit, the
//! rate-limit headers in every spelling recorded traffic shows, and the one 403 that means
//! "bulk import disabled".

use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};
use zendesk_client::{Auth, NewUser, UserUpdate, ZendeskError, ZendeskRead, ZendeskWrite};

use crate::common::{Harness, harness, harness_with, json_response};
use crate::recorded::recording;

/// A client that gives up after one attempt, so each call shows what it had to wait for.
async fn one_attempt() -> Harness {
    harness_with(Auth::bearer("t"), |c| c.retry.max_attempts = 1).await
}

async fn user_ok(h: &Harness, id: u64) {
    Mock::given(method("GET"))
        .and(path(format!("/api/v2/users/{id}")))
        .respond_with(json_response(200, "users_show.json"))
        .mount(&h.server)
        .await;
}

/// Point 3 of issue 11: the recorded 429 names the limit on updating one user. Only that
/// user's updates wait its `Retry-After: 27`; other calls go on at once.
#[tokio::test]
async fn a_single_user_limit_holds_back_only_that_user() {
    let h = one_attempt().await;
    Mock::given(method("PUT"))
        .and(path("/api/v2/users/421941820731"))
        .respond_with(recording("error_429_single_user_update.txt").respond())
        .expect(2)
        .mount(&h.server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/v2/users/35436"))
        .respond_with(json_response(200, "users_update.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    user_ok(&h, 35436).await;

    let err = h
        .client
        .update_user(&UserUpdate::new(421941820731).set_user_field("tier", serde_json::json!("x")))
        .await
        .expect_err("limited");
    match &err {
        ZendeskError::RateLimited {
            retry_after,
            description,
        } => {
            assert_eq!(*retry_after, Some(Duration::from_secs(27)));
            assert!(
                description
                    .as_deref()
                    .unwrap_or_default()
                    .contains("rate limit for updating a single unique user"),
                "{description:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("single unique user"), "{err}");

    h.client.show_user(35436).await.expect("other reads go on");
    h.client
        .update_user(&UserUpdate::new(35436).set_user_field("tier", serde_json::json!("y")))
        .await
        .expect("other users' updates go on");
    assert!(h.clock.sleeps().is_empty(), "{:?}", h.clock.sleeps());

    let _ = h
        .client
        .update_user(&UserUpdate::new(421941820731).set_user_field("tier", serde_json::json!("x")))
        .await;
    assert_eq!(h.clock.sleeps(), vec![Duration::from_secs(27)]);
}

/// A 429 while the account still has requests left is an endpoint's own limit: that
/// endpoint waits, the others do not.
#[tokio::test]
async fn an_endpoint_limit_holds_back_only_that_endpoint() {
    let h = one_attempt().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/search"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "12")
                .insert_header("x-rate-limit-remaining", "500")
                .set_body_string("Too Many Requests"),
        )
        .expect(2)
        .mount(&h.server)
        .await;
    user_ok(&h, 1).await;
    let _ = h.client.search_users_by_email("a@example.com").await;
    h.client.show_user(1).await.expect("other endpoint");
    assert!(h.clock.sleeps().is_empty(), "{:?}", h.clock.sleeps());
    let _ = h.client.search_users_by_email("b@example.com").await;
    assert_eq!(h.clock.sleeps(), vec![Duration::from_secs(12)]);
}

/// An account-wide 429 (nothing left in the account's window) holds back every call.
#[tokio::test]
async fn an_account_limit_holds_back_every_call() {
    let h = one_attempt().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/search"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "9")
                .insert_header("X-Rate-Limit", "700")
                .insert_header("X-Rate-Limit-Remaining", "0")
                .insert_header("rate-limit-reset", "9")
                .set_body_string("Rate limit exceeded"),
        )
        .expect(1)
        .mount(&h.server)
        .await;
    user_ok(&h, 1).await;
    let _ = h.client.search_users_by_email("a@example.com").await;
    h.client.show_user(1).await.expect("after the wait");
    assert_eq!(h.clock.sleeps(), vec![Duration::from_secs(9)]);
}

/// Point 4 of issue 11: recorded traffic spells the account headers `rate-limit-*` and
/// `x-rate-limit-*`; pacing follows them, not a 60-second guess.
#[tokio::test]
async fn account_headers_in_the_recorded_spelling_pace_the_next_call() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/1"))
        .respond_with(
            json_response(200, "users_show.json")
                .insert_header("rate-limit", "700")
                .insert_header("rate-limit-remaining", "0")
                .insert_header("rate-limit-reset", "44")
                .insert_header("x-rate-limit", "700"),
        )
        .up_to_n_times(1)
        .mount(&h.server)
        .await;
    user_ok(&h, 2).await;
    h.client.show_user(1).await.expect("user");
    h.client.show_user(2).await.expect("user");
    assert_eq!(h.clock.sleeps(), vec![Duration::from_secs(44)]);
}

#[tokio::test]
async fn every_spelling_of_the_remaining_and_reset_headers_is_read() {
    for (remaining, reset) in [
        ("x-rate-limit-remaining", "ratelimit-reset"),
        ("ratelimit-remaining", "ratelimit-reset"),
        ("rate-limit-remaining", "rate-limit-reset"),
        ("X-Rate-Limit-Remaining", "X-Rate-Limit-Reset"),
    ] {
        let h = harness().await;
        Mock::given(method("GET"))
            .and(path("/api/v2/users/1"))
            .respond_with(
                json_response(200, "users_show.json")
                    .insert_header(remaining, "0")
                    .insert_header(reset, "17"),
            )
            .up_to_n_times(1)
            .mount(&h.server)
            .await;
        user_ok(&h, 2).await;
        h.client.show_user(1).await.expect("user");
        h.client.show_user(2).await.expect("user");
        assert_eq!(
            h.clock.sleeps(),
            vec![Duration::from_secs(17)],
            "{remaining} / {reset}"
        );
    }
}

#[tokio::test]
async fn endpoint_headers_in_both_spellings_pace_only_their_endpoint() {
    for header in [
        "zendesk-ratelimit-incremental-exports",
        "Zendesk-Rate-Limit-incremental-exports",
    ] {
        let h = harness().await;
        Mock::given(method("GET"))
            .and(path("/api/v2/incremental/users/cursor"))
            .respond_with(
                json_response(200, "incremental_users_cursor_page2.json")
                    .insert_header(header, "total=10; remaining=0; resets=30"),
            )
            .expect(2)
            .mount(&h.server)
            .await;
        user_ok(&h, 1).await;
        h.client.export_users_page(None).await.expect("page");
        h.client.show_user(1).await.expect("other endpoint");
        assert!(h.clock.sleeps().is_empty(), "{header}");
        h.client.export_users_page(None).await.expect("page");
        assert_eq!(h.clock.sleeps(), vec![Duration::from_secs(30)], "{header}");
    }
}

/// The recorded headers (700 a minute, hundreds left) never slow a client down.
#[tokio::test]
async fn recorded_headers_with_room_left_do_not_pace() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/6130907993114"))
        .respond_with(recording("user_show.json").respond())
        .expect(2)
        .mount(&h.server)
        .await;
    h.client.show_user(6130907993114).await.expect("user");
    h.client.show_user(6130907993114).await.expect("user");
    assert!(h.clock.sleeps().is_empty());
}

/// Point 5 of issue 11: a 403 that does not name imports (a missing scope or role) is an
/// authorization error with Zendesk's message, not a reason to fall back to single calls.
#[tokio::test]
async fn a_403_without_the_documented_reason_is_forbidden() {
    let h = harness().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/users/create_many"))
        .respond_with(json_response(403, "error_403_forbidden.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/users/create_or_update_many"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "error": {"title": "Forbidden", "message": "You do not have access to this page. Please contact the account owner of this help desk for further help."}
        })))
        .expect(1)
        .mount(&h.server)
        .await;
    let users = [NewUser::new("A", "a@example.com")];
    let err = h
        .client
        .create_many_users(&users)
        .await
        .expect_err("forbidden");
    match &err {
        ZendeskError::Forbidden { description, .. } => {
            assert!(
                description
                    .as_deref()
                    .unwrap_or_default()
                    .starts_with("You do not have access"),
                "{description:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .contains("You do not have access to this page"),
        "{err}"
    );
    let err = h
        .client
        .create_or_update_many_users(&users)
        .await
        .expect_err("forbidden");
    assert!(matches!(err, ZendeskError::Forbidden { .. }), "{err:?}");
}

#[tokio::test]
async fn custom_fields_are_listed_across_pages() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/user_fields"))
        .and(wiremock::matchers::query_param("page[size]", "100"))
        .and(wiremock::matchers::query_param_is_missing("page[after]"))
        .respond_with(json_response(200, "user_fields_page1.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/user_fields"))
        .and(wiremock::matchers::query_param("page[after]", "xc2"))
        .respond_with(json_response(200, "user_fields_page2.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/organization_fields"))
        .respond_with(json_response(200, "organization_fields.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    let users = h.client.list_user_fields().await.expect("fields");
    let keys: Vec<&str> = users.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(keys, vec!["support_description", "job_title", "legacy_id"]);
    assert_eq!(users[0].kind.as_deref(), Some("text"));
    assert_eq!(users[0].title.as_deref(), Some("Support description"));
    assert!(!users[2].active);
    let orgs = h.client.list_organization_fields().await.expect("fields");
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0].key, "tier");
    assert_eq!(h.client.calls().total(), 3);
}

/// Real answers carry the window's reset on every response; a 503 is retried after the
/// client's own backoff, not after the rate-limit window.
#[tokio::test]
async fn a_server_error_does_not_wait_for_the_rate_limit_window() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/1"))
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("rate-limit", "700")
                .insert_header("rate-limit-remaining", "600")
                .insert_header("rate-limit-reset", "44")
                .set_body_string("Service Unavailable"),
        )
        .up_to_n_times(1)
        .mount(&h.server)
        .await;
    user_ok(&h, 1).await;
    h.client.show_user(1).await.expect("after one retry");
    let sleeps = h.clock.sleeps();
    assert_eq!(sleeps.len(), 1, "{sleeps:?}");
    assert!(sleeps[0] <= Duration::from_millis(10), "{sleeps:?}");
}
