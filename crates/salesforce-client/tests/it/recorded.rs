//! Contract tests: answers recorded from real Salesforce orgs (grouparoo's recordings),
//! restforce's fixtures and error bodies quoted in public issues, served verbatim (status,
//! headers and body as recorded) to the client's public API. Sources are listed in
//! `tests/data/README.md`.

use salesforce_client::{
    Account, Contact, Lead, SalesforceApi, SalesforceError, decode_records, queries,
};
use serde_json::Value;
use wiremock::ResponseTemplate;
use wiremock::matchers::{method, path, query_param};

use crate::support::*;

/// One recorded answer.
struct Recording {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Recording {
    fn respond(&self) -> ResponseTemplate {
        let mut template = ResponseTemplate::new(self.status).set_body_bytes(self.body.clone());
        for (name, value) in &self.headers {
            template = template.insert_header(name.as_str(), value.as_str());
        }
        template
    }
}

/// `name` with the status and headers of its `.meta.json`; a payload without one (quoted
/// in an issue or a client's fixtures) is served with `status` as JSON.
fn recording(name: &str, status: u16) -> Recording {
    let dir = format!("{}/tests/data/recorded", env!("CARGO_MANIFEST_DIR"));
    let body = std::fs::read(format!("{dir}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"));
    match std::fs::read_to_string(format!("{dir}/{name}.meta.json")) {
        Ok(meta) => {
            let meta: Value = serde_json::from_str(&meta).expect("meta");
            let headers = meta["headers"]
                .as_object()
                .map(|h| {
                    h.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            Recording {
                status: u16::try_from(meta["status"].as_u64().expect("status")).expect("u16"),
                headers,
                body,
            }
        }
        Err(_) => Recording {
            status,
            headers: vec![(
                "Content-Type".into(),
                "application/json;charset=UTF-8".into(),
            )],
            body,
        },
    }
}

fn records(name: &str) -> Value {
    serde_json::from_slice(&recording(name, 200).body).expect("json")
}

#[tokio::test]
async fn recorded_query_answers_are_read_with_the_org_usage() {
    let org = Org::start().await;
    for (soql, name) in [
        (
            "SELECT Id FROM Contact",
            "grouparoo_query_contacts_two.json",
        ),
        ("SELECT Id FROM Lead", "grouparoo_query_empty.json"),
        (
            "SELECT Id, Email FROM Lead",
            "grouparoo_query_lead_by_email.json",
        ),
    ] {
        query_with("t")
            .and(query_param("q", soql))
            .respond_with(recording(name, 200).respond())
            .expect(1)
            .mount(&org.instance)
            .await;
    }
    let client = org.token_client("t");
    let two = client.query("SELECT Id FROM Contact").await.expect("page");
    assert_eq!(two.total_size, 2);
    assert!(two.done);
    let contacts: Vec<Contact> = decode_records(two.records).expect("contacts");
    assert_eq!(contacts[0].id, "0034S000005YIbiQAG");
    assert_eq!(contacts[1].id, "0034S000005YJO1QAO");
    // The recorded Sforce-Limit-Info header.
    let usage = client.api_usage().expect("usage");
    assert_eq!((usage.used, usage.max), (8781, 15000));

    let empty = client.query("SELECT Id FROM Lead").await.expect("page");
    assert_eq!(empty.total_size, 0);
    assert!(empty.records.is_empty());
    let leads = client
        .query("SELECT Id, Email FROM Lead")
        .await
        .expect("page");
    let leads: Vec<Lead> = decode_records(leads.records).expect("leads");
    assert_eq!(leads[0].id, "00Q4S000002sSacUAE");
    assert_eq!(leads[0].email.as_deref(), Some("leadbrian@demo.com"));
    assert_eq!(client.api_usage().map(|u| u.used), Some(8403));
}

#[tokio::test]
async fn restforce_pages_are_followed() {
    let org = Org::start().await;
    query_with("t")
        .and(query_param("q", "SELECT Text_Label FROM Whizbang"))
        .respond_with(
            recording("restforce_query_paginated_first_page_response.json", 200).respond(),
        )
        .expect(1)
        .mount(&org.instance)
        .await;
    wiremock::Mock::given(method("GET"))
        .and(path("/services/data/v26.0/query/01gD"))
        .respond_with(recording("restforce_query_paginated_last_page_response.json", 200).respond())
        .expect(1)
        .mount(&org.instance)
        .await;
    query_with("t")
        .and(query_param(
            "q",
            "SELECT CampaignId, SUM(Amount) FROM Opportunity GROUP BY CampaignId",
        ))
        .respond_with(recording("restforce_query_aggregate_success_response.json", 200).respond())
        .expect(1)
        .mount(&org.instance)
        .await;
    query_with("t")
        .and(query_param("q", "SELECT Id FROM Whizbang WHERE Id = 'x'"))
        .respond_with(recording("restforce_query_empty_response.json", 200).respond())
        .expect(1)
        .mount(&org.instance)
        .await;
    query_with("t")
        .and(query_param("q", "SELECT Text_Label FROM Whizbang LIMIT 1"))
        .respond_with(recording("restforce_query_success_response.json", 200).respond())
        .expect(1)
        .mount(&org.instance)
        .await;
    let client = org.token_client("t");
    let first = client
        .query("SELECT Text_Label FROM Whizbang")
        .await
        .expect("page");
    assert!(!first.done);
    assert_eq!(first.records[0]["Text_Label"], "First Page");
    let next = first.next_records_url.expect("next");
    assert_eq!(next, "/services/data/v26.0/query/01gD");
    let last = client.query_more(&next).await.expect("page");
    assert!(last.done);
    assert_eq!(last.records[0]["Text_Label"], "Last Page");
    let aggregate = client
        .query("SELECT CampaignId, SUM(Amount) FROM Opportunity GROUP BY CampaignId")
        .await
        .expect("page");
    assert_eq!(aggregate.total_size, 3);
    assert_eq!(aggregate.records[0]["expr0"], 300.0);
    let empty = client
        .query("SELECT Id FROM Whizbang WHERE Id = 'x'")
        .await
        .expect("page");
    assert_eq!(empty.total_size, 0);
    let one = client
        .query("SELECT Text_Label FROM Whizbang LIMIT 1")
        .await
        .expect("page");
    assert_eq!(one.records[0]["Text_Label"], "Hi there!");
}

#[test]
fn recorded_records_decode_into_the_models() {
    let account: Vec<Account> =
        decode_records(vec![records("grouparoo_record_account.json")]).expect("account");
    assert_eq!(account[0].id, "0014S000007Ne8JQAS");
    assert_eq!(account[0].name.as_deref(), Some("(test) Big Account3"));
    assert!(account[0].system_modstamp.is_some());
    let contacts: Vec<Contact> = decode_records(vec![
        records("grouparoo_record_contact.json"),
        records("grouparoo_record_contact_with_email.json"),
    ])
    .expect("contacts");
    assert_eq!(contacts[0].id, "0034S000005YJO1QAO");
    assert_eq!(contacts[0].last_name.as_deref(), Some("Smith"));
    assert_eq!(contacts[0].first_name, None);
    assert_eq!(
        contacts[0].account_id.as_deref(),
        Some("0014S000007Ne8JQAS")
    );
    assert!(contacts[1].email.is_some());
    let lead: Vec<Lead> =
        decode_records(vec![records("grouparoo_record_lead.json")]).expect("lead");
    assert_eq!(lead[0].id, "00Q4S000002sSacUAE");
    assert_eq!(lead[0].last_name.as_deref(), Some("Smith"));
}

/// A recorded error body, the status it came with, and the error it must become.
type ErrorCase = (&'static str, u16, fn(&SalesforceError) -> bool);

#[tokio::test]
async fn recorded_errors_become_typed_errors() {
    let cases: [ErrorCase; 7] = [
        (
            "blog_nango_invalid_session_id.json",
            401,
            |e| matches!(e, SalesforceError::SessionExpired { message, .. } if message.contains("not valid for use with the REST API")),
        ),
        (
            "issue_simplesf287_invalid_type.json",
            400,
            |e| matches!(e, SalesforceError::ObjectNotAvailable { object: Some(o), .. } if o == "ContentHubRepository"),
        ),
        (
            "issue_orgcheck111_invalid_type.json",
            400,
            |e| matches!(e, SalesforceError::ObjectNotAvailable { object: Some(o), .. } if o == "PermissionSetGroup"),
        ),
        (
            "issue_restforce726_exceeded_id_limit.json",
            400,
            |e| matches!(e, SalesforceError::Query { error_code, .. } if error_code == "EXCEEDED_ID_LIMIT"),
        ),
        (
            "restforce_query_error_response.json",
            400,
            |e| matches!(e, SalesforceError::Query { error_code, message, .. } if error_code == "INVALID_FIELD" && message == "error_message"),
        ),
        (
            "reconstructed_request_limit_exceeded.json",
            403,
            |e| matches!(e, SalesforceError::RequestLimitExceeded { status: 403, message } if message.contains("TotalRequests")),
        ),
        (
            "grouparoo_error_404_not_found.json",
            404,
            |e| matches!(e, SalesforceError::Query { status: 404, error_code, .. } if error_code == "NOT_FOUND"),
        ),
    ];
    for (name, status, expected) in cases {
        let org = Org::start().await;
        query_with("t")
            .respond_with(recording(name, status).respond())
            .mount(&org.instance)
            .await;
        let err = org
            .token_client("t")
            .query("SELECT Id FROM Contact")
            .await
            .expect_err(name);
        assert!(expected(&err), "{name}: {err:?}");
    }
}

#[tokio::test]
async fn recorded_token_answers_are_read() {
    let org = Org::start().await;
    token_request()
        .respond_with(recording("restforce_auth_success_response.json", 200).respond())
        .expect(1)
        .mount(&org.login)
        .await;
    org.client().authenticate().await.expect("token");

    for name in [
        "restforce_auth_error_response.json",
        "issue_forrest364_token_invalid_grant.json",
    ] {
        let org = Org::start().await;
        token_request()
            .respond_with(recording(name, 400).respond())
            .mount(&org.login)
            .await;
        let err = org.client().authenticate().await.expect_err(name);
        match err {
            SalesforceError::Auth {
                status: 400,
                error,
                description,
            } => {
                assert_eq!(error, "invalid_grant", "{name}");
                assert!(description.starts_with("authentication failure"), "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_acr_probe_reads_a_recorded_invalid_type_as_unavailable() {
    let org = Org::start().await;
    query_with("t")
        .and(query_param("q", queries::ACR_PROBE))
        .respond_with(recording("issue_simplesf287_invalid_type.json", 400).respond())
        .expect(1)
        .mount(&org.instance)
        .await;
    assert!(
        !org.token_client("t")
            .account_contact_relation_available()
            .await
            .expect("probe")
    );
}
