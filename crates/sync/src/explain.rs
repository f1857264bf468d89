//! `sfzd explain EMAIL`: why a person is (or is not) where they are in Zendesk, answered
//! from live data with read calls only: the Salesforce records with that email, which one
//! is the syncing record and why, the matched Zendesk user with its memberships, and what
//! the next run would do, each action or decision with its rule (the dry run's words).

use std::collections::HashMap;

use domain::{
    Email, GroupContext, OrganizationId, Person, PersonObject, Relation, SalesforceId,
    SyncingReason, UserId, UserRef, choose_syncing_record, group_by_email, plan_group,
};
use futures::TryStreamExt;
use salesforce_client::{
    AccountContactRelation, Contact, Lead, SalesforceApi, queries, query_stream_many,
};
use serde::Serialize;
use zendesk_client::{ZendeskRead, stream};

use crate::accounts::OrganizationLinks;
use crate::describe::{describe_action, describe_note};
use crate::directory::Directory;
use crate::mapping;
use crate::run::{SyncError, SyncOptions, preflight};
use crate::state::StateStore;

/// A Salesforce record with the email.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainedRecord {
    /// Its Id.
    pub salesforce_id: String,
    /// `contact` or `lead`.
    pub object: String,
    /// Its account, if any, and the organization linked to it.
    pub account_id: Option<String>,
    /// The organization of its account, when one is linked.
    pub organization_id: Option<u64>,
    /// When it was created.
    pub created_date: Option<String>,
    /// Why it is not synced, if it is not.
    pub skipped: Option<String>,
}

/// The Zendesk user the email matches.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainedUser {
    /// Its id.
    pub id: u64,
    /// Its default organization.
    pub default_organization: Option<u64>,
    /// Every organization it belongs to.
    pub organizations: Vec<u64>,
}

/// One line of what the next run would do.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainedStep {
    /// What would happen (or not, and why).
    pub action: String,
    /// The rules behind it.
    pub rules: Vec<String>,
}

/// The answer to "why is this person where they are?".
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The normalized email.
    pub email: String,
    /// The Salesforce records with it.
    pub records: Vec<ExplainedRecord>,
    /// The syncing record and why, when the email has a group.
    pub syncing_record: Option<(String, String)>,
    /// The matched Zendesk user.
    pub user: Option<ExplainedUser>,
    /// What the next run would do, with rules.
    pub next_run: Vec<ExplainedStep>,
}

fn reason_text(reason: SyncingReason) -> &'static str {
    match reason {
        SyncingReason::Remembered => {
            "remembered from an earlier run: it still has the email and an account (rule syncing-record)"
        }
        SyncingReason::FirstLinkedToAccount => {
            "the first record of the group linked to an account (earliest CreatedDate, ties by lowest Id; rule syncing-record)"
        }
        SyncingReason::EarliestCreated => {
            "no record of the group has an account: the earliest created (rule syncing-record)"
        }
    }
}

