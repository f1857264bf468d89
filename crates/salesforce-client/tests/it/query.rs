//! Queries: paging through nextRecordsUrl, batch size, API usage, literal escaping on the wire, typed reads.

use chrono::{TimeZone, Utc};
use futures::TryStreamExt;
use salesforce_client::soql::{Select, quote};
use salesforce_client::{
    Account, AccountContactRelation, Contact, ENDPOINT_QUERY, ENDPOINT_QUERY_MORE, Lead,
    PersonObject, SalesforceApi, queries, query_all, query_stream, reads,
};
use wiremock::Mock;
use wiremock::matchers::{header, method, path, query_param};

use crate::support::*;

const NEXT_PATH: &str = "/services/data/v62.0/query/01gRO0000016PIAYA2-2";

async fn mount_two_contact_pages(org: &Org, token: &str) {
    query_with(token)
        .respond_with(json(200, "query_contacts_page1.json"))
        .expect(1)
        .mount(&org.instance)
        .await;
    Mock::given(method("GET"))
        .and(path(NEXT_PATH))
        .and(header("authorization", format!("Bearer {token}")))
        .respond_with(json(200, "query_contacts_page2.json"))
        .expect(1)
        .mount(&org.instance)
        .await;
}

#[tokio::test]
async fn query_stream_follows_next_records_url_until_done() {
    let org = Org::start().await;
    org.issue_token(FIRST_TOKEN, 1).await;
    mount_two_contact_pages(&org, FIRST_TOKEN).await;
    let client = org.client();

    let pages: Vec<Vec<Contact>> = query_stream(&client, "SELECT Id FROM Contact".into())
        .try_collect()
        .await
        .expect("pages");

    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
    let first = &pages[0][0];
    assert_eq!(first.id, "003RO0000035WQgYAM");
    assert_eq!(first.email.as_deref(), Some("o'brien@example.com"));
    assert_eq!(first.account_id.as_deref(), Some("001RO000003ZbPgYAK"));
    assert_eq!(
        first.system_modstamp,
        Utc.with_ymd_and_hms(2024, 1, 31, 23, 1, 1).single()
    );
    assert_eq!(first.fields["Tier__c"], "Gold");
    assert_eq!(first.fields["Account"]["Name"], "Acme");
    assert!(!first.fields.contains_key("attributes"));
    assert_eq!(pages[0][1].email, None);
    assert_eq!(
        pages[1][0].email.as_deref(),
        Some("back\\slash@example.com")
    );

    let calls = client.calls();
    assert_eq!(
        (calls.get(ENDPOINT_QUERY), calls.get(ENDPOINT_QUERY_MORE)),
        (1, 1)
    );
}

#[tokio::test]
async fn batch_size_is_sent_on_every_page() {
    let org = Org::start().await;
    let batch = "batchSize=500";
    query_with("t")
        .and(header("sforce-query-options", batch))
        .respond_with(json(200, "query_contacts_page1.json"))
        .expect(1)
        .mount(&org.instance)
        .await;
    Mock::given(method("GET"))
        .and(path(NEXT_PATH))
        .and(header("sforce-query-options", batch))
        .respond_with(json(200, "query_contacts_page2.json"))
        .expect(1)
        .mount(&org.instance)
        .await;
    let config = org.token_config("t").with_batch_size(500);
    let client = salesforce_client::HttpSalesforceClient::new(config).expect("client");

    let all: Vec<Contact> = query_all(&client, "SELECT Id FROM Contact".into())
        .await
        .expect("all");
    assert_eq!(all.len(), 3);
}

#[tokio::test]
async fn no_batch_size_header_by_default() {
    let org = Org::start().await;
    query_with("t")
        .respond_with(json(200, "query_empty.json"))
        .mount(&org.instance)
        .await;
    org.token_client("t")
        .query("SELECT Id FROM Contact")
        .await
        .expect("page");
    let requests = org.instance.received_requests().await.unwrap_or_default();
    assert!(requests[0].headers.get("sforce-query-options").is_none());
}

#[tokio::test]
async fn api_usage_follows_the_latest_limit_info_header() {
    let org = Org::start().await;
    query_with("t")
        .and(query_param("q", "SELECT Id FROM Account"))
        .respond_with(
            json(200, "query_accounts.json")
                .insert_header("Sforce-Limit-Info", "api-usage=10018/100000"),
        )
        .mount(&org.instance)
        .await;
    query_with("t")
        .and(query_param("q", "SELECT Id FROM Lead"))
        .respond_with(json(200, "query_leads.json").insert_header(
            "Sforce-Limit-Info",
            "api-usage=10019/100000; per-app-api-usage=3/250(appName=sfzd)",
        ))
        .mount(&org.instance)
        .await;
    let client = org.token_client("t");
    assert_eq!(client.api_usage(), None);

    client.query("SELECT Id FROM Account").await.expect("page");
    let usage = client.api_usage().expect("usage");
    assert_eq!((usage.used, usage.max), (10018, 100000));

    client.query("SELECT Id FROM Lead").await.expect("page");
    let usage = client.api_usage().expect("usage");
    assert_eq!((usage.used, usage.remaining()), (10019, 89981));
}

