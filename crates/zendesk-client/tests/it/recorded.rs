//! Contract tests: traffic recorded against live Zendesk accounts (and the examples of
//! Zendesk's OpenAPI document) served verbatim, status, headers and body as recorded, to
//! the client's public API. Sources are listed in `tests/data/README.md`.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};
use zendesk_client::{
    Auth, ItemOutcome, JobResult, JobState, NewMembership, NewOrganization, NewUser,
    OrganizationMembership, OrganizationUpdate, UserUpdate, ZendeskError, ZendeskRead,
    ZendeskWrite,
};

use crate::common::{Harness, harness, harness_with};

fn recorded_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/recorded")
}

/// One recorded answer: what Zendesk sent for one request.
pub struct Recording {
    /// The recorded request's method, when the recording says.
    pub method: Option<String>,
    /// The recorded request's path without `.json`, when the recording says.
    pub path: Option<String>,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Recording {
    /// The answer as recorded, for a mock.
    pub fn respond(&self) -> ResponseTemplate {
        let mut template = ResponseTemplate::new(self.status).set_body_bytes(self.body.clone());
        for (name, value) in &self.headers {
            template = template.insert_header(name.as_str(), value.as_str());
        }
        template
    }
}

/// Loads `name` and its `.meta.json` (status, headers, request). A payload without a meta
/// file is an example of Zendesk's documentation: a 200 with a JSON body. A meta file that
/// keeps the answer in `response_body` (the payload being the request body) serves that.
pub fn recording(name: &str) -> Recording {
    let file = recorded_dir().join(name);
    let body = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let meta_file = recorded_dir().join(format!("{name}.meta.json"));
    let Ok(meta) = std::fs::read_to_string(&meta_file) else {
        return Recording {
            method: None,
            path: None,
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body,
        };
    };
    let meta: Value = serde_json::from_str(&meta).expect("meta is json");
    let request = &meta["request"];
    let raw_path = request["path"].as_str().map(str::to_owned).or_else(|| {
        request["uri"]
            .as_str()
            .and_then(|u| url::Url::parse(u).ok())
            .map(|u| u.path().to_owned())
    });
    let mut headers: Vec<(String, String)> = meta["headers"]
        .as_object()
        .map(|h| {
            h.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let body = match meta.get("response_body") {
        Some(answer) => {
            if headers.is_empty() {
                headers.push(("Content-Type".into(), "application/json".into()));
            }
            serde_json::to_vec(answer).expect("json")
        }
        None => body,
    };
    Recording {
        method: request["method"].as_str().map(str::to_owned),
        path: raw_path.map(|p| p.trim_end_matches(".json").to_owned()),
        status: u16::try_from(meta["status"].as_u64().expect("status")).expect("u16"),
        headers,
        body,
    }
}

/// Serves recording `name` once at `verb path` (the client's path, without `.json`). When
/// the recording names its request, it must be the same method and path template.
async fn serve(h: &Harness, verb: &str, route: &str, name: &str) {
    let rec = recording(name);
    if let Some(recorded) = &rec.method {
        assert_eq!(recorded, verb, "{name}: recorded for another method");
    }
    if let Some(recorded) = &rec.path {
        assert!(
            same_template(recorded, route),
            "{name}: recorded for {recorded}, served at {route}"
        );
    }
    Mock::given(method(verb))
        .and(path(route))
        .respond_with(rec.respond())
        .expect(1)
        .mount(&h.server)
        .await;
}

/// Paths equal but for numeric ids (a recording is for another record than the test's).
fn same_template(a: &str, b: &str) -> bool {
    let (a, b): (Vec<_>, Vec<_>) = (a.split('/').collect(), b.split('/').collect());
    a.len() == b.len()
        && a.iter().zip(&b).all(|(x, y)| {
            x == y
                || (x.chars().all(|c| c.is_ascii_digit()) && y.chars().all(|c| c.is_ascii_digit()))
        })
}

#[tokio::test]
async fn users_read_from_recorded_answers() {
    let h = harness().await;
    serve(&h, "GET", "/api/v2/users/6130907993114", "user_show.json").await;
    serve(
        &h,
        "GET",
        "/api/v2/users/369531345753",
        "gozendesk_user.json",
    )
    .await;
    serve(&h, "GET", "/api/v2/users/show_many", "users_show_many.json").await;
    let user = h.client.show_user(6130907993114).await.expect("user");
    assert_eq!(user.id, 6130907993114);
    assert_eq!(user.name, "09cace");
    assert_eq!(user.email.as_deref(), Some("automationsqa@z3nmail.com"));
    let sample = h.client.show_user(369531345753).await.expect("user");
    assert_eq!(sample.email.as_deref(), Some("customer@example.com"));
    let ids: Vec<u64> = (0..100).collect();
    let users = h.client.show_many_users(&ids).await.expect("users");
    assert_eq!(users.len(), 100);
    assert_eq!(users[0].id, 6164068767770);
    assert!(
        users
            .iter()
            .all(|u| u.name == "testUser" && u.email.is_none())
    );
}

#[tokio::test]
async fn user_search_reads_recorded_answers() {
    let h = harness().await;
    let one = recording("users_search_one.json");
    Mock::given(method("GET"))
        .and(path("/api/v2/users/search"))
        .and(wiremock::matchers::query_param(
            "query",
            "email:skywalker@demo.com",
        ))
        .respond_with(one.respond())
        .expect(1)
        .mount(&h.server)
        .await;
    let empty = recording("users_search_empty.json");
    Mock::given(method("GET"))
        .and(path("/api/v2/users/search"))
        .and(wiremock::matchers::query_param(
            "query",
            "email:grouparoo@demo.com",
        ))
        .respond_with(empty.respond())
        .expect(1)
        .mount(&h.server)
        .await;
    let found = h
        .client
        .search_users_by_email("skywalker@demo.com")
        .await
        .expect("search");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, 1903375554467);
    assert_eq!(found[0].name, "Anakin");
    let none = h
        .client
        .search_users_by_email("grouparoo@demo.com")
        .await
        .expect("search");
    assert!(none.is_empty());
}

#[tokio::test]
async fn user_writes_read_recorded_answers() {
    let h = harness().await;
    let created = recording("user_create_201.json");
    Mock::given(method("POST"))
        .and(path("/api/v2/users"))
        .respond_with(created.respond())
        .up_to_n_times(1)
        .expect(1)
        .mount(&h.server)
        .await;
    serve(
        &h,
        "PUT",
        "/api/v2/users/6164069236122",
        "user_update_200.json",
    )
    .await;
    let user = h
        .client
        .create_user(&NewUser::new("testUser", "t@example.com"))
        .await
        .expect("created");
    assert_eq!(user.id, 6164039664282);
    assert_eq!(user.warning, None, "no X-Zendesk-API-Warn recorded");
    let updated = h
        .client
        .update_user(
            &UserUpdate::new(6164069236122).set_user_field("tier", serde_json::json!("renamed")),
        )
        .await
        .expect("updated");
    assert_eq!(updated.id, 6164069236122);
    assert!(updated.name.starts_with("testUserfe5b6e22"));
    assert_eq!(updated.warning, None);

    let h = harness().await;
    serve(
        &h,
        "POST",
        "/api/v2/users",
        "user_create_201_grouparoo.json",
    )
    .await;
    let anakin = h
        .client
        .create_user(&NewUser::new("Anakin", "skywalker@demo.com"))
        .await
        .expect("created");
    assert_eq!(anakin.id, 1903375554467);
    assert_eq!(anakin.email.as_deref(), Some("skywalker@demo.com"));
}

/// Point 2 of issue 11: Zendesk answers 200 and names the keys it dropped.
#[tokio::test]
async fn organization_update_surfaces_the_recorded_api_warning() {
    let h = harness().await;
    serve(
        &h,
        "PUT",
        "/api/v2/organizations/6164086349850",
        "organization_update_200.json",
    )
    .await;
    let answer = h
        .client
        .update_organization(&OrganizationUpdate::new(6164086349850).set_name("renamed"))
        .await
        .expect("updated");
    assert_eq!(answer.id, 6164086349850);
    let warning = answer.warning.as_ref().expect("the recorded warning");
    assert_eq!(warning.controller.as_deref(), Some("organizations"));
    assert_eq!(warning.action.as_deref(), Some("update"));
    assert_eq!(warning.unpermitted_keys, vec!["organization.id"]);
    assert!(warning.invalid_values.is_empty());
    assert_eq!(warning.dropped_fields(), vec!["id"]);
}

#[tokio::test]
async fn organizations_read_and_written_from_recorded_answers() {
    let h = harness().await;
    serve(
        &h,
        "POST",
        "/api/v2/organizations",
        "organization_create_201.json",
    )
    .await;
    serve(
        &h,
        "GET",
        "/api/v2/organizations/show_many",
        "organizations_show_many.json",
    )
    .await;
    let created = h
        .client
        .create_organization(&NewOrganization::new("testOrganizationNone"))
        .await
        .expect("created");
    assert_eq!(created.id, 6164125400602);
    assert_eq!(created.name, "testOrganizationNone");
    assert_eq!(created.external_id, None);
    assert!(created.organization_fields.is_empty());
    let orgs = h
        .client
        .show_many_organizations_by_external_ids(&["a".into()])
        .await
        .expect("orgs");
    assert_eq!(orgs.len(), 100);
    assert_eq!(orgs[0].id, 6164110487322);

    let h = harness().await;
    let go = recording("gozendesk_organization.json");
    Mock::given(method("POST"))
        .and(path("/api/v2/organizations"))
        .respond_with(go.respond())
        .expect(1)
        .mount(&h.server)
        .await;
    let rebels = h
        .client
        .create_organization(&NewOrganization::new("Rebel Alliance"))
        .await
        .expect("created");
    assert_eq!(rebels.id, 361898904439);
    assert_eq!(rebels.name, "Rebel Alliance");
}

#[tokio::test]
async fn exports_read_recorded_pages() {
    let h = harness().await;
    let start = recording("incremental_users_cursor_start.json");
    Mock::given(method("GET"))
        .and(path("/api/v2/incremental/users/cursor"))
        .and(wiremock::matchers::query_param("start_time", "0"))
        .respond_with(start.respond())
        .expect(1)
        .mount(&h.server)
        .await;
    let next = recording("incremental_users_cursor_perpage1.json");
    Mock::given(method("GET"))
        .and(path("/api/v2/incremental/users/cursor"))
        .and(wiremock::matchers::query_param(
            "cursor",
            "MTY5NTA3Mzk2My4wfHw2MTYzOTA5NzE2NTA2fA==",
        ))
        .respond_with(next.respond())
        .expect(1)
        .mount(&h.server)
        .await;
    let first = h.client.export_users_page(None).await.expect("page");
    assert_eq!(first.users.len(), 1000);
    assert_eq!(first.users[0].id, 6130869168922);
    assert_eq!(
        first.after_cursor.as_deref(),
        Some("MTY5NTA3Mzk2My4wfHw2MTYzOTA5NzE2NTA2fA==")
    );
    assert!(!first.end_of_stream);
    let second = h
        .client
        .export_users_page(first.after_cursor)
        .await
        .expect("page");
    assert_eq!(second.users.len(), 1);
    assert_eq!(second.users[0].id, 6133249977754);
    assert!(!second.end_of_stream);

    let h = harness().await;
    serve(
        &h,
        "GET",
        "/api/v2/incremental/users/cursor",
        "oas_incremental_users_cursor.json",
    )
    .await;
    serve(
        &h,
        "GET",
        "/api/v2/incremental/organizations",
        "oas_incremental_organizations.json",
    )
    .await;
    let page = h.client.export_users_page(None).await.expect("page");
    assert_eq!(page.users.len(), 1);
    assert_eq!(page.users[0].email.as_deref(), Some("johnny@example.com"));
    assert!(page.end_of_stream);
    let orgs = h
        .client
        .export_organizations_page(None)
        .await
        .expect("page");
    assert_eq!(orgs.organizations.len(), 1);
    assert_eq!(orgs.organizations[0].external_id.as_deref(), Some("ABC198"));
    assert!(orgs.end_of_stream);
}

#[tokio::test]
async fn bulk_submissions_read_recorded_queued_jobs() {
    let h = harness().await;
    serve(
        &h,
        "POST",
        "/api/v2/organizations/create_many",
        "job_org_create_many_queued.json",
    )
    .await;
    serve(
        &h,
        "POST",
        "/api/v2/users/create_many",
        "job_user_create_many_queued.json",
    )
    .await;
    serve(
        &h,
        "PUT",
        "/api/v2/users/update_many",
        "request_user_update_many.json",
    )
    .await;
    serve(
        &h,
        "PUT",
        "/api/v2/organizations/update_many",
        "request_org_update_many.json",
    )
    .await;
    let job = h
        .client
        .create_many_organizations(&[NewOrganization::new("a")])
        .await
        .expect("job");
    assert_eq!(job.id, "V3-6032b8b01e53ef8fc637cb4881cacd82");
    assert_eq!(job.status, JobState::Queued);
    assert_eq!(job.total, Some(100));
    assert_eq!(job.progress, None);
    assert!(job.results.is_empty());
    assert_eq!(job.warning, None);
    let job = h
        .client
        .create_many_users(&[NewUser::new("a", "a@example.com")])
        .await
        .expect("job");
    assert_eq!(job.id, "V3-bd4fe431443aac7f1af637c7b7b48534");
    let job = h
        .client
        .update_many_users(&[UserUpdate::new(1).set_user_field("tier", serde_json::json!("a"))])
        .await
        .expect("job");
    assert_eq!(job.id, "V3-46c360008d9111aed1df135f42e3a9a1");
    let job = h
        .client
        .update_many_organizations(&[OrganizationUpdate::new(1).set_name("a")])
        .await
        .expect("job");
    assert_eq!(job.id, "V3-ffeda191e5930dbdd60038ab658da2bf");
    assert_eq!(h.client.inflight_jobs(), 4);
}

/// Real create results carry no `index`: they come back in submission order, one per item.
#[tokio::test]
async fn recorded_create_jobs_list_results_in_submission_order_without_index() {
    let h = harness().await;
    serve(
        &h,
        "GET",
        "/api/v2/job_statuses/V3-6032b8b01e53ef8fc637cb4881cacd82",
        "job_org_create_working.json",
    )
    .await;
    let working = h
        .client
        .show_job_status("V3-6032b8b01e53ef8fc637cb4881cacd82")
        .await
        .expect("status");
    assert_eq!(working.status, JobState::Working);
    assert_eq!(working.progress, Some(31));
    assert_eq!(
        working.message.as_deref(),
        Some("Creating organization #31")
    );

    for (name, id, first, last) in [
        (
            "job_org_create_completed.json",
            "V3-6032b8b01e53ef8fc637cb4881cacd82",
            6164110479770,
            6164110491290,
        ),
        (
            "job_user_create_many_completed.json",
            "V3-bd4fe431443aac7f1af637c7b7b48534",
            6164068768154,
            6164068780058,
        ),
    ] {
        let h = harness().await;
        serve(&h, "GET", &format!("/api/v2/job_statuses/{id}"), name).await;
        let done = h.client.show_job_status(id).await.expect("status");
        assert_eq!(done.status, JobState::Completed, "{name}");
        assert_eq!(done.results.len(), 100, "{name}");
        assert!(done.results.iter().all(|r| r.index.is_none()), "{name}");
        assert!(done.all_succeeded(), "{name}");
        let ids: Vec<Option<u64>> = done
            .outcomes()
            .into_iter()
            .map(|o| match o {
                ItemOutcome::Created { id } => id,
                other => panic!("{name}: {other:?}"),
            })
            .collect();
        assert_eq!(ids.first(), Some(&Some(first)), "{name}");
        assert_eq!(ids.last(), Some(&Some(last)), "{name}");
    }
}

#[tokio::test]
async fn recorded_update_jobs_name_records_by_id_and_failures_by_index() {
    let h = harness().await;
    serve(
        &h,
        "GET",
        "/api/v2/job_statuses/V3-46c360008d9111aed1df135f42e3a9a1",
        "job_user_update_many_completed.json",
    )
    .await;
    serve(
        &h,
        "GET",
        "/api/v2/job_statuses/V3-ffeda191e5930dbdd60038ab658da2bf",
        "job_org_update_many_mixed_failures.json",
    )
    .await;
    serve(
        &h,
        "GET",
        "/api/v2/job_statuses/V3-3453357b842a394f4b7c092020d42e30",
        "job_results_object.json",
    )
    .await;
    let users = h
        .client
        .show_job_status("V3-46c360008d9111aed1df135f42e3a9a1")
        .await
        .expect("status");
    assert!(users.all_succeeded());
    assert_eq!(
        users.outcomes()[0],
        ItemOutcome::Updated {
            id: Some(6164120117530)
        }
    );
    let mixed = h
        .client
        .show_job_status("V3-ffeda191e5930dbdd60038ab658da2bf")
        .await
        .expect("status");
    let outcomes = mixed.outcomes();
    assert_eq!(
        outcomes[0],
        ItemOutcome::Updated {
            id: Some(6164110654490)
        }
    );
    let failed: Vec<&JobResult> = mixed
        .results
        .iter()
        .filter(|r| matches!(r.outcome(), ItemOutcome::Failed { .. }))
        .collect();
    assert_eq!(failed.len(), 99);
    assert_eq!(failed[0].index, Some(1));
    assert_eq!(failed[0].error.as_deref(), Some("OrganizationUpdateFailed"));
    assert!(!mixed.all_succeeded());
    let object = h
        .client
        .show_job_status("V3-3453357b842a394f4b7c092020d42e30")
        .await
        .expect("status");
    assert_eq!(object.status, JobState::Completed);
    assert!(
        object.results.is_empty(),
        "an object of results is no items"
    );

    let h = harness().await;
    serve(
        &h,
        "GET",
        "/api/v2/job_statuses/82de0b044094f0c67893ac9fe64f1a99",
        "oas_job_status_wrapped.json",
    )
    .await;
    let oas = h
        .client
        .show_job_status("82de0b044094f0c67893ac9fe64f1a99")
        .await
        .expect("status");
    assert_eq!(oas.outcomes().len(), 2);
    assert!(oas.all_succeeded());
    let spec: JobResult =
        serde_json::from_slice(&recording("zenpy_spec_job_status_result.json").body)
            .expect("result");
    assert_eq!(spec.outcome(), ItemOutcome::Updated { id: Some(380) });
}

#[tokio::test]
async fn memberships_and_settings_read_recorded_answers() {
    let h = harness().await;
    serve(
        &h,
        "GET",
        "/api/v2/account/settings",
        "oas_account_settings.json",
    )
    .await;
    serve(
        &h,
        "GET",
        "/api/v2/organization_memberships",
        "oas_organization_memberships_wrapped.json",
    )
    .await;
    serve(
        &h,
        "GET",
        "/api/v2/users/369531345753/organization_memberships",
        "gozendesk_organization_memberships.json",
    )
    .await;
    serve(
        &h,
        "POST",
        "/api/v2/organization_memberships",
        "gozendesk_organization_membership_create.json",
    )
    .await;
    let settings = h.client.account_settings().await.expect("settings");
    assert!(!settings.multiple_organizations);
    let page = h.client.list_memberships_page(None).await.expect("page");
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].organization_id, 12);
    assert!(page.items[0].default);
    assert_eq!(page.next_cursor, None);
    let user = h
        .client
        .list_user_memberships_page(369531345753, None)
        .await
        .expect("page");
    assert_eq!(user.items.len(), 2);
    assert!(user.items[0].default);
    assert!(!user.items[1].default, "null default reads as false");
    let created = h
        .client
        .create_membership(&NewMembership::new(369531345753, 361898904439))
        .await
        .expect("created");
    assert_eq!(created.id, 4);
    assert!(created.default);
    let spec: OrganizationMembership =
        serde_json::from_slice(&recording("zenpy_spec_organization_membership.json").body)
            .expect("membership");
    assert_eq!(spec.id, 837322437);
}

