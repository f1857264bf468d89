//! Zendesk simulator: auth, users, organizations, memberships, jobs, exports and limits.

use std::time::Duration;

use sandbox::{FaultConfig, HoldAnswers, JobTiming, RunningServer, ZendeskSim, ZendeskSimConfig};
use serde_json::{Value, json};

use crate::{Answer, answer, client};

pub(crate) struct Zd {
    pub(crate) sim: ZendeskSim,
    pub(crate) server: RunningServer,
    pub(crate) token: String,
    pub(crate) http: reqwest::Client,
}

impl Zd {
    pub(crate) async fn start(config: ZendeskSimConfig) -> Self {
        let (sim, server) = ZendeskSim::start(config).await.expect("start");
        let http = client();
        let r = answer(
            http.post(format!("{}/oauth/tokens", server.url))
                .json(&json!({"grant_type":"client_credentials","client_id":"sfzd-sandbox","client_secret":"sandbox-secret","scope":"read write"}))
                .send()
                .await
                .expect("send"),
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let token = r.body["access_token"].as_str().expect("token").to_owned();
        Self {
            sim,
            server,
            token,
            http,
        }
    }

    pub(crate) async fn default() -> Self {
        Self::start(ZendeskSimConfig::default()).await
    }

    pub(crate) async fn get(&self, path: &str) -> Answer {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.server.url)
        };
        answer(
            self.http
                .get(url)
                .bearer_auth(&self.token)
                .send()
                .await
                .expect("send"),
        )
        .await
    }

    pub(crate) async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> Answer {
        answer(
            self.http
                .request(method, format!("{}{path}", self.server.url))
                .bearer_auth(&self.token)
                .json(&body)
                .send()
                .await
                .expect("send"),
        )
        .await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(reqwest::Method::POST, path, body).await
    }

    pub(crate) async fn put(&self, path: &str, body: Value) -> Answer {
        self.send(reqwest::Method::PUT, path, body).await
    }

    pub(crate) async fn create_org(&self, name: &str, external_id: Option<&str>) -> u64 {
        let r = self
            .post(
                "/api/v2/organizations",
                json!({"organization": {"name": name, "external_id": external_id}}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        r.body["organization"]["id"].as_u64().expect("id")
    }

    pub(crate) async fn create_user(&self, user: Value) -> Answer {
        self.post("/api/v2/users", json!({ "user": user })).await
    }

    /// Polls a job until it completes; returns (polls needed, final job).
    pub(crate) async fn wait_job(&self, id: &str) -> (usize, Value) {
        for polls in 1..=10 {
            let r = self.get(&format!("/api/v2/job_statuses/{id}.json")).await;
            assert_eq!(r.status, 200);
            if r.body["job_status"]["status"] == "completed" {
                return (polls, r.body["job_status"].clone());
            }
        }
        panic!("job {id} never completed");
    }
}

#[tokio::test]
async fn oauth_token_then_read_settings_with_rate_headers() {
    let zd = Zd::default().await;
    let r = zd.get("/api/v2/account/settings").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["settings"]["user"]["multiple_organizations"], true);
    assert_eq!(r.header("x-rate-limit"), Some("700"));
    assert!(r.header("x-rate-limit-remaining").is_some());
    assert!(r.header("x-zendesk-request-id").is_some());
}

