//! Serde models of the Zendesk resources this crate reads and writes.
//!
//! Models read from Zendesk tolerate unknown fields and keep them in `extra`; fields the API
//! may omit or send as `null` are `Option`s or fall back to the documented default. Write
//! types are separate so they can only carry what is safe to send.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::error::ZendeskError;

/// A JSON object, as Zendesk's custom fields and unknown fields are kept.
pub type JsonMap = Map<String, Value>;

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

fn null_as_true<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(deserializer)?.unwrap_or(true))
}

fn default_true() -> bool {
    true
}

/// The account settings this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountSettings {
    /// Whether users may belong to several organizations
    /// (`settings.user.multiple_organizations`; absent means `false`).
    pub multiple_organizations: bool,
}

impl AccountSettings {
    /// Settings with the given multiple-organizations flag.
    pub fn new(multiple_organizations: bool) -> Self {
        Self {
            multiple_organizations,
        }
    }

    pub(crate) fn from_response(body: &Value) -> Self {
        let flag = body
            .pointer("/settings/user/multiple_organizations")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Self::new(flag)
    }
}

/// A user identity (email, phone number, ...), sideloaded with `include=identities`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// The identity's id.
    #[serde(default)]
    pub id: Option<u64>,
    /// The user it belongs to.
    #[serde(default)]
    pub user_id: Option<u64>,
    /// `email`, `phone_number`, `twitter`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The address or number.
    #[serde(default)]
    pub value: String,
    /// Whether this is the user's primary identity of its type.
    #[serde(default, deserialize_with = "null_as_default")]
    pub primary: bool,
    /// Whether the identity is verified.
    #[serde(default, deserialize_with = "null_as_default")]
    pub verified: bool,
    /// Every other field Zendesk sent.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// A Zendesk user as read from the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// The user's id.
    pub id: u64,
    /// The user's name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// The primary email address.
    #[serde(default)]
    pub email: Option<String>,
    /// The default organization.
    #[serde(default)]
    pub organization_id: Option<u64>,
    /// `end-user`, `agent` or `admin`.
    #[serde(default)]
    pub role: Option<String>,
    /// The primary phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// The external id (case-insensitive in Zendesk).
    #[serde(default)]
    pub external_id: Option<String>,
    /// Custom user fields by key (`null` reads as empty).
    #[serde(default, deserialize_with = "null_as_default")]
    pub user_fields: JsonMap,
    /// `false` once the user is deleted.
    #[serde(default = "default_true", deserialize_with = "null_as_true")]
    pub active: bool,
    /// Whether the user is suspended.
    #[serde(default, deserialize_with = "null_as_default")]
    pub suspended: bool,
    /// Identities, when read with them (`include=identities`, which every read of this
    /// crate asks for, or the identities endpoint); see [`User::emails`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identities: Vec<Identity>,
    /// Every other field Zendesk sent (`notes`, `details`, `tags`, `created_at`, ...).
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// A Zendesk organization as read from the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    /// The organization's id.
    pub id: u64,
    /// The unique name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// The external id (case-insensitive in Zendesk).
    #[serde(default)]
    pub external_id: Option<String>,
    /// Custom organization fields by key (`null` reads as empty).
    #[serde(default, deserialize_with = "null_as_default")]
    pub organization_fields: JsonMap,
    /// Every other field Zendesk sent (`domain_names`, `details`, `notes`, `tags`, ...).
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// A user's membership in an organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrganizationMembership {
    /// The membership's id.
    pub id: u64,
    /// The member.
    pub user_id: u64,
    /// The organization.
    pub organization_id: u64,
    /// Whether this is the user's default organization (Zendesk sends `null` for
    /// non-default memberships, read as `false`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub default: bool,
}

/// A custom user or organization field defined on the account (`GET /api/v2/user_fields`,
/// `GET /api/v2/organization_fields`). Writes name it by `key` under `user_fields` or
/// `organization_fields`; Zendesk drops a key it does not define.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomField {
    /// The field's id.
    #[serde(default)]
    pub id: Option<u64>,
    /// The key writes use, e.g. `tier`.
    pub key: String,
    /// `text`, `dropdown`, `checkbox`, `date`, `integer`, ...
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The name agents see.
    #[serde(default)]
    pub title: Option<String>,
    /// Whether the field is in use (an inactive field still stores values).
    #[serde(default = "default_true", deserialize_with = "null_as_true")]
    pub active: bool,
    /// Every other field Zendesk sent.
    #[serde(flatten)]
    pub extra: JsonMap,
}

