//! The article's 35 cases, driven by `fixtures/decision-table.csv`: one check per row,
//! each naming its scenario and profile when it fails.

use std::collections::HashMap;

use domain::*;

use crate::support::*;

const TABLE: &str = include_str!("../../../../fixtures/decision-table.csv");

const ORG_A: OrganizationId = OrganizationId(100);
const ORG_OTHER: OrganizationId = OrganizationId(200);
const EMAIL: &str = "ann@example.com";

#[derive(Debug)]
struct Row<'a> {
    scenario: &'a str,
    profile: &'a str,
    contact_has_account: bool,
    account_linked_to_org: bool,
    user_matched: bool,
    org_is_user_default: bool,
    sets_user_org: bool,
    creates_memberships: bool,
    syncs_fields: bool,
    user_created: bool,
}

fn yes(cell: &str) -> bool {
    matches!(cell.trim(), "yes" | "Yes")
}

fn rows() -> Vec<Row<'static>> {
    let mut lines = TABLE.lines();
    let header = lines.next().unwrap();
    assert_eq!(
        header,
        "scenario,profile,contact_has_account,account_linked_to_org,user_matched,org_is_user_default,sets_user_org,creates_memberships,syncs_fields,user_created"
    );
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let c: Vec<&str> = line.split(',').collect();
            assert_eq!(c.len(), 10, "{line}");
            Row {
                scenario: c[0],
                profile: c[1],
                contact_has_account: yes(c[2]),
                account_linked_to_org: yes(c[3]),
                user_matched: yes(c[4]),
                org_is_user_default: yes(c[5]),
                sets_user_org: yes(c[6]),
                creates_memberships: yes(c[7]),
                // "Yes (new user created)" counts as yes.
                syncs_fields: c[8].starts_with("Yes"),
                user_created: yes(c[9]),
            }
        })
        .collect()
}

/// Builds the row's situation, plans it, applies the plan to a model of Zendesk and checks
/// every column. Returns the failures, each naming the row.
fn check(row: &Row<'_>) -> Vec<String> {
    let settings = profile(row.profile);
    let multi = settings.capabilities().multiple_organizations;
    let account = row.contact_has_account.then_some(1);
    let group = single_group(vec![contact(1, EMAIL, account, 1, "Ann Lee")]);
    let mut links = HashMap::new();
    if row.contact_has_account && row.account_linked_to_org {
        // The organization carries the account's Id; whether the link is used is the rules' call.
        links.insert(account_id(1), ORG_A);
    }
    let mut world = World::new(multi);
    if row.user_matched {
        let default = if row.org_is_user_default {
            ORG_A
        } else {
            ORG_OTHER
        };
        world = world.with_user(EMAIL, user(7, Some(default.0), "Old Name"));
    }
    let before = world.clone();
    let plan = world.plan(&group, &settings, &links, &[], None);
    world.apply(&plan);
    let after = world.user(EMAIL).expect("a user exists after the plan");

    let mut failures = Vec::new();
    let mut expect = |what: &str, expected: bool, actual: bool| {
        if expected != actual {
            failures.push(format!(
                "{} {}: {what}: expected {expected}, got {actual}\nplan: {plan:#?}",
                row.scenario, row.profile
            ));
        }
    };

    let created = plan
        .actions
        .iter()
        .any(|a| matches!(a, Action::CreateUser { .. }));
    expect("user created", row.user_created, created);

    // Sets the user's organization (normal contact sync): rule 2 gives the user the account's
    // organization, and the user ends up there.
    let org_set = plan.organization == Some(ORG_A) && after.default_organization == Some(ORG_A);
    expect("sets the user's organization", row.sets_user_org, org_set);
    if !row.sets_user_org {
        let touched_org = plan.actions.iter().any(|a| {
            matches!(
                a,
                Action::CreateUser {
                    organization: Some(_),
                    ..
                } | Action::UpdateUser {
                    organization: Some(_),
                    ..
                }
            )
        });
        expect("no action writes an organization", false, touched_org);
    }

    // Creates organization memberships (primary/secondary): the account's organization is a
    // membership of the user, added now or already there; none otherwise.
    let membership = matches!(
        plan.memberships.get(&ORG_A),
        Some((
            MembershipOutcome::Added | MembershipOutcome::AlreadyPresent,
            _
        ))
    ) && after.memberships.contains(&ORG_A);
    expect(
        "creates organization memberships",
        row.creates_memberships,
        membership,
    );
    if !row.creates_memberships {
        let adds = plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::AddMembership { .. }));
        expect("no membership action", false, adds);
    }

    // Syncs the contact's mapped fields: the user carries the contact's values afterwards.
    let fields_synced = after.fields.get("name") == Some(&"Ann Lee".into())
        && matches!(plan.fields, FieldsOutcome::Created | FieldsOutcome::Written);
    expect("syncs mapped fields", row.syncs_fields, fields_synced);
    if !row.syncs_fields {
        let before_user = before.user(EMAIL).expect("matched user");
        expect(
            "fields left as they were",
            true,
            before_user.fields == after.fields,
        );
        expect(
            "fields skipped for default org mismatch",
            true,
            plan.fields == FieldsOutcome::SkippedDefaultOrgMismatch,
        );
    }

    // And a second plan over the resulting state writes nothing.
    let again = world.plan(&group, &settings, &links, &[], Some(&plan.syncing.id));
    expect("second plan is empty", true, again.is_noop());
    failures
}

#[test]
fn decision_table_has_the_articles_35_cases() {
    let rows = rows();
    assert_eq!(rows.len(), 35);
    for scenario in ["S1", "S2", "S3", "S4", "S5", "S6", "S7"] {
        for p in ["P1", "P2", "P3", "P4", "P5"] {
            assert!(
                rows.iter()
                    .any(|r| r.scenario == scenario && r.profile == p),
                "{scenario} {p}"
            );
        }
    }
}

macro_rules! table_rows {
    ($($name:ident: $scenario:literal $profile:literal;)*) => {$(
        #[test]
        fn $name() {
            let rows = rows();
            let row = rows
                .iter()
                .find(|r| r.scenario == $scenario && r.profile == $profile)
                .expect("row in fixtures/decision-table.csv");
            let failures = check(row);
            assert!(failures.is_empty(), "{}", failures.join("\n"));
        }
    )*};
}

table_rows! {
    s1_p1: "S1" "P1"; s1_p2: "S1" "P2"; s1_p3: "S1" "P3"; s1_p4: "S1" "P4"; s1_p5: "S1" "P5";
    s2_p1: "S2" "P1"; s2_p2: "S2" "P2"; s2_p3: "S2" "P3"; s2_p4: "S2" "P4"; s2_p5: "S2" "P5";
    s3_p1: "S3" "P1"; s3_p2: "S3" "P2"; s3_p3: "S3" "P3"; s3_p4: "S3" "P4"; s3_p5: "S3" "P5";
    s4_p1: "S4" "P1"; s4_p2: "S4" "P2"; s4_p3: "S4" "P3"; s4_p4: "S4" "P4"; s4_p5: "S4" "P5";
    s5_p1: "S5" "P1"; s5_p2: "S5" "P2"; s5_p3: "S5" "P3"; s5_p4: "S5" "P4"; s5_p5: "S5" "P5";
    s6_p1: "S6" "P1"; s6_p2: "S6" "P2"; s6_p3: "S6" "P3"; s6_p4: "S6" "P4"; s6_p5: "S6" "P5";
    s7_p1: "S7" "P1"; s7_p2: "S7" "P2"; s7_p3: "S7" "P3"; s7_p4: "S7" "P4"; s7_p5: "S7" "P5";
}
