//! selection.rs: which records a run reads. An incremental run reads the people changed
//! since the watermark, those that failed last time, the contacts of accounts linked in
//! this run, and every record sharing an email with one of them.

use super::{email, failures};
use crate::report::RunMode;
use crate::state::{NewFailure, RecordKind, StateStore, Watermark};
use crate::testkit::{
    Salesforce, World, Zendesk, account, account_id, contact, contact_id, day, lead, lead_id,
    orgs_and_users, soql_time, state, users_only,
};

const CONTACTS: Watermark = Watermark::People(domain::PersonObject::Contact);

/// A state whose last run synced contacts up to January 10 and failed on contact 3.
fn after_a_run_that_failed_contact_3() -> StateStore {
    let mut state = state();
    state
        .transaction(|tx| {
            tx.set_watermark(CONTACTS, day(10))?;
            tx.record_failures(&[NewFailure {
                salesforce_id: contact_id(3),
                kind: RecordKind::Contact,
                email: Some("fay@example.com".into()),
                message: "refused last time".into(),
            }])
        })
        .unwrap();
    state
}

#[tokio::test]
async fn an_incremental_run_reads_changes_failures_and_everyone_sharing_their_emails() {
    let changed = contact(1, "ann@example.com", None, 12);
    let failed = contact(3, "fay@example.com", None, 2);
    // An older contact with Ann's email, unchanged since the watermark.
    let same_email = contact(2, "ann@example.com", None, 1);
    let world = World::new(
        Salesforce::new()
            .answer("FROM Contact WHERE SystemModstamp >", vec![changed.clone()])
            .answer("FROM Contact WHERE Id IN", vec![failed.clone()])
            .answer(
                "FROM Contact WHERE Email IN",
                vec![changed, same_email, failed],
            ),
        Zendesk::new(),
        users_only(),
    );
    let mut state = after_a_run_that_failed_contact_3();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.report.mode, RunMode::Incremental);
    let sf = &world.salesforce;
    // Read from a little before the watermark, for changes committed late.
    let since = format!(
        "FROM Contact WHERE SystemModstamp > {}",
        soql_time(day(10) - world.options.look_back)
    );
    assert_eq!(
        sf.statements_with(&since).len(),
        1,
        "{:#?}",
        sf.statements()
    );
    let retry = format!("FROM Contact WHERE Id IN ('{}')", contact_id(3));
    assert_eq!(
        sf.statements_with(&retry).len(),
        1,
        "{:#?}",
        sf.statements()
    );
    let by_email = "FROM Contact WHERE Email IN ('ann@example.com','fay@example.com')";
    assert_eq!(
        sf.statements_with(by_email).len(),
        1,
        "{:#?}",
        sf.statements()
    );
    // The group was decided whole: the earliest contact, read only by email, syncs.
    let ann = world.zendesk.user_with("ann@example.com").expect("ann");
    assert_eq!(ann.name, "Contact 2");
    assert_eq!(
        state.syncing_records(&[email("ann@example.com")]).unwrap()[&email("ann@example.com")]
            .to_string(),
        contact_id(2)
    );
    assert!(world.zendesk.user_with("fay@example.com").is_some());
    assert_eq!(failures(&state, RecordKind::Contact), Vec::new());
    assert_eq!(state.watermark(CONTACTS).unwrap(), Some(day(12)));
}

#[tokio::test]
async fn a_full_run_reads_every_contact_once_and_nothing_by_id_or_email() {
    let world = World::new(
        Salesforce::new().answer(
            "FROM Contact",
            vec![
                contact(1, "ann@example.com", None, 12),
                contact(2, "ann@example.com", None, 1),
            ],
        ),
        Zendesk::new(),
        users_only(),
    );
    // Even with a watermark and a failure stored, --full considers everything anew.
    let mut state = after_a_run_that_failed_contact_3();
    let mut world = world;
    world.options.full = true;

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.report.mode, RunMode::Full);
    assert_eq!(
        world.salesforce.statements_with("FROM Contact"),
        vec![
            "SELECT Id, Email, FirstName, LastName, AccountId, CreatedDate, SystemModstamp, Phone FROM Contact"
                .to_owned()
        ]
    );
}

#[tokio::test]
async fn an_incremental_run_reads_the_contacts_of_accounts_linked_in_this_run() {
    let world = World::new(
        Salesforce::new()
            // The account changed and gets its organization now; its contact did not change.
            .answer(
                "FROM Account WHERE SystemModstamp >",
                vec![account(1, "Acme", 12)],
            )
            .answer(
                "FROM Contact WHERE AccountId IN",
                vec![contact(1, "ann@example.com", Some(1), 1)],
            ),
        Zendesk::new(),
        orgs_and_users(),
    );
    let mut state = state();
    state
        .transaction(|tx| {
            tx.set_watermark(Watermark::Accounts, day(10))?;
            tx.set_watermark(CONTACTS, day(10))
        })
        .unwrap();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let by_account = format!("FROM Contact WHERE AccountId IN ('{}')", account_id(1));
    assert_eq!(
        world.salesforce.statements_with(&by_account).len(),
        1,
        "{:#?}",
        world.salesforce.statements()
    );
    let organization = world.zendesk.organizations()[0].id;
    let ann = world.zendesk.user_with("ann@example.com").expect("ann");
    assert_eq!(ann.organization_id, Some(organization));
}

