//! Salesforce's error answers mapped to distinct errors.

use salesforce_client::{ENDPOINT_QUERY, SalesforceApi, SalesforceError, queries};
use wiremock::ResponseTemplate;
use wiremock::matchers::query_param;

use crate::support::*;

#[tokio::test]
async fn acr_probe_maps_invalid_type_to_false() {
    let org = Org::start().await;
    query_with("t")
        .and(query_param("q", queries::ACR_PROBE))
        .respond_with(json(400, "error_invalid_type_acr.json"))
        .expect(1)
        .mount(&org.instance)
        .await;
    let client = org.token_client("t");
    assert!(
        !client
            .account_contact_relation_available()
            .await
            .expect("probe")
    );
    assert_eq!(
        client.calls().get(ENDPOINT_QUERY),
        1,
        "INVALID_TYPE is not retried"
    );
}

#[tokio::test]
async fn acr_probe_is_true_when_the_object_answers() {
    let org = Org::start().await;
    query_with("t")
        .and(query_param("q", queries::ACR_PROBE))
        .respond_with(json(200, "query_empty.json"))
        .expect(1)
        .mount(&org.instance)
        .await;
    assert!(
        org.token_client("t")
            .account_contact_relation_available()
            .await
            .expect("probe")
    );
}

#[tokio::test]
async fn acr_probe_passes_other_failures_through() {
    let org = Org::start().await;
    query_with("t")
        .respond_with(json(403, "error_request_limit_exceeded.json"))
        .mount(&org.instance)
        .await;
    let err = org
        .token_client("t")
        .account_contact_relation_available()
        .await
        .expect_err("limit");
    assert!(
        matches!(err, SalesforceError::RequestLimitExceeded { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn invalid_type_on_other_queries_is_a_distinct_error() {
    let org = Org::start().await;
    query_with("t")
        .and(query_param("q", "SELECT Id FROM Region__c"))
        .respond_with(json(400, "error_invalid_type_custom.json"))
        .mount(&org.instance)
        .await;
    query_with("t")
        .and(query_param("q", "SELECT Id FROM AccountContactRelation"))
        .respond_with(json(400, "error_invalid_type_acr.json"))
        .mount(&org.instance)
        .await;
    let client = org.token_client("t");

    let custom = client
        .query("SELECT Id FROM Region__c")
        .await
        .expect_err("invalid type");
    assert!(
        matches!(&custom, SalesforceError::ObjectNotAvailable { object: Some(o), .. } if o == "Region__c"),
        "{custom:?}"
    );
    assert!(!custom.to_string().contains("Contacts to Multiple Accounts"));

    let acr = client
        .query("SELECT Id FROM AccountContactRelation")
        .await
        .expect_err("invalid type");
    assert!(
        acr.to_string().contains("Contacts to Multiple Accounts"),
        "{acr}"
    );
    assert_eq!(acr.error_code(), Some("INVALID_TYPE"));
}

#[tokio::test]
async fn malformed_query_and_invalid_field_carry_code_message_and_fields() {
    let org = Org::start().await;
    query_with("t")
        .and(query_param("q", "SELECT Id FROM Contact WHERE"))
        .respond_with(json(400, "error_malformed_query.json"))
        .mount(&org.instance)
        .await;
    query_with("t")
        .and(query_param("q", "SELECT Id, Tier__c FROM Account"))
        .respond_with(json(400, "error_invalid_field.json"))
        .mount(&org.instance)
        .await;
    let client = org.token_client("t");

    let malformed = client
        .query("SELECT Id FROM Contact WHERE")
        .await
        .expect_err("malformed");
    match &malformed {
        SalesforceError::Query {
            status,
            error_code,
            message,
            ..
        } => {
            assert_eq!((*status, error_code.as_str()), (400, "MALFORMED_QUERY"));
            assert!(message.contains("unexpected token"), "{message}");
        }
        other => panic!("expected query error, got {other:?}"),
    }
    assert!(malformed.to_string().contains("MALFORMED_QUERY"));

    let field = client
        .query("SELECT Id, Tier__c FROM Account")
        .await
        .expect_err("field");
    assert!(
        matches!(&field, SalesforceError::Query { error_code, fields, .. }
            if error_code == "INVALID_FIELD" && fields == &["Tier__c".to_owned()]),
        "{field:?}"
    );
    assert_eq!(
        client.calls().get(ENDPOINT_QUERY),
        2,
        "4xx answers are not retried"
    );
}

#[tokio::test]
async fn request_limit_exceeded_is_its_own_error_whatever_the_status() {
    for status in [403, 400] {
        let org = Org::start().await;
        query_with("t")
            .respond_with(json(status, "error_request_limit_exceeded.json"))
            .expect(1)
            .mount(&org.instance)
            .await;
        let client = org.token_client("t");
        let err = client
            .query("SELECT Id FROM Account")
            .await
            .expect_err("limit");
        assert!(
            matches!(&err, SalesforceError::RequestLimitExceeded { status: s, message } if *s == status && message.contains("TotalRequests")),
            "{err:?}"
        );
        assert!(!err.is_retryable());
    }
}

#[tokio::test]
async fn non_json_error_bodies_keep_a_short_excerpt() {
    let org = Org::start().await;
    let html = format!("<html><body>{}</body></html>", "Not Found ".repeat(100));
    query_with("t")
        .respond_with(ResponseTemplate::new(404).set_body_raw(html, "text/html"))
        .mount(&org.instance)
        .await;
    let err = org
        .token_client("t")
        .query("SELECT Id FROM Account")
        .await
        .expect_err("404");
    match err {
        SalesforceError::Decode {
            status,
            body_excerpt,
            ..
        } => {
            assert_eq!(status, 404);
            assert!(body_excerpt.starts_with("<html><body>Not Found"));
            assert!(body_excerpt.chars().count() <= salesforce_client::BODY_EXCERPT_CHARS + 1);
        }
        other => panic!("expected decode error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_undecodable_success_body_is_a_decode_error() {
    let org = Org::start().await;
    query_with("t")
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(r#"{"done": "maybe"}"#, "application/json"),
        )
        .mount(&org.instance)
        .await;
    let err = org
        .token_client("t")
        .query("SELECT Id FROM Account")
        .await
        .expect_err("decode");
    assert!(
        matches!(&err, SalesforceError::Decode { status: 200, body_excerpt, source: Some(_) } if body_excerpt.contains("maybe")),
        "{err:?}"
    );
}
