//! Zendesk records as the simulator stores them, and their JSON shapes on the wire.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// A Zendesk user (end-user by default).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZdUser {
    /// Zendesk id.
    pub id: u64,
    /// Display name.
    pub name: String,
    /// Primary email as given on creation (matched case-insensitively).
    pub email: Option<String>,
    /// All email identities, the primary one included.
    pub identities: Vec<ZdIdentity>,
    /// Default organization (the organization of the default membership).
    pub organization_id: Option<u64>,
    /// Phone number.
    pub phone: Option<String>,
    /// External id (unique, case-insensitive).
    pub external_id: Option<String>,
    /// `end-user`, `agent` or `admin`.
    pub role: String,
    /// Custom user fields.
    pub user_fields: Map<String, Value>,
    /// Other standard fields that were sent (notes, details, time_zone, ...).
    pub other_fields: Map<String, Value>,
    /// False once deleted.
    pub active: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// One email identity of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ZdIdentity {
    /// Identity id.
    pub id: u64,
    /// The email address as given.
    pub value: String,
    /// Whether this is the user's primary email.
    pub primary: bool,
    /// Whether the address is verified.
    pub verified: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A Zendesk organization.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZdOrganization {
    /// Zendesk id.
    pub id: u64,
    /// Name (unique after trimming, case-insensitive).
    pub name: String,
    /// External id (unique, case-insensitive); the Salesforce Account Id when linked.
    pub external_id: Option<String>,
    /// Custom organization fields.
    pub organization_fields: Map<String, Value>,
    /// Other standard fields that were sent (details, notes, domain_names, tags, ...).
    pub other_fields: Map<String, Value>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A user's membership in an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ZdMembership {
    /// Membership id.
    pub id: u64,
    /// The member.
    pub user_id: u64,
    /// The organization.
    pub organization_id: u64,
    /// Whether this is the user's default organization.
    pub default: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Everything the Zendesk simulator holds, for assertions.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ZendeskSnapshot {
    /// Users by ascending id.
    pub users: Vec<ZdUser>,
    /// Organizations by ascending id.
    pub organizations: Vec<ZdOrganization>,
    /// Memberships by ascending id.
    pub memberships: Vec<ZdMembership>,
}

impl ZendeskSnapshot {
    /// The user holding `email` as any identity (case-insensitive).
    pub fn user_by_email(&self, email: &str) -> Option<&ZdUser> {
        self.users.iter().find(|u| {
            u.identities
                .iter()
                .any(|i| i.value.eq_ignore_ascii_case(email))
        })
    }

    /// The organization with `external_id` (case-insensitive).
    pub fn organization_by_external_id(&self, external_id: &str) -> Option<&ZdOrganization> {
        self.organizations.iter().find(|o| {
            o.external_id
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(external_id))
        })
    }

    /// The organization named `name` (trimmed, case-insensitive).
    pub fn organization_by_name(&self, name: &str) -> Option<&ZdOrganization> {
        self.organizations
            .iter()
            .find(|o| o.name.trim().eq_ignore_ascii_case(name.trim()))
    }

    /// Memberships of one user, by ascending id.
    pub fn memberships_of(&self, user_id: u64) -> Vec<&ZdMembership> {
        self.memberships
            .iter()
            .filter(|m| m.user_id == user_id)
            .collect()
    }
}

/// Zendesk timestamp format: ISO 8601 UTC with seconds.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub(crate) fn user_json(base: &str, u: &ZdUser) -> Value {
    let verified = u.identities.iter().any(|i| i.primary && i.verified);
    let mut m = Map::new();
    m.insert("id".into(), json!(u.id));
    m.insert(
        "url".into(),
        json!(format!("{base}/api/v2/users/{}.json", u.id)),
    );
    m.insert("name".into(), json!(u.name));
    m.insert("email".into(), json!(u.email));
    m.insert("created_at".into(), json!(ts(u.created_at)));
    m.insert("updated_at".into(), json!(ts(u.updated_at)));
    m.insert("time_zone".into(), json!("UTC"));
    m.insert("phone".into(), json!(u.phone));
    m.insert("locale".into(), json!("en-US"));
    m.insert("organization_id".into(), json!(u.organization_id));
    m.insert("role".into(), json!(u.role));
    m.insert("verified".into(), json!(verified));
    m.insert("external_id".into(), json!(u.external_id));
    m.insert("tags".into(), json!([]));
    m.insert("active".into(), json!(u.active));
    m.insert("shared".into(), json!(false));
    m.insert("suspended".into(), json!(false));
    m.insert("notes".into(), json!(""));
    m.insert("details".into(), json!(""));
    for (k, v) in &u.other_fields {
        m.insert(k.clone(), v.clone());
    }
    m.insert("user_fields".into(), Value::Object(u.user_fields.clone()));
    Value::Object(m)
}

pub(crate) fn identity_json(base: &str, u: &ZdUser, i: &ZdIdentity) -> Value {
    json!({
        "url": format!("{base}/api/v2/users/{}/identities/{}.json", u.id, i.id),
        "id": i.id,
        "user_id": u.id,
        "type": "email",
        "value": i.value,
        "verified": i.verified,
        "primary": i.primary,
        "created_at": ts(i.created_at),
        "updated_at": ts(i.created_at),
        "deliverable_state": "deliverable",
    })
}

pub(crate) fn org_json(base: &str, o: &ZdOrganization) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(o.id));
    m.insert(
        "url".into(),
        json!(format!("{base}/api/v2/organizations/{}.json", o.id)),
    );
    m.insert("name".into(), json!(o.name));
    m.insert("external_id".into(), json!(o.external_id));
    m.insert("shared_tickets".into(), json!(false));
    m.insert("shared_comments".into(), json!(false));
    m.insert("domain_names".into(), json!([]));
    m.insert("details".into(), Value::Null);
    m.insert("notes".into(), Value::Null);
    m.insert("group_id".into(), Value::Null);
    m.insert("tags".into(), json!([]));
    m.insert("created_at".into(), json!(ts(o.created_at)));
    m.insert("updated_at".into(), json!(ts(o.updated_at)));
    for (k, v) in &o.other_fields {
        m.insert(k.clone(), v.clone());
    }
    m.insert(
        "organization_fields".into(),
        Value::Object(o.organization_fields.clone()),
    );
    Value::Object(m)
}

/// Membership JSON; a non-default membership reports `default: null`, as Zendesk documents.
pub(crate) fn membership_json(base: &str, m: &ZdMembership, org_name: &str) -> Value {
    json!({
        "id": m.id,
        "url": format!("{base}/api/v2/organization_memberships/{}.json", m.id),
        "user_id": m.user_id,
        "organization_id": m.organization_id,
        "default": if m.default { Value::Bool(true) } else { Value::Null },
        "organization_name": org_name,
        "view_tickets": true,
        "created_at": ts(m.created_at),
        "updated_at": ts(m.updated_at),
    })
}
