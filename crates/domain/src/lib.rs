//! The sfzd sync rules, pure: no I/O, no async, no HTTP types.
//!
//! `sfzd` syncs Salesforce into Zendesk Support following the help article "Syncing
//! behavior when multiple organizations is turned on": accounts become organizations,
//! contacts (or leads) become users, and account-contact relationships become organization
//! memberships. Several contacts sharing one email become one user in several
//! organizations.
//!
//! The crate reads like the article:
//!
//! - [`settings`]: the four integration settings and Zendesk's *multiple organizations*
//!   setting, validated into an [`EffectiveSettings`] with its [`OrganizationMode`]
//!   (single- or multi-organization); a missing prerequisite is a [`PrerequisiteError`]
//!   naming every one.
//! - [`email`] and [`group`]: contacts are grouped by normalized [`Email`]; the group's
//!   **syncing record** is the first contact linked to an account, remembered across runs.
//! - [`plan`]: [`plan_group`] decides, for one group, whether the user is created or its
//!   **mapped fields** written (not when "default org doesn't match"), which organization it
//!   gets (**single-organization** mode moves it; a **default organization** is never changed
//!   in multi-organization mode), and which **memberships** are added (**primary** and
//!   **secondary relationships**; memberships are **only added**).
//! - [`organizations`]: [`plan_organizations`] syncs accounts to organizations first, linking
//!   an unlinked organization with the same name instead of duplicating it.
//!
//! Every action names the [`Rule`] behind it; every skip carries a [`SkipReason`].
//!
//! ```
//! use std::collections::HashMap;
//! use domain::*;
//!
//! let settings = Settings {
//!     accounts_to_organizations: true,
//!     contacts_to_users: true,
//!     object: PersonObject::Contact,
//!     primary_relationship: true,
//!     secondary_relationships: false,
//! }
//! .validate(Capabilities { multiple_organizations: true, account_contact_relation: None })
//! .expect("prerequisites hold");
//!
//! let account = SalesforceId::parse("001000000000001").unwrap();
//! let person = Person {
//!     id: SalesforceId::parse("003000000000001").unwrap(),
//!     kind: PersonKind::Contact,
//!     email: Some("Ann@Example.com".into()),
//!     account_id: Some(account.clone()),
//!     created_date: None,
//!     converted: false,
//!     fields: [("name".to_owned(), "Ann Lee".into())].into(),
//! };
//! let grouping = group_by_email([person]);
//! let links = HashMap::from([(account, OrganizationId(42))]);
//! let plan = plan_group(
//!     &grouping.groups[0],
//!     &GroupContext { settings: &settings, links: &links, remembered: None, user: None, relations: &[] },
//! )
//! .unwrap();
//! // No user has the email: one is created, in the account's organization.
//! assert!(matches!(
//!     &plan.actions[0],
//!     Action::CreateUser { organization: Some(OrganizationId(42)), .. }
//! ));
//! ```

pub mod email;
pub mod group;
pub mod ids;
pub mod model;
pub mod organizations;
pub mod plan;
pub mod rules;
pub mod settings;

pub use email::{Email, EmailError};
pub use group::{
    EmailGroup, Grouping, Skip, SkipReason, SyncingChoice, SyncingReason, choose_syncing_record,
    group_by_email,
};
pub use ids::{OrganizationId, SalesforceId, SalesforceIdError, UserId};
pub use model::{
    Account, FieldValues, Organization, Person, PersonKind, Relation, User, changed_fields,
};
pub use organizations::{
    OrganizationAction, OrganizationDecision, OrganizationIndex, OrganizationPlanner,
    plan_organizations,
};
pub use plan::{
    Action, Candidate, FieldsOutcome, GroupContext, GroupPlan, Links, MembershipOutcome, Note,
    UserRef, candidate_organizations, plan_group,
};
pub use rules::Rule;
pub use settings::{
    Capabilities, EffectiveSettings, OrganizationMode, PersonObject, Prerequisite,
    PrerequisiteError, Settings,
};
