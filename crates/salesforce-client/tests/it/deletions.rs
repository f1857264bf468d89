//! Deletions: `queryAll` for deleted rows and the `sobjects/{type}/deleted` log, on the wire.

use chrono::{TimeZone, Utc};
use futures::TryStreamExt;
use salesforce_client::{
    Contact, ENDPOINT_DELETED, ENDPOINT_QUERY, ENDPOINT_QUERY_ALL, ENDPOINT_QUERY_MORE,
    PersonObject, SalesforceApi, SalesforceError, reads,
};
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::support::*;

const QUERY_ALL_PATH: &str = "/services/data/v62.0/queryAll";
// Salesforce's nextRecordsUrl for a queryAll result says `/query/`.
const NEXT_PATH: &str = "/services/data/v62.0/query/01gRO0000016QAAYA2-2000";

#[tokio::test]
async fn deleted_people_go_through_query_all_and_page_with_query_more() {
    let org = Org::start().await;
    let since = Utc
        .with_ymd_and_hms(2024, 1, 31, 23, 1, 1)
        .single()
        .expect("ts");
    Mock::given(method("GET"))
        .and(path(QUERY_ALL_PATH))
        .and(header("authorization", "Bearer t"))
        .and(query_param(
            "q",
            "SELECT Id, Email, IsDeleted, SystemModstamp FROM Contact WHERE IsDeleted = true \
             AND SystemModstamp > 2024-01-31T23:01:01Z ORDER BY SystemModstamp, Id",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "totalSize": 2, "done": false, "nextRecordsUrl": NEXT_PATH,
            "records": [{
                "attributes": {"type": "Contact", "url": "/services/data/v62.0/sobjects/Contact/003RO0000035WQgYAM"},
                "Id": "003RO0000035WQgYAM", "Email": "jörg@müller.de", "IsDeleted": true,
                "SystemModstamp": "2024-02-01T08:00:00.000+0000"
            }]
        })))
        .expect(1)
        .mount(&org.instance)
        .await;
    Mock::given(method("GET"))
        .and(path(NEXT_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "totalSize": 2, "done": true,
            "records": [{
                "attributes": {"type": "Contact"},
                "Id": "003RO0000035WQhYAM", "Email": null, "IsDeleted": true,
                "SystemModstamp": "2024-02-01T08:00:01.000+0000"
            }]
        })))
        .expect(1)
        .mount(&org.instance)
        .await;
    let client = org.token_client("t");

    let pages: Vec<Vec<Contact>> =
        reads::deleted_people(&client, PersonObject::Contact, Some(since))
            .try_collect()
            .await
            .expect("deleted contacts");

    let gone = pages.concat();
    assert_eq!(gone.len(), 2);
    assert!(gone.iter().all(|c| c.is_deleted));
    assert_eq!(gone[0].email.as_deref(), Some("jörg@müller.de"));
    let calls = client.calls();
    assert_eq!(
        (
            calls.get(ENDPOINT_QUERY_ALL),
            calls.get(ENDPOINT_QUERY_MORE),
            calls.get(ENDPOINT_QUERY)
        ),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn deleted_records_log_is_typed_and_its_window_encoded() {
    let org = Org::start().await;
    Mock::given(method("GET"))
        .and(path("/services/data/v62.0/sobjects/Contact/deleted/"))
        .and(query_param("start", "2013-05-05T00:00:00+00:00"))
        .and(query_param("end", "2013-05-10T00:00:00+00:00"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "deletedRecords": [
                {"id": "003D000000QYVZ5IAP", "deletedDate": "2013-05-07T22:07:19.000+0000"}
            ],
            "earliestDateAvailable": "2013-05-03T15:57:00.000+0000",
            "latestDateCovered": "2013-05-08T21:20:00.000+0000"
        })))
        .expect(1)
        .mount(&org.instance)
        .await;
    let client = org.token_client("t");
    let start = Utc
        .with_ymd_and_hms(2013, 5, 5, 0, 0, 0)
        .single()
        .expect("ts");
    let end = Utc
        .with_ymd_and_hms(2013, 5, 10, 0, 0, 0)
        .single()
        .expect("ts");

    let log = client
        .deleted_records("Contact", start, end)
        .await
        .expect("log");

    assert_eq!(log.deleted_records.len(), 1);
    assert_eq!(log.deleted_records[0].id, "003D000000QYVZ5IAP");
    assert_eq!(
        log.deleted_records[0].deleted_date,
        Utc.with_ymd_and_hms(2013, 5, 7, 22, 7, 19)
            .single()
            .expect("ts")
    );
    assert_eq!(
        log.latest_date_covered,
        Utc.with_ymd_and_hms(2013, 5, 8, 21, 20, 0).single()
    );
    assert_eq!(client.calls().get(ENDPOINT_DELETED), 1);
}

#[tokio::test]
async fn a_window_beyond_the_log_is_salesforces_error() {
    let org = Org::start().await;
    Mock::given(method("GET"))
        .and(path("/services/data/v62.0/sobjects/Lead/deleted/"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!([{
            "errorCode": "INVALID_REPLICATION_DATE",
            "message": "startDate must chronologically precede endDate and cannot be more than 30 days ago"
        }])))
        .expect(1)
        .mount(&org.instance)
        .await;
    let client = org.token_client("t");
    let end = Utc::now();

    let err = client
        .deleted_records("Lead", end - chrono::Duration::days(60), end)
        .await
        .expect_err("refused");

    assert!(
        matches!(&err, SalesforceError::Query { error_code, .. } if error_code == "INVALID_REPLICATION_DATE"),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_object_name_that_is_not_an_api_name_sends_nothing() {
    let org = Org::start().await;
    let client = org.token_client("t");
    let now = Utc::now();
    let err = client
        .deleted_records("Contact/../x", now, now)
        .await
        .expect_err("refused");
    assert!(matches!(err, SalesforceError::InvalidConfig(_)), "{err:?}");
    assert_eq!(client.calls().total(), 0);
}
