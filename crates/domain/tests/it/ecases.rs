//! The cases beyond the article's tables (docs/behavior.md section 6).

use std::collections::HashMap;

use domain::*;
use serde_json::json;

use crate::support::*;

const ORG_A: OrganizationId = OrganizationId(100);
const ORG_B: OrganizationId = OrganizationId(200);
const ORG_C: OrganizationId = OrganizationId(300);

fn links(pairs: &[(u32, OrganizationId)]) -> HashMap<SalesforceId, OrganizationId> {
    pairs.iter().map(|(a, o)| (account_id(*a), *o)).collect()
}

fn e1_setup() -> (EmailGroup, HashMap<SalesforceId, OrganizationId>) {
    // The A contact was created first; the B contact's email differs only in case.
    let group = single_group(vec![
        contact(2, "Pat@Example.com", Some(2), 5, "Pat from B"),
        contact(1, "pat@example.com", Some(1), 1, "Pat from A"),
    ]);
    (group, links(&[(1, ORG_A), (2, ORG_B)]))
}

#[test]
fn e1_two_contacts_one_email_become_one_user_in_two_organizations() {
    let settings = profile("P4");
    let (group, links) = e1_setup();
    let mut world = World::new(true);
    let plan = world.plan(&group, &settings, &links, &[], None);

    assert_eq!(
        plan.syncing.id,
        contact_id(1),
        "the A contact is the syncing record"
    );
    assert_eq!(plan.actions.len(), 2, "{plan:#?}");
    match &plan.actions[0] {
        Action::CreateUser {
            email,
            fields,
            organization,
            ..
        } => {
            assert_eq!(email.as_str(), "pat@example.com");
            assert_eq!(fields.get("name"), Some(&json!("Pat from A")));
            assert_eq!(*organization, Some(ORG_A));
        }
        other => panic!("expected CreateUser, got {other:?}"),
    }
    assert!(matches!(
        &plan.actions[1],
        Action::AddMembership { organization, user: UserRef::New(_), rule: Rule::PrimaryRelationship, default: false, .. }
            if *organization == ORG_B
    ));
    world.apply(&plan);
    let user = world.user("pat@example.com").unwrap();
    assert_eq!(user.default_organization, Some(ORG_A));
    assert_eq!(user.memberships, [ORG_A, ORG_B].into());
}

#[test]
fn e2_a_change_on_the_non_syncing_contact_writes_nothing() {
    let settings = profile("P4");
    let (group, links) = e1_setup();
    let mut world = World::new(true);
    let first = world.plan(&group, &settings, &links, &[], None);
    world.apply(&first);

    let mut changed = group.clone();
    let b = changed
        .people
        .iter_mut()
        .find(|p| p.id == contact_id(2))
        .unwrap();
    b.fields.insert("name".into(), json!("Pat B. Renamed"));
    let plan = world.plan(&changed, &settings, &links, &[], Some(&first.syncing.id));
    assert!(plan.is_noop(), "{plan:#?}");
    assert_eq!(
        world.user("pat@example.com").unwrap().fields.get("name"),
        Some(&json!("Pat from A"))
    );
}

fn e3_setup() -> (
    EmailGroup,
    Vec<Relation>,
    HashMap<SalesforceId, OrganizationId>,
    World,
) {
    let group = single_group(vec![contact(1, "kim@example.com", Some(1), 1, "Kim")]);
    let relations = vec![relation(1, 2, 1, true), relation(2, 3, 1, false)];
    let world = World::new(true).with_user("kim@example.com", user(7, Some(ORG_A.0), "Kim"));
    (
        group,
        relations,
        links(&[(1, ORG_A), (2, ORG_B), (3, ORG_C)]),
        world,
    )
}

#[test]
fn e3_active_secondary_relations_become_memberships_inactive_ones_do_not() {
    let (group, relations, links, mut world) = e3_setup();
    let plan = world.plan(&group, &profile("P5"), &links, &relations, None);
    assert_eq!(
        plan.memberships.get(&ORG_A),
        Some(&(MembershipOutcome::AlreadyPresent, Rule::PrimaryRelationship))
    );
    assert_eq!(
        plan.memberships.get(&ORG_B),
        Some(&(MembershipOutcome::Added, Rule::SecondaryRelationship))
    );
    assert_eq!(plan.memberships.get(&ORG_C), None);
    assert!(
        plan.notes
            .iter()
            .any(|n| n.rule == Rule::InactiveRelation && n.organization == Some(ORG_C))
    );
    world.apply(&plan);
    assert_eq!(
        world.user("kim@example.com").unwrap().memberships,
        [ORG_A, ORG_B].into()
    );
}