#[tokio::test]
async fn oauth_token_example_is_read() {
    let h = harness_with(
        Auth::oauth_client_credentials("sfzd", "client-secret"),
        |_| {},
    )
    .await;
    serve(&h, "POST", "/oauth/tokens", "oas_oauth_token.json").await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/6130907993114"))
        .and(wiremock::matchers::header(
            "authorization",
            "Bearer gErypPlm4dOVgGRvA1ZzMH5MQ3nLo8bo",
        ))
        .respond_with(recording("user_show.json").respond())
        .expect(1)
        .mount(&h.server)
        .await;
    h.client.show_user(6130907993114).await.expect("user");
}

#[tokio::test]
async fn recorded_errors_become_typed_errors() {
    let h = harness().await;
    serve(
        &h,
        "POST",
        "/api/v2/organizations/create_many",
        "error_400_too_many_orgs.json",
    )
    .await;
    serve(
        &h,
        "POST",
        "/api/v2/users/create_many",
        "error_400_too_many_users.json",
    )
    .await;
    serve(
        &h,
        "PUT",
        "/api/v2/users/9223372036854775807",
        "error_404_user_update.json",
    )
    .await;
    // Recorded on `users/create_or_update`, which this client does not call; the same
    // validation answer comes from `POST /users`.
    let invalid = recording("error_422_record_invalid.json");
    Mock::given(method("POST"))
        .and(path("/api/v2/users"))
        .respond_with(invalid.respond())
        .expect(1)
        .mount(&h.server)
        .await;
    let err = h
        .client
        .create_many_organizations(&[NewOrganization::new("a")])
        .await
        .expect_err("400");
    match err {
        ZendeskError::Rejected {
            status: 400,
            error,
            description,
        } => {
            assert_eq!(error.as_deref(), Some("TooManyValues"));
            assert!(description.unwrap_or_default().contains("100 values"));
        }
        other => panic!("{other:?}"),
    }
    let err = h
        .client
        .create_many_users(&[NewUser::new("a", "a@example.com")])
        .await
        .expect_err("400");
    assert!(
        matches!(&err, ZendeskError::Rejected { status: 400, error: Some(e), .. } if e == "TooManyValues"),
        "{err:?}"
    );
    let err = h
        .client
        .update_user(
            &UserUpdate::new(9223372036854775807).set_user_field("tier", serde_json::json!("x")),
        )
        .await
        .expect_err("404");
    assert!(matches!(err, ZendeskError::NotFound { .. }), "{err:?}");
    let err = h
        .client
        .create_user(&NewUser::new("William Bad", "badmail"))
        .await
        .expect_err("422");
    match err {
        ZendeskError::ValidationFailed {
            error,
            description,
            details,
        } => {
            assert_eq!(error, "RecordInvalid");
            assert_eq!(description, "Record validation errors");
            let details = details.expect("details");
            assert_eq!(
                details["email"][0]["description"],
                "Email: badmail is not properly formatted"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.client.inflight_jobs(), 0, "refused jobs hold no slot");
}

#[tokio::test]
async fn documented_too_many_jobs_is_its_own_error() {
    let h = harness_with(Auth::bearer("t"), |c| c.retry.max_attempts = 1).await;
    // The reference quotes the body but not the status; 429 is the likely one.
    let body = recording("docs_error_too_many_jobs.json").body;
    Mock::given(method("POST"))
        .and(path("/api/v2/users/create_many"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "20")
                .set_body_bytes(body),
        )
        .expect(1)
        .mount(&h.server)
        .await;
    let err = h
        .client
        .create_many_users(&[NewUser::new("a", "a@example.com")])
        .await
        .expect_err("too many jobs");
    assert!(
        matches!(err, ZendeskError::TooManyJobs { retry_after: Some(d) } if d == Duration::from_secs(20)),
        "{err:?}"
    );
    // Only job submissions wait; a poll goes out at once so the queue can be watched.
    Mock::given(method("GET"))
        .and(path("/api/v2/job_statuses/show_many"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"job_statuses": []})),
        )
        .expect(1)
        .mount(&h.server)
        .await;
    h.client
        .show_many_job_statuses(&["x".into()])
        .await
        .expect("polled");
    assert!(h.clock.sleeps().is_empty(), "{:?}", h.clock.sleeps());
}
