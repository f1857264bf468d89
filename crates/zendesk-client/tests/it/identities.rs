//! Email identities: the `include=identities` sideload on every user read, the identities
//! endpoints, and the search fallback when an answer carries no sideload.

use serde_json::json;
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};
use zendesk_client::{NewIdentity, ZendeskError, ZendeskRead, ZendeskWrite};

use crate::common::harness;

fn vic() -> serde_json::Value {
    json!({"id": 35, "name": "Vic", "email": "vic@example.test", "active": true})
}

fn vic_identities() -> serde_json::Value {
    json!([
        {"id": 1, "user_id": 35, "type": "email", "value": "vic@example.test", "primary": true, "verified": true},
        {"id": 2, "user_id": 35, "type": "email", "value": "Vic.Work@Example.test", "primary": false, "verified": false},
        {"id": 3, "user_id": 35, "type": "phone_number", "value": "+1 555 0100", "primary": true}
    ])
}

#[tokio::test]
async fn show_many_sideloads_identities_onto_each_user() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/show_many"))
        .and(query_param("ids", "35,36"))
        .and(query_param("include", "identities"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "users": [vic(), {"id": 36, "name": "Wes", "email": "wes@example.test"}],
            "identities": vic_identities()
        })))
        .expect(1)
        .mount(&h.server)
        .await;

    let users = h.client.show_many_users(&[35, 36]).await.expect("users");

    assert_eq!(
        users[0].emails().collect::<Vec<_>>(),
        ["vic@example.test", "Vic.Work@Example.test"]
    );
    assert!(users[0].has_email("vic.work@example.test"));
    assert_eq!(users[1].emails().collect::<Vec<_>>(), ["wes@example.test"]);
    assert_eq!(h.client.calls().total(), 1);
}

#[tokio::test]
async fn show_many_by_external_ids_and_show_user_sideload_too() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/show_many"))
        .and(query_param("external_ids", "003A"))
        .and(query_param("include", "identities"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "users": [vic()], "identities": vic_identities()
        })))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/35"))
        .and(query_param("include", "identities"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "user": vic(), "identities": vic_identities()
        })))
        .expect(1)
        .mount(&h.server)
        .await;

    let by_external = h
        .client
        .show_many_users_by_external_ids(&["003A".to_owned()])
        .await
        .expect("users");
    let shown = h.client.show_user(35).await.expect("user");

    assert!(by_external[0].has_email("vic.work@example.test"));
    assert!(shown.has_email("VIC.WORK@example.test"));
}

#[tokio::test]
async fn search_with_the_sideload_costs_one_call() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/search"))
        .and(query_param("query", "email:vic.work@example.test"))
        .and(query_param("include", "identities"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "users": [vic()], "identities": vic_identities(), "count": 1,
            "next_page": null, "previous_page": null
        })))
        .expect(1)
        .mount(&h.server)
        .await;

    let users = h
        .client
        .search_users_by_email("vic.work@example.test")
        .await
        .expect("users");

    assert!(users[0].has_email("vic.work@example.test"));
    assert_eq!(h.client.calls().total(), 1);
}

#[tokio::test]
async fn search_without_the_sideload_lists_identities_of_a_user_found_by_another_address() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/search"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "users": [vic()], "count": 1, "next_page": null, "previous_page": null
        })))
        .expect(2)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/35/identities"))
        .and(query_param("page[size]", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "identities": vic_identities(),
            "meta": {"has_more": false, "after_cursor": null, "before_cursor": null}
        })))
        .expect(1)
        .mount(&h.server)
        .await;

    // Found by its primary address: nothing more to read.
    let primary = h
        .client
        .search_users_by_email("vic@example.test")
        .await
        .expect("users");
    assert!(primary[0].has_email("vic@example.test"));
    // Found by a secondary address Zendesk did not sideload: one identities listing.
    let secondary = h
        .client
        .search_users_by_email("vic.work@example.test")
        .await
        .expect("users");
    assert!(secondary[0].has_email("vic.work@example.test"));
    assert_eq!(h.client.calls().get("GET /api/v2/users/{id}/identities"), 1);
}

#[tokio::test]
async fn list_user_identities_follows_cursor_pages() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/35/identities"))
        .and(query_param("page[after]", "c1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "identities": [{"id": 2, "type": "email", "value": "second@example.test"}],
            "meta": {"has_more": false, "after_cursor": "c2"}
        })))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/35/identities"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "identities": [{"id": 1, "user_id": 35, "type": "email", "value": "first@example.test", "primary": true}],
            "meta": {"has_more": true, "after_cursor": "c1"}
        })))
        .expect(1)
        .mount(&h.server)
        .await;

    let identities = h.client.list_user_identities(35).await.expect("identities");

    let values: Vec<&str> = identities.iter().map(|i| i.value.as_str()).collect();
    assert_eq!(values, ["first@example.test", "second@example.test"]);
    assert!(identities.iter().all(|i| i.user_id == Some(35)));
}

#[tokio::test]
async fn create_user_identity_sends_the_documented_body() {
    let h = harness().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/users/35/identities"))
        .and(body_json(json!({"identity": {
            "type": "email", "value": "vic.work@example.test", "skip_verify_email": true
        }})))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"identity": {
                "id": 2, "user_id": 35, "type": "email", "value": "vic.work@example.test",
                "primary": false, "verified": false
            }})),
        )
        .expect(1)
        .mount(&h.server)
        .await;

    let identity = h
        .client
        .create_user_identity(35, &NewIdentity::email("vic.work@example.test"))
        .await
        .expect("identity");

    assert_eq!(identity.id, Some(2));
    assert!(!identity.primary);
}

#[tokio::test]
async fn an_address_of_another_user_is_a_validation_error() {
    let h = harness().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/users/35/identities"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "error": "RecordInvalid",
            "description": "Record validation errors",
            "details": {"value": [{
                "description": "Email: wes@example.test is already being used by another user",
                "error": "DuplicateValue"
            }]}
        })))
        .expect(1)
        .mount(&h.server)
        .await;

    let err = h
        .client
        .create_user_identity(35, &NewIdentity::email("wes@example.test"))
        .await
        .expect_err("refused");

    assert!(
        matches!(&err, ZendeskError::ValidationFailed { .. }),
        "{err:?}"
    );
}
