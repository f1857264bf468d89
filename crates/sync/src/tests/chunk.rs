//! chunk.rs: planning a chunk reads only what the rules need of Zendesk, and sorts the
//! groups' plans into user creates, user updates and memberships.

use crate::testkit::{
    Salesforce, World, Zendesk, account, account_id, contact, state, with_memberships,
};

/// Acme (account 1) and Beta (account 2), linked to organizations 50 and 60.
fn linked_accounts() -> Zendesk {
    Zendesk::new()
        .organization(50, "Acme", Some(&account_id(1)))
        .organization(60, "Beta", Some(&account_id(2)))
}

fn accounts() -> Vec<serde_json::Value> {
    vec![account(1, "Acme", 1), account(2, "Beta", 1)]
}

/// A full run that searches users one email at a time (the account looks too big for the
/// export), so memberships are listed user by user.
fn searching(zendesk: Zendesk) -> Zendesk {
    zendesk.user_count(Some(10_000_000))
}

#[tokio::test]
async fn memberships_are_read_only_for_users_whose_groups_point_beyond_their_default() {
    let zendesk = searching(linked_accounts())
        // Ann's default organization is her account's: nothing to read.
        .user(1, "ann@example.com", Some(50))
        // Bob's default organization is another one: his memberships decide.
        .user(2, "bob@example.com", Some(60))
        // Cat has no organization at all.
        .user(3, "cat@example.com", None);
    let world = World::new(
        Salesforce::new().answer("FROM Account", accounts()).answer(
            "FROM Contact",
            vec![
                contact(1, "ann@example.com", Some(1), 2),
                contact(2, "bob@example.com", Some(1), 2),
                contact(3, "cat@example.com", Some(1), 2),
            ],
        ),
        zendesk,
        with_memberships(),
    );
    let mut state = state();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(world.zendesk.memberships_listed_for(), vec![2, 3]);
    assert_eq!(world.zendesk.calls_to("list_memberships_page"), 0);
}

#[tokio::test]
async fn a_membership_already_there_is_counted_present_and_not_written() {
    let zendesk = searching(linked_accounts())
        .user(2, "bob@example.com", Some(60))
        .membership(2, 50);
    let world = World::new(
        Salesforce::new().answer("FROM Account", accounts()).answer(
            "FROM Contact",
            vec![contact(2, "bob@example.com", Some(1), 2)],
        ),
        zendesk,
        with_memberships(),
    );
    let mut state = state();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.report.memberships.already_present, 1);
    assert_eq!(outcome.report.memberships.created, 0);
    assert_eq!(world.zendesk.membership_writes(), Vec::new());
}

#[tokio::test]
async fn plans_are_sorted_into_creates_updates_and_memberships() {
    let zendesk = searching(linked_accounts())
        // Ann is in her account's organization under an old name: her name is updated.
        .user(1, "ann@example.com", Some(50))
        // Bob's default organization is Acme, his account is Beta: Beta is added as a
        // membership and his fields are left alone ("default org doesn't match").
        .user(2, "bob@example.com", Some(50));
    let world = World::new(
        Salesforce::new().answer("FROM Account", accounts()).answer(
            "FROM Contact",
            vec![
                contact(1, "ann@example.com", Some(1), 2),
                contact(2, "bob@example.com", Some(2), 2),
                // Cat is new: created in her account's organization.
                contact(3, "cat@example.com", Some(1), 2),
            ],
        ),
        zendesk,
        with_memberships(),
    );
    let mut state = state();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let zd = &world.zendesk;
    // One batch: the create, the update and the existing user's membership are all
    // submitted before the chunk polls its jobs once.
    assert_eq!(
        zd.writes(),
        vec![
            "create_many_users",
            "update_many_users",
            "create_many_memberships"
        ]
    );
    assert_eq!(zd.calls_to("show_many_job_statuses"), 1);
    let cat = zd.user_with("cat@example.com").expect("cat");
    assert_eq!(cat.organization_id, Some(50));
    assert_eq!(zd.users().len(), 3);
    assert_eq!(
        zd.user_updates(),
        vec![serde_json::json!({"id": 1, "name": "Contact 1"})]
    );
    assert_eq!(
        zd.membership_writes(),
        vec![zendesk_client::NewMembership::new(2, 60)]
    );
    let report = &outcome.report;
    assert_eq!(
        (report.users.created, report.users.updated),
        (1, 1),
        "{report:#?}"
    );
    assert_eq!(report.users.fields_skipped_default_org_mismatch, 1);
    assert_eq!(report.memberships.created, 1);
    // Bob's write was a membership only: his user is counted unchanged.
    assert_eq!(report.users.unchanged, 1);
}

