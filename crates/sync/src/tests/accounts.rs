//! accounts.rs: accounts become organizations (rule 5), organizations of the same name are
//! linked (E9), a failed organization holds its contacts back, and the account watermark
//! moves only with confirmed writes.

use super::{failures, last_run};
use crate::run::SyncError;
use crate::state::{RecordKind, RunOutcomeKind, Watermark};
use crate::testkit::{
    Salesforce, World, Zendesk, account, account_id, accounts_only, contact, contact_id, day,
    orgs_and_users, soql_time, state,
};

#[tokio::test]
async fn an_unlinked_organization_with_the_accounts_name_is_linked_not_created() {
    let world = World::new(
        Salesforce::new()
            .answer("FROM Account", vec![account(1, "Acme", 5)])
            .answer(
                "FROM Contact",
                vec![contact(1, "ann@example.com", Some(1), 6)],
            ),
        // Made by hand in Zendesk before the integration: same name, no external id.
        Zendesk::new().organization(50, "ACME", None),
        orgs_and_users(),
    );
    let mut state = state();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(world.zendesk.calls_to("create_many_organizations"), 0);
    // Linked to its account, and named with the account's exact spelling.
    assert_eq!(
        world.zendesk.organization_updates(),
        vec![serde_json::json!({"id": 50, "external_id": account_id(1), "name": "Acme"})]
    );
    assert_eq!(outcome.report.organizations.updated, 1);
    assert_eq!(outcome.report.organizations.created, 0);
    // The account's contact lands in the linked organization.
    let ann = world.zendesk.user_with("ann@example.com").expect("ann");
    assert_eq!(ann.organization_id, Some(50));
}

#[tokio::test]
async fn an_organization_linked_by_external_id_is_updated_only_where_it_differs() {
    let world = World::new(
        Salesforce::new().answer(
            "FROM Account",
            vec![account(1, "Acme Ltd", 5), account(2, "Beta", 5)],
        ),
        Zendesk::new()
            .organization(50, "Acme", Some(&account_id(1)))
            .organization(60, "Beta", Some(&account_id(2))),
        accounts_only(),
    );
    let mut state = state();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(
        world.zendesk.organization_updates(),
        vec![serde_json::json!({"id": 50, "name": "Acme Ltd"})]
    );
    assert_eq!(outcome.report.organizations.updated, 1);
    assert_eq!(outcome.report.organizations.unchanged, 1);
}

#[tokio::test]
async fn a_refused_organization_fails_its_account_and_its_contacts_wait_for_the_next_run() {
    let world = World::new(
        Salesforce::new()
            .answer(
                "FROM Account",
                vec![account(1, "Acme", 5), account(2, "Beta", 5)],
            )
            .answer(
                "FROM Contact",
                vec![
                    contact(1, "ann@example.com", Some(1), 6),
                    contact(2, "bob@example.com", Some(2), 6),
                ],
            ),
        Zendesk::new().refuse("Acme"),
        orgs_and_users(),
    );
    let mut state = state();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let report = &outcome.report;
    assert_eq!(report.organizations.failed, 1);
    assert_eq!(report.organizations.created, 1);
    // Ann's account has no organization: she is not created without one.
    assert!(world.zendesk.user_with("ann@example.com").is_none());
    assert!(world.zendesk.user_with("bob@example.com").is_some());
    assert_eq!((report.users.created, report.users.failed), (1, 1));
    let accounts = failures(&state, RecordKind::Account);
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].salesforce_id, account_id(1));
    let contacts = failures(&state, RecordKind::Contact);
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].salesforce_id, contact_id(1));
    assert!(
        contacts[0].message.contains(&format!(
            "waits for the organization of account {}",
            account_id(1)
        )),
        "{}",
        contacts[0].message
    );
    assert_eq!(last_run(&state).0.outcome, Some(RunOutcomeKind::Partial));
}

fn two_accounts() -> Salesforce {
    Salesforce::new().answer(
        "FROM Account",
        vec![account(1, "Acme", 5), account(2, "Beta", 7)],
    )
}

#[tokio::test]
async fn the_account_watermark_moves_to_the_newest_account_once_its_writes_are_confirmed() {
    let world = World::new(two_accounts(), Zendesk::new(), accounts_only());
    let mut state = state();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.report.organizations.created, 2);
    assert_eq!(state.watermark(Watermark::Accounts).unwrap(), Some(day(7)));
}