impl CustomField {
    /// An active field with the given key (for tests and mocks).
    pub fn new(key: impl Into<String>) -> Self {
        Self {
            id: None,
            key: key.into(),
            kind: None,
            title: None,
            active: true,
            extra: JsonMap::new(),
        }
    }
}

/// One page of a cursor-paginated list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The cursor of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// One page of the cursor-based incremental user export.
#[derive(Debug, Clone, PartialEq)]
pub struct UserExportPage {
    /// Users changed since the cursor, each with its sideloaded identities attached.
    pub users: Vec<User>,
    /// The cursor to resume from (keep the last one as a checkpoint).
    pub after_cursor: Option<String>,
    /// `true` when the export has caught up with the present.
    pub end_of_stream: bool,
}

impl UserExportPage {
    /// A page with the given contents (for tests and mocks).
    pub fn new(users: Vec<User>, after_cursor: Option<String>, end_of_stream: bool) -> Self {
        Self {
            users,
            after_cursor,
            end_of_stream,
        }
    }
}

/// One page of the time-based incremental organization export.
#[derive(Debug, Clone, PartialEq)]
pub struct OrganizationExportPage {
    /// Organizations changed since the page's start time.
    pub organizations: Vec<Organization>,
    /// The full URL of the next page.
    pub next_page: Option<String>,
    /// `true` when the export has caught up with the present. The last `next_page` is
    /// the checkpoint to resume from later.
    pub end_of_stream: bool,
}

impl OrganizationExportPage {
    /// A page with the given contents (for tests and mocks).
    pub fn new(
        organizations: Vec<Organization>,
        next_page: Option<String>,
        end_of_stream: bool,
    ) -> Self {
        Self {
            organizations,
            next_page,
            end_of_stream,
        }
    }
}

/// A user to create.
///
/// Serialized with `skip_verify_email: true` so Zendesk sends no verification mail, and
/// without `role` (Zendesk's default is `end-user`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewUser {
    /// The user's name (required by Zendesk).
    pub name: String,
    /// The primary email address.
    pub email: String,
    /// The default organization, if any.
    pub organization_id: Option<u64>,
    /// Other top-level standard fields (`phone`, `external_id`, `notes`, ...). They cannot
    /// override `name`, `email`, `organization_id` or `skip_verify_email`.
    pub fields: JsonMap,
    /// Custom user fields by key.
    pub user_fields: JsonMap,
}

impl NewUser {
    /// A user with a name and a primary email.
    pub fn new(name: impl Into<String>, email: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            email: email.into(),
            ..Self::default()
        }
    }

    /// The JSON object sent for this user.
    pub fn to_json(&self) -> Value {
        let mut object = self.fields.clone();
        object.insert("name".into(), Value::String(self.name.clone()));
        object.insert("email".into(), Value::String(self.email.clone()));
        match self.organization_id {
            Some(id) => object.insert("organization_id".into(), id.into()),
            None => object.remove("organization_id"),
        };
        if !self.user_fields.is_empty() {
            object.insert(
                "user_fields".into(),
                Value::Object(self.user_fields.clone()),
            );
        }
        object.insert("skip_verify_email".into(), Value::Bool(true));
        Value::Object(object)
    }
}

/// Keys a [`UserUpdate`] refuses in [`UserUpdate::set_field`].
const FORBIDDEN_USER_UPDATE_KEYS: [&str; 5] = [
    "id",
    "email",
    "organization_id",
    "identities",
    "user_fields",
];

/// Changes to an existing user.
///
/// By construction it never carries `email` (on update Zendesk would add a secondary
/// identity rather than change the primary address) and carries `organization_id` only when
/// [`UserUpdate::set_organization_id`] is called (writing it removes the user's other
/// memberships).
#[derive(Debug, Clone, PartialEq)]
pub struct UserUpdate {
    id: u64,
    fields: JsonMap,
    user_fields: JsonMap,
    organization_id: Option<u64>,
}

impl UserUpdate {
    /// An update of user `id` that changes nothing yet.
    pub fn new(id: u64) -> Self {
        Self {
            id,
            fields: JsonMap::new(),
            user_fields: JsonMap::new(),
            organization_id: None,
        }
    }