/// Explains `email` with read calls only; `state` (the remembered syncing record) may be
/// absent when no run happened yet.
///
/// # Errors
/// An API error, or [`SyncError::Prerequisites`] when the settings cannot run.
pub async fn explain(
    salesforce: &dyn SalesforceApi,
    zendesk: &dyn ZendeskRead,
    options: &SyncOptions,
    state: Option<&StateStore>,
    email: &Email,
) -> Result<Explanation, SyncError> {
    let settings = preflight(salesforce, zendesk, options.settings).await?;
    let object = settings.object();
    let fields = options.mapping.person_fields();
    let statements = queries::people_by_emails(
        mapping::client_object(object),
        &fields,
        &[email.to_string()],
        options.contacts_filter.as_deref(),
    );
    let mut people: Vec<Person> = Vec::new();
    let mut records = Vec::new();
    let mut add = |result: Result<Person, mapping::BadRecord>, id: &str| match result {
        Ok(person) => people.push(person),
        Err(bad) => records.push(ExplainedRecord {
            salesforce_id: id.to_owned(),
            object: object.to_string(),
            account_id: None,
            organization_id: None,
            created_date: None,
            skipped: Some(bad.reason),
        }),
    };
    match object {
        PersonObject::Contact => {
            let pages: Vec<Vec<Contact>> = query_stream_many(salesforce, statements)
                .try_collect()
                .await?;
            for c in pages.iter().flatten() {
                add(mapping::person_from_contact(c, &options.mapping), &c.id);
            }
        }
        PersonObject::Lead => {
            let pages: Vec<Vec<Lead>> = query_stream_many(salesforce, statements)
                .try_collect()
                .await?;
            for l in pages.iter().flatten() {
                add(mapping::person_from_lead(l, &options.mapping), &l.id);
            }
        }
    }
    let relations: Vec<Relation> = if settings.syncs_secondary_relationships() && !people.is_empty()
    {
        let ids: Vec<String> = people.iter().map(|p| p.id.to_string()).collect();
        let pages: Vec<Vec<AccountContactRelation>> =
            query_stream_many(salesforce, queries::relations_for_contacts(&ids))
                .try_collect()
                .await?;
        pages
            .iter()
            .flatten()
            .filter_map(|r| mapping::relation_from(r).ok())
            .collect()
    } else {
        Vec::new()
    };

    let mut links = OrganizationLinks::default();
    if settings.accounts_to_organizations() {
        let accounts: Vec<SalesforceId> = people
            .iter()
            .filter_map(|p| p.account_id.clone())
            .chain(relations.iter().map(|r| r.account_id.clone()))
            .collect();
        links.ensure(zendesk, accounts.iter()).await?;
    }
    let grouping = group_by_email(people.clone());
    for person in &people {
        let skip = grouping
            .skipped
            .iter()
            .find(|s| s.salesforce_id == person.id)
            .map(|s| s.reason.to_string());
        records.push(ExplainedRecord {
            salesforce_id: person.id.to_string(),
            object: object.to_string(),
            account_id: person.account_id.as_ref().map(ToString::to_string),
            organization_id: person
                .account_id
                .as_ref()
                .and_then(|a| links.get(a))
                .map(|o| o.0),
            created_date: person.created_date.map(|d| d.to_rfc3339()),
            skipped: skip,
        });
    }

    let users = Directory::search(zendesk, &options.mapping, std::slice::from_ref(email)).await?;
    let found = users.get(email);
    let memberships: Vec<OrganizationId> = match found {
        Some(user) => {
            stream::user_memberships_stream(zendesk, user.id.0)
                .map_ok(|m| OrganizationId(m.organization_id))
                .try_collect()
                .await?
        }
        None => Vec::new(),
    };
    let user = found.map(|u| ExplainedUser {
        id: u.id.0,
        default_organization: u.default_organization.map(|o| o.0),
        organizations: memberships.iter().map(|o| o.0).collect(),
    });

    let mut explanation = Explanation {
        email: email.to_string(),
        records,
        syncing_record: None,
        user,
        next_run: Vec::new(),
    };
    let Some(group) = grouping.groups.into_iter().find(|g| &g.email == email) else {
        return Ok(explanation);
    };
    let remembered: HashMap<Email, SalesforceId> = match state {
        Some(state) => state.syncing_records(std::slice::from_ref(email))?,
        None => HashMap::new(),
    };
    if let Some(choice) = choose_syncing_record(&group.people, remembered.get(email)) {
        explanation.syncing_record =
            Some((choice.id.to_string(), reason_text(choice.reason).to_owned()));
    }
    let domain_user = found.map(|u| domain::User {
        id: UserId(u.id.0),
        default_organization: u.default_organization,
        memberships: memberships.iter().copied().collect(),
        fields: u.fields.clone(),
    });
    let ctx = GroupContext {
        settings: &settings,
        links: links.map(),
        remembered: remembered.get(email),
        user: domain_user.as_ref(),
        relations: &relations,
    };
    let org_name = |o: OrganizationId| links.name(o);
    match plan_group(&group, &ctx) {
        Some(plan) => {
            for note in &plan.notes {
                if let Some(text) = describe_note(note, &plan.user, &org_name) {
                    explanation.next_run.push(ExplainedStep {
                        action: text,
                        rules: vec![note.rule.name().to_owned()],
                    });
                }
            }
            for action in &plan.actions {
                explanation.next_run.push(ExplainedStep {
                    action: describe_action(action, &org_name),
                    rules: action.rules().iter().map(|r| r.name().to_owned()).collect(),
                });
            }
            if plan.actions.is_empty() {
                let who = match plan.user {
                    UserRef::Existing(id) => format!("user {id}"),
                    UserRef::New(_) => "the user".to_owned(),
                };
                explanation.next_run.push(ExplainedStep {
                    action: format!("nothing to write: {who} already is as the rules want"),
                    rules: Vec::new(),
                });
            }
        }
        None => explanation.next_run.push(ExplainedStep {
            action: "nothing to write".to_owned(),
            rules: Vec::new(),
        }),
    }
    Ok(explanation)
}
