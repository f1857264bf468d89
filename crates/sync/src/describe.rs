//! Plans as text: the dry run prints one line per action or decision, with its rule, so an
//! operator can check a run before it writes (and a real run logs them at debug level).

use domain::{Action, OrganizationAction, OrganizationId, Rule, UserRef};

/// An organization action as a plan line.
pub(crate) fn describe_org_action(action: &OrganizationAction) -> String {
    match action {
        OrganizationAction::Create { fields, .. } => {
            format!(
                "create organization {}",
                fields
                    .get("name")
                    .map(ToString::to_string)
                    .unwrap_or_default()
            )
        }
        OrganizationAction::Update {
            organization,
            fields,
            ..
        } => {
            format!(
                "update organization {organization}: {}",
                fields.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        }
        OrganizationAction::Link { organization, .. } => {
            format!("link organization {organization} (same name, no external id) to its account")
        }
    }
}

pub(crate) fn plan_ids(plan: &domain::GroupPlan, groups: &[domain::EmailGroup]) -> Vec<String> {
    groups
        .iter()
        .find(|g| g.email == plan.email)
        .map(|g| g.people.iter().map(|p| p.id.to_string()).collect())
        .unwrap_or_default()
}

/// A decision not to act, as a plan line; notes that add nothing for an operator are left out.
pub(crate) fn describe_note(
    note: &domain::Note,
    user: &UserRef,
    org_name: &dyn Fn(OrganizationId) -> String,
) -> Option<String> {
    let who = match user {
        UserRef::Existing(id) => format!("user {id}"),
        UserRef::New(email) => format!("new user {email}"),
    };
    let org = note
        .organization
        .map(org_name)
        .unwrap_or_else(|| "organization -".to_owned());
    Some(match note.rule {
        Rule::DefaultOrgMismatch => {
            format!(
                "no write: mapped fields of {who} not synced (its default {org} is not the account's)"
            )
        }
        Rule::RespectDefaultOrganization => {
            format!("no write: default {org} of {who} kept")
        }
        Rule::OnlyAdd => format!("no write: membership of {who} in {org} kept"),
        Rule::OrganizationNotLinked => {
            format!("no write: no membership for {who}: the account has no organization in Zendesk")
        }
        Rule::InactiveRelation => {
            format!("no write: no membership for {who} in {org}: relation inactive")
        }
        _ => return None,
    })
}

pub(crate) fn describe_action(
    action: &Action,
    org_name: &dyn Fn(OrganizationId) -> String,
) -> String {
    match action {
        Action::CreateUser {
            email,
            organization,
            ..
        } => match organization {
            Some(org) => format!("create user {email} in {}", org_name(*org)),
            None => format!("create user {email}"),
        },
        Action::UpdateUser {
            user,
            fields,
            organization,
            ..
        } => {
            let mut parts: Vec<String> = fields.keys().cloned().collect();
            if let Some(org) = organization {
                parts.push(format!("organization -> {}", org_name(*org)));
            }
            format!("update user {user}: {}", parts.join(", "))
        }
        Action::AddMembership {
            user,
            organization,
            default,
            ..
        } => {
            let who = match user {
                UserRef::Existing(id) => format!("user {id}"),
                UserRef::New(email) => format!("new user {email}"),
            };
            let default = if *default { " (default)" } else { "" };
            format!("add {who} to {}{default}", org_name(*organization))
        }
    }
}
