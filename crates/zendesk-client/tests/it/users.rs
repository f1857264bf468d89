//! Users: lookups, search, count, single and bulk writes, with exact request bodies.

use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, ResponseTemplate};
use zendesk_client::{
    BULK_LIMIT, JobState, NewUser, UserUpdate, ZendeskError, ZendeskRead, ZendeskWrite,
};

use crate::common::{BEARER, harness, json_response};

#[tokio::test]
async fn show_user_sends_auth_and_accept_and_parses_the_documented_user() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/87193"))
        .and(header("authorization", BEARER))
        .and(header("accept", "application/json"))
        .respond_with(
            json_response(200, "users_show.json").insert_header("x-zendesk-request-id", "abc123"),
        )
        .expect(1)
        .mount(&h.server)
        .await;

    let user = h.client.show_user(87193).await.expect("user");
    assert_eq!(user.id, 87193);
    assert_eq!(user.name, "Johnny Agent");
    assert_eq!(user.email.as_deref(), Some("johnny@example.com"));
    assert_eq!(user.organization_id, Some(57542));
    assert_eq!(user.role.as_deref(), Some("agent"));
    assert_eq!(user.external_id.as_deref(), Some("sai989sur98w9"));
    assert_eq!(user.user_fields["user_dropdown"], json!("option_1"));
    assert_eq!(user.extra["notes"], json!("Johnny is a nice guy!"));
    assert!(user.active && !user.suspended);
    assert_eq!(h.client.calls().get("GET /api/v2/users/{id}"), 1);
}

#[tokio::test]
async fn show_many_users_chunks_ids_by_100() {
    let h = harness().await;
    let ids: Vec<u64> = (1..=150).collect();
    let first: Vec<String> = (1..=100).map(|i: u64| i.to_string()).collect();
    let second: Vec<String> = (101..=150).map(|i: u64| i.to_string()).collect();
    Mock::given(method("GET"))
        .and(path("/api/v2/users/show_many"))
        .and(query_param("ids", first.join(",")))
        .respond_with(json_response(200, "users_show_many.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/show_many"))
        .and(query_param("ids", second.join(",")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"users": []})))
        .expect(1)
        .mount(&h.server)
        .await;

    let users = h.client.show_many_users(&ids).await.expect("users");
    assert_eq!(users.len(), 2);
    assert!(
        users[0].user_fields.is_empty(),
        "null user_fields read as empty"
    );
    assert!(users[1].suspended);
    assert_eq!(h.client.calls().get("GET /api/v2/users/show_many"), 2);
}

#[tokio::test]
async fn show_many_users_by_external_ids() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/show_many"))
        .and(query_param(
            "external_ids",
            "0035g00000AbCdEAAZ,0035g00000XyZaBAAV",
        ))
        .and(query_param_is_missing("ids"))
        .respond_with(json_response(200, "users_show_many.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    let ids = vec![
        "0035g00000AbCdEAAZ".to_owned(),
        "0035g00000XyZaBAAV".to_owned(),
    ];
    let users = h
        .client
        .show_many_users_by_external_ids(&ids)
        .await
        .expect("users");
    assert_eq!(
        users
            .iter()
            .map(|u| u.external_id.as_deref())
            .collect::<Vec<_>>(),
        vec![Some("0035g00000AbCdEAAZ"), Some("0035g00000XyZaBAAV")]
    );
}

#[tokio::test]
async fn empty_lookups_send_nothing_and_commas_are_refused() {
    let h = harness().await;
    assert!(
        h.client
            .show_many_users(&[])
            .await
            .expect("empty")
            .is_empty()
    );
    let err = h
        .client
        .show_many_users_by_external_ids(&["a,b".to_owned()])
        .await
        .expect_err("comma");
    assert!(matches!(err, ZendeskError::InvalidRequest(_)));
    assert_eq!(h.client.calls().total(), 0);
}

#[tokio::test]
async fn search_by_email_quotes_the_address() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/search"))
        .and(query_param("query", "email:jdoe@example.com"))
        .respond_with(json_response(200, "users_search.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    let users = h
        .client
        .search_users_by_email("jdoe@example.com")
        .await
        .expect("users");
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].id, 35436);
}

