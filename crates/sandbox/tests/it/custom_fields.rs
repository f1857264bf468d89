//! Custom fields in the Zendesk simulator: the fields an account defines are listed, and a
//! write naming an undefined key succeeds with the key dropped and named in
//! `X-Zendesk-API-Warn`, as recorded from Zendesk.

use sandbox::{ZendeskSim, ZendeskSimConfig};
use serde_json::json;

use crate::{answer, client};

async fn sim() -> (ZendeskSim, sandbox::RunningServer, String) {
    let config = ZendeskSimConfig {
        user_fields: vec!["job_title".into()],
        organization_fields: vec!["tier".into()],
        ..ZendeskSimConfig::default()
    };
    let (sim, server) = ZendeskSim::start(config).await.expect("start");
    let r = answer(
        client()
            .post(format!("{}/oauth/tokens", server.url))
            .json(&json!({"grant_type":"client_credentials","client_id":"sfzd-sandbox","client_secret":"sandbox-secret"}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    let token = r.body["access_token"].as_str().expect("token").to_owned();
    (sim, server, token)
}

#[tokio::test]
async fn defined_fields_are_listed() {
    let (_sim, server, token) = sim().await;
    for (list, key) in [
        ("user_fields", "job_title"),
        ("organization_fields", "tier"),
    ] {
        let r = answer(
            client()
                .get(format!("{}/api/v2/{list}?page[size]=100", server.url))
                .bearer_auth(&token)
                .send()
                .await
                .expect("send"),
        )
        .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body[list][0]["key"], key, "{:?}", r.body);
        assert_eq!(r.body[list].as_array().map(Vec::len), Some(1));
        assert_eq!(r.body["meta"]["has_more"], false);
    }
}

#[tokio::test]
async fn undefined_keys_are_dropped_and_named_in_the_warning_header() {
    let (sim, server, token) = sim().await;
    let r = answer(
        client()
            .post(format!("{}/api/v2/users", server.url))
            .bearer_auth(&token)
            .json(&json!({"user": {"name": "Ann", "email": "ann@example.com",
                "user_fields": {"job_title": "CTO", "no_such_field": "x"}}}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(
        r.header("x-zendesk-api-warn"),
        Some(
            r#"{:allowed_parameters=>{:controller=>"users", :action=>"create", :unpermitted_keys=>["user.user_fields.no_such_field"], :invalid_values=>[]}}"#
        )
    );
    let user = sim.user_by_email("ann@example.com").expect("created");
    assert_eq!(user.user_fields.get("job_title"), Some(&json!("CTO")));
    assert!(!user.user_fields.contains_key("no_such_field"));

    let org = sim.add_organization(json!({"name": "Acme"})).expect("org");
    let r = answer(
        client()
            .put(format!("{}/api/v2/organizations/update_many", server.url))
            .bearer_auth(&token)
            .json(&json!({"organizations": [{"id": org, "organization_fields": {"tier": "gold", "segment": "smb"}}]}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.header("x-zendesk-api-warn"),
        Some(
            r#"{:allowed_parameters=>{:controller=>"organizations", :action=>"update_many", :unpermitted_keys=>["organizations.organization_fields.segment"], :invalid_values=>[]}}"#
        )
    );

    // Defined keys only: no warning.
    let r = answer(
        client()
            .post(format!("{}/api/v2/users", server.url))
            .bearer_auth(&token)
            .json(&json!({"user": {"name": "Bob", "email": "bob@example.com",
                "user_fields": {"job_title": "CEO"}}}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.header("x-zendesk-api-warn"), None);
}