#[tokio::test]
async fn a_dry_run_does_not_move_the_account_watermark() {
    let world = World::new(two_accounts(), Zendesk::new(), accounts_only());
    let mut state = state();

    let outcome = world.dry_run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.report.organizations.created, 2);
    assert_eq!(world.zendesk.writes(), Vec::<String>::new());
    assert_eq!(state.watermark(Watermark::Accounts).unwrap(), None);
}

#[tokio::test]
async fn writes_zendesk_cannot_take_stop_the_run_and_leave_the_account_watermark() {
    let world = World::new(two_accounts(), Zendesk::new().down(), accounts_only());
    let mut state = state();

    let outcome = world.run(&mut state).await;

    assert!(
        matches!(outcome.error, Some(SyncError::Zendesk(_))),
        "{:?}",
        outcome.error
    );
    assert_eq!(state.watermark(Watermark::Accounts).unwrap(), None);
    assert_eq!(last_run(&state).0.outcome, Some(RunOutcomeKind::Failed));
}

#[tokio::test]
async fn an_incremental_run_reads_accounts_changed_since_the_watermark_and_those_that_failed() {
    let world = World::new(
        Salesforce::new()
            .answer(
                "FROM Account WHERE SystemModstamp >",
                vec![account(2, "Beta", 9)],
            )
            .answer("FROM Account WHERE Id IN", vec![account(1, "Acme", 3)]),
        Zendesk::new(),
        accounts_only(),
    );
    let mut state = state();
    state
        .transaction(|tx| {
            tx.set_watermark(Watermark::Accounts, day(8))?;
            tx.record_failures(&[crate::state::NewFailure {
                salesforce_id: account_id(1),
                kind: RecordKind::Account,
                email: None,
                message: "refused last time".into(),
            }])
        })
        .unwrap();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let statements = world.salesforce.statements();
    assert_eq!(statements.len(), 2, "{statements:#?}");
    // Read from a little before the watermark, for changes committed late.
    let since = soql_time(day(8) - world.options.look_back);
    assert!(
        statements[0].ends_with(&format!(
            "FROM Account WHERE SystemModstamp > {since} ORDER BY SystemModstamp, Id"
        )),
        "{}",
        statements[0]
    );
    assert!(
        statements[1].ends_with(&format!("FROM Account WHERE Id IN ('{}')", account_id(1))),
        "{}",
        statements[1]
    );
    assert_eq!(outcome.report.organizations.created, 2);
    // The retried account succeeded: its failure is cleared.
    assert_eq!(failures(&state, RecordKind::Account), Vec::new());
    assert_eq!(state.watermark(Watermark::Accounts).unwrap(), Some(day(9)));
}

#[tokio::test]
async fn a_create_refused_because_the_name_is_taken_finds_our_own_organization() {
    let world = World::new(
        Salesforce::new()
            .answer("FROM Account", vec![account(1, "Acme", 5)])
            .answer(
                "FROM Contact",
                vec![contact(1, "ann@example.com", Some(1), 6)],
            ),
        // An earlier submission created it, but its answer was lost.
        Zendesk::new().unseen_organization(50, "Acme", Some(&account_id(1))),
        orgs_and_users(),
    );
    let mut state = state();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.report.organizations.failed, 0);
    assert!(
        outcome.report.errors.is_empty(),
        "{:#?}",
        outcome.report.errors
    );
    assert_eq!(world.zendesk.organizations().len(), 1);
    let ann = world.zendesk.user_with("ann@example.com").expect("ann");
    assert_eq!(ann.organization_id, Some(50));
    assert_eq!(failures(&state, RecordKind::Account), Vec::new());
}

#[tokio::test]
async fn a_create_refused_because_the_name_is_taken_links_an_unlinked_organization() {
    let world = World::new(
        Salesforce::new()
            .answer("FROM Account", vec![account(1, "Acme", 5)])
            .answer(
                "FROM Contact",
                vec![contact(1, "ann@example.com", Some(1), 6)],
            ),
        // Someone made "Acme" by hand after the organizations were read.
        Zendesk::new().unseen_organization(50, "Acme", None),
        orgs_and_users(),
    );
    let mut state = state();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.report.organizations.failed, 0);
    let organizations = world.zendesk.organizations();
    assert_eq!(organizations.len(), 1);
    assert_eq!(organizations[0].external_id, Some(account_id(1)));
    let ann = world.zendesk.user_with("ann@example.com").expect("ann");
    assert_eq!(ann.organization_id, Some(50));
}