/// Bob (contact 2, account Acme) changed since the last run, in Zendesk as `zendesk` says:
/// an incremental run of the memberships profile.
fn bob_changed_since_the_last_run(zendesk: Zendesk) -> (World, crate::StateStore) {
    let world = World::new(
        Salesforce::new().answer("FROM Account", accounts()).answer(
            "FROM Contact",
            vec![contact(2, "bob@example.com", Some(1), 2)],
        ),
        zendesk,
        with_memberships(),
    );
    let mut state = state();
    state
        .transaction(|tx| {
            tx.set_watermark(
                crate::state::Watermark::People(domain::PersonObject::Contact),
                crate::testkit::day(1),
            )?;
            tx.set_watermark(crate::state::Watermark::Accounts, crate::testkit::day(1))
        })
        .unwrap();
    (world, state)
}

#[tokio::test]
async fn an_incremental_run_writes_a_membership_it_does_not_remember_instead_of_listing() {
    // Bob's default is Beta; Acme, his account's organization, is already his too, but no
    // earlier run saw it. Listing his memberships would cost a call per user: the run
    // writes it and counts Zendesk's "already a member" as present.
    let zendesk = linked_accounts()
        .user(2, "bob@example.com", Some(60))
        .membership(2, 50);
    let (world, mut state) = bob_changed_since_the_last_run(zendesk);

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(world.zendesk.memberships_listed_for(), Vec::<u64>::new());
    assert_eq!(world.zendesk.calls_to("list_memberships_page"), 0);
    assert_eq!(world.zendesk.membership_writes().len(), 1);
    assert_eq!(outcome.report.memberships.already_present, 1);
    assert_eq!(outcome.report.memberships.created, 0);
    assert!(
        outcome.report.errors.is_empty(),
        "{:?}",
        outcome.report.errors
    );
    // Remembered now: the next run neither lists nor writes it.
    let known = state.known_memberships(&[domain::UserId(2)]).unwrap();
    assert!(known[&domain::UserId(2)].contains(&domain::OrganizationId(50)));
}

#[tokio::test]
async fn a_refused_membership_that_exists_counts_present_after_one_listing() {
    // Zendesk refuses the membership in words that do not say "already a member"; listing
    // Bob's memberships shows it is there: present, not an error.
    let zendesk = linked_accounts()
        .user(2, "bob@example.com", Some(60))
        .membership(2, 50)
        .refuse("membership 2 50");
    let (world, mut state) = bob_changed_since_the_last_run(zendesk);

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert!(
        outcome.report.errors.is_empty(),
        "{:?}",
        outcome.report.errors
    );
    assert_eq!(outcome.report.memberships.already_present, 1);
    assert_eq!(outcome.report.memberships.failed, 0);
    assert_eq!(world.zendesk.memberships_listed_for(), vec![2]);
}

#[tokio::test]
async fn a_refused_membership_that_does_not_exist_stays_an_error() {
    let zendesk = linked_accounts()
        .user(2, "bob@example.com", Some(60))
        .refuse("membership 2 50");
    let world = World::new(
        Salesforce::new().answer("FROM Account", accounts()).answer(
            "FROM Contact",
            vec![contact(2, "bob@example.com", Some(1), 2)],
        ),
        zendesk,
        with_memberships(),
    );
    let mut state = state();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.report.memberships.failed, 1);
    assert_eq!(
        outcome.report.errors.len(),
        1,
        "{:?}",
        outcome.report.errors
    );
}
