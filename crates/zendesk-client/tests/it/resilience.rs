//! Retries, rate limits and job caps: what is repeated, after how long, and what is not.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};
use zendesk_client::{
    Auth, HttpZendeskClient, ManualClock, NewOrganization, NewUser, TransportKind, UserUpdate,
    ZendeskError, ZendeskRead, ZendeskWrite,
};

use crate::common::{TOKEN, config, fixture, fixture_text, harness, harness_with, json_response};

fn plain_429(retry_after: &str) -> ResponseTemplate {
    ResponseTemplate::new(429)
        .insert_header("retry-after", retry_after)
        .insert_header("content-type", "text/plain")
        .set_body_string(fixture_text("error_429.txt", ""))
}

#[tokio::test]
async fn rate_limited_read_waits_retry_after_then_succeeds() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/1"))
        .respond_with(plain_429("7"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/1"))
        .respond_with(json_response(200, "users_show.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    h.client.show_user(1).await.expect("after waiting");
    assert_eq!(h.clock.sleeps(), vec![Duration::from_secs(7)]);
    assert_eq!(
        h.client.calls().get("GET /api/v2/users/{id}"),
        2,
        "retries are counted"
    );
}

#[tokio::test]
async fn rate_limited_single_write_is_retried_because_it_was_refused() {
    let h = harness().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/users"))
        .respond_with(plain_429("2"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/users"))
        .respond_with(json_response(201, "users_create.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    h.client
        .create_user(&NewUser::new("R", "roge@example.org"))
        .await
        .expect("created");
    assert_eq!(h.clock.sleeps(), vec![Duration::from_secs(2)]);
}

#[tokio::test]
async fn persistent_429_surfaces_rate_limited_with_the_wait() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/1"))
        .respond_with(plain_429("5"))
        .expect(3)
        .mount(&h.server)
        .await;
    let err = h.client.show_user(1).await.expect_err("still limited");
    match &err {
        ZendeskError::RateLimited { retry_after, .. } => {
            assert_eq!(*retry_after, Some(Duration::from_secs(5)))
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.is_retryable());
}

#[tokio::test]
async fn ratelimit_reset_header_is_used_without_retry_after() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/1"))
        .respond_with(ResponseTemplate::new(429).insert_header("ratelimit-reset", "11"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/1"))
        .respond_with(json_response(200, "users_show.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    h.client.show_user(1).await.expect("after waiting");
    assert_eq!(h.clock.sleeps(), vec![Duration::from_secs(11)]);
}

#[tokio::test]
async fn server_error_on_read_is_retried_with_backoff() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/1"))
        .respond_with(ResponseTemplate::new(503).set_body_string("Service Unavailable"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/1"))
        .respond_with(json_response(200, "users_show.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    h.client.show_user(1).await.expect("after 503");
    let sleeps = h.clock.sleeps();
    assert_eq!(sleeps.len(), 1);
    // Jittered within [initial/2, initial] of the test's 10 ms backoff.
    assert!(
        sleeps[0] >= Duration::from_millis(5) && sleeps[0] <= Duration::from_millis(10),
        "{sleeps:?}"
    );
}

#[tokio::test]
async fn server_error_on_single_writes_is_not_retried() {
    let h = harness().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/users"))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream <b>down</b>"))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/v2/users/5"))
        .respond_with(ResponseTemplate::new(500))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/organizations"))
        .respond_with(ResponseTemplate::new(502))
        .expect(1)
        .mount(&h.server)
        .await;
    let err = h
        .client
        .create_user(&NewUser::new("R", "r@x.com"))
        .await
        .expect_err("503");
    match &err {
        ZendeskError::Server { status, body } => {
            assert_eq!(*status, 503);
            assert_eq!(body, "upstream <b>down</b>");
        }
        other => panic!("unexpected {other:?}"),
    }
    let update = UserUpdate::new(5)
        .set_field("phone", json!("+1"))
        .expect("allowed");
    assert!(matches!(
        h.client.update_user(&update).await,
        Err(ZendeskError::Server { status: 500, .. })
    ));
    assert!(matches!(
        h.client
            .create_organization(&NewOrganization::new("Acme"))
            .await,
        Err(ZendeskError::Server { status: 502, .. })
    ));
    assert!(h.clock.sleeps().is_empty());
}

#[tokio::test]
async fn server_error_on_bulk_submission_is_retried() {
    let h = harness().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/organizations/create_many"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/organizations/create_many"))
        .respond_with(json_response(200, "job_status_queued.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    h.client
        .create_many_organizations(&[NewOrganization::new("Acme")])
        .await
        .expect("job");
    assert_eq!(h.client.inflight_jobs(), 1);
}

#[tokio::test]
async fn too_many_jobs_waits_and_resubmits() {
    let h = harness().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/users/create_many"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "15")
                .set_body_json(fixture("error_too_many_jobs.json")),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/users/create_many"))
        .respond_with(json_response(200, "job_status_queued.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    let job = h
        .client
        .create_many_users(&[NewUser::new("A", "a@x.com")])
        .await
        .expect("accepted");
    assert_eq!(job.id, "82de0b044094f0c67893ac9fe64f1a99");
    assert_eq!(h.clock.sleeps(), vec![Duration::from_secs(15)]);
    assert_eq!(
        h.client.inflight_jobs(),
        1,
        "only the accepted job holds a slot"
    );
}

#[tokio::test]
async fn too_many_jobs_with_another_status_is_recognised_by_its_body() {
    let h = harness().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/organization_memberships/create_many"))
        .respond_with(ResponseTemplate::new(400).set_body_json(fixture("error_too_many_jobs.json")))
        .expect(3)
        .mount(&h.server)
        .await;
    let err = h
        .client
        .create_many_memberships(&[zendesk_client::NewMembership::new(1, 2)])
        .await
        .expect_err("never accepted");
    assert!(matches!(err, ZendeskError::TooManyJobs { .. }), "{err:?}");
    assert_eq!(h.clock.sleeps().len(), 2);
    assert_eq!(h.client.inflight_jobs(), 0);
}

#[tokio::test]
async fn inflight_jobs_header_lowers_the_cap() {
    let h = harness().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/users/create_many"))
        .respond_with(json_response(200, "job_status_queued.json").insert_header(
            "zendesk-ratelimit-inflight-jobs",
            "total=30; remaining=0; resets=45",
        ))
        .expect(2)
        .mount(&h.server)
        .await;
    h.client
        .create_many_users(&[NewUser::new("A", "a@x.com")])
        .await
        .expect("first");
    h.client
        .create_many_users(&[NewUser::new("B", "b@x.com")])
        .await
        .expect("second");
    // The second submission waited (in 1 s steps of the manual clock) for the reset.
    assert!(
        h.clock.elapsed() >= Duration::from_secs(45),
        "{:?}",
        h.clock.elapsed()
    );
}

#[tokio::test]
async fn low_remaining_budget_slows_down_before_zero() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/1"))
        .respond_with(
            json_response(200, "users_show.json")
                .insert_header("x-rate-limit", "400")
                .insert_header("x-rate-limit-remaining", "0")
                .insert_header("ratelimit-reset", "30"),
        )
        .expect(2)
        .mount(&h.server)
        .await;
    h.client.show_user(1).await.expect("first");
    assert!(h.clock.sleeps().is_empty());
    h.client.show_user(1).await.expect("second");
    assert_eq!(h.clock.sleeps(), vec![Duration::from_secs(30)]);
}

#[tokio::test]
async fn request_budget_is_shared_by_clones() {
    let h = harness_with(Auth::bearer(TOKEN), |c| c.requests_per_minute = 2).await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/1"))
        .respond_with(json_response(200, "users_show.json"))
        .expect(3)
        .mount(&h.server)
        .await;
    let clone = h.client.clone();
    h.client.show_user(1).await.expect("1");
    clone.show_user(1).await.expect("2");
    assert!(h.clock.sleeps().is_empty());
    clone.show_user(1).await.expect("3 waits for the window");
    assert_eq!(h.clock.sleeps(), vec![Duration::from_secs(60)]);
    assert_eq!(h.client.calls().total(), 3);
}

/// A server that drops the first `drops` connections without answering, then answers
/// every request with `body`. Counts connections.
async fn flaky_server(drops: usize, body: String) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = vec![0u8; 16 * 1024];
            let _ = socket.read(&mut buf).await;
            if n < drops {
                drop(socket);
                continue;
            }
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                body.len(),
                body
            );
            let _ = socket.write_all(response.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    });
    (format!("http://{addr}"), connections)
}

#[tokio::test]
async fn dropped_connection_on_read_is_retried() {
    let (base, connections) = flaky_server(1, fixture_text("users_show.json", "")).await;
    let clock = ManualClock::new();
    let client =
        HttpZendeskClient::new(config(&base, Auth::bearer(TOKEN), &clock)).expect("client");
    let user = client
        .show_user(87193)
        .await
        .expect("second connection answers");
    assert_eq!(user.id, 87193);
    assert_eq!(connections.load(Ordering::SeqCst), 2);
    assert_eq!(client.calls().get("GET /api/v2/users/{id}"), 2);
}

#[tokio::test]
async fn dropped_connection_on_single_write_is_not_retried() {
    let (base, connections) = flaky_server(1, fixture_text("users_create.json", "")).await;
    let clock = ManualClock::new();
    let client =
        HttpZendeskClient::new(config(&base, Auth::bearer(TOKEN), &clock)).expect("client");
    let err = client
        .create_user(&NewUser::new("R", "r@x.com"))
        .await
        .expect_err("dropped");
    assert!(
        matches!(
            err,
            ZendeskError::Transport {
                kind: TransportKind::ConnectionDropped,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "the create was not repeated"
    );
}

#[tokio::test]
async fn refused_connection_is_retried_then_reported_as_connect() {
    // Bind then drop a listener to get a local port nothing listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let clock = ManualClock::new();
    let client = HttpZendeskClient::new(config(
        &format!("http://127.0.0.1:{port}"),
        Auth::bearer(TOKEN),
        &clock,
    ))
    .expect("client");
    let err = client.show_user(1).await.expect_err("nobody listens");
    assert!(
        matches!(
            err,
            ZendeskError::Transport {
                kind: TransportKind::Connect,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(client.calls().total(), 3, "max_attempts requests");
}

#[tokio::test]
async fn timeouts_are_retried_for_reads_but_not_for_single_writes() {
    let h = harness_with(Auth::bearer(TOKEN), |c| {
        c.timeout = Duration::from_millis(100)
    })
    .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/users/1"))
        .respond_with(json_response(200, "users_show.json").set_delay(Duration::from_millis(400)))
        .expect(3)
        .mount(&h.server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/v2/users/1"))
        .respond_with(json_response(200, "users_update.json").set_delay(Duration::from_millis(400)))
        .expect(1)
        .mount(&h.server)
        .await;
    let err = h.client.show_user(1).await.expect_err("always slow");
    assert!(
        matches!(
            err,
            ZendeskError::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{err:?}"
    );
    let update = UserUpdate::new(1)
        .set_field("phone", json!("+1"))
        .expect("allowed");
    let err = h.client.update_user(&update).await.expect_err("slow write");
    assert!(
        matches!(
            err,
            ZendeskError::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        h.client.calls().get("PUT /api/v2/users/{id}"),
        1,
        "the update may have been applied"
    );
}
