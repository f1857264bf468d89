//! Job statuses and the poller over HTTP: completion, per-item failures, in-flight slots.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};
use zendesk_client::{
    ItemOutcome, JobPoller, JobState, NewUser, PollConfig, ZendeskRead, ZendeskWrite,
};

use crate::common::{Harness, TOKEN, fixture, harness, harness_with, json_response};

fn poller(h: &Harness) -> JobPoller {
    JobPoller::new(PollConfig {
        initial_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(8),
        deadline: Duration::from_secs(120),
        clock: Arc::new(h.clock.clone()),
    })
}

#[tokio::test]
async fn show_job_status_parses_results() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path(
            "/api/v2/job_statuses/82de0b044094f0c67893ac9fe64f1a99",
        ))
        .respond_with(json_response(200, "job_status_completed.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    let job = h
        .client
        .show_job_status("82de0b044094f0c67893ac9fe64f1a99")
        .await
        .expect("job");
    assert_eq!(job.status, JobState::Completed);
    assert_eq!(job.progress, Some(2));
    assert_eq!(
        job.outcomes(),
        vec![
            ItemOutcome::Created { id: Some(244) },
            ItemOutcome::Created { id: Some(245) }
        ]
    );
    assert!(job.all_succeeded());
}

#[tokio::test]
async fn results_object_reads_as_no_items() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path(
            "/api/v2/job_statuses/dd9321f29967688b27bc9499ebb4ae8d",
        ))
        .respond_with(json_response(200, "job_status_permanent_delete.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    let job = h
        .client
        .show_job_status("dd9321f29967688b27bc9499ebb4ae8d")
        .await
        .expect("job");
    assert!(job.results.is_empty());
}

#[tokio::test]
async fn show_many_job_statuses_chunks_by_100() {
    let h = harness().await;
    let ids: Vec<String> = (0..101).map(|i| format!("job{i}")).collect();
    Mock::given(method("GET"))
        .and(path("/api/v2/job_statuses/show_many"))
        .and(query_param("ids", ids[..100].join(",")))
        .respond_with(json_response(200, "job_statuses_show_many.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/job_statuses/show_many"))
        .and(query_param("ids", "job100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"job_statuses": []})))
        .expect(1)
        .mount(&h.server)
        .await;
    let statuses = h
        .client
        .show_many_job_statuses(&ids)
        .await
        .expect("statuses");
    assert_eq!(statuses.len(), 2);
    assert_eq!(
        statuses[1].outcomes(),
        vec![
            ItemOutcome::Updated { id: Some(59) },
            ItemOutcome::Updated { id: Some(60) }
        ]
    );
}

fn job_list(file: &str) -> serde_json::Value {
    let job = fixture(file)["job_status"].clone();
    json!({ "job_statuses": [job] })
}

#[tokio::test]
async fn bulk_job_polled_to_completion_frees_its_slot() {
    let h = harness().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/users/create_many"))
        .respond_with(json_response(200, "job_status_queued.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/job_statuses/show_many"))
        .and(query_param("ids", "82de0b044094f0c67893ac9fe64f1a99"))
        .respond_with(ResponseTemplate::new(200).set_body_json(job_list("job_status_working.json")))
        .up_to_n_times(2)
        .expect(2)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/job_statuses/show_many"))
        .and(query_param("ids", "82de0b044094f0c67893ac9fe64f1a99"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(job_list("job_status_completed.json")),
        )
        .expect(1)
        .mount(&h.server)
        .await;

    let users = vec![NewUser::new("A", "a@x.com"), NewUser::new("B", "b@x.com")];
    let job = h.client.create_many_users(&users).await.expect("queued");
    assert_eq!(h.client.inflight_jobs(), 1);
    let done = poller(&h)
        .wait(&h.client, std::slice::from_ref(&job.id))
        .await
        .expect("done");
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].status, JobState::Completed);
    assert_eq!(done[0].outcomes().len(), 2);
    assert_eq!(
        h.client.inflight_jobs(),
        0,
        "terminal job releases the slot"
    );
    // Exponential backoff between checks: 1 s, 2 s, 4 s.
    assert_eq!(
        h.clock.sleeps(),
        vec![
            Duration::from_secs(1),
            Duration::from_secs(2),
            Duration::from_secs(4)
        ]
    );
}

#[tokio::test]
async fn poller_maps_per_item_failures() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/job_statuses/show_many"))
        .respond_with(json_response(
            200,
            "job_statuses_show_many_item_failure.json",
        ))
        .expect(1)
        .mount(&h.server)
        .await;
    let done = poller(&h)
        .wait(&h.client, &["82de0b044094f0c67893ac9fe64f1a99".to_owned()])
        .await
        .expect("done");
    assert_eq!(
        done[0].outcomes(),
        vec![
            ItemOutcome::Created {
                id: Some(1900233268488)
            },
            ItemOutcome::Updated {
                id: Some(902860577023)
            },
            ItemOutcome::Failed {
                error: "UserUpdateError".into(),
                details: Some(json!(
                    "Name: Email: error@example.com_ is not properly formatted"
                )),
            },
        ]
    );
    assert!(!done[0].all_succeeded());
    assert_eq!(done[0].results[2].index, Some(2));
}

#[tokio::test]
async fn submissions_wait_for_a_free_slot_at_the_cap() {
    // The real clock: waiting for a slot must block until the job is seen finished.
    let h = harness_with(zendesk_client::Auth::bearer(TOKEN), |c| {
        c.max_inflight_jobs = 1;
        c.clock = Arc::new(zendesk_client::TokioClock);
    })
    .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/users/create_many"))
        .respond_with(json_response(200, "job_status_queued.json"))
        .expect(2)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path(
            "/api/v2/job_statuses/82de0b044094f0c67893ac9fe64f1a99",
        ))
        .respond_with(json_response(200, "job_status_completed.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    let users = vec![NewUser::new("A", "a@x.com")];
    h.client.create_many_users(&users).await.expect("first job");

    let client = h.client.clone();
    let second = tokio::spawn(async move {
        client
            .create_many_users(&[NewUser::new("B", "b@x.com")])
            .await
    });
    // The second submission cannot be sent while the first job holds the only slot.
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    assert_eq!(h.client.calls().get("POST /api/v2/users/create_many"), 1);
    assert!(!second.is_finished());

    h.client
        .show_job_status("82de0b044094f0c67893ac9fe64f1a99")
        .await
        .expect("completed");
    second.await.expect("task").expect("second job");
    assert_eq!(h.client.calls().get("POST /api/v2/users/create_many"), 2);
}
