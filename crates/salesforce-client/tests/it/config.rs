//! Configuration rules enforced before and during authentication.

use salesforce_client::{
    HttpSalesforceClient, SalesforceAuth, SalesforceConfig, SalesforceError, SecretString, Url,
};
use wiremock::ResponseTemplate;

use crate::support::*;

fn credentials() -> SalesforceAuth {
    SalesforceAuth::ClientCredentials {
        client_id: CLIENT_ID.into(),
        client_secret: SecretString::from(CLIENT_SECRET),
    }
}

#[test]
fn plain_http_is_refused_for_remote_hosts() {
    let err = SalesforceConfig::new("http://acme.my.salesforce.com", API_VERSION, credentials())
        .expect_err("plain http");
    assert!(matches!(err, SalesforceError::InvalidConfig(_)), "{err:?}");

    let remote_instance = SalesforceAuth::AccessToken {
        access_token: SecretString::from("t"),
        instance_url: Url::parse("http://acme.my.salesforce.com").expect("url"),
    };
    assert!(
        SalesforceConfig::new(
            "https://acme.my.salesforce.com",
            API_VERSION,
            remote_instance
        )
        .is_err()
    );

    // The fields are public, so the client validates again.
    let mut config =
        SalesforceConfig::new("https://acme.my.salesforce.com", API_VERSION, credentials())
            .expect("ok");
    config.login_url = Url::parse("http://acme.my.salesforce.com").expect("url");
    assert!(matches!(
        HttpSalesforceClient::new(config),
        Err(SalesforceError::InvalidConfig(_))
    ));
}

#[test]
fn loopback_http_is_allowed_for_local_servers() {
    for url in [
        "http://127.0.0.1:1234",
        "http://localhost:1234",
        "http://[::1]:1234",
    ] {
        assert!(
            SalesforceConfig::new(url, API_VERSION, credentials()).is_ok(),
            "{url}"
        );
    }
}

#[tokio::test]
async fn plain_http_instance_url_from_the_token_endpoint_is_refused() {
    let org = Org::start().await;
    let body =
        fixture("token_success.json").replace("{{instance_url}}", "http://acme.my.salesforce.com");
    token_request()
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
        .mount(&org.login)
        .await;
    let err = org.client().authenticate().await.expect_err("refused");
    assert!(
        matches!(&err, SalesforceError::InvalidConfig(m) if m.contains("instance_url")),
        "{err:?}"
    );
    assert!(
        org.instance
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    );
}

#[test]
fn batch_size_must_be_within_salesforce_bounds() {
    let config =
        SalesforceConfig::new("https://acme.my.salesforce.com", API_VERSION, credentials())
            .expect("ok");
    assert!(HttpSalesforceClient::new(config.clone().with_batch_size(100)).is_err());
    assert!(HttpSalesforceClient::new(config.with_batch_size(200)).is_ok());
}
