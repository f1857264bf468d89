//! Organizations: lookups by external id and name, single and bulk writes.

use serde_json::json;
use wiremock::Mock;
use wiremock::matchers::{body_json, method, path, query_param};
use zendesk_client::{
    NewOrganization, OrganizationUpdate, ZendeskError, ZendeskRead, ZendeskWrite,
};

use crate::common::{harness, json_response};

#[tokio::test]
async fn show_many_by_external_ids_chunks_by_100() {
    let h = harness().await;
    let ids: Vec<String> = (0..101).map(|i| format!("ext{i}")).collect();
    Mock::given(method("GET"))
        .and(path("/api/v2/organizations/show_many"))
        .and(query_param("external_ids", ids[..100].join(",")))
        .respond_with(json_response(200, "organizations_show_many.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/organizations/show_many"))
        .and(query_param("external_ids", "ext100"))
        .respond_with(json_response(200, "organizations_search.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    let orgs = h
        .client
        .show_many_organizations_by_external_ids(&ids)
        .await
        .expect("orgs");
    assert_eq!(orgs.len(), 3);
    assert_eq!(orgs[0].external_id.as_deref(), Some("0015g00000AcMeAAAA"));
    assert_eq!(
        orgs[0].organization_fields["org_dropdown"],
        json!("option_1")
    );
    assert_eq!(
        orgs[0].extra["domain_names"],
        json!(["example.com", "test.com"])
    );
}

#[tokio::test]
async fn search_by_name() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/organizations/search"))
        .and(query_param("name", "One Organization & Co"))
        .respond_with(json_response(200, "organizations_search.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    let orgs = h
        .client
        .search_organizations_by_name("One Organization & Co")
        .await
        .expect("orgs");
    assert_eq!(orgs[0].id, 35436);
}

#[tokio::test]
async fn create_organization_exact_body() {
    let h = harness().await;
    let mut org = NewOrganization::new("My Organization");
    org.external_id = Some("0015g00000NeWoRGAA".into());
    org.organization_fields
        .insert("salesforce_id".into(), json!("0015g00000NeWoRGAA"));
    org.fields.insert("domain_names".into(), json!([]));
    Mock::given(method("POST"))
        .and(path("/api/v2/organizations"))
        .and(body_json(json!({"organization": {
            "name": "My Organization",
            "external_id": "0015g00000NeWoRGAA",
            "domain_names": [],
            "organization_fields": {"salesforce_id": "0015g00000NeWoRGAA"}
        }})))
        .respond_with(json_response(201, "organizations_create.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    let created = h.client.create_organization(&org).await.expect("created");
    assert_eq!(created.id, 23);
}

#[tokio::test]
async fn update_organization_exact_body() {
    let h = harness().await;
    let update = OrganizationUpdate::new(35436)
        .set_field("notes", json!("Something interesting"))
        .expect("allowed")
        .set_organization_field("region", json!("emea"));
    assert!(
        OrganizationUpdate::new(1)
            .set_field("id", json!(2))
            .is_err()
    );
    Mock::given(method("PUT"))
        .and(path("/api/v2/organizations/35436"))
        .and(body_json(json!({"organization": {
            "notes": "Something interesting",
            "organization_fields": {"region": "emea"}
        }})))
        .respond_with(json_response(200, "organizations_update.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    let org = h
        .client
        .update_organization(&update)
        .await
        .expect("updated");
    assert_eq!(org.organization_fields["region"], json!("emea"));
    let err = h
        .client
        .update_organization(&OrganizationUpdate::new(1))
        .await
        .expect_err("empty");
    assert!(matches!(err, ZendeskError::InvalidRequest(_)));
}

#[tokio::test]
async fn bulk_organization_bodies() {
    let h = harness().await;
    let mut acme = NewOrganization::new("Acme");
    acme.external_id = Some("001A".into());
    Mock::given(method("POST"))
        .and(path("/api/v2/organizations/create_many"))
        .and(body_json(
            json!({"organizations": [{"name": "Acme", "external_id": "001A"}]}),
        ))
        .respond_with(json_response(200, "job_status_queued.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/v2/organizations/update_many"))
        .and(body_json(json!({"organizations": [
            {"id": 1, "name": "Acme Ltd", "external_id": "001A"},
            {"id": 2, "organization_fields": {"tier": "gold"}}
        ]})))
        .respond_with(json_response(200, "job_status_queued.json"))
        .expect(1)
        .mount(&h.server)
        .await;
    h.client
        .create_many_organizations(&[acme])
        .await
        .expect("job");
    let updates = vec![
        OrganizationUpdate::new(1)
            .set_name("Acme Ltd")
            .set_external_id("001A"),
        OrganizationUpdate::new(2).set_organization_field("tier", json!("gold")),
    ];
    h.client
        .update_many_organizations(&updates)
        .await
        .expect("job");
    assert_eq!(h.client.calls().total(), 2);
}
