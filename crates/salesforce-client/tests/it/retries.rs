//! Retries of transient failures: 5xx answers, dropped connections and timeouts.

use std::time::Duration;

use salesforce_client::{
    ENDPOINT_QUERY, ENDPOINT_TOKEN, SalesforceApi, SalesforceError, TransportKind,
};
use wiremock::{Request, ResponseTemplate};

use crate::support::*;

#[tokio::test]
async fn service_unavailable_then_success() {
    let org = Org::start().await;
    query_with("t")
        .respond_with(ResponseTemplate::new(503).set_body_string("Service Unavailable"))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&org.instance)
        .await;
    query_with("t")
        .respond_with(json(200, "query_accounts.json"))
        .with_priority(2)
        .expect(1)
        .mount(&org.instance)
        .await;
    let client = org.token_client("t");

    let page = client
        .query("SELECT Id FROM Account")
        .await
        .expect("second attempt");

    assert_eq!(page.records.len(), 2);
    assert_eq!(client.calls().get(ENDPOINT_QUERY), 2, "retries are counted");
}

#[tokio::test]
async fn persistent_server_errors_give_up_after_max_attempts() {
    let org = Org::start().await;
    query_with("t")
        .respond_with(
            ResponseTemplate::new(500).set_body_string("<html>Internal Server Error</html>"),
        )
        .expect(3)
        .mount(&org.instance)
        .await;
    let client = org.token_client("t");

    let err = client
        .query("SELECT Id FROM Account")
        .await
        .expect_err("gives up");

    assert!(
        matches!(&err, SalesforceError::Server { status: 500, body_excerpt } if body_excerpt.contains("Internal Server Error")),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(client.calls().get(ENDPOINT_QUERY), 3);
}

#[tokio::test]
async fn token_endpoint_server_errors_are_retried_too() {
    let org = Org::start().await;
    token_request()
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&org.login)
        .await;
    org.issue_token(FIRST_TOKEN, 1).await;
    let client = org.client();
    client.authenticate().await.expect("second attempt");
    assert_eq!(client.calls().get(ENDPOINT_TOKEN), 2);
}

#[tokio::test]
async fn dropped_connection_then_success() {
    let org = Org::start().await;
    query_with("t")
        .respond_with_err(|_: &Request| {
            std::io::Error::new(std::io::ErrorKind::ConnectionReset, "dropped")
        })
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&org.instance)
        .await;
    query_with("t")
        .respond_with(json(200, "query_accounts.json"))
        .with_priority(2)
        .expect(1)
        .mount(&org.instance)
        .await;
    let client = org.token_client("t");

    let page = client
        .query("SELECT Id FROM Account")
        .await
        .expect("second attempt");

    assert_eq!(page.records.len(), 2);
    assert_eq!(client.calls().get(ENDPOINT_QUERY), 2);
}

#[tokio::test]
async fn dropped_connections_every_time_are_a_transport_error() {
    let org = Org::start().await;
    query_with("t")
        .respond_with_err(|_: &Request| {
            std::io::Error::new(std::io::ErrorKind::ConnectionReset, "dropped")
        })
        .expect(3)
        .mount(&org.instance)
        .await;
    let err = org
        .token_client("t")
        .query("SELECT Id FROM Account")
        .await
        .expect_err("fails");
    assert!(
        matches!(
            err,
            SalesforceError::Transport {
                kind: TransportKind::Connection,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn slow_answer_times_out_and_is_retried() {
    let org = Org::start().await;
    query_with("t")
        .respond_with(json(200, "query_accounts.json").set_delay(Duration::from_secs(5)))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&org.instance)
        .await;
    query_with("t")
        .respond_with(json(200, "query_accounts.json"))
        .with_priority(2)
        .expect(1)
        .mount(&org.instance)
        .await;
    let config = org
        .token_config("t")
        .with_timeout(Duration::from_millis(100));
    let client = salesforce_client::HttpSalesforceClient::new(config).expect("client");

    let page = client
        .query("SELECT Id FROM Account")
        .await
        .expect("second attempt");

    assert_eq!(page.records.len(), 2);
    assert_eq!(client.calls().get(ENDPOINT_QUERY), 2);
}

#[tokio::test]
async fn refused_connections_are_a_connect_error() {
    // Bind then drop a listener, so that nothing listens on the port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let config = salesforce_client::SalesforceConfig::new(
        &format!("http://127.0.0.1:{port}"),
        API_VERSION,
        salesforce_client::SalesforceAuth::AccessToken {
            access_token: "t".to_owned().into(),
            instance_url: salesforce_client::Url::parse(&format!("http://127.0.0.1:{port}"))
                .expect("url"),
        },
    )
    .expect("config")
    .with_retry(fast_retry());
    let client = salesforce_client::HttpSalesforceClient::new(config).expect("client");
    let err = client
        .query("SELECT Id FROM Account")
        .await
        .expect_err("refused");
    assert!(
        matches!(
            err,
            SalesforceError::Transport {
                kind: TransportKind::Connect,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(client.calls().get(ENDPOINT_QUERY), 3);
}
