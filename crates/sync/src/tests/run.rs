//! run.rs: prerequisites, stopping on request, and what the run history keeps.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use domain::Settings;

use super::last_run;
use crate::run::{Progress, SyncError};
use crate::state::{RunOutcomeKind, Watermark};
use crate::testkit::{
    Salesforce, World, Zendesk, account, contact, day, orgs_and_users, relation, state,
    with_memberships,
};

fn one_account_one_contact() -> Salesforce {
    Salesforce::new()
        .answer("FROM Account", vec![account(1, "Acme", 5)])
        .answer(
            "FROM Contact",
            vec![contact(1, "ann@example.com", Some(1), 6)],
        )
}

#[tokio::test]
async fn a_missing_prerequisite_stops_before_any_query_and_is_stored_as_a_failed_run() {
    // Secondary relationships need users in several organizations, which this account
    // does not allow.
    let settings = Settings {
        secondary_relationships: true,
        ..with_memberships()
    };
    let world = World::new(
        one_account_one_contact(),
        Zendesk::new().multiple_organizations(false),
        settings,
    );
    let mut state = state();

    let outcome = world.run(&mut state).await;

    let error = outcome.error.expect("the run fails");
    assert!(error.is_configuration(), "{error}");
    assert!(
        error.to_string().contains("multiple organizations"),
        "the error names the missing prerequisite: {error}"
    );
    assert_eq!(world.salesforce.statements(), Vec::<String>::new());
    assert_eq!(world.zendesk.writes(), Vec::<String>::new());
    let (run, report) = last_run(&state);
    assert_eq!(run.outcome, Some(RunOutcomeKind::Failed));
    assert_eq!(report, outcome.report);
}

#[tokio::test]
async fn the_stored_report_carries_the_api_calls_of_its_own_run() {
    let world = World::new(one_account_one_contact(), Zendesk::new(), orgs_and_users());
    let mut state = state();
    let first = world.run(&mut state).await;
    assert!(first.error.is_none(), "{:?}", first.error);
    let (_, stored_first) = last_run(&state);
    assert_eq!(stored_first.api_calls.salesforce, world.salesforce.calls());
    assert_eq!(stored_first.api_calls.zendesk, world.zendesk.call_count());

    let counter = world.call_counter();
    let before = counter();
    let second = world.run(&mut state).await;
    assert!(second.error.is_none(), "{:?}", second.error);
    let after = counter();

    // The second run stores only its own calls, not the clients' running totals.
    let (_, stored) = last_run(&state);
    assert_eq!(
        stored.api_calls.salesforce,
        after.salesforce - before.salesforce
    );
    assert_eq!(stored.api_calls.zendesk, after.zendesk - before.zendesk);
    assert!(stored.api_calls.salesforce > 0 && stored.api_calls.zendesk > 0);
    assert!(stored.api_calls.zendesk < after.zendesk);
    assert_eq!(stored.api_calls, second.report.api_calls);
}

#[tokio::test]
async fn a_stop_requested_during_the_accounts_phase_ends_the_run_before_the_people_phase() {
    let mut world = World::new(Salesforce::new(), Zendesk::new(), orgs_and_users());
    let cancel = world.cancel.clone();
    // The operator asks to stop while the accounts are being read.
    world.salesforce = one_account_one_contact()
        .on_query("FROM Account", move || cancel.store(true, Ordering::SeqCst));
    let mut state = state();

    let outcome = world.run(&mut state).await;

    assert!(
        matches!(outcome.error, Some(SyncError::Interrupted)),
        "{:?}",
        outcome.error
    );
    // The accounts phase finished and committed; no contact was read.
    assert_eq!(outcome.report.organizations.created, 1);
    assert_eq!(state.watermark(Watermark::Accounts).unwrap(), Some(day(5)));
    assert_eq!(
        world.salesforce.statements_with("FROM Contact"),
        Vec::<String>::new()
    );
    assert_eq!(world.zendesk.calls_to("create_many_users"), 0);
    let (run, _) = last_run(&state);
    assert_eq!(run.outcome, Some(RunOutcomeKind::Interrupted));
}

#[tokio::test]
async fn a_salesforce_failure_stops_the_run_stores_it_failed_and_keeps_the_watermarks() {
    let world = World::new(
        one_account_one_contact().fail("FROM Contact"),
        Zendesk::new(),
        orgs_and_users(),
    );
    let mut state = state();

    let outcome = world.run(&mut state).await;

    assert!(
        matches!(outcome.error, Some(SyncError::Salesforce(_))),
        "{:?}",
        outcome.error
    );
    let (run, _) = last_run(&state);
    assert_eq!(run.outcome, Some(RunOutcomeKind::Failed));
    let people = Watermark::People(domain::PersonObject::Contact);
    assert_eq!(state.watermark(people).unwrap(), None);
    assert_eq!(world.zendesk.calls_to("create_many_users"), 0);
}

#[tokio::test]
async fn a_run_with_a_refused_record_is_stored_as_partial_and_a_clean_one_as_ok() {
    let world = World::new(
        one_account_one_contact(),
        Zendesk::new().refuse("ann@example.com"),
        orgs_and_users(),
    );
    let mut state = state();
    let outcome = world.run(&mut state).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.report.users.failed, 1);
    assert_eq!(last_run(&state).0.outcome, Some(RunOutcomeKind::Partial));

    let clean = World::new(one_account_one_contact(), Zendesk::new(), orgs_and_users());
    let mut state = crate::testkit::state();
    assert!(clean.run(&mut state).await.error.is_none());
    assert_eq!(last_run(&state).0.outcome, Some(RunOutcomeKind::Ok));
}

