//! The records the rules reason about, on both sides, in the domain's own terms.
//!
//! These are not wire types: the `sync` crate converts the clients' API records into them,
//! already mapped to Zendesk field names ([`FieldValues`]), so the rules compare like with like.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{OrganizationId, SalesforceId, UserId};

/// Mapped field values keyed by their Zendesk field path: a standard field such as `name`
/// or `phone`, or `user_fields.<key>` / `organization_fields.<key>` for custom fields.
pub type FieldValues = BTreeMap<String, Value>;

/// The fields of `desired` whose value differs from `current`.
///
/// A missing value and JSON `null` are the same thing to Zendesk, and so are strings that
/// differ only in surrounding white space (Zendesk trims them on write).
pub fn changed_fields(desired: &FieldValues, current: &FieldValues) -> FieldValues {
    desired
        .iter()
        .filter(|(key, value)| !same_value(value, current.get(*key).unwrap_or(&Value::Null)))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, other) | (other, Value::Null) => is_blank(other),
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => a == b,
        // Scalars compare by their text: a Salesforce number written to a Zendesk text field
        // comes back as a string, and must not look changed on every run.
        _ => scalar_text(a) == scalar_text(b),
    }
}

fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            Some(f) => f.to_string(),
            None => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// Whether a person record is a contact or a lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PersonKind {
    /// A Salesforce Contact.
    Contact,
    /// A Salesforce Lead.
    Lead,
}

/// A Salesforce contact or lead, with its mapped fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    /// The record's Id.
    pub id: SalesforceId,
    /// Contact or lead.
    pub kind: PersonKind,
    /// The email as stored in Salesforce (normalized during grouping).
    pub email: Option<String>,
    /// The direct ("primary") account: `Contact.AccountId`. Always `None` for leads.
    pub account_id: Option<SalesforceId>,
    /// `CreatedDate`, which orders contacts when choosing the syncing record.
    pub created_date: Option<DateTime<Utc>>,
    /// A converted lead: skipped, its contact carries it on (E10).
    pub converted: bool,
    /// The mapped user fields this record would write.
    pub fields: FieldValues,
}

/// An AccountContactRelation: a contact's relationship with an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relation {
    /// The relation's Id.
    pub id: SalesforceId,
    /// The related account.
    pub account_id: SalesforceId,
    /// The related contact.
    pub contact_id: SalesforceId,
    /// `true` for the contact's direct account (`Contact.AccountId`): the primary relationship.
    pub is_direct: bool,
    /// Inactive relations never become memberships.
    pub is_active: bool,
}

/// A Salesforce account with its mapped organization fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// The account's Id, written to the organization's `external_id`.
    pub id: SalesforceId,
    /// Mapped organization fields (`name` first among them).
    pub fields: FieldValues,
}

impl Account {
    /// The organization name this account maps to, trimmed; `None` if blank.
    pub fn organization_name(&self) -> Option<&str> {
        self.fields
            .get("name")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|name| !name.is_empty())
    }
}

/// A Zendesk organization as the rules need it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    /// Zendesk id.
    pub id: OrganizationId,
    /// Organization name (unique in Zendesk, compared trimmed and case-insensitively).
    pub name: String,
    /// The Salesforce account Id it is linked to, if any.
    pub external_id: Option<String>,
    /// Current values of the mapped organization fields.
    pub fields: FieldValues,
}

/// A Zendesk user as the rules need it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Zendesk id.
    pub id: UserId,
    /// The default organization (`organization_id`); `None` for a user with no organization.
    pub default_organization: Option<OrganizationId>,
    /// The organizations the user belongs to. Must be complete at least for the
    /// organizations the group's contacts point at (see `plan::candidate_organizations`).
    pub memberships: BTreeSet<OrganizationId>,
    /// Current values of the mapped user fields.
    pub fields: FieldValues,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_changed_fields_are_written() {
        let desired: FieldValues = [
            ("name".to_owned(), json!("Ann Lee")),
            ("phone".to_owned(), json!(null)),
            ("user_fields.tier".to_owned(), json!("gold")),
            ("notes".to_owned(), json!("  hello ")),
        ]
        .into();
        let current: FieldValues = [
            ("name".to_owned(), json!("Ann Lee")),
            ("user_fields.tier".to_owned(), json!("silver")),
            ("notes".to_owned(), json!("hello")),
        ]
        .into();
        let changed = changed_fields(&desired, &current);
        assert_eq!(
            changed,
            [("user_fields.tier".to_owned(), json!("gold"))].into()
        );
    }

    #[test]
    fn scalars_compare_by_their_text() {
        let desired: FieldValues = [
            ("user_fields.seats".to_owned(), json!(5)),
            ("user_fields.vip".to_owned(), json!(true)),
            ("user_fields.ratio".to_owned(), json!(2.5)),
        ]
        .into();
        let current: FieldValues = [
            ("user_fields.seats".to_owned(), json!("5")),
            ("user_fields.vip".to_owned(), json!("true")),
            ("user_fields.ratio".to_owned(), json!(2.5)),
        ]
        .into();
        assert!(changed_fields(&desired, &current).is_empty());
        let other: FieldValues = [("user_fields.seats".to_owned(), json!(6))].into();
        assert_eq!(changed_fields(&other, &current).len(), 1);
    }

    #[test]
    fn an_empty_string_equals_a_missing_value() {
        let desired: FieldValues = [("phone".to_owned(), json!(""))].into();
        assert!(changed_fields(&desired, &FieldValues::new()).is_empty());
    }
}
