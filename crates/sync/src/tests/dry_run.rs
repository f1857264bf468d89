//! The dry run goes through the same planning and counting code as a real run and differs
//! only in its writer: over the same data both report the same counts. Its plan lines
//! (describe.rs) name each action with its rules and records.

use serde_json::json;

use crate::report::Report;
use crate::testkit::{
    Salesforce, World, Zendesk, account, account_id, contact, contact_id, state, with_memberships,
};

/// Every kind of decision at once: organizations created, linked by name, updated,
/// unchanged and skipped; users created (one in an organization created in the same run,
/// with a membership), updated, unchanged, left alone for a default-org mismatch, created
/// without organization; a contact without email skipped.
fn world() -> World {
    let nameless = json!({
        "attributes": {"type": "Account"}, "Id": account_id(5), "Name": null,
        "SystemModstamp": "2024-01-01T00:00:00.000+0000",
    });
    let mut no_email = contact(6, "x@example.com", Some(4), 2);
    no_email["Email"] = serde_json::Value::Null;
    let salesforce = Salesforce::new()
        .answer(
            "FROM Account",
            vec![
                account(1, "Acme", 1),
                account(2, "Beta", 1),
                account(3, "Gamma", 1),
                account(4, "Delta", 1),
                nameless,
            ],
        )
        .answer(
            "FROM Contact",
            vec![
                contact(1, "ann@example.com", Some(1), 2),
                contact(2, "ann@example.com", Some(3), 3),
                contact(3, "bob@example.com", Some(2), 2),
                contact(4, "cat@example.com", Some(4), 2),
                contact(5, "dan@example.com", Some(4), 2),
                no_email,
                contact(7, "eve@example.com", None, 2),
            ],
        );
    let zendesk = Zendesk::new()
        .organization(60, "Beta", None)
        .organization(70, "Gamma Old", Some(&account_id(3)))
        .organization(80, "Delta", Some(&account_id(4)))
        .user(2, "bob@example.com", Some(80))
        .user(3, "cat@example.com", Some(80))
        .user(4, "dan@example.com", Some(80));
    let world = World::new(salesforce, zendesk, with_memberships());
    // Dan already carries his contact's values.
    world.zendesk.rename_user(4, "Contact 5");
    world
}

fn counts(report: &Report) -> serde_json::Value {
    json!({
        "organizations": report.organizations,
        "users": report.users,
        "memberships": report.memberships,
        "skipped": report.skipped,
        "errors": report.errors,
    })
}

#[tokio::test]
async fn a_dry_run_counts_what_a_real_run_over_the_same_data_does() {
    let real_world = world();
    let mut real_state = state();
    let real = real_world.run(&mut real_state).await;
    assert!(real.error.is_none(), "{:?}", real.error);

    let dry_world = world();
    let mut dry_state = state();
    let dry = dry_world.dry_run(&mut dry_state).await;
    assert!(dry.error.is_none(), "{:?}", dry.error);

    // The comparison means something only if every kind of count happened.
    let r = &real.report;
    assert_eq!(
        (
            r.organizations.created,
            r.organizations.updated,
            r.organizations.unchanged
        ),
        (1, 2, 1),
        "{r:#?}"
    );
    assert_eq!(
        (r.users.created, r.users.updated, r.users.unchanged),
        (2, 1, 2),
        "{r:#?}"
    );
    assert_eq!(r.users.fields_skipped_default_org_mismatch, 1);
    assert_eq!(r.memberships.created, 2, "{r:#?}");
    assert_eq!(r.skipped.len(), 2, "{:#?}", r.skipped);

    assert_eq!(counts(&dry.report), counts(&real.report));
    assert!(dry.report.dry_run && !real.report.dry_run);
    assert_eq!(dry_world.zendesk.writes(), Vec::<String>::new());
    assert!(!real_world.zendesk.writes().is_empty());
}

#[tokio::test]
async fn the_dry_runs_plan_names_each_action_with_its_rules_and_records() {
    let world = world();
    let mut state = state();

    let outcome = world.dry_run(&mut state).await;

    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let line = |text: &str| {
        outcome
            .report
            .plan
            .iter()
            .find(|p| p.action == text)
            .unwrap_or_else(|| panic!("no plan line {text:?} in {:#?}", outcome.report.plan))
    };
    let link = line("link organization 60 (same name, no external id) to its account");
    assert_eq!(link.rules, vec!["link-by-name"]);
    assert_eq!(link.salesforce_ids, vec![account_id(2)]);
    let create = line(&format!(
        "create user ann@example.com in the new organization of account {}",
        account_id(1)
    ));
    assert_eq!(
        create.rules,
        vec!["syncing-record", "new-user", "new-user-organization"]
    );
    assert_eq!(create.salesforce_ids, vec![contact_id(1), contact_id(2)]);
    let membership = line("add new user ann@example.com to organization 70");
    assert_eq!(membership.rules, vec!["primary-relationship"]);
    line(
        "no write: mapped fields of user 2 not synced (its default organization 80 is not the account's)",
    );

    // A real run keeps no plan in its report (it logs the lines instead).
    let mut real_state = crate::testkit::state();
    let real = world.run(&mut real_state).await;
    assert!(real.report.plan.is_empty());
}
