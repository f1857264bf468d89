//! Incremental exports: users by cursor with sideloaded identities, organizations by time.

use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, ResponseTemplate};
use zendesk_client::stream::{
    collect_all, organizations_export_stream, user_export_pages, users_export_stream,
};
use zendesk_client::{ZendeskError, ZendeskRead};

use crate::common::{fixture_with_base, harness, json_response};

async fn mount_user_export(h: &crate::common::Harness) {
    Mock::given(method("GET"))
        .and(path("/api/v2/incremental/users/cursor"))
        .and(query_param("start_time", "0"))
        .and(query_param("include", "identities"))
        .and(query_param("per_page", "1000"))
        .and(query_param_is_missing("cursor"))
        .respond_with(json_response(200, "incremental_users_cursor_page1.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/incremental/users/cursor"))
        .and(query_param("cursor", "MTU3NjYxMzUzOS4wfHw0NTF8"))
        .and(query_param("include", "identities"))
        .and(query_param("per_page", "1000"))
        .and(query_param_is_missing("start_time"))
        .respond_with(json_response(200, "incremental_users_cursor_page2.json"))
        .expect(1)
        .mount(&h.server)
        .await;
}

#[tokio::test]
async fn user_export_attaches_identities_and_stops_at_end_of_stream() {
    let h = harness().await;
    mount_user_export(&h).await;
    let users = collect_all(users_export_stream(&h.client, None))
        .await
        .expect("users");
    assert_eq!(
        users.iter().map(|u| u.id).collect::<Vec<_>>(),
        vec![35436, 35437, 35438]
    );
    let johnny = &users[0];
    assert_eq!(johnny.identities.len(), 3);
    assert_eq!(
        johnny.emails().collect::<Vec<_>>(),
        vec!["johnny@example.com", "johnny.work@example.com"]
    );
    assert!(users[1].identities.is_empty());
    assert!(!users[1].active, "deleted users come with active=false");
}

#[tokio::test]
async fn user_export_pages_expose_checkpoints() {
    let h = harness().await;
    mount_user_export(&h).await;
    let pages = collect_all(user_export_pages(&h.client, None))
        .await
        .expect("pages");
    assert_eq!(
        pages
            .iter()
            .map(|p| (p.after_cursor.as_deref(), p.end_of_stream))
            .collect::<Vec<_>>(),
        vec![
            (Some("MTU3NjYxMzUzOS4wfHw0NTF8"), false),
            (Some("MTU3NjYxMzk1OS4wfHw0NTJ8"), true)
        ]
    );
}

#[tokio::test]
async fn organization_export_follows_next_page_urls() {
    let h = harness().await;
    let base = h.base();
    Mock::given(method("GET"))
        .and(path("/api/v2/incremental/organizations"))
        .and(query_param("start_time", "0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture_with_base(
            "incremental_organizations_page1.json",
            &base,
        )))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/incremental/organizations.json"))
        .and(query_param("start_time", "1601357503"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture_with_base(
            "incremental_organizations_page2.json",
            &base,
        )))
        .expect(1)
        .mount(&h.server)
        .await;
    let orgs = collect_all(organizations_export_stream(&h.client, None))
        .await
        .expect("orgs");
    assert_eq!(
        orgs.iter().map(|o| o.id).collect::<Vec<_>>(),
        vec![4112492, 4112493]
    );
    assert_eq!(orgs[0].external_id.as_deref(), Some("ABC198"));
    assert!(orgs[1].organization_fields.is_empty());
    assert_eq!(
        h.client
            .calls()
            .get("GET /api/v2/incremental/organizations"),
        2
    );
}

#[tokio::test]
async fn organization_export_can_start_at_a_time() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/incremental/organizations"))
        .and(query_param("start_time", "1700000000"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture_with_base(
            "incremental_organizations_page2.json",
            &h.base(),
        )))
        .expect(1)
        .mount(&h.server)
        .await;
    let url = h
        .client
        .organization_export_url(1_700_000_000)
        .expect("url");
    let page = h
        .client
        .export_organizations_page(Some(url))
        .await
        .expect("page");
    assert!(page.end_of_stream);
    assert_eq!(
        page.next_page.as_deref(),
        Some(
            format!(
                "{}/api/v2/incremental/organizations.json?start_time=1601357600",
                h.base()
            )
            .as_str()
        )
    );
}

#[tokio::test]
async fn organization_export_refuses_next_page_on_another_host() {
    let h = harness().await;
    let err = h
        .client
        .export_organizations_page(Some(
            "https://evil.example.com/api/v2/incremental/organizations?start_time=1".into(),
        ))
        .await
        .expect_err("foreign host");
    assert!(matches!(err, ZendeskError::InvalidRequest(_)));
    assert_eq!(h.client.calls().total(), 0, "no credentials sent anywhere");
}

#[tokio::test]
async fn organization_export_start_must_be_a_minute_in_the_past() {
    let h = harness().await;
    let now = chrono::Utc::now().timestamp();
    assert!(h.client.organization_export_url(now).is_err());
    assert!(h.client.organization_export_url(-1).is_err());
    assert!(h.client.organization_export_url(now - 120).is_ok());
    assert!(h.client.organization_export_url(0).is_ok());
}
