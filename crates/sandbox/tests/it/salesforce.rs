//! Salesforce simulator: OAuth, the SOQL subset, paging, relationships and settings.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sandbox::{
    HoldAnswers, RunningServer, SalesforceSim, SalesforceSimConfig, SfAccount, SfContact,
    SfRelation,
};
use serde_json::{Value, json};

use crate::{Answer, answer, client};

pub(crate) struct Sf {
    pub(crate) sim: SalesforceSim,
    pub(crate) server: RunningServer,
    pub(crate) token: String,
    pub(crate) instance_url: String,
    pub(crate) http: reqwest::Client,
}

impl Sf {
    pub(crate) async fn start(config: SalesforceSimConfig) -> Self {
        let (sim, server) = SalesforceSim::start(config).await.expect("start");
        let http = client();
        let r = answer(
            http.post(format!("{}/services/oauth2/token", server.url))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials&client_id=sfzd-sandbox&client_secret=sandbox-secret")
                .send()
                .await
                .expect("send"),
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["token_type"], "Bearer");
        Self {
            sim,
            token: r.body["access_token"].as_str().expect("token").to_owned(),
            instance_url: r.body["instance_url"].as_str().expect("url").to_owned(),
            server,
            http,
        }
    }

    pub(crate) async fn query_with(&self, soql: &str, batch: Option<usize>) -> Answer {
        let mut req = self
            .http
            .get(format!("{}/services/data/v62.0/query", self.instance_url))
            .query(&[("q", soql)])
            .bearer_auth(&self.token);
        if let Some(n) = batch {
            req = req.header("Sforce-Query-Options", format!("batchSize={n}"));
        }
        answer(req.send().await.expect("send")).await
    }

    pub(crate) async fn query(&self, soql: &str) -> Answer {
        self.query_with(soql, None).await
    }

    pub(crate) async fn get(&self, path: &str) -> Answer {
        answer(
            self.http
                .get(format!("{}{path}", self.instance_url))
                .bearer_auth(&self.token)
                .send()
                .await
                .expect("send"),
        )
        .await
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("date")
        .with_timezone(&Utc)
}

/// Two accounts and four contacts with known fields; returns Id -> label.
fn seed(sim: &SalesforceSim) -> HashMap<String, &'static str> {
    let mut acme = SfAccount::new("Acme Corp");
    acme.account_type = Some("Customer".into());
    acme.other_fields.insert("Region__c".into(), "EMEA".into());
    acme.other_fields
        .insert("NumberOfEmployees".into(), "50".into());
    let acme = sim.add_account(acme);
    let mut beta = SfAccount::new("Beta Ltd");
    beta.account_type = Some("Partner".into());
    let beta = sim.add_account(beta);
    let mut labels = HashMap::new();
    labels.insert(acme.clone(), "acme");
    labels.insert(beta.clone(), "beta");
    // first, last, email, account, title, SystemModstamp
    type Row<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        &'a str,
    );
    let rows: [Row<'_>; 4] = [
        (
            "Ann",
            "O'Neil",
            Some("Ann@Example.com"),
            Some(&acme),
            Some("CEO"),
            "2024-01-10T00:00:00Z",
        ),
        (
            "Bob",
            "Smith",
            Some("bob@example.com"),
            Some(&beta),
            Some("CTO"),
            "2024-02-01T12:00:00Z",
        ),
        ("Cy", "Jones", None, None, None, "2024-03-01T00:00:00Z"),
        (
            "Di",
            "O'Brien",
            Some("di@example.com"),
            Some(&acme),
            Some("CEO"),
            "2024-01-31T23:01:01Z",
        ),
    ];
    for (i, (first, last, email, account, title, modstamp)) in rows.into_iter().enumerate() {
        let mut c = SfContact::new(first, last, email, account);
        c.title = title.map(str::to_owned);
        c.created_date = at("2024-01-01T00:00:00Z");
        c.system_modstamp = at(modstamp);
        let id = sim.add_contact(c);
        labels.insert(id, ["c1", "c2", "c3", "c4"][i]);
    }
    labels
}