    /// The user to update.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Sets a top-level standard field (`name`, `phone`, `external_id`, `notes`, ...).
    ///
    /// # Errors
    ///
    /// [`ZendeskError::InvalidRequest`] for `email`, `identities` (use the identities API),
    /// `id`, `organization_id` (use [`UserUpdate::set_organization_id`]) and `user_fields`
    /// (use [`UserUpdate::set_user_field`]).
    pub fn set_field(mut self, key: &str, value: Value) -> Result<Self, ZendeskError> {
        if FORBIDDEN_USER_UPDATE_KEYS
            .iter()
            .any(|k| k.eq_ignore_ascii_case(key))
        {
            return Err(ZendeskError::InvalidRequest(format!(
                "a user update cannot set `{key}`"
            )));
        }
        self.fields.insert(key.to_owned(), value);
        Ok(self)
    }

    /// Sets one custom user field.
    pub fn set_user_field(mut self, key: impl Into<String>, value: Value) -> Self {
        self.user_fields.insert(key.into(), value);
        self
    }

    /// Explicitly moves the user's default organization. On Zendesk this **removes every
    /// other membership** of the user; prefer the memberships API on multi-org accounts.
    pub fn set_organization_id(mut self, organization_id: u64) -> Self {
        self.organization_id = Some(organization_id);
        self
    }

    /// Whether the update changes nothing.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.user_fields.is_empty() && self.organization_id.is_none()
    }

    /// The JSON object sent for this update, with `id` when `with_id` (batch form).
    pub fn to_json(&self, with_id: bool) -> Value {
        let mut object = self.fields.clone();
        if with_id {
            object.insert("id".into(), self.id.into());
        }
        if !self.user_fields.is_empty() {
            object.insert(
                "user_fields".into(),
                Value::Object(self.user_fields.clone()),
            );
        }
        if let Some(org) = self.organization_id {
            object.insert("organization_id".into(), org.into());
        }
        Value::Object(object)
    }
}

/// An organization to create.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewOrganization {
    /// The unique name (required by Zendesk).
    pub name: String,
    /// The external id.
    pub external_id: Option<String>,
    /// Other top-level standard fields (`domain_names`, `details`, `notes`, ...).
    pub fields: JsonMap,
    /// Custom organization fields by key.
    pub organization_fields: JsonMap,
}

impl NewOrganization {
    /// An organization with a name.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// The JSON object sent for this organization.
    pub fn to_json(&self) -> Value {
        let mut object = self.fields.clone();
        object.insert("name".into(), Value::String(self.name.clone()));
        match &self.external_id {
            Some(external_id) => object.insert("external_id".into(), external_id.clone().into()),
            None => object.remove("external_id"),
        };
        if !self.organization_fields.is_empty() {
            object.insert(
                "organization_fields".into(),
                Value::Object(self.organization_fields.clone()),
            );
        }
        Value::Object(object)
    }
}

/// Changes to an existing organization.
#[derive(Debug, Clone, PartialEq)]
pub struct OrganizationUpdate {
    id: u64,
    fields: JsonMap,
    organization_fields: JsonMap,
}

impl OrganizationUpdate {
    /// An update of organization `id` that changes nothing yet.
    pub fn new(id: u64) -> Self {
        Self {
            id,
            fields: JsonMap::new(),
            organization_fields: JsonMap::new(),
        }
    }

    /// The organization to update.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Sets a top-level standard field (`details`, `notes`, `domain_names`, ...).
    ///
    /// # Errors
    ///
    /// [`ZendeskError::InvalidRequest`] for `id` and `organization_fields` (use
    /// [`OrganizationUpdate::set_organization_field`]).
    pub fn set_field(mut self, key: &str, value: Value) -> Result<Self, ZendeskError> {
        if ["id", "organization_fields"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(key))
        {
            return Err(ZendeskError::InvalidRequest(format!(
                "an organization update cannot set `{key}`"
            )));
        }
        self.fields.insert(key.to_owned(), value);
        Ok(self)
    }

    /// Sets one custom organization field.
    pub fn set_organization_field(mut self, key: impl Into<String>, value: Value) -> Self {
        self.organization_fields.insert(key.into(), value);
        self
    }

    /// Sets the external id.
    pub fn set_external_id(mut self, external_id: impl Into<String>) -> Self {
        self.fields
            .insert("external_id".into(), Value::String(external_id.into()));
        self
    }

