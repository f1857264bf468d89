//! apply.rs: writing a planned chunk, counting each outcome and committing the chunk's
//! state: a new user's memberships follow its create with the id Zendesk gave it; a
//! refused item is stored as a failure and stays one; successes clear earlier failures.

use super::{email, failures};
use crate::state::{NewFailure, RecordKind};
use crate::testkit::{
    Salesforce, World, Zendesk, account, account_id, contact, contact_id, state, users_only,
    with_memberships,
};

#[tokio::test]
async fn a_new_users_memberships_are_written_after_its_create_with_the_id_zendesk_returned() {
    let world = World::new(
        Salesforce::new()
            .answer(
                "FROM Account",
                vec![account(1, "Acme", 1), account(2, "Beta", 1)],
            )
            .answer(
                "FROM Contact",
                vec![
                    // Ann is a contact of two accounts: the earlier contact's account is
                    // her default organization, the other one a membership.
                    contact(1, "ann@example.com", Some(1), 2),
                    contact(2, "ann@example.com", Some(2), 3),
                ],
            ),
        Zendesk::new()
            .organization(50, "Acme", Some(&account_id(1)))
            .organization(60, "Beta", Some(&account_id(2))),
        with_memberships(),
    );
    let mut state = state();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let zd = &world.zendesk;
    let ann = zd.user_with("ann@example.com").expect("ann");
    assert_eq!(ann.organization_id, Some(50));
    let written = zd.membership_writes();
    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!(
        (written[0].user_id, written[0].organization_id),
        (ann.id, 60)
    );
    let writes = zd.writes();
    assert_eq!(
        writes,
        vec!["create_many_users", "create_many_memberships"],
        "the membership waits for the user's create"
    );
    assert_eq!(outcome.report.users.created, 1);
    assert_eq!(outcome.report.memberships.created, 1);
    // The new user's id is remembered for the next run's lookups.
    let known = state.zendesk_users(&[email("ann@example.com")]).unwrap();
    assert_eq!(known[&email("ann@example.com")].0, ann.id);
}

fn earlier_failures() -> Vec<NewFailure> {
    [1, 2]
        .into_iter()
        .map(|n| NewFailure {
            salesforce_id: contact_id(n),
            kind: RecordKind::Contact,
            email: None,
            message: "job status unknown last time".into(),
        })
        .collect()
}

fn ann_and_bob() -> Salesforce {
    Salesforce::new().answer(
        "FROM Contact",
        vec![
            contact(1, "ann@example.com", None, 2),
            contact(2, "bob@example.com", None, 2),
        ],
    )
}

#[tokio::test]
async fn a_refused_user_is_remembered_and_held_back_while_it_is_unchanged() {
    let world = World::new(
        ann_and_bob(),
        Zendesk::new().refuse("ann@example.com"),
        users_only(),
    );
    let mut state = state();
    state
        .transaction(|tx| tx.record_failures(&earlier_failures()))
        .unwrap();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let report = &outcome.report;
    assert_eq!((report.users.created, report.users.failed), (1, 1));
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].salesforce_id, contact_id(1));
    assert!(
        report.errors[0].message.contains("RecordInvalid"),
        "the error says what Zendesk answered: {}",
        report.errors[0].message
    );
    // A refusal is not a failure to retry: both earlier failures are cleared, and the
    // refusal is remembered with what was sent.
    assert_eq!(failures(&state, RecordKind::Contact), Vec::new());
    let ann = domain::SalesforceId::parse(&contact_id(1)).unwrap();
    let refusals = state.refusals(std::slice::from_ref(&ann)).unwrap();
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    let refusal = refusals.values().next().unwrap();
    assert!(
        refusal.message.contains("refused by the test"),
        "{}",
        refusal.message
    );
    assert!(refusal.sent.contains("ann@example.com"), "{}", refusal.sent);

    // The next run reads Ann again (inside the look-back) but does not send the same
    // create: it lists her as skipped with Zendesk's reason.
    let writes_before = world.zendesk.calls_to("create_many_users");
    let next = world.run(&mut state).await;
    assert!(next.error.is_none(), "{:?}", next.error);
    assert_eq!(world.zendesk.calls_to("create_many_users"), writes_before);
    assert!(
        next.report
            .skipped
            .iter()
            .any(|s| s.salesforce_id == contact_id(1) && s.reason.contains("Zendesk refused")),
        "{:#?}",
        next.report.skipped
    );
}