#[tokio::test]
async fn count_users_reads_value_and_treats_404_as_unsupported() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/count"))
        .respond_with(json_response(200, "users_count.json"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/count"))
        .respond_with(json_response(404, "error_404.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    assert_eq!(h.client.count_users().await.expect("count"), Some(102));
    assert_eq!(h.client.count_users().await.expect("unsupported"), None);
}

#[tokio::test]
async fn account_settings_reads_multiple_organizations() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/account/settings"))
        .respond_with(json_response(200, "account_settings.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    assert!(
        h.client
            .account_settings()
            .await
            .expect("settings")
            .multiple_organizations
    );
}

#[tokio::test]
async fn create_user_sends_exact_body_with_skip_verify_email() {
    let h = harness().await;
    let mut user = NewUser::new("Roger Wilco", "roge@example.org");
    user.user_fields
        .insert("salesforce_id".into(), json!("0035g00000AbCdEAAZ"));
    user.fields
        .insert("external_id".into(), json!("0035g00000AbCdEAAZ"));
    Mock::given(method("POST"))
        .and(path("/api/v2/users"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({"user": {
            "name": "Roger Wilco",
            "email": "roge@example.org",
            "external_id": "0035g00000AbCdEAAZ",
            "user_fields": {"salesforce_id": "0035g00000AbCdEAAZ"},
            "skip_verify_email": true
        }})))
        .respond_with(json_response(201, "users_create.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    let created = h.client.create_user(&user).await.expect("created");
    assert_eq!(created.id, 9873843);
}

#[tokio::test]
async fn create_user_duplicate_email_is_a_validation_error_with_details() {
    let h = harness().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/users"))
        .respond_with(json_response(422, "error_422_duplicate_email.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    let err = h
        .client
        .create_user(&NewUser::new("Roger", "roge@example.org"))
        .await
        .expect_err("duplicate");
    match err {
        ZendeskError::ValidationFailed {
            error,
            description,
            details,
        } => {
            assert_eq!(error, "RecordInvalid");
            assert_eq!(description, "Record validation errors");
            let details = details.expect("details");
            assert_eq!(details["email"][0]["error"], json!("DuplicateValue"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn update_user_never_sends_email_or_unrequested_organization() {
    let h = harness().await;
    let update = UserUpdate::new(9873843)
        .set_field("name", json!("Roger Wilco II"))
        .expect("name allowed")
        .set_field("phone", json!("+15550001111"))
        .expect("phone allowed")
        .set_user_field("tier", json!("gold"));
    assert!(
        update
            .clone()
            .set_field("email", json!("new@example.org"))
            .is_err()
    );
    Mock::given(method("PUT"))
        .and(path("/api/v2/users/9873843"))
        .and(body_json(json!({"user": {
            "name": "Roger Wilco II",
            "phone": "+15550001111",
            "user_fields": {"tier": "gold"}
        }})))
        .respond_with(json_response(200, "users_update.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    let user = h.client.update_user(&update).await.expect("updated");
    assert_eq!(user.phone.as_deref(), Some("+15550001111"));
}

#[tokio::test]
async fn update_user_sends_organization_only_when_asked() {
    let h = harness().await;
    let update = UserUpdate::new(5).set_organization_id(881);
    Mock::given(method("PUT"))
        .and(path("/api/v2/users/5"))
        .and(body_json(json!({"user": {"organization_id": 881}})))
        .respond_with(json_response(200, "users_update.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    h.client.update_user(&update).await.expect("updated");
    let empty = h
        .client
        .update_user(&UserUpdate::new(5))
        .await
        .expect_err("empty");
    assert!(matches!(empty, ZendeskError::InvalidRequest(_)));
}

#[tokio::test]
async fn create_many_users_answers_the_queued_job() {
    let h = harness().await;
    let users = vec![NewUser::new("A", "a@x.com"), NewUser::new("B", "b@x.com")];
    Mock::given(method("POST"))
        .and(path("/api/v2/users/create_many"))
        .and(body_json(json!({"users": [
            {"name": "A", "email": "a@x.com", "skip_verify_email": true},
            {"name": "B", "email": "b@x.com", "skip_verify_email": true}
        ]})))
        .respond_with(json_response(200, "job_status_queued.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    let job = h.client.create_many_users(&users).await.expect("job");
    assert_eq!(job.id, "82de0b044094f0c67893ac9fe64f1a99");
    assert_eq!(job.status, JobState::Queued);
    assert_eq!(job.total, Some(2));
    assert!(job.results.is_empty(), "null results read as empty");
    assert_eq!(h.client.inflight_jobs(), 1);
}

#[tokio::test]
async fn bulk_user_import_forbidden_is_its_own_error() {
    let h = harness().await;
    for endpoint in [
        "/api/v2/users/create_many",
        "/api/v2/users/create_or_update_many",
    ] {
        Mock::given(method("POST"))
            .and(path(endpoint))
            .respond_with(json_response(403, "error_403_bulk_import.json"))
            .expect(1)
            .mount(&h.server)
            .await;
    }
    let users = vec![NewUser::new("A", "a@x.com")];
    let err = h.client.create_many_users(&users).await.expect_err("403");
    assert!(
        matches!(err, ZendeskError::BulkImportDisabled { .. }),
        "{err:?}"
    );
    let err = h
        .client
        .create_or_update_many_users(&users)
        .await
        .expect_err("403");
    assert!(
        matches!(err, ZendeskError::BulkImportDisabled { .. }),
        "{err:?}"
    );
    assert_eq!(h.client.inflight_jobs(), 0, "a refused job holds no slot");
}

#[tokio::test]
async fn other_403_is_forbidden() {
    let h = harness().await;
    Mock::given(method("PUT"))
        .and(path("/api/v2/users/update_many"))
        .respond_with(json_response(403, "error_403_forbidden.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    let err = h
        .client
        .update_many_users(&[UserUpdate::new(1).set_user_field("a", json!(1))])
        .await
        .expect_err("403");
    assert!(matches!(err, ZendeskError::Forbidden { .. }), "{err:?}");
}

#[tokio::test]
async fn bulk_over_limit_is_refused_without_sending() {
    let h = harness().await;
    let users: Vec<NewUser> = (0..=BULK_LIMIT)
        .map(|i| NewUser::new("n", format!("{i}@x.com")))
        .collect();
    let err = h
        .client
        .create_many_users(&users)
        .await
        .expect_err("too many");
    assert!(matches!(err, ZendeskError::InvalidRequest(_)));
    let err = h
        .client
        .create_or_update_many_users(&[])
        .await
        .expect_err("empty");
    assert!(matches!(err, ZendeskError::InvalidRequest(_)));
    assert_eq!(h.client.calls().total(), 0);
}

#[tokio::test]
async fn create_or_update_many_and_update_many_users_bodies() {
    let h = harness().await;
    let mut user = NewUser::new("A", "a@x.com");
    user.organization_id = Some(7);
    Mock::given(method("POST"))
        .and(path("/api/v2/users/create_or_update_many"))
        .and(body_json(json!({"users": [
            {"name": "A", "email": "a@x.com", "organization_id": 7, "skip_verify_email": true}
        ]})))
        .respond_with(json_response(200, "job_status_queued.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/v2/users/update_many"))
        .and(body_json(json!({"users": [
            {"id": 1, "phone": "+1"},
            {"id": 2, "user_fields": {"tier": "gold"}}
        ]})))
        .respond_with(json_response(200, "job_status_queued.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    h.client
        .create_or_update_many_users(&[user])
        .await
        .expect("job");
    let updates = vec![
        UserUpdate::new(1)
            .set_field("phone", json!("+1"))
            .expect("allowed"),
        UserUpdate::new(2).set_user_field("tier", json!("gold")),
    ];
    h.client.update_many_users(&updates).await.expect("job");
    let counts = h.client.calls();
    assert_eq!(counts.get("POST /api/v2/users/create_or_update_many"), 1);
    assert_eq!(counts.get("PUT /api/v2/users/update_many"), 1);
    assert_eq!(counts.total(), 2);
}