#[test]
fn e4_secondary_relations_are_ignored_without_the_setting() {
    let (group, relations, links, world) = e3_setup();
    let plan = world.plan(&group, &profile("P4"), &links, &relations, None);
    let adds = plan
        .actions
        .iter()
        .any(|a| matches!(a, Action::AddMembership { .. }));
    assert!(!adds, "{plan:#?}");
    assert_eq!(plan.memberships.get(&ORG_B), None);
}

#[test]
fn e5_a_contact_moving_accounts_adds_a_membership_and_keeps_the_old_one() {
    let group = single_group(vec![contact(
        1,
        "lee@example.com",
        Some(2),
        1,
        "Lee New Name",
    )]);
    let mut existing = user(7, Some(ORG_A.0), "Lee");
    existing.memberships = [ORG_A].into();
    let mut world = World::new(true).with_user("lee@example.com", existing);
    let plan = world.plan(
        &group,
        &profile("P4"),
        &links(&[(1, ORG_A), (2, ORG_B)]),
        &[],
        None,
    );
    assert_eq!(plan.fields, FieldsOutcome::SkippedDefaultOrgMismatch);
    assert_eq!(plan.actions.len(), 1, "{plan:#?}");
    assert!(
        matches!(&plan.actions[0], Action::AddMembership { organization, default: false, .. } if *organization == ORG_B)
    );
    assert!(
        plan.notes
            .iter()
            .any(|n| n.rule == Rule::OnlyAdd && n.organization == Some(ORG_A))
    );
    world.apply(&plan);
    let user = world.user("lee@example.com").unwrap();
    assert_eq!(user.default_organization, Some(ORG_A));
    assert_eq!(user.memberships, [ORG_A, ORG_B].into());
    assert_eq!(user.fields.get("name"), Some(&json!("Lee")));
}

#[test]
fn e6_single_organization_mode_moves_the_user() {
    let group = single_group(vec![contact(1, "max@example.com", Some(2), 1, "Max")]);
    let mut world = World::new(false).with_user("max@example.com", user(7, Some(ORG_A.0), "Max"));
    let plan = world.plan(&group, &profile("P3"), &links(&[(2, ORG_B)]), &[], None);
    assert!(
        matches!(
            &plan.actions[..],
            [Action::UpdateUser { organization: Some(o), rules, .. }] if *o == ORG_B && rules.contains(&Rule::SingleOrganization)
        ),
        "{plan:#?}"
    );
    world.apply(&plan);
    assert_eq!(
        world.user("max@example.com").unwrap().default_organization,
        Some(ORG_B)
    );
}

#[test]
fn e11_a_deleted_syncing_record_hands_over_to_the_next_contact() {
    // Run 1: contacts 1 (account A, created first) and 2 (account B) share an email; 1 is
    // the syncing record and the user is in A's organization with 1's name.
    let both = single_group(vec![
        contact(1, "pat@example.com", Some(1), 1, "First"),
        contact(2, "Pat@Example.com", Some(2), 2, "Second"),
    ]);
    let links = links(&[(1, ORG_A), (2, ORG_B)]);
    let mut world = World::new(false);
    let first = world.plan(&both, &profile("P3"), &links, &[], None);
    assert_eq!(first.syncing.id, contact_id(1));
    world.apply(&first);
    assert_eq!(
        world.user("pat@example.com").unwrap().default_organization,
        Some(ORG_A)
    );

    // Contact 1 is deleted: the group is decided again without it, the remembered choice
    // gone with it. The other contact takes over fields and organization; nothing else.
    let left = single_group(vec![contact(2, "Pat@Example.com", Some(2), 2, "Second")]);
    let plan = world.plan(&left, &profile("P3"), &links, &[], Some(&contact_id(1)));
    assert_eq!(plan.syncing.id, contact_id(2));
    assert_ne!(plan.syncing.reason, SyncingReason::Remembered);
    match &plan.actions[..] {
        [
            Action::UpdateUser {
                fields,
                organization,
                ..
            },
        ] => {
            assert_eq!(fields.get("name"), Some(&json!("Second")));
            assert_eq!(*organization, Some(ORG_B));
        }
        other => panic!("expected one user update, got {other:#?}"),
    }
    world.apply(&plan);
    assert!(
        world
            .plan(&left, &profile("P3"), &links, &[], Some(&contact_id(2)))
            .is_noop(),
        "handed over once, then nothing"
    );
}

