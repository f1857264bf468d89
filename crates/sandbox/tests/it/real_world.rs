//! What a real org holds on day one (issues 10 and 15), as the simulators model it:
//! Zendesk email identities, refused emails, the per-user organization limit, duplicate
//! names and an answer lost after a bulk create was accepted; Salesforce deletions, the
//! delete log, re-addressed contacts and late-committed changes.

use chrono::{Duration, Utc};
use sandbox::{FaultConfig, SalesforceSimConfig, SfAccount, SfContact, SfLead, ZendeskSimConfig};
use serde_json::{Value, json};

use crate::salesforce::Sf;
use crate::zendesk::Zd;

async fn create_user_id(zd: &Zd, email: &str) -> u64 {
    let r = zd.create_user(json!({"name": "Vic", "email": email})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["user"]["id"].as_u64().expect("id")
}

fn emails_of(body: &Value, user_id: u64) -> Vec<String> {
    body["identities"]
        .as_array()
        .expect("identities sideloaded")
        .iter()
        .filter(|i| i["user_id"] == json!(user_id) && i["type"] == "email")
        .map(|i| i["value"].as_str().expect("value").to_owned())
        .collect()
}

#[tokio::test]
async fn secondary_identities_are_created_listed_searched_and_sideloaded() {
    let zd = Zd::default().await;
    let vic = create_user_id(&zd, "vic@example.test").await;
    let r = zd
        .post(
            &format!("/api/v2/users/{vic}/identities"),
            json!({"identity": {"type": "email", "value": "Vic.Work@example.test"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["identity"]["primary"], false);
    assert_eq!(r.body["identity"]["user_id"], json!(vic));

    // The user object keeps only its primary email.
    let shown = zd.get(&format!("/api/v2/users/{vic}")).await;
    assert_eq!(shown.body["user"]["email"], "vic@example.test");
    assert!(
        shown.body.get("identities").is_none(),
        "no sideload unasked"
    );

    // Listing, cursor form.
    let listed = zd
        .get(&format!("/api/v2/users/{vic}/identities?page[size]=100"))
        .await;
    assert_eq!(
        emails_of(&listed.body, vic).len(),
        2,
        "list items carry user_id"
    );
    let values: Vec<&str> = listed.body["identities"]
        .as_array()
        .expect("list")
        .iter()
        .map(|i| i["value"].as_str().expect("value"))
        .collect();
    assert_eq!(values, ["vic@example.test", "Vic.Work@example.test"]);
    assert_eq!(listed.body["meta"]["has_more"], false);

    // Search matches the secondary address, case-insensitively, and sideloads.
    let found = zd
        .get("/api/v2/users/search?query=email:vic.work@example.test&include=identities")
        .await;
    assert_eq!(found.body["users"][0]["id"], json!(vic));
    assert_eq!(found.body["users"][0]["email"], "vic@example.test");
    assert_eq!(
        emails_of(&found.body, vic),
        ["vic@example.test", "Vic.Work@example.test"]
    );
    // show, show_many and the incremental export sideload as well.
    for path in [
        format!("/api/v2/users/{vic}?include=identities"),
        format!("/api/v2/users/show_many?ids={vic}&include=identities"),
        "/api/v2/incremental/users/cursor?start_time=0&include=identities".to_owned(),
    ] {
        let r = zd.get(&path).await;
        assert_eq!(emails_of(&r.body, vic).len(), 2, "{path}: {:?}", r.body);
    }
}

#[tokio::test]
async fn a_create_with_another_users_identity_is_refused_in_zendesks_words() {
    let zd = Zd::default().await;
    let vic = create_user_id(&zd, "vic@example.test").await;
    zd.sim
        .add_identity(vic, "vic.work@example.test")
        .expect("identity");

    let single = zd
        .create_user(json!({"name": "Other", "email": "VIC.WORK@example.test"}))
        .await;
    assert_eq!(single.status, 422);
    assert_eq!(
        single.body["details"]["email"][0]["description"],
        "Email: VIC.WORK@example.test is already being used by another user"
    );

    let job = zd
        .post(
            "/api/v2/users/create_many",
            json!({"users": [
                {"name": "New", "email": "new@example.test"},
                {"name": "Other", "email": "vic.work@example.test"}
            ]}),
        )
        .await;
    let id = job.body["job_status"]["id"]
        .as_str()
        .expect("job")
        .to_owned();
    let (_, done) = zd.wait_job(&id).await;
    assert_eq!(done["results"][0]["status"], "Created");
    assert_eq!(done["results"][1]["index"], 1);
    assert_eq!(done["results"][1]["success"], false);
    assert_eq!(
        done["results"][1]["details"],
        "Email: vic.work@example.test is already being used by another user"
    );
    // Adding an address another user holds is refused too.
    let taken = zd
        .post(
            &format!("/api/v2/users/{vic}/identities"),
            json!({"identity": {"type": "email", "value": "new@example.test"}}),
        )
        .await;
    assert_eq!(taken.status, 422, "{:?}", taken.body);
}

#[tokio::test]
async fn refused_emails_fail_single_creates_and_job_items_with_zendesks_message() {
    let zd = Zd::start(ZendeskSimConfig {
        refused_emails: vec!["Jörg@Müller.de".into()],
        ..ZendeskSimConfig::default()
    })
    .await;
    let single = zd
        .create_user(json!({"name": "Jörg", "email": "jörg@müller.de"}))
        .await;
    assert_eq!(single.status, 422);
    assert_eq!(single.body["error"], "RecordInvalid");
    assert_eq!(
        single.body["details"]["email"][0]["description"],
        "Email: jörg@müller.de is not properly formatted"
    );
    // An internationalized address that is not refused is accepted.
    let ok = zd
        .create_user(json!({"name": "Ana", "email": "ana@café.example"}))
        .await;
    assert_eq!(ok.status, 201, "{:?}", ok.body);

    zd.sim.refuse_email("later@example.test");
    let job = zd
        .post(
            "/api/v2/users/create_many",
            json!({"users": [{"name": "L", "email": "later@example.test"}]}),
        )
        .await;
    let id = job.body["job_status"]["id"]
        .as_str()
        .expect("job")
        .to_owned();
    let (_, done) = zd.wait_job(&id).await;
    assert_eq!(done["results"][0]["success"], false);
    assert_eq!(
        done["results"][0]["details"],
        "Email: later@example.test is not properly formatted"
    );
    assert!(zd.sim.user_by_email("later@example.test").is_none());
}

#[tokio::test]
async fn memberships_past_the_per_user_limit_fail_per_item() {
    let zd = Zd::start(ZendeskSimConfig {
        max_organizations_per_user: 2,
        ..ZendeskSimConfig::default()
    })
    .await;
    assert_eq!(
        ZendeskSimConfig::default().max_organizations_per_user,
        sandbox::MAX_ORGANIZATIONS_PER_USER
    );
    let user = create_user_id(&zd, "many@example.test").await;
    let mut orgs = Vec::new();
    for name in ["A", "B", "C"] {
        orgs.push(zd.create_org(name, None).await);
    }
    let job = zd
        .post(
            "/api/v2/organization_memberships/create_many",
            json!({"organization_memberships": orgs.iter().map(|o| json!({"user_id": user, "organization_id": o})).collect::<Vec<_>>()}),
        )
        .await;
    let id = job.body["job_status"]["id"]
        .as_str()
        .expect("job")
        .to_owned();
    let (_, done) = zd.wait_job(&id).await;
    let ok: Vec<bool> = done["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["success"] == true)
        .collect();
    assert_eq!(ok, [true, true, false]);
    assert_eq!(
        done["results"][2]["details"],
        "User cannot belong to more than 2 organizations"
    );
    assert_eq!(zd.sim.memberships_of(user).len(), 2);
}

#[tokio::test]
async fn organization_create_many_fails_an_item_whose_name_is_taken() {
    let zd = Zd::default().await;
    zd.create_org("Umbrella Corp", None).await;
    let job = zd
        .post(
            "/api/v2/organizations/create_many",
            json!({"organizations": [
                {"name": "umbrella corp ", "external_id": "001A"},
                {"name": "Initech", "external_id": "001B"}
            ]}),
        )
        .await;
    let id = job.body["job_status"]["id"]
        .as_str()
        .expect("job")
        .to_owned();
    let (_, done) = zd.wait_job(&id).await;
    assert_eq!(done["results"][0]["success"], false);
    assert_eq!(
        done["results"][0]["details"],
        "Name: has already been taken"
    );
    assert_eq!(done["results"][1]["status"], "Created");
}

/// Sends a bulk create and reports whether its answer arrived whole.
async fn answer_arrives(zd: &Zd, path: &str, body: Value) -> bool {
    let sent = zd
        .http
        .post(format!("{}{path}", zd.server.url))
        .bearer_auth(&zd.token)
        .json(&body)
        .send()
        .await;
    match sent {
        Ok(response) => response.bytes().await.is_ok(),
        Err(_) => false,
    }
}

#[tokio::test]
async fn a_bulk_create_answer_can_be_lost_after_the_job_was_accepted() {
    let zd = Zd::default().await;
    zd.sim.drop_next_bulk_create_answers(2);
    let orgs = json!({"organizations": [{"name": "Acme", "external_id": "001A"}]});
    assert!(!answer_arrives(&zd, "/api/v2/organizations/create_many", orgs.clone()).await);
    let users = json!({"users": [{"name": "Ann", "email": "ann@example.test"}]});
    assert!(!answer_arrives(&zd, "/api/v2/users/create_many", users.clone()).await);
    // The jobs exist and ran: the records are there.
    assert!(zd.sim.organization_by_external_id("001A").is_some());
    assert!(zd.sim.user_by_email("ann@example.test").is_some());
    assert_eq!(zd.sim.inflight_jobs(), 2);
    // Other requests are not affected; a resubmission is refused per item, as Zendesk does.
    let again = zd.post("/api/v2/users/create_many", users).await;
    assert_eq!(again.status, 200);
    let id = again.body["job_status"]["id"]
        .as_str()
        .expect("job")
        .to_owned();
    let (_, done) = zd.wait_job(&id).await;
    assert_eq!(
        done["results"][0]["details"],
        "Email: ann@example.test is already being used by another user"
    );
    let again = zd.post("/api/v2/organizations/create_many", orgs).await;
    let id = again.body["job_status"]["id"]
        .as_str()
        .expect("job")
        .to_owned();
    let (_, done) = zd.wait_job(&id).await;
    assert_eq!(
        done["results"][0]["details"],
        "Name: has already been taken"
    );
}

#[tokio::test]
async fn bulk_create_drop_rate_cuts_only_accepted_bulk_creates() {
    let zd = Zd::start(ZendeskSimConfig {
        faults: FaultConfig {
            bulk_create_drop_rate: 1.0,
            ..FaultConfig::default()
        },
        ..ZendeskSimConfig::default()
    })
    .await;
    // A single create and a read are delivered whole.
    let single = zd
        .create_user(json!({"name": "Ann", "email": "ann@example.test"}))
        .await;
    assert_eq!(single.status, 201);
    let read = zd
        .get("/api/v2/users/search?query=email:ann@example.test")
        .await;
    assert_eq!(read.status, 200);
    // A refused bulk submission (too many items) created no job and is answered whole.
    let too_many: Vec<Value> = (0..101)
        .map(|i| json!({"name": "N", "email": format!("n{i}@example.test")}))
        .collect();
    let refused = zd
        .post("/api/v2/users/create_many", json!({"users": too_many}))
        .await;
    assert_eq!(refused.status, 400);
    // An accepted one is cut.
    assert!(
        !answer_arrives(
            &zd,
            "/api/v2/organization_memberships/create_many",
            json!({"organization_memberships": []})
        )
        .await
    );
}

// ----- Salesforce -----

async fn sf() -> Sf {
    Sf::start(SalesforceSimConfig::default()).await
}

fn ids(body: &Value) -> Vec<String> {
    body["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["Id"].as_str().expect("Id").to_owned())
        .collect()
}

async fn query_all(sf: &Sf, soql: &str) -> Value {
    let r = crate::answer(
        sf.http
            .get(format!("{}/services/data/v62.0/queryAll", sf.instance_url))
            .query(&[("q", soql)])
            .bearer_auth(&sf.token)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
}

#[tokio::test]
async fn deleted_people_leave_query_for_query_all_and_the_delete_log() {
    let sf = sf().await;
    let account = sf.sim.add_account(SfAccount::new("Acme"));
    let kept = sf.sim.add_contact(SfContact::new(
        "Kim",
        "Kept",
        Some("shared@example.test"),
        Some(&account),
    ));
    let gone = sf.sim.add_contact(SfContact::new(
        "Gus",
        "Gone",
        Some("shared@example.test"),
        Some(&account),
    ));
    let lead = sf
        .sim
        .add_lead(SfLead::new("Lea", "Lead", Some("lea@example.test"), "Co"));
    let before = sf.sim.latest_modstamp().expect("stamp");
    sf.sim.delete_contact(&gone).expect("delete");
    sf.sim.delete_lead(&lead).expect("delete");

    let live = sf.query("SELECT Id FROM Contact").await;
    assert_eq!(ids(&live.body), [kept]);
    let deleted = query_all(
        &sf,
        &format!(
            "SELECT Id, Email, IsDeleted, SystemModstamp FROM Contact WHERE IsDeleted = true \
             AND SystemModstamp > {} ORDER BY SystemModstamp, Id",
            before.format("%Y-%m-%dT%H:%M:%S%.3fZ")
        ),
    )
    .await;
    assert_eq!(ids(&deleted), [gone.as_str()]);
    assert_eq!(deleted["records"][0]["IsDeleted"], true);
    assert_eq!(deleted["records"][0]["Email"], "shared@example.test");
    // `query` answers nothing for deleted rows even when asked for them.
    let none = sf
        .query("SELECT Id FROM Contact WHERE IsDeleted = true")
        .await;
    assert!(ids(&none.body).is_empty());
    let both = query_all(&sf, "SELECT Id FROM Contact").await;
    assert_eq!(ids(&both).len(), 2);

    let now = Utc::now();
    let window = |object: &str| {
        format!(
            "/services/data/v62.0/sobjects/{object}/deleted/?start={}&end={}",
            (now - Duration::days(1)).format("%Y-%m-%dT%H:%M:%S%%2B00:00"),
            (now + Duration::minutes(1)).format("%Y-%m-%dT%H:%M:%S%%2B00:00")
        )
    };
    let log = sf.get(&window("Contact")).await;
    assert_eq!(log.status, 200, "{:?}", log.body);
    assert_eq!(log.body["deletedRecords"][0]["id"], json!(gone));
    assert!(log.body["deletedRecords"][0]["deletedDate"].is_string());
    assert!(log.body["earliestDateAvailable"].is_string());
    assert!(log.body["latestDateCovered"].is_string());
    let leads = sf.get(&window("Lead")).await;
    assert_eq!(leads.body["deletedRecords"][0]["id"], json!(lead));
    let relations = sf.get(&window("AccountContactRelation")).await;
    assert_eq!(
        relations.body["deletedRecords"].as_array().map(Vec::len),
        Some(1)
    );

    let too_old = sf
        .get(&format!(
            "/services/data/v62.0/sobjects/Contact/deleted/?start={}&end={}",
            (now - Duration::days(40)).format("%Y-%m-%dT%H:%M:%SZ"),
            now.format("%Y-%m-%dT%H:%M:%SZ")
        ))
        .await;
    assert_eq!(too_old.status, 400);
    assert_eq!(too_old.body[0]["errorCode"], "INVALID_REPLICATION_DATE");
    let missing = sf
        .get("/services/data/v62.0/sobjects/Contact/deleted/")
        .await;
    assert_eq!(missing.status, 400);
}

#[tokio::test]
async fn a_re_addressed_contact_is_found_by_its_new_email_only() {
    let sf = sf().await;
    let id = sf.sim.add_contact(SfContact::new(
        "Re",
        "Addressed",
        Some("old@example.test"),
        None,
    ));
    let before = sf.sim.contact(&id).expect("contact").system_modstamp;
    sf.sim
        .set_contact_email(&id, Some("New@Example.test"))
        .expect("re-address");
    let old = sf
        .query("SELECT Id FROM Contact WHERE Email = 'old@example.test'")
        .await;
    assert!(ids(&old.body).is_empty());
    let new = sf
        .query("SELECT Id FROM Contact WHERE Email IN ('new@example.test')")
        .await;
    assert_eq!(ids(&new.body), [id.as_str()]);
    assert!(sf.sim.contact(&id).expect("contact").system_modstamp > before);
}

#[tokio::test]
async fn a_late_commit_keeps_a_stamp_older_than_what_was_already_read() {
    let sf = sf().await;
    let late = sf
        .sim
        .add_contact(SfContact::new("Lat", "E", Some("late@example.test"), None));
    let early_stamp = sf.sim.contact(&late).expect("contact").system_modstamp;
    sf.sim.add_contact(SfContact::new(
        "New",
        "Er",
        Some("newer@example.test"),
        None,
    ));
    let watermark = sf.sim.latest_modstamp().expect("stamp");
    assert!(watermark > early_stamp);

    // A transaction that started before the newest record commits its change now.
    let stamp = watermark - Duration::seconds(30);
    sf.sim
        .update_contact_at(&late, stamp, |c| c.title = Some("Committed late".into()))
        .expect("update");

    assert_eq!(
        sf.sim.contact(&late).expect("contact").system_modstamp,
        stamp
    );
    let since = |t: chrono::DateTime<Utc>| {
        format!(
            "SELECT Id, Title FROM Contact WHERE SystemModstamp > {} ORDER BY SystemModstamp, Id",
            t.format("%Y-%m-%dT%H:%M:%S%.3fZ")
        )
    };
    let missed = sf.query(&since(watermark)).await;
    assert!(ids(&missed.body).is_empty(), "invisible past the watermark");
    let looked_back = sf.query(&since(watermark - Duration::minutes(5))).await;
    assert!(ids(&looked_back.body).contains(&late));
}

#[tokio::test]
async fn accounts_and_leads_take_late_stamps_too() {
    let sf = sf().await;
    let account = sf.sim.add_account(SfAccount::new("Acme"));
    let lead = sf
        .sim
        .add_lead(SfLead::new("Lea", "Lead", Some("lea@example.test"), "Co"));
    let watermark = sf.sim.latest_modstamp().expect("stamp");
    let stamp = watermark - Duration::seconds(30);
    sf.sim
        .update_account_at(&account, stamp, |a| a.name = "Acme Late".into())
        .expect("account");
    sf.sim
        .update_lead(&lead, Some(stamp), |l| l.title = Some("Late".into()))
        .expect("lead");
    let snapshot = sf.sim.snapshot();
    assert_eq!(snapshot.accounts[0].system_modstamp, stamp);
    assert_eq!(snapshot.accounts[0].name, "Acme Late");
    assert_eq!(snapshot.leads[0].system_modstamp, stamp);
    sf.sim
        .update_lead(&lead, None, |l| l.title = Some("Now".into()))
        .expect("lead");
    assert!(sf.sim.snapshot().leads[0].system_modstamp > watermark);
}