#[tokio::test]
async fn an_incremental_run_with_nothing_changed_reads_no_more_than_the_changes() {
    let world = World::new(Salesforce::new(), Zendesk::new(), users_only());
    let mut state = state();
    state
        .transaction(|tx| tx.set_watermark(CONTACTS, day(10)))
        .unwrap();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    // The changes and the deletions since the watermark, nothing else.
    let statements = world.salesforce.statements();
    assert_eq!(statements.len(), 2, "{statements:#?}");
    assert!(
        statements[0].contains("FROM Contact WHERE SystemModstamp >"),
        "{}",
        statements[0]
    );
    assert!(
        statements[1].contains("FROM Contact WHERE IsDeleted = true AND SystemModstamp >"),
        "{}",
        statements[1]
    );
    assert_eq!(world.zendesk.writes(), Vec::<String>::new());
    assert_eq!(state.watermark(CONTACTS).unwrap(), Some(day(10)));
}

#[tokio::test]
async fn a_deleted_syncing_record_leaves_its_group_which_is_decided_again() {
    let mut deleted = contact(1, "ann@example.com", None, 12);
    deleted["IsDeleted"] = true.into();
    let world = World::new(
        Salesforce::new()
            .answer("FROM Contact WHERE IsDeleted = true", vec![deleted])
            .answer(
                "FROM Contact WHERE Email IN",
                vec![contact(2, "ann@example.com", None, 3)],
            ),
        Zendesk::new().user(7, "ann@example.com", None),
        users_only(),
    );
    let mut state = state();
    let ann = email("ann@example.com");
    let first = domain::SalesforceId::parse(&contact_id(1)).unwrap();
    state
        .transaction(|tx| {
            tx.set_watermark(CONTACTS, day(10))?;
            tx.set_syncing_records(&[(ann.clone(), first)])?;
            tx.set_zendesk_users(&[(ann.clone(), domain::UserId(7))])
        })
        .unwrap();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(
        world
            .salesforce
            .statements_with("FROM Contact WHERE Email IN ('ann@example.com')")
            .len(),
        1,
        "{:#?}",
        world.salesforce.statements()
    );
    // The remaining contact syncs now and writes its values to the same user.
    assert_eq!(
        state.syncing_records(std::slice::from_ref(&ann)).unwrap()[&ann].to_string(),
        contact_id(2)
    );
    assert_eq!(world.zendesk.users().len(), 1);
    assert_eq!(
        world.zendesk.user_with("ann@example.com").unwrap().name,
        "Contact 2"
    );
    assert_eq!(state.watermark(CONTACTS).unwrap(), Some(day(12)));
}

#[tokio::test]
async fn an_incremental_lead_run_reads_unconverted_leads_and_keeps_its_own_watermark() {
    const LEADS: Watermark = Watermark::People(domain::PersonObject::Lead);
    let settings = domain::Settings {
        object: domain::PersonObject::Lead,
        ..users_only()
    };
    let world = World::new(
        Salesforce::new()
            .answer(
                "FROM Lead WHERE IsConverted = false AND SystemModstamp >",
                vec![lead(1, "ann@example.com", 12)],
            )
            .answer(
                "FROM Lead WHERE Email IN",
                vec![lead(1, "ann@example.com", 12)],
            ),
        Zendesk::new(),
        settings,
    );
    let mut state = state();
    state
        .transaction(|tx| tx.set_watermark(LEADS, day(10)))
        .unwrap();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let sf = &world.salesforce;
    assert_eq!(sf.statements_with("FROM Contact"), Vec::<String>::new());
    assert_eq!(
        sf.statements_with("FROM Lead WHERE IsDeleted = true").len(),
        1,
        "{:#?}",
        sf.statements()
    );
    let by_email = sf.statements_with("FROM Lead WHERE Email IN ('ann@example.com')");
    assert_eq!(by_email.len(), 1, "{:#?}", sf.statements());
    assert!(
        by_email[0].contains("IsConverted = false"),
        "{}",
        by_email[0]
    );
    let ann = world.zendesk.user_with("ann@example.com").expect("ann");
    assert_eq!(ann.name, "Lead 1");
    assert_eq!(
        state.syncing_records(&[email("ann@example.com")]).unwrap()[&email("ann@example.com")]
            .to_string(),
        lead_id(1)
    );
    assert_eq!(state.watermark(LEADS).unwrap(), Some(day(12)));
    assert_eq!(state.watermark(CONTACTS).unwrap(), None);
}
