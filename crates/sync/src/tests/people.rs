//! people.rs: how the Zendesk side is read (the export when it costs fewer calls on a full
//! run, else one search per email), the chunk loop and the people watermark.

use std::sync::atomic::Ordering;

use crate::run::SyncError;
use crate::state::Watermark;
use crate::testkit::{
    Salesforce, World, Zendesk, account, account_id, contact, day, relation, state, users_only,
};

const CONTACTS: Watermark = Watermark::People(domain::PersonObject::Contact);

fn three_contacts() -> Salesforce {
    Salesforce::new().answer(
        "FROM Contact",
        vec![
            contact(1, "ann@example.com", None, 2),
            contact(2, "bob@example.com", None, 3),
            contact(3, "cat@example.com", None, 4),
        ],
    )
}

fn existing_users() -> Zendesk {
    Zendesk::new()
        .user(1, "ann@example.com", None)
        .user(2, "bob@example.com", None)
}

#[tokio::test]
async fn a_full_run_reads_users_through_the_export_when_that_costs_fewer_calls() {
    // 2 users (one export page) for 3 emails (3 searches).
    let world = World::new(three_contacts(), existing_users(), users_only());
    let mut state = state();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(world.zendesk.calls_to("export_users_page"), 1);
    assert_eq!(world.zendesk.calls_to("search_users_by_email"), 0);
    // The users found through the export are updated, not created again.
    assert_eq!(
        (outcome.report.users.created, outcome.report.users.updated),
        (1, 2)
    );
}

#[tokio::test]
async fn a_full_run_searches_each_email_when_the_export_would_cost_more() {
    // 3,000,000 users are 3,000 export pages against 3 searches.
    let world = World::new(
        three_contacts(),
        existing_users().user_count(Some(3_000_000)),
        users_only(),
    );
    let mut state = state();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(world.zendesk.calls_to("export_users_page"), 0);
    assert_eq!(world.zendesk.calls_to("search_users_by_email"), 3);
    assert_eq!(
        (outcome.report.users.created, outcome.report.users.updated),
        (1, 2)
    );
}

#[tokio::test]
async fn an_incremental_run_never_reads_the_export() {
    let world = World::new(three_contacts(), existing_users(), users_only());
    let mut state = state();
    state
        .transaction(|tx| tx.set_watermark(CONTACTS, day(1)))
        .unwrap();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(world.zendesk.calls_to("count_users"), 0);
    assert_eq!(world.zendesk.calls_to("export_users_page"), 0);
    assert_eq!(world.zendesk.calls_to("search_users_by_email"), 3);
}

#[tokio::test]
async fn without_access_to_the_export_users_are_searched_and_the_operator_is_told() {
    let world = World::new(
        three_contacts(),
        existing_users().exports_forbidden(),
        users_only(),
    );
    let mut state = state();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(world.zendesk.calls_to("search_users_by_email"), 3);
    assert_eq!(outcome.report.users.created, 1);
    assert!(
        outcome
            .report
            .warnings
            .iter()
            .any(|w| w.contains("incremental user export is not available")),
        "{:?}",
        outcome.report.warnings
    );
}

#[tokio::test]
async fn the_people_watermark_moves_to_the_newest_contact_when_the_phase_finishes() {
    let world = World::new(three_contacts(), Zendesk::new(), users_only());
    let mut state = state();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(state.watermark(CONTACTS).unwrap(), Some(day(4)));

    let mut dry_state = crate::testkit::state();
    let dry = world.dry_run(&mut dry_state).await;
    assert!(dry.error.is_none(), "{:?}", dry.error);
    assert_eq!(dry_state.watermark(CONTACTS).unwrap(), None);
}

#[tokio::test]
async fn a_stop_request_before_the_first_chunk_writes_nothing_and_keeps_the_people_watermark() {
    let mut world = World::new(Salesforce::new(), Zendesk::new(), users_only());
    world.options.chunk_size = 1;
    let cancel = world.cancel.clone();
    // The stop arrives while the contacts are read, before the first chunk.
    world.salesforce =
        three_contacts().on_query("FROM Contact", move || cancel.store(true, Ordering::SeqCst));
    let mut state = state();

    let outcome = world.run(&mut state).await;

    assert!(
        matches!(outcome.error, Some(SyncError::Interrupted)),
        "{:?}",
        outcome.error
    );
    // No chunk was in flight when the stop came: none is started (a submitted chunk is
    // always finished and committed; the end-to-end signal tests show that), and the
    // watermark stays for the next run to read everything again.
    assert_eq!(world.zendesk.users().len(), 0);
    assert_eq!(outcome.report.users.created, 0);
    let ann = super::email("ann@example.com");
    assert!(state.syncing_records(&[ann]).unwrap().is_empty());
    assert_eq!(state.watermark(CONTACTS).unwrap(), None);
}