#[test]
fn e12_internationalized_emails_are_synced_like_any_other() {
    // Zendesk is the judge of an address: the rules send it, in any case spelling, as one
    // group; only what cannot be an address at all is skipped.
    let grouping = group_by_email([
        contact(1, "jörg@müller.de", Some(1), 1, "Jörg"),
        contact(2, " JÖRG@MÜLLER.DE ", Some(1), 2, "Jörg Zwei"),
        contact(3, "zoë@example.com", None, 3, "Zoë"),
    ]);
    assert!(grouping.skipped.is_empty(), "{:?}", grouping.skipped);
    assert_eq!(grouping.groups.len(), 2);
    let jorg = grouping
        .groups
        .iter()
        .find(|g| g.email.as_str() == "jörg@müller.de")
        .expect("one group for both spellings");
    assert_eq!(jorg.people.len(), 2);
    let mut world = World::new(false);
    let plan = world.plan(jorg, &profile("P3"), &links(&[(1, ORG_A)]), &[], None);
    assert!(
        matches!(&plan.actions[..], [Action::CreateUser { email, .. }] if email.as_str() == "jörg@müller.de"),
        "{plan:#?}"
    );
    world.apply(&plan);
}

#[test]
fn e7_contacts_without_a_usable_email_are_reported_and_the_rest_continues() {
    let mut no_email = contact(1, "", Some(1), 1, "No Email");
    no_email.email = None;
    let grouping = group_by_email([
        no_email,
        contact(2, "bad email@example.com", Some(1), 1, "Bad"),
        contact(3, "good@example.com", Some(1), 1, "Good"),
    ]);
    assert_eq!(grouping.groups.len(), 1);
    assert_eq!(grouping.skipped.len(), 2);
    assert_eq!(grouping.skipped[0].salesforce_id, contact_id(1));
    assert_eq!(grouping.skipped[0].reason, SkipReason::NoEmail);
    assert_eq!(grouping.skipped[1].salesforce_id, contact_id(2));
    assert!(
        grouping.skipped[1]
            .reason
            .to_string()
            .contains("invalid email")
    );
}

#[test]
fn e8_secondary_relationships_need_multiple_organizations() {
    let err = Settings {
        accounts_to_organizations: true,
        contacts_to_users: true,
        object: PersonObject::Contact,
        primary_relationship: true,
        secondary_relationships: true,
    }
    .validate(Capabilities {
        multiple_organizations: false,
        account_contact_relation: Some(true),
    })
    .unwrap_err();
    assert!(
        err.missing
            .contains(&Prerequisite::SecondaryNeedsMultipleOrganizations)
    );
    assert!(err.to_string().contains("multiple organizations"));
}

#[test]
fn e9_an_unlinked_organization_with_the_same_name_is_linked_not_duplicated() {
    let account = Account {
        id: account_id(1),
        fields: [
            ("name".to_owned(), json!("Acme Corp")),
            ("notes".to_owned(), json!("VIP")),
        ]
        .into(),
    };
    let index = OrganizationIndex::new([Organization {
        id: ORG_A,
        name: " acme corp".into(),
        external_id: None,
        fields: [("name".to_owned(), json!(" acme corp"))].into(),
    }]);
    let decisions = plan_organizations(vec![account], &index);
    assert_eq!(
        decisions,
        vec![OrganizationDecision::Act(OrganizationAction::Link {
            account: account_id(1),
            organization: ORG_A,
            // The exact spelling is written with the link, so the next run has nothing to
            // write (E9).
            fields: [
                ("name".to_owned(), json!("Acme Corp")),
                ("notes".to_owned(), json!("VIP")),
            ]
            .into(),
        })]
    );
    // Once linked and renamed, the same account plans nothing.
    let linked = OrganizationIndex::new([Organization {
        id: ORG_A,
        name: "Acme Corp".into(),
        external_id: Some(account_id(1).to_string()),
        fields: [
            ("name".to_owned(), json!("Acme Corp")),
            ("notes".to_owned(), json!("VIP")),
        ]
        .into(),
    }]);
    let account = Account {
        id: account_id(1),
        fields: [
            ("name".to_owned(), json!("Acme Corp")),
            ("notes".to_owned(), json!("VIP")),
        ]
        .into(),
    };
    assert!(matches!(
        plan_organizations(vec![account], &linked)[..],
        [OrganizationDecision::Unchanged { .. }]
    ));
}

