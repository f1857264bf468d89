//! Properties over random groups and Zendesk states: memberships are never removed, a
//! default is never moved in multi-organization mode, plans are idempotent once applied,
//! and do not depend on input order.

use std::collections::{BTreeSet, HashMap};

use domain::*;
use proptest::prelude::*;
use serde_json::json;

use crate::support::{self, *};

#[derive(Debug, Clone)]
struct Case {
    profile: &'static str,
    people: Vec<Person>,
    relations: Vec<Relation>,
    links: HashMap<SalesforceId, OrganizationId>,
    user: Option<User>,
}

fn case() -> impl Strategy<Value = Case> {
    let person = (
        0u32..4,
        prop::option::of(1u32..5),
        1u32..20,
        0u32..3,
        any::<bool>(),
    );
    let relation = (1u32..5, 0u32..4, any::<bool>(), any::<bool>());
    (
        prop::sample::select(vec!["P1", "P2", "P3", "P4", "P5"]),
        prop::collection::vec(person, 1..5),
        prop::collection::vec(relation, 0..5),
        prop::collection::btree_set(1u32..5, 0..5),
        prop::option::of((
            prop::option::of(1u64..6),
            prop::collection::btree_set(1u64..6, 0..4),
            0u32..3,
        )),
    )
        .prop_map(|(profile, people, relations, linked, user)| {
            // Salesforce Ids are unique: one record per Id.
            let mut seen = BTreeSet::new();
            let people: Vec<Person> = people
                .into_iter()
                .filter(|(n, ..)| seen.insert(*n))
                .map(|(n, account, day, name, upper)| {
                    let email = if upper {
                        "Sam@Example.COM"
                    } else {
                        "sam@example.com"
                    };
                    contact(n, email, account, day, &format!("Sam {name}"))
                })
                .collect();
            let relations = relations
                .into_iter()
                .enumerate()
                .map(|(i, (account, contact_n, active, direct))| {
                    let mut r = support::relation(i as u32, account, contact_n, active);
                    r.is_direct = direct;
                    r
                })
                .collect();
            let links = linked
                .into_iter()
                .map(|a| (account_id(a), OrganizationId(u64::from(a) * 100)))
                .collect();
            let user = user.map(|(default, others, name)| {
                let default = default.map(|d| OrganizationId(d * 100));
                let mut memberships: BTreeSet<OrganizationId> = others
                    .into_iter()
                    .map(|o| OrganizationId(o * 100))
                    .collect();
                // A user with memberships always has a default among them.
                let default = default.or_else(|| memberships.iter().next().copied());
                memberships.extend(default);
                User {
                    id: UserId(7),
                    default_organization: default,
                    memberships,
                    fields: [("name".to_owned(), json!(format!("Sam {name}")))].into(),
                }
            });
            Case {
                profile,
                people,
                relations,
                links,
                user,
            }
        })
}

fn world_of(case: &Case) -> World {
    let settings = profile(case.profile);
    let world = World::new(settings.capabilities().multiple_organizations);
    match &case.user {
        Some(user) => world.with_user("sam@example.com", user.clone()),
        None => world,
    }
}

proptest! {
    #[test]
    fn memberships_are_never_removed_nor_defaults_moved(case in case()) {
        let settings = profile(case.profile);
        let group = single_group(case.people.clone());
        let mut world = world_of(&case);
        let plan = world.plan(&group, &settings, &case.links, &case.relations, None);
        world.apply(&plan);
        if let Some(before) = &case.user {
            let after = world.user("sam@example.com").unwrap();
            if settings.mode() == OrganizationMode::MultiOrganization {
                prop_assert!(after.memberships.is_superset(&before.memberships));
                if before.default_organization.is_some() {
                    prop_assert_eq!(after.default_organization, before.default_organization);
                }
                let writes_org = plan.actions.iter().any(|a| matches!(a, Action::UpdateUser { organization: Some(_), .. }));
                prop_assert!(!writes_org, "organization_id written in multi-organization mode");
            }
        }
    }

    #[test]
    fn an_applied_plan_plans_nothing_more(case in case()) {
        let settings = profile(case.profile);
        let group = single_group(case.people.clone());
        let mut world = world_of(&case);
        let plan = world.plan(&group, &settings, &case.links, &case.relations, None);
        world.apply(&plan);
        let again = world.plan(&group, &settings, &case.links, &case.relations, Some(&plan.syncing.id));
        prop_assert!(again.is_noop(), "{:#?}", again);
    }

    #[test]
    fn the_plan_does_not_depend_on_input_order(case in case(), seed in any::<u64>()) {
        let settings = profile(case.profile);
        let world = world_of(&case);
        let plan = world.plan(&single_group(case.people.clone()), &settings, &case.links, &case.relations, None);
        let mut people = case.people.clone();
        let mut relations = case.relations.clone();
        // A deterministic shuffle driven by the seed.
        people.sort_by_key(|p| (seed ^ u64::from(p.id.as_str().as_bytes()[14])).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        people.reverse();
        relations.reverse();
        let shuffled = world.plan(&single_group(people), &settings, &case.links, &relations, None);
        prop_assert_eq!(plan, shuffled);
    }
}

/// Accounts (an Id and a name number), existing organizations (an id, a name number, the
/// account it is linked to) and a page size.
type AccountsCase = (Vec<(u32, u8)>, Vec<(u64, u8, Option<u32>)>, usize);

fn accounts_case() -> impl Strategy<Value = AccountsCase> {
    (
        // Accounts: an Id and one of a few names, so names collide.
        prop::collection::vec((1u32..40, 0u8..6), 0..30),
        // Existing organizations: an id, a name, maybe linked to an account.
        prop::collection::vec((1u64..20, 0u8..6, prop::option::of(1u32..40)), 0..6),
        1usize..8,
    )
}

proptest! {
    #[test]
    fn planning_accounts_page_by_page_in_id_order_equals_planning_them_all(
        (accounts, orgs, page) in accounts_case()
    ) {
        let name = |n: u8| format!("Name {n}");
        let accounts: Vec<Account> = accounts
            .iter()
            .map(|(id, n)| Account {
                id: support::account_id(*id),
                fields: [("name".to_owned(), json!(name(*n)))].into(),
            })
            .collect();
        let index = OrganizationIndex::new(orgs.iter().map(|(id, n, linked)| Organization {
            id: OrganizationId(*id),
            name: name(*n),
            external_id: linked.map(|a| support::account_id(a).to_string().to_lowercase()),
            fields: [("name".to_owned(), json!(name(*n)))].into(),
        }));
        let whole = plan_organizations(accounts.clone(), &index);
        // Pages hold distinct accounts in Id order, as the sync reads them back from staging.
        let mut sorted = accounts;
        sorted.sort_by(|a, b| a.id.cmp(&b.id));
        sorted.dedup_by(|a, b| a.id == b.id);
        let mut planner = OrganizationPlanner::default();
        let paged: Vec<OrganizationDecision> = sorted
            .chunks(page)
            .flat_map(|chunk| planner.plan(chunk.to_vec(), &index))
            .collect();
        prop_assert_eq!(format!("{whole:?}"), format!("{paged:?}"));
    }
}