#[tokio::test]
async fn the_first_run_with_secondary_relationships_writes_them_after_the_whole_primary_pass() {
    let settings = domain::Settings {
        secondary_relationships: true,
        ..crate::testkit::with_memberships()
    };
    let mut world = World::new(
        Salesforce::new()
            .answer(
                "FROM Account",
                vec![account(1, "Acme", 1), account(2, "Beta", 1)],
            )
            .answer(
                "FROM Contact",
                vec![
                    contact(1, "ann@example.com", Some(1), 2),
                    contact(2, "bob@example.com", Some(1), 2),
                ],
            )
            // Ann also works for Beta.
            .answer(
                "FROM AccountContactRelation WHERE IsDirect = false",
                vec![relation(1, 1, 2, 5)],
            ),
        Zendesk::new()
            .organization(50, "Acme", Some(&account_id(1)))
            .organization(60, "Beta", Some(&account_id(2))),
        settings,
    );
    // One email group per chunk: Ann's chunk is written before Bob's.
    world.options.chunk_size = 1;
    let mut state = state();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let zd = &world.zendesk;
    assert_eq!(
        zd.writes(),
        vec![
            "create_many_users",
            "create_many_users",
            "create_many_memberships"
        ],
        "Ann's secondary membership waits for Bob's chunk"
    );
    let ann = zd.user_with("ann@example.com").expect("ann");
    assert_eq!(ann.organization_id, Some(50));
    assert!(
        zd.memberships()
            .iter()
            .any(|m| m.user_id == ann.id && m.organization_id == 60 && !m.default)
    );
    assert_eq!(outcome.report.memberships.created, 1);
    assert!(
        state
            .primary_pass_complete(domain::PersonObject::Contact)
            .unwrap()
    );
    assert_eq!(state.watermark(Watermark::Relations).unwrap(), Some(day(5)));
}

#[tokio::test]
async fn a_full_run_that_reads_the_export_remembers_every_user_of_the_account() {
    // Zed is in Zendesk but in no Salesforce record: remembered all the same, so a later
    // contact with his email is known to be his without a search.
    let world = World::new(
        three_contacts(),
        existing_users().user(9, "zed@example.com", None),
        users_only(),
    );
    let mut state = state();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert!(state.zendesk_directory_read_at().unwrap().is_some());
    let zed = super::email("zed@example.com");
    assert_eq!(
        state.zendesk_users(std::slice::from_ref(&zed)).unwrap()[&zed],
        domain::UserId(9)
    );

    // A dry run reads the same way but leaves the state file alone.
    let mut dry_state = crate::testkit::state();
    let dry = world.dry_run(&mut dry_state).await;
    assert!(dry.error.is_none(), "{:?}", dry.error);
    assert!(dry_state.zendesk_directory_read_at().unwrap().is_none());
}

/// A state file whose full run read the whole account (Ann and Bob) and synced up to day 1.
fn after_a_full_read() -> crate::StateStore {
    let mut state = state();
    state
        .transaction(|tx| {
            tx.set_watermark(CONTACTS, day(1))?;
            tx.set_zendesk_users(&[
                (super::email("ann@example.com"), domain::UserId(1)),
                (super::email("bob@example.com"), domain::UserId(2)),
            ])?;
            tx.set_zendesk_directory_read(day(1))
        })
        .unwrap();
    state
}

#[tokio::test]
async fn after_a_full_read_an_incremental_run_searches_no_email_it_does_not_remember() {
    let world = World::new(three_contacts(), existing_users(), users_only());
    let mut state = after_a_full_read();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(world.zendesk.calls_to("search_users_by_email"), 0);
    assert_eq!(world.zendesk.calls_to("show_many_users"), 1);
    assert_eq!(outcome.report.users.created, 1);

    // A dry run cannot learn from a refused create: it searches what it does not know.
    let dry_world = World::new(three_contacts(), existing_users(), users_only());
    let mut dry_state = after_a_full_read();
    let dry = dry_world.dry_run(&mut dry_state).await;
    assert!(dry.error.is_none(), "{:?}", dry.error);
    assert_eq!(dry_world.zendesk.calls_to("search_users_by_email"), 1);
}

#[tokio::test]
async fn a_user_created_in_zendesk_after_the_full_read_is_found_through_the_refused_create() {
    // Cat wrote to support after the full run: Zendesk made her a user the state file
    // does not know. The run plans a create, Zendesk refuses it, the run finds her.
    let world = World::new(
        three_contacts(),
        existing_users().unseen_user(3, "cat@example.com", None),
        users_only(),
    );
    let mut state = after_a_full_read();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert!(
        outcome.report.errors.is_empty(),
        "{:?}",
        outcome.report.errors
    );
    assert_eq!(world.zendesk.calls_to("search_users_by_email"), 1);
    assert_eq!(
        world
            .zendesk
            .users()
            .iter()
            .filter(|u| u.email.as_deref() == Some("cat@example.com"))
            .count(),
        1,
        "no second user for cat@"
    );
    let cat = super::email("cat@example.com");
    assert_eq!(
        state.zendesk_users(std::slice::from_ref(&cat)).unwrap()[&cat],
        domain::UserId(3)
    );
}