#[test]
fn organizations_are_created_updated_or_left_alone() {
    let accounts = [
        Account {
            id: account_id(1),
            fields: [("name".to_owned(), json!("New Co"))].into(),
        },
        Account {
            id: account_id(2),
            fields: [("name".to_owned(), json!("Renamed"))].into(),
        },
        Account {
            id: account_id(3),
            fields: [("name".to_owned(), json!("Same"))].into(),
        },
        Account {
            id: account_id(4),
            fields: [("name".to_owned(), json!("new co"))].into(),
        },
        Account {
            id: account_id(5),
            fields: [("name".to_owned(), json!("  "))].into(),
        },
        Account {
            id: account_id(6),
            fields: [("name".to_owned(), json!("Taken"))].into(),
        },
    ];
    let org = |id, name: &str, ext: Option<SalesforceId>| Organization {
        id: OrganizationId(id),
        name: name.into(),
        external_id: ext.map(|e| e.to_string().to_lowercase()),
        fields: [("name".to_owned(), json!(name))].into(),
    };
    let index = OrganizationIndex::new([
        org(2, "Old", Some(account_id(2))),
        org(3, "Same", Some(account_id(3))),
        org(9, "Taken", Some(account_id(99))),
    ]);
    let decisions = plan_organizations(accounts.to_vec(), &index);
    assert!(matches!(
        &decisions[0],
        OrganizationDecision::Act(OrganizationAction::Create { .. })
    ));
    assert!(
        matches!(&decisions[1], OrganizationDecision::Act(OrganizationAction::Update { organization: OrganizationId(2), fields, .. }) if fields.len() == 1)
    );
    assert!(matches!(
        &decisions[2],
        OrganizationDecision::Unchanged {
            organization: OrganizationId(3),
            ..
        }
    ));
    assert!(matches!(
        &decisions[3],
        OrganizationDecision::Skipped(Skip {
            reason: SkipReason::DuplicateAccountName(_),
            ..
        })
    ));
    assert!(matches!(
        &decisions[4],
        OrganizationDecision::Skipped(Skip {
            reason: SkipReason::AccountWithoutName,
            ..
        })
    ));
    assert!(matches!(
        &decisions[5],
        OrganizationDecision::Skipped(Skip {
            reason: SkipReason::OrganizationNameTaken { .. },
            ..
        })
    ));
}

#[test]
fn e10_leads_sync_like_contacts_without_an_account_and_converted_ones_are_skipped() {
    let lead = |n: u32, converted: bool| Person {
        id: SalesforceId::parse(&format!("00Q000000000{n:03}")).unwrap(),
        kind: PersonKind::Lead,
        email: Some("lead@example.com".into()),
        account_id: None,
        created_date: None,
        converted,
        fields: [("name".to_owned(), json!(format!("Lead {n}")))].into(),
    };
    let settings = Settings {
        accounts_to_organizations: true,
        contacts_to_users: true,
        object: PersonObject::Lead,
        primary_relationship: true,
        secondary_relationships: false,
    }
    .validate(Capabilities {
        multiple_organizations: true,
        account_contact_relation: None,
    })
    .unwrap();
    let grouping = group_by_email([lead(1, false), lead(2, true)]);
    assert_eq!(grouping.skipped.len(), 1);
    assert_eq!(grouping.skipped[0].reason, SkipReason::ConvertedLead);

    // S2 rules: not matched, so a user is created with no organization and no membership.
    let world = World::new(true);
    let plan = world.plan(&grouping.groups[0], &settings, &HashMap::new(), &[], None);
    assert!(
        matches!(
            &plan.actions[..],
            [Action::CreateUser {
                organization: None,
                ..
            }]
        ),
        "{plan:#?}"
    );

    // S1 rules: matched, fields synced, organization untouched.
    let world = World::new(true).with_user("lead@example.com", user(7, Some(ORG_A.0), "Old"));
    let plan = world.plan(&grouping.groups[0], &settings, &HashMap::new(), &[], None);
    assert!(
        matches!(&plan.actions[..], [Action::UpdateUser { organization: None, fields, .. }] if fields.contains_key("name")),
        "{plan:#?}"
    );
}

#[test]
fn a_user_without_any_organization_gets_the_syncing_account_as_default_and_its_fields() {
    let group = single_group(vec![
        contact(1, "zoe@example.com", Some(1), 1, "Zoe"),
        contact(2, "zoe@example.com", Some(2), 2, "Zoe B"),
    ]);
    let mut world = World::new(true).with_user("zoe@example.com", user(7, None, "Old"));
    let plan = world.plan(
        &group,
        &profile("P4"),
        &links(&[(1, ORG_A), (2, ORG_B)]),
        &[],
        None,
    );
    assert_eq!(plan.fields, FieldsOutcome::Written);
    world.apply(&plan);
    let user = world.user("zoe@example.com").unwrap();
    assert_eq!(user.default_organization, Some(ORG_A));
    assert_eq!(user.memberships, [ORG_A, ORG_B].into());
}