#[tokio::test]
async fn hostile_literals_arrive_intact_in_the_q_parameter() {
    let org = Org::start().await;
    query_with("t")
        .respond_with(json(200, "query_empty.json"))
        .mount(&org.instance)
        .await;
    let client = org.token_client("t");
    let hostile = [
        "o'brien@x.com",
        r"back\slash@x.com",
        "x' OR Email != '",
        "plus+tag@x.com",
        "50%_off\n\"quoted\"@x.com",
        "a&q=SELECT Id FROM User#@x.com",
    ];
    let emails: Vec<String> = hostile.iter().map(|s| s.to_string()).collect();

    let soql = queries::people_by_emails(PersonObject::Contact, &[], &emails, None);
    assert_eq!(soql.len(), 1);
    client.query(&soql[0]).await.expect("page");

    let received = org.received_queries().await;
    assert_eq!(
        received, soql,
        "the server decodes exactly the statement that was built"
    );
    assert!(received[0].ends_with(
        r#"WHERE Email IN ('o\'brien@x.com','back\\slash@x.com','x\' OR Email != \'','plus+tag@x.com','50%_off\n\"quoted\"@x.com','a&q=SELECT Id FROM User#@x.com')"#
    ), "{}", received[0]);
    let raw = org.instance.received_requests().await.unwrap_or_default()[0]
        .url
        .query()
        .unwrap_or_default()
        .to_owned();
    assert!(
        raw.contains("plus%2Btag%40x.com"),
        "a literal + must be %2B on the wire: {raw}"
    );
    assert_eq!(
        raw.matches("q=").count(),
        1,
        "no second parameter was injected: {raw}"
    );
}

#[tokio::test]
async fn single_quoted_value_round_trips_through_the_server() {
    let org = Org::start().await;
    let expected = format!(
        "SELECT Id FROM Contact WHERE Email = {}",
        quote("o'brien@x.com")
    );
    query_with("t")
        .and(query_param("q", expected.as_str()))
        .respond_with(json(200, "query_empty.json"))
        .expect(1)
        .mount(&org.instance)
        .await;
    let q = Select::new("Contact")
        .fields(["Id"])
        .condition(format!("Email = {}", quote("o'brien@x.com")))
        .build();
    org.token_client("t")
        .query(&q)
        .await
        .expect("matched the exact q");
}

#[tokio::test]
async fn typed_reads_decode_every_record_kind() {
    let org = Org::start().await;
    let since = Utc
        .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .expect("ts");
    query_with("t")
        .and(query_param(
            "q",
            queries::accounts(&["Tier__c"], Some("Type = 'Customer'"), Some(since)).as_str(),
        ))
        .respond_with(json(200, "query_accounts.json"))
        .expect(1)
        .mount(&org.instance)
        .await;
    query_with("t")
        .and(query_param(
            "q",
            queries::changed_people(PersonObject::Lead, &["Company"], None, Some(since)).as_str(),
        ))
        .respond_with(json(200, "query_leads.json"))
        .expect(1)
        .mount(&org.instance)
        .await;
    query_with("t")
        .and(query_param(
            "q",
            queries::relations_changed_since(Some(since)).as_str(),
        ))
        .respond_with(json(200, "query_account_contact_relations.json"))
        .expect(1)
        .mount(&org.instance)
        .await;
    let client = org.token_client("t");

    let accounts: Vec<Vec<Account>> = reads::accounts(
        &client,
        &["Tier__c"],
        Some("Type = 'Customer'"),
        Some(since),
    )
    .try_collect()
    .await
    .expect("accounts");
    assert_eq!(accounts[0][0].name.as_deref(), Some("Acme"));
    assert_eq!(accounts[0][0].fields["Tier__c"], "Gold");

    let leads: Vec<Vec<Lead>> = reads::changed_leads(&client, &["Company"], None, Some(since))
        .try_collect()
        .await
        .expect("leads");
    assert!(!leads[0][0].is_converted);
    assert_eq!(leads[0][0].fields["Company"], "Initech");

    let relations: Vec<Vec<AccountContactRelation>> =
        reads::relations_changed_since(&client, Some(since))
            .try_collect()
            .await
            .expect("relations");
    let direct: Vec<bool> = relations[0].iter().map(|r| r.is_direct).collect();
    assert_eq!(direct, [true, false]);
}

#[tokio::test]
async fn chunked_reads_send_one_query_per_chunk() {
    let org = Org::start().await;
    query_with("t")
        .respond_with(json(200, "query_empty.json"))
        .expect(3)
        .mount(&org.instance)
        .await;
    let client = org.token_client("t");
    let ids: Vec<String> = (0..1001).map(|i| format!("003{i:015}")).collect();

    let pages: Vec<Vec<AccountContactRelation>> = reads::relations_for_contacts(&client, &ids)
        .try_collect()
        .await
        .expect("relations");

    assert_eq!(pages.len(), 3);
    let received = org.received_queries().await;
    let total: usize = received.iter().map(|q| q.matches("'003").count()).sum();
    assert_eq!(total, 1001, "every id is asked for once");
}