#[tokio::test]
async fn secondary_relationships_without_account_contact_relation_are_refused_before_any_query() {
    let settings = Settings {
        secondary_relationships: true,
        ..with_memberships()
    };
    let world = World::new(
        one_account_one_contact().relations_available(false),
        Zendesk::new(),
        settings,
    );
    let mut state = state();

    let outcome = world.run(&mut state).await;

    let error = outcome.error.expect("the run fails");
    assert!(error.is_configuration(), "{error}");
    assert!(
        error.to_string().contains("Contacts to Multiple Accounts"),
        "the error says what to turn on: {error}"
    );
    assert_eq!(world.salesforce.statements(), Vec::<String>::new());
    assert_eq!(last_run(&state).0.outcome, Some(RunOutcomeKind::Failed));
}

#[tokio::test]
async fn refused_bulk_user_import_creates_users_one_by_one_and_warns_once() {
    let world = World::new(
        Salesforce::new().answer(
            "FROM Contact",
            vec![
                contact(1, "ann@example.com", None, 2),
                contact(2, "bob@example.com", None, 2),
            ],
        ),
        Zendesk::new().bulk_import_disabled(),
        crate::testkit::users_only(),
    );
    let mut state = state();

    let outcome = world.run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.report.users.created, 2);
    assert_eq!(world.zendesk.calls_to("create_many_users"), 1);
    assert_eq!(world.zendesk.calls_to("create_user"), 2);
    let warnings: Vec<&String> = outcome
        .report
        .warnings
        .iter()
        .filter(|w| w.contains("bulk user import"))
        .collect();
    assert_eq!(warnings.len(), 1, "{:?}", outcome.report.warnings);
    // The stored report carries the warning too.
    assert_eq!(last_run(&state).1.warnings, outcome.report.warnings);
}

/// What the engine told its progress, in order.
#[derive(Debug, Clone, PartialEq)]
enum Told {
    Phase(String, Option<u64>),
    Advance(u64),
    Jobs(usize),
}

#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<Told>>);

impl Progress for Recorder {
    fn phase(&self, name: &str, total: Option<u64>) {
        self.0.lock().unwrap().push(Told::Phase(name.into(), total));
    }
    fn advance(&self, done: u64) {
        self.0.lock().unwrap().push(Told::Advance(done));
    }
    fn jobs_in_flight(&self, jobs: usize) {
        self.0.lock().unwrap().push(Told::Jobs(jobs));
    }
}

/// The events of each phase, by phase name.
fn by_phase(told: &[Told]) -> Vec<(String, Option<u64>, Vec<Told>)> {
    let mut phases: Vec<(String, Option<u64>, Vec<Told>)> = Vec::new();
    for event in told {
        match event {
            Told::Phase(name, total) => phases.push((name.clone(), *total, Vec::new())),
            other => phases
                .last_mut()
                .expect("no event before the first phase")
                .2
                .push(other.clone()),
        }
    }
    phases
}

#[tokio::test]
async fn progress_tells_each_phase_its_records_done_and_the_jobs_in_flight() {
    let settings = Settings {
        secondary_relationships: true,
        ..with_memberships()
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
                    contact(3, "cy@example.com", Some(2), 2),
                ],
            )
            .answer(
                "FROM AccountContactRelation WHERE IsDirect = false",
                vec![relation(1, 1, 2, 5)],
            ),
        Zendesk::new(),
        settings,
    );
    // One email group per chunk: the users phase advances chunk by chunk.
    world.options.chunk_size = 1;

    // A dry run tells the same phases and records, without jobs.
    let recorder = Arc::new(Recorder::default());
    world.progress = recorder.clone();
    let outcome = world.dry_run(&mut state()).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let dry = by_phase(&recorder.0.lock().unwrap());

    let recorder = Arc::new(Recorder::default());
    world.progress = recorder.clone();
    let outcome = world.run(&mut state()).await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);

    let told = recorder.0.lock().unwrap().clone();
    let phases = by_phase(&told);
    let names: Vec<(&str, Option<u64>)> = phases
        .iter()
        .map(|(name, total, _)| (name.as_str(), *total))
        .collect();
    assert_eq!(
        names,
        vec![
            ("organizations", Some(2)),
            ("users", Some(3)),
            ("memberships", Some(1))
        ]
    );
    for (name, total, events) in &phases {
        let done: u64 = events
            .iter()
            .filter_map(|e| match e {
                Told::Advance(n) => Some(*n),
                _ => None,
            })
            .sum();
        assert_eq!(Some(done), *total, "{name}: {events:?}");
        // Every phase writes here: its jobs are reported submitted, then finished.
        let jobs: Vec<usize> = events
            .iter()
            .filter_map(|e| match e {
                Told::Jobs(n) => Some(*n),
                _ => None,
            })
            .collect();
        assert!(jobs.iter().any(|n| *n > 0), "{name}: {events:?}");
        assert_eq!(jobs.last(), Some(&0), "{name}: {events:?}");
    }
    for (name, total, events) in &dry {
        let done: u64 = events
            .iter()
            .map(|e| match e {
                Told::Advance(n) => *n,
                other => panic!("a dry run has no jobs: {other:?}"),
            })
            .sum();
        assert_eq!(Some(done), *total, "dry run, {name}: {events:?}");
    }
    let dry_names: Vec<&str> = dry.iter().map(|(name, _, _)| name.as_str()).collect();
    assert_eq!(dry_names, ["organizations", "users", "memberships"]);

    let users = &phases[1].2;
    let advances = users
        .iter()
        .filter(|e| matches!(e, Told::Advance(_)))
        .count();
    assert_eq!(advances, 3, "one advance per chunk: {users:?}");
}
