//! The public shapes other crates are written against: struct literals and trait objects
//! must keep compiling outside this crate.

use serde_json::{Map, json};
use zendesk_client::{
    AccountSettings, JobResult, JobState, JobStatus, NewMembership, NewOrganization, NewUser,
    Organization, OrganizationExportPage, OrganizationMembership, Page, User, UserExportPage,
    ZendeskApi, ZendeskRead, ZendeskWrite,
};

fn takes_objects(_: &dyn ZendeskRead, _: &dyn ZendeskWrite, _: &dyn ZendeskApi) {}

#[test]
fn struct_literals_compile_and_http_client_is_a_zendesk_api() {
    let settings = AccountSettings {
        multiple_organizations: true,
    };
    let user = User {
        id: 1,
        name: "Ann".into(),
        email: Some("ann@x.com".into()),
        organization_id: None,
        role: None,
        phone: None,
        external_id: Some("003".into()),
        user_fields: Map::new(),
        active: true,
        suspended: false,
        identities: vec![],
        extra: Map::new(),
    };
    let org = Organization {
        id: 2,
        name: "Acme".into(),
        external_id: None,
        organization_fields: Map::new(),
        extra: Map::new(),
    };
    let membership = OrganizationMembership {
        id: 3,
        user_id: 1,
        organization_id: 2,
        default: true,
    };
    let page = Page {
        items: vec![membership.clone()],
        next_cursor: None,
    };
    let users = UserExportPage {
        users: vec![user.clone()],
        after_cursor: None,
        end_of_stream: true,
    };
    let orgs = OrganizationExportPage {
        organizations: vec![org],
        next_page: None,
        end_of_stream: true,
    };
    let result = JobResult {
        index: Some(0),
        id: Some(1),
        action: Some("create".into()),
        status: Some("Created".into()),
        success: Some(true),
        error: None,
        details: None,
    };
    let job = JobStatus {
        id: "j".into(),
        status: JobState::Completed,
        total: Some(1),
        progress: Some(1),
        message: None,
        results: vec![result],
    };
    let new_user = NewUser {
        name: "Ann".into(),
        email: "ann@x.com".into(),
        organization_id: None,
        fields: Map::new(),
        user_fields: Map::new(),
    };
    let new_org = NewOrganization {
        name: "Acme".into(),
        external_id: None,
        fields: Map::new(),
        organization_fields: Map::new(),
    };
    let new_membership = NewMembership {
        user_id: 1,
        organization_id: 2,
        default: None,
    };

    assert!(settings.multiple_organizations);
    assert_eq!(page.items, vec![membership]);
    assert_eq!(users.users, vec![user]);
    assert_eq!(orgs.organizations.len(), 1);
    assert!(job.all_succeeded());
    assert_eq!(new_user.to_json()["skip_verify_email"], json!(true));
    assert_eq!(new_org.to_json(), json!({"name": "Acme"}));
    assert_eq!(new_membership.default, None);

    let config = zendesk_client::ZendeskConfig::new(
        "https://acme.zendesk.com",
        zendesk_client::Auth::bearer("t"),
    )
    .expect("config");
    let client = zendesk_client::HttpZendeskClient::new(config).expect("client");
    takes_objects(&client, &client, &client);
}
