//! Test support: builders for records and a small model of Zendesk that applies plans the
//! way Zendesk would, so tests can assert on the resulting state and replan it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{TimeZone, Utc};
use domain::*;
use serde_json::json;

pub fn contact_id(n: u32) -> SalesforceId {
    SalesforceId::parse(&format!("003000000000{n:03}")).unwrap()
}

pub fn account_id(n: u32) -> SalesforceId {
    SalesforceId::parse(&format!("001000000000{n:03}")).unwrap()
}

pub fn relation_id(n: u32) -> SalesforceId {
    SalesforceId::parse(&format!("07k000000000{n:03}")).unwrap()
}

pub fn contact(n: u32, email: &str, account: Option<u32>, day: u32, name: &str) -> Person {
    Person {
        id: contact_id(n),
        kind: PersonKind::Contact,
        email: Some(email.to_owned()),
        account_id: account.map(account_id),
        created_date: Some(Utc.with_ymd_and_hms(2024, 1, day, 0, 0, 0).unwrap()),
        converted: false,
        fields: [
            ("name".to_owned(), json!(name)),
            ("phone".to_owned(), json!("+1 555 0100")),
        ]
        .into(),
    }
}

pub fn relation(n: u32, account: u32, contact: u32, active: bool) -> Relation {
    Relation {
        id: relation_id(n),
        account_id: account_id(account),
        contact_id: contact_id(contact),
        is_direct: false,
        is_active: active,
    }
}

/// The five settings profiles of the article's tables (docs/behavior.md section 3).
pub fn profile(name: &str) -> EffectiveSettings {
    let (a2o, multi, primary, secondary) = match name {
        "P1" => (false, false, false, false),
        "P2" => (false, true, false, false),
        "P3" => (true, false, false, false),
        "P4" => (true, true, true, false),
        "P5" => (true, true, true, true),
        other => panic!("unknown profile {other}"),
    };
    Settings {
        accounts_to_organizations: a2o,
        contacts_to_users: true,
        object: PersonObject::Contact,
        primary_relationship: primary,
        secondary_relationships: secondary,
    }
    .validate(Capabilities {
        multiple_organizations: multi,
        account_contact_relation: Some(true),
    })
    .unwrap()
}

pub fn user(id: u64, default: Option<u64>, name: &str) -> User {
    User {
        id: UserId(id),
        default_organization: default.map(OrganizationId),
        memberships: default.map(OrganizationId).into_iter().collect(),
        fields: [("name".to_owned(), json!(name))].into(),
    }
}

/// A model of the Zendesk side: users by email, applying plans as Zendesk does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct World {
    pub users: BTreeMap<Email, User>,
    pub multiple_organizations: bool,
    next_id: u64,
}

impl World {
    pub fn new(multiple_organizations: bool) -> Self {
        Self {
            users: BTreeMap::new(),
            multiple_organizations,
            next_id: 10_000,
        }
    }

    pub fn with_user(mut self, email: &str, user: User) -> Self {
        self.users.insert(Email::parse(email).unwrap(), user);
        self
    }

    pub fn user(&self, email: &str) -> Option<&User> {
        self.users.get(&Email::parse(email).unwrap())
    }

    pub fn apply(&mut self, plan: &GroupPlan) {
        for action in &plan.actions {
            match action {
                Action::CreateUser {
                    email,
                    fields,
                    organization,
                    ..
                } => {
                    assert!(!self.users.contains_key(email), "duplicate user {email}");
                    self.next_id += 1;
                    let user = User {
                        id: UserId(self.next_id),
                        default_organization: *organization,
                        memberships: organization.iter().copied().collect(),
                        fields: fields.clone(),
                    };
                    self.users.insert(email.clone(), user);
                }
                Action::UpdateUser {
                    user,
                    fields,
                    organization,
                    ..
                } => {
                    let multi = self.multiple_organizations;
                    let target = self
                        .users
                        .values_mut()
                        .find(|u| u.id == *user)
                        .expect("user exists");
                    target.fields.extend(fields.clone());
                    if let Some(org) = organization {
                        // Setting organization_id makes it the default and drops every other
                        // membership: only ever allowed in single-organization mode.
                        assert!(!multi, "organization_id written in multi-organization mode");
                        target.default_organization = Some(*org);
                        target.memberships = BTreeSet::from([*org]);
                    }
                }
                Action::AddMembership {
                    user,
                    organization,
                    default,
                    ..
                } => {
                    let target = match user {
                        UserRef::Existing(id) => self.users.values_mut().find(|u| u.id == *id),
                        UserRef::New(email) => self.users.get_mut(email),
                    }
                    .expect("membership for a known user");
                    assert!(
                        target.memberships.insert(*organization),
                        "duplicate membership"
                    );
                    if *default || target.default_organization.is_none() {
                        assert!(
                            target.default_organization.is_none(),
                            "default moved for a user that had one"
                        );
                        target.default_organization = Some(*organization);
                    }
                }
            }
        }
    }

    pub fn plan(
        &self,
        group: &EmailGroup,
        settings: &EffectiveSettings,
        links: &HashMap<SalesforceId, OrganizationId>,
        relations: &[Relation],
        remembered: Option<&SalesforceId>,
    ) -> GroupPlan {
        let user = self.users.get(&group.email);
        plan_group(
            group,
            &GroupContext {
                settings,
                links,
                remembered,
                user,
                relations,
            },
        )
        .expect("non-empty group")
    }
}

pub fn single_group(people: Vec<Person>) -> EmailGroup {
    let grouping = group_by_email(people);
    assert_eq!(grouping.groups.len(), 1, "expected one group: {grouping:?}");
    grouping.groups.into_iter().next().unwrap()
}
