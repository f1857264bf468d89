//! Organization memberships: cursor pages and streams, create, create_many, make_default.

use futures::StreamExt;
use serde_json::json;
use wiremock::matchers::{body_json, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, ResponseTemplate};
use zendesk_client::stream::{collect_all, memberships_stream, user_memberships_stream};
use zendesk_client::{NewMembership, ZendeskError, ZendeskRead, ZendeskWrite};

use crate::common::{harness, json_response};

#[tokio::test]
async fn memberships_stream_walks_every_page() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/organization_memberships"))
        .and(query_param("page[size]", "100"))
        .and(query_param_is_missing("page[after]"))
        .respond_with(json_response(200, "memberships_page1.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/organization_memberships"))
        .and(query_param("page[size]", "100"))
        .and(query_param("page[after]", "xxx"))
        .respond_with(json_response(200, "memberships_page2.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    let memberships = collect_all(memberships_stream(&h.client))
        .await
        .expect("all");
    assert_eq!(
        memberships
            .iter()
            .map(|m| (m.id, m.user_id, m.organization_id, m.default))
            .collect::<Vec<_>>(),
        vec![(4, 29, 12, true), (49, 155, 3, false), (50, 155, 7, false)]
    );
}

#[tokio::test]
async fn page_api_reports_the_next_cursor_only_when_there_is_more() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/29/organization_memberships"))
        .and(query_param("page[size]", "100"))
        .and(query_param("page[after]", "abc"))
        .respond_with(json_response(200, "memberships_user.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    let page = h
        .client
        .list_user_memberships_page(29, Some("abc".into()))
        .await
        .expect("page");
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.next_cursor, None);
}

#[tokio::test]
async fn user_memberships_stream_surfaces_errors() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/404/organization_memberships"))
        .respond_with(json_response(404, "error_404.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    let items: Vec<_> = user_memberships_stream(&h.client, 404).collect().await;
    assert_eq!(items.len(), 1);
    assert!(matches!(items[0], Err(ZendeskError::NotFound { .. })));
}

#[tokio::test]
async fn create_membership_omits_default_unless_set() {
    let h = harness().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/organization_memberships"))
        .and(body_json(
            json!({"organization_membership": {"user_id": 72, "organization_id": 881}}),
        ))
        .respond_with(json_response(201, "membership_create.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/organization_memberships"))
        .and(body_json(json!({"organization_membership": {"user_id": 72, "organization_id": 882, "default": true}})))
        .respond_with(json_response(201, "membership_create.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    let created = h
        .client
        .create_membership(&NewMembership::new(72, 881))
        .await
        .expect("created");
    assert_eq!((created.id, created.default), (461, true));
    let mut default = NewMembership::new(72, 882);
    default.default = Some(true);
    h.client.create_membership(&default).await.expect("created");
}

#[tokio::test]
async fn create_many_memberships_body() {
    let h = harness().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/organization_memberships/create_many"))
        .and(body_json(json!({"organization_memberships": [
            {"user_id": 1, "organization_id": 2},
            {"user_id": 3, "organization_id": 4, "default": false}
        ]})))
        .respond_with(json_response(200, "job_status_queued.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    let mut second = NewMembership::new(3, 4);
    second.default = Some(false);
    let job = h
        .client
        .create_many_memberships(&[NewMembership::new(1, 2), second])
        .await
        .expect("job");
    assert_eq!(job.id, "82de0b044094f0c67893ac9fe64f1a99");
}

#[tokio::test]
async fn make_default_answers_the_users_memberships() {
    let h = harness().await;
    Mock::given(method("PUT"))
        .and(path(
            "/api/v2/users/29/organization_memberships/4/make_default",
        ))
        .respond_with(json_response(200, "membership_make_default.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    let memberships = h
        .client
        .make_default_membership(29, 4)
        .await
        .expect("memberships");
    assert_eq!(
        memberships
            .iter()
            .filter(|m| m.default)
            .map(|m| m.id)
            .collect::<Vec<_>>(),
        vec![4]
    );
    assert_eq!(
        h.client
            .calls()
            .get("PUT /api/v2/users/{user_id}/organization_memberships/{id}/make_default"),
        1
    );
}

#[tokio::test]
async fn existing_membership_is_a_validation_error() {
    let h = harness().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/organization_memberships"))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "error": "RecordInvalid",
            "description": "Record validation errors",
            "details": {"user_id": [{"description": "User has already been taken", "error": "DuplicateValue"}]}
        })))
        .expect(1)
        .mount(&h.server)
        .await;
    let err = h
        .client
        .create_membership(&NewMembership::new(1, 2))
        .await
        .expect_err("422");
    assert!(matches!(err, ZendeskError::ValidationFailed { .. }));
    assert!(!err.is_retryable());
}