#[tokio::test]
async fn requests_without_valid_credentials_get_401() {
    let zd = Zd::default().await;
    let r = answer(
        zd.http
            .get(format!("{}/api/v2/users/count", zd.server.url))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"], "invalid_token");

    let bad = answer(
        zd.http
            .post(format!("{}/oauth/tokens", zd.server.url))
            .json(&json!({"grant_type":"client_credentials","client_id":"sfzd-sandbox","client_secret":"wrong"}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.body["error"], "invalid_client");

    zd.sim.expire_tokens();
    assert_eq!(zd.get("/api/v2/users/count").await.status, 401);
}

#[tokio::test]
async fn tokens_expire_after_their_lifetime() {
    let zd = Zd::start(ZendeskSimConfig {
        token_lifetime: Duration::ZERO,
        ..ZendeskSimConfig::default()
    })
    .await;
    assert_eq!(zd.get("/api/v2/users/count").await.status, 401);
}

#[tokio::test]
async fn basic_api_token_auth_when_configured() {
    let zd = Zd::start(ZendeskSimConfig {
        api_token: Some(("agent@example.com".into(), "abc123".into())),
        ..ZendeskSimConfig::default()
    })
    .await;
    let ok = answer(
        zd.http
            .get(format!("{}/api/v2/users/count.json", zd.server.url))
            .basic_auth("agent@example.com/token", Some("abc123"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(ok.body["count"]["value"], 0);
    let wrong = answer(
        zd.http
            .get(format!("{}/api/v2/users/count.json", zd.server.url))
            .basic_auth("agent@example.com/token", Some("nope"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(wrong.status, 401);
}

#[test]
fn config_debug_redacts_secrets() {
    let config = ZendeskSimConfig {
        oauth_client_secret: "top-secret-value".into(),
        api_token: Some(("a@b.c".into(), "token-value-xyz".into())),
        ..ZendeskSimConfig::default()
    };
    let debug = format!("{config:?}");
    assert!(!debug.contains("top-secret-value"));
    assert!(!debug.contains("token-value-xyz"));
    let sf = sandbox::SalesforceSimConfig {
        client_secret: "sf-secret-value".into(),
        ..sandbox::SalesforceSimConfig::default()
    };
    assert!(!format!("{sf:?}").contains("sf-secret-value"));
}

#[tokio::test]
async fn duplicate_email_is_rejected_case_insensitively() {
    let zd = Zd::default().await;
    let first = zd
        .create_user(json!({"name": "Ann", "email": "Ann@Example.com"}))
        .await;
    assert_eq!(first.status, 201);
    assert_eq!(first.body["user"]["email"], "Ann@Example.com");
    assert_eq!(first.body["user"]["role"], "end-user");
    let dup = zd
        .create_user(json!({"name": "Other", "email": "ann@example.COM"}))
        .await;
    assert_eq!(dup.status, 422);
    assert_eq!(dup.body["error"], "RecordInvalid");
    assert_eq!(dup.body["details"]["email"][0]["error"], "DuplicateValue");
    let invalid = zd
        .create_user(json!({"name": "Bad", "email": "not an email"}))
        .await;
    assert_eq!(invalid.status, 422);
    assert_eq!(
        invalid.body["details"]["email"][0]["error"],
        "InvalidFormat"
    );
}

#[tokio::test]
async fn search_finds_users_by_any_identity_quoted_or_not() {
    let zd = Zd::default().await;
    let id = zd
        .create_user(json!({"name": "Ann", "email": "ann@example.com"}))
        .await
        .body["user"]["id"]
        .as_u64()
        .expect("id");
    // Sending email on update adds a secondary identity.
    let r = zd
        .put(
            &format!("/api/v2/users/{id}"),
            json!({"user": {"email": "ann.second@example.com"}}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["user"]["email"], "ann@example.com",
        "primary email unchanged"
    );
    for query in ["email:\"ANN.SECOND@example.com\"", "email:ann@EXAMPLE.com"] {
        let r = answer(
            zd.http
                .get(format!("{}/api/v2/users/search.json", zd.server.url))
                .query(&[("query", query)])
                .bearer_auth(&zd.token)
                .send()
                .await
                .expect("send"),
        )
        .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body["count"], 1, "{query}");
        assert_eq!(r.body["users"][0]["id"], id);
        assert_eq!(r.body["next_page"], Value::Null);
    }
    let user = zd
        .sim
        .user_by_email("ann.second@example.com")
        .expect("user");
    assert_eq!(user.identities.len(), 2);
    assert!(
        user.identities
            .iter()
            .any(|i| i.value == "ann.second@example.com" && !i.primary)
    );
    let ids = zd
        .get(&format!(
            "/api/v2/users/show_many.json?ids={id}&include=identities"
        ))
        .await;
    assert_eq!(ids.body["identities"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn user_created_with_organization_gets_default_membership() {
    let zd = Zd::default().await;
    let org = zd.create_org("Acme", Some("001A")).await;
    let r = zd
        .create_user(json!({"name": "Ann", "email": "ann@example.com", "organization_id": org}))
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["user"]["organization_id"], org);
    let uid = r.body["user"]["id"].as_u64().expect("id");
    let m = zd
        .get(&format!(
            "/api/v2/users/{uid}/organization_memberships.json"
        ))
        .await;
    let list = m.body["organization_memberships"].as_array().expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["organization_id"], org);
    assert_eq!(list[0]["default"], true);
    assert_eq!(list[0]["organization_name"], "Acme");
}

#[tokio::test]
async fn writing_organization_id_removes_other_memberships() {
    let zd = Zd::default().await;
    let a = zd.create_org("A", None).await;
    let b = zd.create_org("B", None).await;
    let c = zd.create_org("C", None).await;
    let uid = zd
        .create_user(json!({"name": "Ann", "email": "ann@example.com", "organization_id": a}))
        .await
        .body["user"]["id"]
        .as_u64()
        .expect("id");
    let r = zd
        .post(
            "/api/v2/organization_memberships",
            json!({"organization_membership": {"user_id": uid, "organization_id": b}}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(zd.sim.memberships_of(uid).len(), 2);
    let r = zd
        .put(
            &format!("/api/v2/users/{uid}.json"),
            json!({"user": {"organization_id": c}}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["user"]["organization_id"], c);
    let memberships = zd.sim.memberships_of(uid);
    assert_eq!(memberships.len(), 1, "{memberships:?}");
    assert_eq!(memberships[0].organization_id, c);
    assert!(memberships[0].default);
}

#[tokio::test]
async fn first_membership_becomes_default_and_duplicates_are_rejected() {
    let zd = Zd::default().await;
    let a = zd.create_org("A", None).await;
    let b = zd.create_org("B", None).await;
    let uid = zd
        .create_user(json!({"name": "Ann", "email": "ann@example.com"}))
        .await
        .body["user"]["id"]
        .as_u64()
        .expect("id");
    let first = zd
        .post(
            "/api/v2/organization_memberships.json",
            json!({"organization_membership": {"user_id": uid, "organization_id": a}}),
        )
        .await;
    assert_eq!(first.status, 201);
    assert_eq!(first.body["organization_membership"]["default"], true);
    let second = zd
        .post(
            "/api/v2/organization_memberships",
            json!({"organization_membership": {"user_id": uid, "organization_id": b}}),
        )
        .await;
    assert_eq!(second.status, 201);
    assert_eq!(
        second.body["organization_membership"]["default"],
        Value::Null
    );
    let again = zd
        .post(
            "/api/v2/organization_memberships",
            json!({"organization_membership": {"user_id": uid, "organization_id": b}}),
        )
        .await;
    assert_eq!(again.status, 422);
    assert_eq!(
        again.body["details"]["user_id"][0]["error"],
        "DuplicateValue"
    );
    let user = zd.get(&format!("/api/v2/users/{uid}")).await;
    assert_eq!(user.body["user"]["organization_id"], a);

    // make_default moves the default and the user's organization_id.
    let mid = second.body["organization_membership"]["id"]
        .as_u64()
        .expect("id");
    let r = zd
        .put(
            &format!("/api/v2/users/{uid}/organization_memberships/{mid}/make_default.json"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["organization_memberships"][0]["organization_id"], b);
    assert_eq!(r.body["organization_memberships"][0]["default"], true);
    assert_eq!(
        zd.sim
            .user_by_email("ann@example.com")
            .and_then(|u| u.organization_id),
        Some(b)
    );
}

#[tokio::test]
async fn single_organization_accounts_reject_a_second_membership() {
    let zd = Zd::start(ZendeskSimConfig {
        multiple_organizations: false,
        ..ZendeskSimConfig::default()
    })
    .await;
    assert_eq!(
        zd.get("/api/v2/account/settings.json").await.body["settings"]["user"]["multiple_organizations"],
        false
    );
    let a = zd.create_org("A", None).await;
    let b = zd.create_org("B", None).await;
    let uid = zd
        .create_user(json!({"name": "Ann", "email": "ann@example.com", "organization_id": a}))
        .await
        .body["user"]["id"]
        .as_u64()
        .expect("id");
    let r = zd
        .post(
            "/api/v2/organization_memberships",
            json!({"organization_membership": {"user_id": uid, "organization_id": b}}),
        )
        .await;
    assert_eq!(r.status, 422);
    // Moving the user is done through organization_id.
    let r = zd
        .put(
            &format!("/api/v2/users/{uid}"),
            json!({"user": {"organization_id": b}}),
        )
        .await;
    assert_eq!(r.status, 200);
    let m = zd.sim.memberships_of(uid);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].organization_id, b);
}

#[tokio::test]
async fn bulk_job_is_queued_then_completed_with_per_item_results() {
    let zd = Zd::default().await;
    zd.create_user(json!({"name": "Existing", "email": "taken@example.com"}))
        .await;
    let r = zd
        .post(
            "/api/v2/users/create_many.json",
            json!({"users": [
                {"name": "One", "email": "one@example.com"},
                {"name": "Dup", "email": "TAKEN@example.com"},
                {"name": "Two", "email": "two@example.com", "external_id": "003X"}
            ]}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["job_status"]["status"], "queued");
    assert_eq!(
        r.header("zendesk-ratelimit-inflight-jobs"),
        Some("total=30; remaining=29; resets=60")
    );
    let id = r.body["job_status"]["id"].as_str().expect("id").to_owned();
    let (polls, job) = zd.wait_job(&id).await;
    assert_eq!(polls, 2, "one queued poll, then completed");
    assert_eq!(job["total"], 3);
    let results = job["results"].as_array().expect("results");
    assert_eq!(results[0]["status"], "Created");
    assert_eq!(results[0]["success"], true);
    assert_eq!(results[1]["index"], 1);
    assert_eq!(results[1]["success"], false);
    assert_eq!(results[1]["error"], "DuplicateValue");
    assert_eq!(results[2]["action"], "create");
    let created = results[2]["id"].as_u64().expect("id");
    assert_eq!(
        zd.sim.user_by_email("two@example.com").map(|u| u.id),
        Some(created)
    );

    // create_or_update_many matches by email (any case) and updates.
    let r = zd
        .post(
            "/api/v2/users/create_or_update_many",
            json!({"users": [{"name": "One Renamed", "email": "ONE@example.com"}]}),
        )
        .await;
    let (_, job) = zd
        .wait_job(r.body["job_status"]["id"].as_str().expect("id"))
        .await;
    assert_eq!(job["results"][0]["status"], "Updated");
    assert_eq!(
        zd.sim.user_by_email("one@example.com").map(|u| u.name),
        Some("One Renamed".into())
    );

    // update_many batch form.
    let r = zd
        .put(
            "/api/v2/users/update_many.json",
            json!({"users": [{"id": created, "phone": "+1 555 0000"}, {"id": 1, "phone": "x"}]}),
        )
        .await;
    let (_, job) = zd
        .wait_job(r.body["job_status"]["id"].as_str().expect("id"))
        .await;
    assert_eq!(job["results"][0]["status"], "Updated");
    assert_eq!(job["results"][1]["success"], false);
    assert_eq!(
        zd.sim
            .user_by_email("two@example.com")
            .and_then(|u| u.phone),
        Some("+1 555 0000".into())
    );
    let many = zd
        .get(&format!("/api/v2/job_statuses/show_many.json?ids={id}"))
        .await;
    assert_eq!(many.body["job_statuses"][0]["status"], "completed");
}

#[tokio::test]
async fn timed_jobs_queue_behind_the_account_workers_and_complete_only_after_their_time() {
    // An hour a job plus a minute an item, one worker: nothing can finish during the test,
    // so what it sees does not depend on how fast it runs.
    let zd = Zd::start(ZendeskSimConfig {
        job_polls_before_complete: 0,
        job_timing: JobTiming {
            base: Duration::from_secs(3600),
            per_item: Duration::from_secs(60),
            jitter: 0.0,
            concurrency: 1,
        },
        ..ZendeskSimConfig::default()
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..2 {
        let r = zd
            .post(
                "/api/v2/organizations/create_many",
                json!({"organizations": [{"name": format!("Org {i}")}, {"name": format!("Org {i}b")}]}),
            )
            .await;
        assert_eq!(r.status, 200);
        ids.push(r.body["job_status"]["id"].as_str().expect("id").to_owned());
    }
    let many = zd
        .get(&format!(
            "/api/v2/job_statuses/show_many.json?ids={}",
            ids.join(",")
        ))
        .await;
    // The first job has the only worker; the second waits for it.
    assert_eq!(many.body["job_statuses"][0]["status"], "working");
    assert_eq!(many.body["job_statuses"][1]["status"], "queued");
    assert_eq!(zd.sim.inflight_jobs(), 2);
    let totals = zd.sim.job_totals();
    assert_eq!(totals.jobs, 2);
    assert_eq!(totals.busy, Duration::from_secs(2 * (3600 + 2 * 60)));
    assert_eq!(totals.concurrency, 1);
}

#[tokio::test]
async fn more_than_thirty_inflight_jobs_get_too_many_jobs() {
    let zd = Zd::default().await;
    let mut ids = Vec::new();
    for i in 0..30 {
        let r = zd
            .post(
                "/api/v2/organizations/create_many",
                json!({"organizations": [{"name": format!("Org {i}")}]}),
            )
            .await;
        assert_eq!(r.status, 200, "job {i}");
        ids.push(r.body["job_status"]["id"].as_str().expect("id").to_owned());
    }
    let r = zd
        .post(
            "/api/v2/organizations/create_many",
            json!({"organizations": [{"name": "Org 31"}]}),
        )
        .await;
    assert_eq!(r.status, 429);
    assert_eq!(r.body["error"], "TooManyJobs");
    assert_eq!(r.body["current_job_ids"].as_array().map(Vec::len), Some(30));
    assert!(
        zd.sim
            .snapshot()
            .organizations
            .iter()
            .all(|o| o.name != "Org 31"),
        "rejected job not applied"
    );
    // A poll that reports completion frees a slot.
    zd.wait_job(&ids[0]).await;
    let r = zd
        .post(
            "/api/v2/organizations/create_many",
            json!({"organizations": [{"name": "Org 31"}]}),
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn json_suffix_is_optional_and_counted_under_one_key() {
    let zd = Zd::default().await;
    zd.create_user(json!({"name": "Ann", "email": "ann@example.com"}))
        .await;
    let uid = zd.sim.user_by_email("ann@example.com").expect("user").id;
    let a = zd.get(&format!("/api/v2/users/{uid}.json")).await;
    let b = zd.get(&format!("/api/v2/users/{uid}")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body, b.body);
    let counts = zd.sim.counts();
    assert_eq!(counts.get("GET /api/v2/users/{id}"), 2);
    assert_eq!(counts.get("POST /api/v2/users"), 1);
    assert_eq!(counts.reads, 2);
    assert_eq!(counts.writes, 1);
    zd.sim.reset_counts();
    assert_eq!(zd.sim.counts().total(), 0);
}

#[tokio::test]
async fn errors_have_zendesk_shapes() {
    let zd = Zd::default().await;
    let r = zd.get("/api/v2/nothing/here").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"], "InvalidEndpoint");
    let r = zd.get("/api/v2/users/999.json").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"], "RecordNotFound");
    let r = answer(
        zd.http
            .post(format!("{}/api/v2/users", zd.server.url))
            .bearer_auth(&zd.token)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(r.status, 400);
    let ids: Vec<String> = (1..=101).map(|i| i.to_string()).collect();
    let r = zd
        .get(&format!("/api/v2/users/show_many?ids={}", ids.join(",")))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"], "TooManyValues");
}

#[tokio::test]
async fn membership_lists_paginate_with_cursors_and_offsets() {
    let zd = Zd::default().await;
    let mut orgs = Vec::new();
    for i in 0..5 {
        orgs.push(zd.create_org(&format!("Org {i}"), None).await);
    }
    let uid = zd
        .sim
        .add_user(json!({"name": "Ann", "email": "ann@example.com"}))
        .expect("user");
    for org in &orgs {
        zd.sim.add_membership(uid, *org, false).expect("membership");
    }
    let mut seen = Vec::new();
    let mut next = Some(format!(
        "{}/api/v2/organization_memberships.json?page[size]=2",
        zd.server.url
    ));
    let mut pages = 0;
    while let Some(url) = next {
        let r = zd.get(&url).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        pages += 1;
        for m in r.body["organization_memberships"].as_array().expect("list") {
            seen.push(m["organization_id"].as_u64().expect("org"));
        }
        next = if r.body["meta"]["has_more"] == true {
            assert!(r.body["meta"]["after_cursor"].is_string());
            r.body["links"]["next"].as_str().map(str::to_owned)
        } else {
            None
        };
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, orgs);

    // Per-user list: default first, then by organization name; after_cursor works by hand.
    let r = zd
        .get(&format!(
            "/api/v2/users/{uid}/organization_memberships?page[size]=3"
        ))
        .await;
    assert_eq!(r.body["organization_memberships"][0]["default"], true);
    let after = r.body["meta"]["after_cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let r2 = zd
        .get(&format!(
            "/api/v2/users/{uid}/organization_memberships?page[size]=3&page[after]={after}"
        ))
        .await;
    assert_eq!(
        r2.body["organization_memberships"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(r2.body["meta"]["has_more"], false);

    let r = zd
        .get("/api/v2/organization_memberships.json?page=2&per_page=2")
        .await;
    assert_eq!(r.body["count"], 5);
    assert_eq!(
        r.body["organization_memberships"].as_array().map(Vec::len),
        Some(2)
    );
    assert!(
        r.body["next_page"]
            .as_str()
            .is_some_and(|u| u.contains("page=3"))
    );
}

#[tokio::test]
async fn incremental_user_export_pages_with_identities_and_sees_updates() {
    let zd = Zd::default().await;
    for i in 0..5 {
        zd.sim
            .add_user(json!({"name": format!("U{i}"), "email": format!("u{i}@example.com")}))
            .expect("user");
    }
    let r = zd
        .get("/api/v2/incremental/users/cursor.json?start_time=0&include=identities&per_page=3")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["users"].as_array().map(Vec::len), Some(3));
    assert_eq!(r.body["identities"].as_array().map(Vec::len), Some(3));
    assert_eq!(r.body["end_of_stream"], false);
    let next = r.body["after_url"].as_str().expect("after_url").to_owned();
    let r = zd.get(&next).await;
    assert_eq!(r.body["users"].as_array().map(Vec::len), Some(2));
    assert_eq!(r.body["end_of_stream"], true);
    assert!(
        r.body["identities"].is_array(),
        "include survives in after_url"
    );
    let cursor = r.body["after_cursor"].as_str().expect("cursor").to_owned();
    // Caught up: the same cursor gives nothing until a user changes.
    let r = zd
        .get(&format!("/api/v2/incremental/users/cursor?cursor={cursor}"))
        .await;
    assert_eq!(r.body["users"].as_array().map(Vec::len), Some(0));
    assert_eq!(r.body["end_of_stream"], true);
    let uid = zd.sim.user_by_email("u1@example.com").expect("user").id;
    zd.put(
        &format!("/api/v2/users/{uid}"),
        json!({"user": {"phone": "+1"}}),
    )
    .await;
    let r = zd
        .get(&format!("/api/v2/incremental/users/cursor?cursor={cursor}"))
        .await;
    assert_eq!(r.body["users"][0]["id"], uid);
}

#[tokio::test]
async fn incremental_organization_export_is_time_based() {
    let zd = Zd::default().await;
    for i in 0..3 {
        zd.sim
            .add_organization(json!({"name": format!("Org {i}"), "external_id": format!("001{i}")}))
            .expect("org");
    }
    let r = zd
        .get("/api/v2/incremental/organizations.json?start_time=0")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["count"], 3);
    assert_eq!(r.body["end_of_stream"], true);
    assert!(r.body["end_time"].as_i64().is_some_and(|t| t > 0));
    assert!(
        r.body["next_page"]
            .as_str()
            .is_some_and(|u| u.contains("start_time="))
    );
}

#[tokio::test]
async fn organizations_names_are_unique_and_upserts_match_external_id_only() {
    let zd = Zd::default().await;
    zd.create_org("Acme Corp", None).await;
    let dup = zd
        .post(
            "/api/v2/organizations",
            json!({"organization": {"name": "  acme CORP "}}),
        )
        .await;
    assert_eq!(dup.status, 422);
    assert_eq!(dup.body["details"]["name"][0]["error"], "DuplicateValue");

    let found = zd
        .get("/api/v2/organizations/search.json?name=ACME%20corp")
        .await;
    assert_eq!(found.body["count"], 1);

    // Name is not a match key: an upsert with a new external_id and an existing name fails.
    let r = zd
        .post(
            "/api/v2/organizations/create_or_update_many",
            json!({"organizations": [{"name": "Acme Corp", "external_id": "001ABC"}, {"name": "Beta", "external_id": "001DEF"}]}),
        )
        .await;
    let (_, job) = zd
        .wait_job(r.body["job_status"]["id"].as_str().expect("id"))
        .await;
    assert_eq!(job["results"][0]["success"], false);
    assert_eq!(job["results"][1]["status"], "Created");
    // Linking an unlinked org by name (E9) is done by updating it with the external id.
    let acme = zd
        .get("/api/v2/organizations/search?name=acme%20corp")
        .await
        .body["organizations"][0]["id"]
        .as_u64()
        .expect("id");
    let r = zd
        .put(
            "/api/v2/organizations/update_many",
            json!({"organizations": [{"id": acme, "external_id": "001ABC"}]}),
        )
        .await;
    zd.wait_job(r.body["job_status"]["id"].as_str().expect("id"))
        .await;
    let r = zd
        .get("/api/v2/organizations/show_many?external_ids=001abc,001DEF")
        .await;
    assert_eq!(r.body["organizations"].as_array().map(Vec::len), Some(2));
    let r = zd
        .get("/api/v2/organizations/search?external_id=001abc")
        .await;
    assert_eq!(r.body["organizations"][0]["id"], acme);
}

#[tokio::test]
async fn memberships_create_many_reports_each_item() {
    let zd = Zd::default().await;
    let a = zd.create_org("A", None).await;
    let b = zd.create_org("B", None).await;
    let uid = zd
        .sim
        .add_user(json!({"name": "Ann", "email": "ann@example.com", "organization_id": a}))
        .expect("user");
    let r = zd
        .post(
            "/api/v2/organization_memberships/create_many.json",
            json!({"organization_memberships": [
                {"user_id": uid, "organization_id": b},
                {"user_id": uid, "organization_id": a}
            ]}),
        )
        .await;
    let (_, job) = zd
        .wait_job(r.body["job_status"]["id"].as_str().expect("id"))
        .await;
    assert_eq!(job["results"][0]["status"], "Created");
    assert_eq!(job["results"][1]["success"], false);
    let memberships = zd.sim.memberships_of(uid);
    assert_eq!(memberships.len(), 2);
    assert_eq!(memberships.iter().filter(|m| m.default).count(), 1);
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let zd = Zd::start(ZendeskSimConfig {
        rate_limit_per_minute: Some(3),
        ..ZendeskSimConfig::default()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(zd.get("/api/v2/users/count").await.status, 200);
    }
    let r = zd.get("/api/v2/users/count").await;
    assert_eq!(r.status, 429);
    let retry: u64 = r
        .header("retry-after")
        .expect("retry-after")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry));
    assert_eq!(r.header("x-rate-limit"), Some("3"));
    assert_eq!(r.header("x-rate-limit-remaining"), Some("0"));
}

#[tokio::test]
async fn bulk_user_import_disabled_answers_403() {
    let zd = Zd::start(ZendeskSimConfig {
        bulk_user_import: false,
        ..ZendeskSimConfig::default()
    })
    .await;
    for path in [
        "/api/v2/users/create_many",
        "/api/v2/users/create_or_update_many.json",
    ] {
        let r = zd
            .post(
                path,
                json!({"users": [{"name": "A", "email": "a@example.com"}]}),
            )
            .await;
        assert_eq!(r.status, 403, "{path}");
        assert_eq!(r.body["error"], "Forbidden");
    }
    assert!(zd.sim.snapshot().users.is_empty());
}

#[tokio::test]
async fn injected_write_faults_do_not_apply_the_write() {
    let zd = Zd::start(ZendeskSimConfig {
        faults: FaultConfig {
            seed: 7,
            write_failure_rate: 1.0,
            unavailable_rate: 0.0,
            ..FaultConfig::default()
        },
        ..ZendeskSimConfig::default()
    })
    .await;
    let r = zd
        .create_user(json!({"name": "Ann", "email": "ann@example.com"}))
        .await;
    assert!(r.status == 500 || r.status == 503, "{}", r.status);
    assert!(zd.sim.snapshot().users.is_empty());
    assert_eq!(
        zd.get("/api/v2/users/count").await.status,
        200,
        "reads are unaffected"
    );
}

#[tokio::test]
async fn single_create_or_update_answers_201_then_200() {
    let zd = Zd::start(ZendeskSimConfig {
        bulk_user_import: false,
        ..ZendeskSimConfig::default()
    })
    .await;
    let created = zd
        .post(
            "/api/v2/users/create_or_update.json",
            json!({"user": {"name": "Ann", "email": "ann@example.com", "external_id": "003A"}}),
        )
        .await;
    assert_eq!(created.status, 201);
    let updated = zd
        .post(
            "/api/v2/users/create_or_update",
            json!({"user": {"name": "Ann B", "external_id": "003a"}}),
        )
        .await;
    assert_eq!(updated.status, 200);
    assert_eq!(updated.body["user"]["id"], created.body["user"]["id"]);
    assert_eq!(updated.body["user"]["name"], "Ann B");
    // The upsert rewrites the stored external_id to the casing sent.
    assert_eq!(updated.body["user"]["external_id"], "003a");
    let listed = zd.get("/api/v2/users.json?external_id=003A").await;
    assert_eq!(listed.body["users"][0]["id"], created.body["user"]["id"]);
}

#[tokio::test]
async fn per_user_write_limit_answers_429_for_that_user_only() {
    let zd = Zd::start(ZendeskSimConfig {
        user_write_limit_per_minute: Some(2),
        ..ZendeskSimConfig::default()
    })
    .await;
    let ann = zd
        .sim
        .add_user(json!({"name": "Ann", "email": "ann@example.com"}))
        .expect("user");
    let bob = zd
        .sim
        .add_user(json!({"name": "Bob", "email": "bob@example.com"}))
        .expect("user");
    for phone in ["1", "2"] {
        let r = zd
            .put(
                &format!("/api/v2/users/{ann}"),
                json!({"user": {"phone": phone}}),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    let r = zd
        .put(
            &format!("/api/v2/users/{ann}"),
            json!({"user": {"phone": "3"}}),
        )
        .await;
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    assert!(
        r.header("zendesk-ratelimit-create-update-user")
            .is_some_and(|h| h.starts_with("total=2; remaining=0"))
    );
    assert_eq!(
        zd.sim
            .user_by_email("ann@example.com")
            .and_then(|u| u.phone),
        Some("2".into())
    );
    let r = zd
        .put(
            &format!("/api/v2/users/{bob}"),
            json!({"user": {"phone": "1"}}),
        )
        .await;
    assert_eq!(r.status, 200, "other users are not limited");
}

#[tokio::test]
async fn dropped_connections_apply_the_write_but_cut_the_answer() {
    let zd = Zd::start(ZendeskSimConfig {
        faults: FaultConfig {
            drop_rate: 1.0,
            ..FaultConfig::default()
        },
        ..ZendeskSimConfig::default()
    })
    .await;
    let sent = zd
        .http
        .post(format!("{}/api/v2/users.json", zd.server.url))
        .bearer_auth(&zd.token)
        .json(&json!({"user": {"name": "Ann", "email": "ann@example.com"}}))
        .send()
        .await;
    // Headers may arrive; the body never completes.
    let body = match sent {
        Ok(response) => response.bytes().await.map(|_| ()),
        Err(error) => Err(error),
    };
    assert!(body.is_err(), "the answer must be cut");
    assert!(
        zd.sim.user_by_email("ann@example.com").is_some(),
        "the write was applied before the connection dropped"
    );
}

/// On tokio's paused clock: time moves only when every task waits on a timer, and the
/// only timer here is the simulator's delay, so the answer cannot come before it.
#[tokio::test(start_paused = true)]
async fn slow_answers_arrive_after_the_delay() {
    let zd = Zd::start(ZendeskSimConfig {
        faults: FaultConfig {
            slow_rate: 1.0,
            slow_delay: Duration::from_secs(40),
            ..FaultConfig::default()
        },
        ..ZendeskSimConfig::default()
    })
    .await;
    let started = tokio::time::Instant::now();
    assert_eq!(zd.get("/api/v2/users/count").await.status, 200);
    assert!(
        started.elapsed() >= Duration::from_secs(40),
        "answered after {:?} of the paused clock",
        started.elapsed()
    );
}

/// Sends `request` and checks that its answer is held: the simulator reports a held
/// answer while the request is still waiting. Returns the still-pending request.
async fn assert_held<F>(sim: &ZendeskSim, mut request: F) -> F
where
    F: std::future::Future<Output = Answer> + Unpin,
{
    tokio::select! {
        answer = &mut request => panic!("answered while it should be held: {}", answer.status),
        () = sim.answer_held() => {}
    }
    request
}

#[tokio::test]
async fn answers_are_held_from_the_named_request_until_released() {
    let zd = Zd::default().await;
    zd.sim.hold_answers(HoldAnswers::From(2));
    assert_eq!(zd.get("/api/v2/users/count").await.status, 200);
    let create = Box::pin(zd.post(
        "/api/v2/users.json",
        json!({"user": {"name": "Ann", "email": "ann@example.com"}}),
    ));
    let create = assert_held(&zd.sim, create).await;
    assert!(
        zd.sim.user_by_email("ann@example.com").is_some(),
        "a held write is applied before its answer waits"
    );
    assert_eq!(zd.sim.held_answers(), 1);
    zd.sim.stop_holding();
    assert_eq!(
        zd.get("/api/v2/users/count").await.status,
        200,
        "no further answer is held"
    );
    zd.sim.release_answers();
    assert_eq!(create.await.status, 201);
    assert_eq!(
        zd.get("/api/v2/users/count").await.status,
        200,
        "after the release nothing is held"
    );
}

#[tokio::test]
async fn answers_are_held_from_the_first_write() {
    let zd = Zd::default().await;
    zd.sim.hold_answers(HoldAnswers::FromFirstWrite);
    assert_eq!(zd.get("/api/v2/users/count").await.status, 200);
    assert_eq!(zd.get("/api/v2/users/count").await.status, 200);
    let create = Box::pin(zd.post(
        "/api/v2/organizations.json",
        json!({"organization": {"name": "Acme"}}),
    ));
    let create = assert_held(&zd.sim, create).await;
    zd.sim.release_answers();
    assert_eq!(create.await.status, 201);
}

#[tokio::test]
async fn only_the_nth_write_is_held() {
    let zd = Zd::default().await;
    zd.sim.hold_answers(HoldAnswers::NthWrite(2));
    let org = |name: &str| json!({"organization": {"name": name}});
    assert_eq!(
        zd.post("/api/v2/organizations.json", org("A")).await.status,
        201
    );
    assert_eq!(zd.get("/api/v2/users/count").await.status, 200);
    let second = assert_held(
        &zd.sim,
        Box::pin(zd.post("/api/v2/organizations.json", org("B"))),
    )
    .await;
    assert_eq!(
        zd.post("/api/v2/organizations.json", org("C")).await.status,
        201,
        "the next write is answered while the second still waits"
    );
    zd.sim.release_answers();
    assert_eq!(second.await.status, 201);
}

#[tokio::test]
async fn tokens_expire_after_every_nth_answered_request() {
    let zd = Zd::default().await;
    zd.sim.expire_tokens_every(2);
    assert_eq!(zd.get("/api/v2/users/count").await.status, 200);
    assert_eq!(zd.get("/api/v2/users/count").await.status, 200);
    let expired = zd.get("/api/v2/users/count").await;
    assert_eq!(expired.status, 401, "{:?}", expired.body);
    assert_eq!(expired.body["error"], "invalid_token");
}

#[tokio::test]
async fn another_client_spends_the_rate_limit_before_every_nth_request() {
    let zd = Zd::start(ZendeskSimConfig {
        rate_limit_per_minute: Some(100),
        ..ZendeskSimConfig::default()
    })
    .await;
    zd.sim.spend_rate_limit_every(3);
    let first = zd.get("/api/v2/users/count").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-rate-limit-remaining"), Some("99"));
    assert_eq!(zd.get("/api/v2/users/count").await.status, 200);
    let third = zd.get("/api/v2/users/count").await;
    assert_eq!(third.status, 429, "the budget was spent by someone else");
    assert!(third.header("retry-after").is_some());
}

#[tokio::test]
async fn the_rate_limit_window_is_configurable() {
    let zd = Zd::start(ZendeskSimConfig {
        rate_limit_per_minute: Some(2),
        rate_limit_window: Duration::from_secs(1),
        ..ZendeskSimConfig::default()
    })
    .await;
    assert_eq!(zd.get("/api/v2/users/count").await.status, 200);
    assert_eq!(zd.get("/api/v2/users/count").await.status, 200);
    let limited = zd.get("/api/v2/users/count").await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after"), Some("1"));
}

#[tokio::test]
async fn injected_item_failures_are_reported_by_the_job_and_not_applied() {
    let zd = Zd::start(ZendeskSimConfig {
        faults: FaultConfig {
            item_failure_rate: 1.0,
            ..FaultConfig::default()
        },
        ..ZendeskSimConfig::default()
    })
    .await;
    let r = zd
        .post(
            "/api/v2/users/create_many.json",
            json!({"users": [{"name": "Ann", "email": "ann@example.com"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(zd.sim.snapshot().users.is_empty());
    let url = r.body["job_status"]["url"]
        .as_str()
        .expect("job url")
        .to_owned();
    let mut job = zd.get(&url).await;
    while job.body["job_status"]["status"] != "completed" {
        job = zd.get(&url).await;
    }
    assert_eq!(job.body["job_status"]["results"][0]["success"], false);
}