fn labels_of(body: &Value, labels: &HashMap<String, &'static str>) -> Vec<&'static str> {
    body["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| labels[r["Id"].as_str().expect("Id")])
        .collect()
}

#[tokio::test]
async fn soql_subset_filters_and_orders_like_salesforce() {
    let sf = Sf::start(SalesforceSimConfig::default()).await;
    let labels = seed(&sf.sim);
    let cases: &[(&str, &[&str])] = &[
        ("SELECT Id FROM Contact", &["c1", "c2", "c3", "c4"]),
        (
            "SELECT Id FROM Contact WHERE Email = 'ann@example.com'",
            &["c1"],
        ),
        (
            "select id from contact where email in ('ANN@example.com', 'bob@EXAMPLE.com')",
            &["c1", "c2"],
        ),
        (
            "SELECT Id FROM Contact WHERE Email NOT IN ('ann@example.com')",
            &["c2", "c3", "c4"],
        ),
        ("SELECT Id FROM Contact WHERE Email = null", &["c3"]),
        (
            "SELECT Id FROM Contact WHERE Email != null AND AccountId != null",
            &["c1", "c2", "c4"],
        ),
        (
            "SELECT Id FROM Contact WHERE (Title = 'CEO' OR Title = 'CTO') AND LastName != 'O\\'Brien'",
            &["c1", "c2"],
        ),
        (
            "SELECT Id FROM Contact WHERE LastName = 'O\\'Brien'",
            &["c4"],
        ),
        (
            "SELECT Id FROM Contact WHERE NOT (Title = 'CEO')",
            &["c2", "c3"],
        ),
        (
            "SELECT Id FROM Contact WHERE SystemModstamp > 2024-01-31T23:01:01Z",
            &["c2", "c3"],
        ),
        (
            "SELECT Id FROM Contact WHERE SystemModstamp >= 2024-01-31T23:01:01.000Z",
            &["c2", "c3", "c4"],
        ),
        (
            "SELECT Id FROM Contact WHERE SystemModstamp > 2024-02-01T12:00:00+01:00",
            &["c2", "c3"],
        ),
        (
            "SELECT Id FROM Contact WHERE SystemModstamp < 2024-02-01T13:00:00+01:00",
            &["c1", "c4"],
        ),
        (
            "SELECT Id FROM Contact WHERE Account.Name LIKE 'acme%'",
            &["c1", "c4"],
        ),
        (
            "SELECT Id FROM Contact WHERE Account.Type = 'customer' OR Title = null",
            &["c1", "c3", "c4"],
        ),
        (
            "SELECT Id FROM Contact ORDER BY LastName DESC",
            &["c2", "c1", "c4", "c3"],
        ),
        (
            "SELECT Id FROM Contact ORDER BY Title ASC NULLS LAST, LastName",
            &["c4", "c1", "c2", "c3"],
        ),
        (
            "SELECT Id FROM Contact ORDER BY SystemModstamp DESC LIMIT 2",
            &["c3", "c2"],
        ),
        ("SELECT Id FROM Account WHERE Type = 'CUSTOMER'", &["acme"]),
        (
            "SELECT Id FROM Account WHERE NumberOfEmployees > 10 AND Region__c = 'emea'",
            &["acme"],
        ),
        ("SELECT Id FROM Account WHERE Region__c = null", &["beta"]),
        (
            "SELECT Id FROM Contact WHERE AccountId IN (SELECT_NOT_SUPPORTED)",
            &[],
        ),
    ];
    for (soql, expected) in cases {
        let r = sf.query(soql).await;
        if soql.contains("SELECT_NOT_SUPPORTED") {
            assert_eq!(r.status, 400, "{soql}");
            continue;
        }
        assert_eq!(r.status, 200, "{soql}: {:?}", r.body);
        assert_eq!(labels_of(&r.body, &labels), *expected, "{soql}");
        assert_eq!(r.body["totalSize"], expected.len(), "{soql}");
        assert_eq!(r.body["done"], true);
    }
}

#[tokio::test]
async fn soql_errors_carry_salesforce_codes() {
    let sf = Sf::start(SalesforceSimConfig::default()).await;
    let cases = [
        ("SELECT FROM Contact", "MALFORMED_QUERY"),
        ("SELECT Id FROM Contact WHERE", "MALFORMED_QUERY"),
        (
            "SELECT Id FROM Contact WHERE Email = 'a' AND Title = 'b' OR Phone = 'c'",
            "MALFORMED_QUERY",
        ),
        (
            "SELECT Id FROM Contact WHERE LastName = 'bad\\q'",
            "MALFORMED_QUERY",
        ),
        ("SELECT Foo FROM Contact", "INVALID_FIELD"),
        ("SELECT Id, Account.Nope FROM Contact", "INVALID_FIELD"),
        (
            "SELECT Id FROM Contact WHERE SystemModstamp > '2024-01-01T00:00:00Z'",
            "INVALID_FIELD",
        ),
        (
            "SELECT Id FROM Account WHERE NumberOfEmployees = '5'",
            "INVALID_FIELD",
        ),
        ("SELECT Id FROM Nope", "INVALID_TYPE"),
    ];
    for (soql, code) in cases {
        let r = sf.query(soql).await;
        assert_eq!(r.status, 400, "{soql}");
        assert_eq!(r.body[0]["errorCode"], code, "{soql}: {:?}", r.body);
        assert!(r.body[0]["message"].is_string());
    }
}

#[tokio::test]
async fn records_have_attributes_nested_parents_and_salesforce_datetimes() {
    let sf = Sf::start(SalesforceSimConfig::default()).await;
    let labels = seed(&sf.sim);
    let c3 = labels
        .iter()
        .find(|(_, l)| **l == "c3")
        .map(|(id, _)| id.clone())
        .expect("c3");
    let r = sf
        .query("SELECT Id, Email, Account.Name, Account.Type, SystemModstamp FROM Contact ORDER BY LastName")
        .await;
    let records = r.body["records"].as_array().expect("records");
    let c3_record = records.iter().find(|r| r["Id"] == c3.as_str()).expect("c3");
    assert_eq!(c3_record["Account"], Value::Null);
    assert_eq!(c3_record["Email"], Value::Null);
    assert_eq!(c3_record["SystemModstamp"], "2024-03-01T00:00:00.000+0000");
    assert_eq!(c3_record["attributes"]["type"], "Contact");
    assert_eq!(
        c3_record["attributes"]["url"],
        format!("/services/data/v62.0/sobjects/Contact/{c3}")
    );
    let ann = records
        .iter()
        .find(|r| r["Email"] == "Ann@Example.com")
        .expect("ann");
    assert_eq!(ann["Account"]["Name"], "Acme Corp");
    assert_eq!(ann["Account"]["Type"], "Customer");
    assert_eq!(ann["Account"]["attributes"]["type"], "Account");
    assert!(
        r.header("sforce-limit-info")
            .is_some_and(|v| v.starts_with("api-usage="))
    );
}

#[tokio::test]
async fn large_results_page_through_next_records_url_with_batch_size() {
    let sf = Sf::start(SalesforceSimConfig::default()).await;
    for i in 0..450 {
        sf.sim.add_contact(SfContact::new(
            "F",
            &format!("L{i:04}"),
            Some(&format!("c{i}@example.com")),
            None,
        ));
    }
    let first = sf
        .query_with(
            "SELECT Id, LastName FROM Contact ORDER BY LastName",
            Some(200),
        )
        .await;
    assert_eq!(first.body["totalSize"], 450);
    assert_eq!(first.body["done"], false);
    let mut names: Vec<String> = Vec::new();
    let mut page = first.body;
    let mut pages = 1;
    loop {
        for r in page["records"].as_array().expect("records") {
            names.push(r["LastName"].as_str().expect("name").to_owned());
        }
        let Some(next) = page["nextRecordsUrl"].as_str().map(str::to_owned) else {
            assert_eq!(page["done"], true);
            break;
        };
        assert!(next.starts_with("/services/data/v62.0/query/"));
        page = sf.get(&next).await.body;
        pages += 1;
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..450).map(|i| format!("L{i:04}")).collect();
    assert_eq!(names, expected);

    // Without the header the page is 2000 records: one page here.
    let all = sf.query("SELECT Id FROM Contact").await;
    assert_eq!(all.body["done"], true);
    assert_eq!(all.body["records"].as_array().map(Vec::len), Some(450));
    let count = sf.query("SELECT COUNT() FROM Contact").await;
    assert_eq!(count.body["totalSize"], 450);
}

#[tokio::test]
async fn token_errors_and_expired_sessions() {
    let sf = Sf::start(SalesforceSimConfig::default()).await;
    assert_eq!(sf.instance_url, sf.server.url);
    let bad = answer(
        sf.http
            .post(format!("{}/services/oauth2/token", sf.server.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&client_id=sfzd-sandbox&client_secret=wrong")
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.body,
        json!({"error":"invalid_client","error_description":"invalid client credentials"})
    );
    assert_eq!(sf.query("SELECT Id FROM Account").await.status, 200);
    sf.sim.expire_tokens();
    let r = sf.query("SELECT Id FROM Account").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body[0]["errorCode"], "INVALID_SESSION_ID");
    assert_eq!(r.body[0]["message"], "Session expired or invalid");
}

#[tokio::test]
async fn account_contact_relation_needs_contacts_to_multiple_accounts() {
    let sf = Sf::start(SalesforceSimConfig::default()).await;
    let a = sf.sim.add_account(SfAccount::new("A"));
    let b = sf.sim.add_account(SfAccount::new("B"));
    let c = sf.sim.add_contact(SfContact::new(
        "Ann",
        "Lee",
        Some("ann@example.com"),
        Some(&a),
    ));
    sf.sim.add_relation(SfRelation::indirect(&b, &c, true));
    let r = sf
        .query(&format!(
            "SELECT Id, AccountId, IsDirect, IsActive, Contact.Email FROM AccountContactRelation WHERE ContactId IN ('{c}') ORDER BY IsDirect DESC"
        ))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["totalSize"], 2);
    assert_eq!(r.body["records"][0]["AccountId"], a.as_str());
    assert_eq!(r.body["records"][0]["IsDirect"], true);
    assert_eq!(r.body["records"][1]["IsDirect"], false);
    assert_eq!(r.body["records"][1]["Contact"]["Email"], "ann@example.com");

    sf.sim.set_contacts_to_multiple_accounts(false);
    let r = sf.query("SELECT Id FROM AccountContactRelation").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body[0]["errorCode"], "INVALID_TYPE");
    let message = r.body[0]["message"].as_str().expect("message");
    assert!(
        message.starts_with("\nSELECT Id FROM AccountContactRelation\n"),
        "{message}"
    );
    assert!(message.contains("ERROR at Row:1:Column:16"));
    assert!(message.contains("sObject type 'AccountContactRelation' is not supported."));
}

#[tokio::test]
async fn updates_bump_system_modstamp_and_moves_keep_relations_consistent() {
    let sf = Sf::start(SalesforceSimConfig::default()).await;
    let a = sf.sim.add_account(SfAccount::new("A"));
    let b = sf.sim.add_account(SfAccount::new("B"));
    let c = sf.sim.add_contact(SfContact::new(
        "Ann",
        "Lee",
        Some("ann@example.com"),
        Some(&a),
    ));
    let before = sf.sim.contact(&c).expect("contact").system_modstamp;
    let watermark = before.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    sf.sim
        .update_contact(&c, |c| c.account_id = Some(b.clone()))
        .expect("update");
    let after = sf.sim.contact(&c).expect("contact").system_modstamp;
    assert!(after > before);
    let r = sf
        .query(&format!(
            "SELECT Id FROM Contact WHERE SystemModstamp > {watermark}"
        ))
        .await;
    assert_eq!(r.body["totalSize"], 1, "{:?}", r.body);
    let relations = sf.sim.snapshot().relations;
    let direct: Vec<&SfRelation> = relations.iter().filter(|r| r.is_direct).collect();
    assert_eq!(direct.len(), 1);
    assert_eq!(direct[0].account_id, b);
    assert!(
        relations.iter().any(|r| r.account_id == a && !r.is_direct),
        "old primary kept as indirect"
    );

    sf.sim.delete_contact(&c).expect("delete");
    assert_eq!(
        sf.query("SELECT Id FROM Contact").await.body["totalSize"],
        0
    );
    let all = answer(
        sf.http
            .get(format!("{}/services/data/v62.0/queryAll", sf.instance_url))
            .query(&[("q", "SELECT Id, IsDeleted FROM Contact")])
            .bearer_auth(&sf.token)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(all.body["records"][0]["IsDeleted"], true);
    assert!(sf.sim.counts().get("GET /services/data/v62.0/query") >= 2);
}

#[tokio::test]
async fn api_allocation_is_enforced() {
    let sf = Sf::start(SalesforceSimConfig {
        api_max: 2,
        ..SalesforceSimConfig::default()
    })
    .await;
    assert_eq!(
        sf.query("SELECT Id FROM Account")
            .await
            .header("sforce-limit-info"),
        Some("api-usage=1/2")
    );
    assert_eq!(sf.query("SELECT Id FROM Account").await.status, 200);
    let r = sf.query("SELECT Id FROM Account").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body[0]["errorCode"], "REQUEST_LIMIT_EXCEEDED");
}

#[tokio::test]
async fn an_eleventh_open_cursor_deletes_the_oldest() {
    let sf = Sf::start(SalesforceSimConfig::default()).await;
    for i in 0..201 {
        sf.sim
            .add_contact(SfContact::new("F", &format!("L{i}"), None, None));
    }
    let mut locators = Vec::new();
    for _ in 0..11 {
        let r = sf.query_with("SELECT Id FROM Contact", Some(200)).await;
        locators.push(r.body["nextRecordsUrl"].as_str().expect("next").to_owned());
    }
    let oldest = sf.get(&locators[0]).await;
    assert_eq!(oldest.status, 400);
    assert_eq!(oldest.body[0]["errorCode"], "INVALID_QUERY_LOCATOR");
    let newest = sf.get(&locators[10]).await;
    assert_eq!(newest.status, 200);
    assert_eq!(newest.body["records"].as_array().map(Vec::len), Some(1));
    assert_eq!(newest.body["done"], true);
}

#[tokio::test]
async fn tokens_expire_after_every_nth_answered_request_and_answers_can_be_held() {
    let sf = Sf::start(SalesforceSimConfig::default()).await;
    sf.sim.expire_tokens_every(2);
    assert_eq!(sf.query("SELECT Id FROM Account").await.status, 200);
    assert_eq!(sf.query("SELECT Id FROM Account").await.status, 200);
    let expired = sf.query("SELECT Id FROM Account").await;
    assert_eq!(expired.status, 401);
    assert_eq!(expired.body[0]["errorCode"], "INVALID_SESSION_ID");

    sf.sim.hold_answers(HoldAnswers::From(1));
    let mut query = Box::pin(sf.query("SELECT Id FROM Account"));
    tokio::select! {
        answer = &mut query => panic!("answered while held: {}", answer.status),
        () = sf.sim.answer_held() => {}
    }
    sf.sim.release_answers();
    assert_eq!(query.await.status, 401, "still the expired token");
}