    /// Renames the organization.
    pub fn set_name(mut self, name: impl Into<String>) -> Self {
        self.fields
            .insert("name".into(), Value::String(name.into()));
        self
    }

    /// Whether the update changes nothing.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.organization_fields.is_empty()
    }

    /// The JSON object sent for this update, with `id` when `with_id` (batch form).
    pub fn to_json(&self, with_id: bool) -> Value {
        let mut object = self.fields.clone();
        if with_id {
            object.insert("id".into(), self.id.into());
        }
        if !self.organization_fields.is_empty() {
            object.insert(
                "organization_fields".into(),
                Value::Object(self.organization_fields.clone()),
            );
        }
        Value::Object(object)
    }
}

/// A membership to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NewMembership {
    /// The member.
    pub user_id: u64,
    /// The organization.
    pub organization_id: u64,
    /// Make it the user's default organization; omitted from the request when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<bool>,
}

impl NewMembership {
    /// A membership without an opinion on `default`.
    pub fn new(user_id: u64, organization_id: u64) -> Self {
        Self {
            user_id,
            organization_id,
            default: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_tolerates_nulls_and_unknown_fields() {
        let user: User = serde_json::from_value(json!({
            "id": 1, "name": null, "user_fields": null, "active": null, "suspended": null,
            "shiny_new_field": 3, "notes": "n"
        }))
        .expect("user");
        assert_eq!(user.name, "");
        assert!(user.user_fields.is_empty());
        assert!(user.active);
        assert!(!user.suspended);
        assert_eq!(user.extra["shiny_new_field"], json!(3));
        assert_eq!(user.extra["notes"], json!("n"));
    }

    #[test]
    fn membership_default_null_is_false() {
        let m: OrganizationMembership = serde_json::from_value(
            json!({"id": 1, "user_id": 2, "organization_id": 3, "default": null}),
        )
        .expect("membership");
        assert!(!m.default);
    }

    #[test]
    fn new_user_body_is_exact() {
        let mut user = NewUser::new("Ann", "ann@x.com");
        user.fields.insert("phone".into(), json!("+123"));
        user.fields.insert("email".into(), json!("sneaky@x.com"));
        user.fields.insert("skip_verify_email".into(), json!(false));
        user.user_fields.insert("sf_id".into(), json!("003"));
        assert_eq!(
            user.to_json(),
            json!({"name": "Ann", "email": "ann@x.com", "phone": "+123",
                   "user_fields": {"sf_id": "003"}, "skip_verify_email": true})
        );
    }

    #[test]
    fn user_update_refuses_clobbering_fields() {
        for key in [
            "email",
            "Email",
            "organization_id",
            "identities",
            "id",
            "user_fields",
        ] {
            let result = UserUpdate::new(1).set_field(key, json!("x"));
            assert!(
                matches!(result, Err(ZendeskError::InvalidRequest(_))),
                "{key}"
            );
        }
    }

    #[test]
    fn user_update_body_carries_only_what_was_set() {
        let update = UserUpdate::new(7)
            .set_field("phone", json!("+1"))
            .expect("allowed")
            .set_user_field("tier", json!("gold"));
        assert_eq!(
            update.to_json(false),
            json!({"phone": "+1", "user_fields": {"tier": "gold"}})
        );
        assert_eq!(
            update.clone().set_organization_id(9).to_json(true),
            json!({"id": 7, "phone": "+1", "user_fields": {"tier": "gold"}, "organization_id": 9})
        );
    }

    #[test]
    fn new_membership_omits_unset_default() {
        assert_eq!(
            serde_json::to_value(NewMembership::new(1, 2)).expect("json"),
            json!({"user_id": 1, "organization_id": 2})
        );
        let mut m = NewMembership::new(1, 2);
        m.default = Some(true);
        assert_eq!(
            serde_json::to_value(m).expect("json"),
            json!({"user_id": 1, "organization_id": 2, "default": true})
        );
    }

    #[test]
    fn account_settings_flag_absent_is_false() {
        assert!(!AccountSettings::from_response(&json!({"settings": {}})).multiple_organizations);
        assert!(
            AccountSettings::from_response(
                &json!({"settings": {"user": {"multiple_organizations": true}}})
            )
            .multiple_organizations
        );
    }
}
