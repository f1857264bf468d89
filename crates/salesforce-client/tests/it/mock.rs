//! The `mock` feature: `MockSalesforceApi` as another crate's tests would use it.

use futures::TryStreamExt;
use salesforce_client::{
    Contact, MockSalesforceApi, PersonObject, QueryPage, SalesforceApi, queries, reads,
};
use serde_json::json;

#[tokio::test]
async fn mock_drives_the_typed_reads() {
    let emails = vec!["o'brien@example.com".to_owned()];
    let expected = queries::people_by_emails(PersonObject::Contact, &["Tier__c"], &emails, None);
    let mut api = MockSalesforceApi::new();
    api.expect_query()
        .withf(move |q| q == expected[0])
        .times(1)
        .returning(|_| {
            Ok(QueryPage::last(vec![json!({
                "attributes": {"type": "Contact"},
                "Id": "003RO0000035WQgYAM",
                "Email": "o'brien@example.com",
                "Tier__c": "Gold"
            })]))
        });
    api.expect_api_usage().return_const(None);

    let api: &dyn SalesforceApi = &api;
    let contacts: Vec<Vec<Contact>> = reads::contacts_by_emails(api, &["Tier__c"], &emails, None)
        .try_collect()
        .await
        .expect("contacts");

    assert_eq!(contacts[0][0].fields["Tier__c"], "Gold");
    assert_eq!(api.api_usage(), None);
}