#[tokio::test]
async fn a_user_whose_job_was_killed_stays_a_failure_to_retry() {
    let world = World::new(
        Salesforce::new().answer("FROM Contact", vec![contact(1, "ann@example.com", None, 2)]),
        Zendesk::new().kill_jobs_with("ann@example.com"),
        users_only(),
    );
    let mut state = state();
    state
        .transaction(|tx| tx.record_failures(&earlier_failures()[..1]))
        .unwrap();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.report.users.failed, 1);
    assert!(world.zendesk.user_with("ann@example.com").is_none());
    let failed = failures(&state, RecordKind::Contact);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].salesforce_id, contact_id(1));
    assert_eq!(failed[0].attempts, 2, "the earlier failure is not cleared");
    assert!(
        failed[0].message.contains("killed"),
        "{}",
        failed[0].message
    );
    assert_eq!(failed[0].email.as_deref(), Some("ann@example.com"));
}

#[tokio::test]
async fn a_refused_membership_is_remembered_for_its_contact() {
    let world = World::new(
        Salesforce::new()
            .answer("FROM Account", vec![account(1, "Acme", 1)])
            .answer(
                "FROM Contact",
                vec![contact(2, "bob@example.com", Some(1), 2)],
            ),
        Zendesk::new()
            .organization(50, "Acme", Some(&account_id(1)))
            .organization(60, "Other", None)
            .user(2, "bob@example.com", Some(60))
            .refuse("membership 2 50"),
        with_memberships(),
    );
    let mut state = state();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.report.memberships.failed, 1);
    assert_eq!(failures(&state, RecordKind::Contact), Vec::new());
    let bob = domain::SalesforceId::parse(&contact_id(2)).unwrap();
    let refusals = state.refusals(&[bob]).unwrap();
    assert_eq!(refusals.len(), 1, "{refusals:?}");
}

#[tokio::test]
async fn a_membership_whose_job_was_killed_is_a_failure_of_its_contact() {
    let world = World::new(
        Salesforce::new()
            .answer("FROM Account", vec![account(1, "Acme", 1)])
            .answer(
                "FROM Contact",
                vec![contact(2, "bob@example.com", Some(1), 2)],
            ),
        Zendesk::new()
            .organization(50, "Acme", Some(&account_id(1)))
            .organization(60, "Other", None)
            .user(2, "bob@example.com", Some(60))
            .kill_jobs_with("membership 2 50"),
        with_memberships(),
    );
    let mut state = state();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.report.memberships.failed, 1);
    let failed = failures(&state, RecordKind::Contact);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].salesforce_id, contact_id(2));
}

#[tokio::test]
async fn a_dry_run_commits_nothing_of_its_chunks() {
    let world = World::new(
        Salesforce::new().answer("FROM Contact", vec![contact(1, "ann@example.com", None, 2)]),
        Zendesk::new(),
        users_only(),
    );
    let mut state = state();
    state
        .transaction(|tx| tx.record_failures(&earlier_failures()))
        .unwrap();

    let outcome = world.dry_run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.report.users.created, 1);
    assert_eq!(world.zendesk.writes(), Vec::<String>::new());
    assert_eq!(failures(&state, RecordKind::Contact).len(), 2);
    assert!(
        state
            .syncing_records(&[email("ann@example.com")])
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_create_refused_because_the_email_is_taken_is_resolved_against_the_user_found() {
    let world = World::new(
        Salesforce::new().answer("FROM Contact", vec![contact(1, "ann@example.com", None, 2)]),
        // Ann's user exists, but the reads made before the create did not see it.
        Zendesk::new().unseen_user(7, "ann@example.com", None),
        users_only(),
    );
    let mut state = state();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let report = &outcome.report;
    assert_eq!(
        (
            report.users.created,
            report.users.updated,
            report.users.failed
        ),
        (0, 1, 0),
        "{report:#?}"
    );
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    // No second user: the one found by searching again got the contact's values.
    let users = world.zendesk.users();
    assert_eq!(users.len(), 1);
    assert_eq!((users[0].id, users[0].name.as_str()), (7, "Contact 1"));
    let known = state.zendesk_users(&[email("ann@example.com")]).unwrap();
    assert_eq!(known[&email("ann@example.com")].0, 7);
    let ann = domain::SalesforceId::parse(&contact_id(1)).unwrap();
    assert!(state.refusals(&[ann]).unwrap().is_empty());
}
