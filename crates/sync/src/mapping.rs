//! Field mappings and the conversions between the clients' wire records and the domain's
//! records: which Salesforce fields are read, and which Zendesk fields they write.

use std::collections::BTreeMap;

use domain::{FieldValues, PersonKind, SalesforceId};
use salesforce_client::{Account, Contact, Lead};
use serde_json::{Map, Value};
use zendesk_client::{NewOrganization, NewUser, OrganizationUpdate, UserUpdate};

/// Zendesk field path (`name`, `phone`, `user_fields.tier`, ...) to the Salesforce fields
/// it is made of. One field is copied as it is; several (the default user name from
/// `FirstName` and `LastName`) are joined with a space, skipping blank ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMapping {
    /// User fields, from contacts or leads.
    pub user: BTreeMap<String, Vec<String>>,
    /// Organization fields, from accounts.
    pub organization: BTreeMap<String, Vec<String>>,
}

impl Default for FieldMapping {
    /// The defaults of docs/operator.md: user name from FirstName and LastName, phone from Phone;
    /// organization name from Name.
    fn default() -> Self {
        let fields = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        Self {
            user: [
                ("name".to_owned(), fields(&["FirstName", "LastName"])),
                ("phone".to_owned(), fields(&["Phone"])),
            ]
            .into(),
            organization: [("name".to_owned(), fields(&["Name"]))].into(),
        }
    }
}

impl FieldMapping {
    /// Salesforce fields the user mapping reads (beyond those the rules need).
    pub fn person_fields(&self) -> Vec<&str> {
        source_fields(&self.user)
    }

    /// Salesforce fields the organization mapping reads.
    pub fn account_fields(&self) -> Vec<&str> {
        source_fields(&self.organization)
    }
}

impl FieldMapping {
    /// The mapping entry that writes Zendesk field `field` of `object`, as the
    /// configuration spells it (`[mapping.user] "user_fields.tier" = "Tier__c"`), or `None`
    /// when no mapping writes it.
    pub fn entry_for(&self, object: crate::writes::ObjectKind, field: &str) -> Option<String> {
        use crate::writes::ObjectKind;
        let (table, map) = match object {
            ObjectKind::User => ("user", &self.user),
            ObjectKind::Organization => ("organization", &self.organization),
            ObjectKind::Membership => return None,
        };
        let sources = map.get(field)?;
        let sources = match sources.as_slice() {
            [one] => format!("{one:?}"),
            many => format!("{many:?}"),
        };
        Some(format!("[mapping.{table}] {field:?} = {sources}"))
    }
}

fn source_fields(map: &BTreeMap<String, Vec<String>>) -> Vec<&str> {
    let mut fields: Vec<&str> = map.values().flatten().map(String::as_str).collect();
    fields.sort_unstable();
    fields.dedup();
    fields
}

/// The value at a field name or relationship path (`Owner.Name`), case-insensitively as
/// Salesforce names are; JSON `null` when absent.
fn value_at(record: &Map<String, Value>, path: &str) -> Value {
    let mut parts = path.split('.');
    let Some(first) = parts.next() else {
        return Value::Null;
    };
    let mut current = lookup(record, first);
    for part in parts {
        current = match current {
            Value::Object(map) => lookup(&map, part),
            _ => Value::Null,
        };
    }
    current
}

fn lookup(record: &Map<String, Value>, name: &str) -> Value {
    record
        .get(name)
        .or_else(|| {
            record
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .cloned()
        .unwrap_or(Value::Null)
}

/// Longest name Zendesk keeps for users and organizations; longer Salesforce values are cut
/// so the record syncs instead of failing validation on every run.
pub const MAX_NAME_CHARS: usize = 255;

fn joined(values: Vec<Value>) -> Value {
    let text = values
        .iter()
        .filter_map(|v| match v {
            Value::Null => None,
            Value::String(s) => Some(s.trim().to_owned()),
            other => Some(other.to_string()),
        })
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if text.is_empty() {
        Value::Null
    } else {
        Value::String(text)
    }
}

fn clip_name(fields: &mut FieldValues) {
    if let Some(Value::String(name)) = fields.get_mut("name")
        && name.chars().count() > MAX_NAME_CHARS
    {
        *name = name.chars().take(MAX_NAME_CHARS).collect();
    }
}

fn mapped(mapping: &BTreeMap<String, Vec<String>>, record: &Map<String, Value>) -> FieldValues {
    let mut fields: FieldValues = mapping
        .iter()
        .map(|(zendesk, sources)| {
            let value = match sources.as_slice() {
                [one] => value_at(record, one),
                many => joined(many.iter().map(|name| value_at(record, name)).collect()),
            };
            (zendesk.clone(), value)
        })
        .collect();
    clip_name(&mut fields);
    fields
}

/// A record that could not be converted: its Id as Salesforce sent it, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    /// The Id as received.
    pub id: String,
    /// What is wrong.
    pub reason: String,
}

fn parse_id(raw: &str, what: &str) -> Result<SalesforceId, BadRecord> {
    SalesforceId::parse(raw).map_err(|err| BadRecord {
        id: raw.to_owned(),
        reason: format!("{what}: {err}"),
    })
}

fn optional_id(raw: Option<&str>, what: &str) -> Result<Option<SalesforceId>, BadRecord> {
    raw.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| parse_id(s, what))
        .transpose()
}

/// A contact as the domain sees it.
///
/// # Errors
/// A [`BadRecord`] when its Id or AccountId is not a Salesforce Id.
pub fn person_from_contact(
    contact: &Contact,
    mapping: &FieldMapping,
) -> Result<domain::Person, BadRecord> {
    let id = parse_id(&contact.id, "Id")?;
    let mut record = contact.fields.clone();
    record.insert("Email".into(), contact.email.clone().into());
    record.insert("FirstName".into(), contact.first_name.clone().into());
    record.insert("LastName".into(), contact.last_name.clone().into());
    Ok(domain::Person {
        account_id: optional_id(contact.account_id.as_deref(), "AccountId").map_err(|e| {
            BadRecord {
                id: contact.id.clone(),
                ..e
            }
        })?,
        id,
        kind: PersonKind::Contact,
        email: contact.email.clone(),
        created_date: contact.created_date,
        converted: false,
        fields: mapped(&mapping.user, &record),
    })
}

/// A lead as the domain sees it: a person without an account.
///
/// # Errors
/// A [`BadRecord`] when its Id is not a Salesforce Id.
pub fn person_from_lead(lead: &Lead, mapping: &FieldMapping) -> Result<domain::Person, BadRecord> {
    let mut record = lead.fields.clone();
    record.insert("Email".into(), lead.email.clone().into());
    record.insert("FirstName".into(), lead.first_name.clone().into());
    record.insert("LastName".into(), lead.last_name.clone().into());
    Ok(domain::Person {
        id: parse_id(&lead.id, "Id")?,
        kind: PersonKind::Lead,
        email: lead.email.clone(),
        account_id: None,
        created_date: lead.created_date,
        converted: lead.is_converted,
        fields: mapped(&mapping.user, &record),
    })
}

/// An account as the domain sees it.
///
/// # Errors
/// A [`BadRecord`] when its Id is not a Salesforce Id.
pub fn account_from(
    account: &Account,
    mapping: &FieldMapping,
) -> Result<domain::Account, BadRecord> {
    let mut record = account.fields.clone();
    record.insert("Name".into(), account.name.clone().into());
    Ok(domain::Account {
        id: parse_id(&account.id, "Id")?,
        fields: mapped(&mapping.organization, &record),
    })
}

/// An account-contact relation as the domain sees it.
///
/// # Errors
/// A [`BadRecord`] when one of its Ids is not a Salesforce Id.
pub fn relation_from(
    relation: &salesforce_client::AccountContactRelation,
) -> Result<domain::Relation, BadRecord> {
    let wrap = |e: BadRecord| BadRecord {
        id: relation.id.clone(),
        ..e
    };
    Ok(domain::Relation {
        id: parse_id(&relation.id, "Id")?,
        account_id: parse_id(&relation.account_id, "AccountId").map_err(wrap)?,
        contact_id: parse_id(&relation.contact_id, "ContactId").map_err(wrap)?,
        is_direct: relation.is_direct,
        is_active: relation.is_active,
    })
}

/// Where a Zendesk field path lives on a record: a standard field, or inside the custom
/// fields object (`user_fields` / `organization_fields`).
enum Target<'a> {
    Standard(&'a str),
    Custom(&'a str),
}

fn target<'a>(path: &'a str, custom_prefix: &str) -> Target<'a> {
    match path
        .strip_prefix(custom_prefix)
        .and_then(|rest| rest.strip_prefix('.'))
    {
        Some(key) => Target::Custom(key),
        None => Target::Standard(path),
    }
}

fn current_value(
    standard: impl Fn(&str) -> Option<Value>,
    custom: &Map<String, Value>,
    path: &str,
    prefix: &str,
) -> Value {
    match target(path, prefix) {
        Target::Custom(key) => custom.get(key).cloned().unwrap_or(Value::Null),
        Target::Standard(field) => standard(field).unwrap_or(Value::Null),
    }
}

/// The current values of the mapped user fields of a Zendesk user.
pub fn user_fields(user: &zendesk_client::User, mapping: &FieldMapping) -> FieldValues {
    let standard = |field: &str| match field {
        "name" => Some(Value::String(user.name.clone())),
        "phone" => Some(user.phone.clone().into()),
        "external_id" => Some(user.external_id.clone().into()),
        other => user.extra.get(other).cloned(),
    };
    mapping
        .user
        .keys()
        .map(|path| {
            (
                path.clone(),
                current_value(standard, &user.user_fields, path, "user_fields"),
            )
        })
        .collect()
}

/// The current values of the mapped organization fields of a Zendesk organization.
pub fn organization_fields(
    org: &zendesk_client::Organization,
    mapping: &FieldMapping,
) -> FieldValues {
    let standard = |field: &str| match field {
        "name" => Some(Value::String(org.name.clone())),
        other => org.extra.get(other).cloned(),
    };
    mapping
        .organization
        .keys()
        .map(|path| {
            (
                path.clone(),
                current_value(
                    standard,
                    &org.organization_fields,
                    path,
                    "organization_fields",
                ),
            )
        })
        .collect()
}

/// The user to create for a group.
pub fn new_user(
    email: &domain::Email,
    fields: &FieldValues,
    organization: Option<domain::OrganizationId>,
) -> NewUser {
    let name = fields
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        // Zendesk requires a name: a contact without one is named after its email.
        .unwrap_or(email.as_str());
    let mut user = NewUser::new(name, email.as_str());
    user.organization_id = organization.map(|o| o.0);
    for (path, value) in fields {
        match target(path, "user_fields") {
            Target::Custom(key) => {
                user.user_fields.insert(key.to_owned(), value.clone());
            }
            Target::Standard("name") => {}
            Target::Standard(field) => {
                user.fields.insert(field.to_owned(), value.clone());
            }
        }
    }
    user
}

/// The update of an existing user: changed fields and, when asked, its organization.
///
/// # Errors
/// A message naming a field Zendesk does not let an update write.
pub fn user_update(
    id: domain::UserId,
    fields: &FieldValues,
    organization: Option<domain::OrganizationId>,
) -> Result<UserUpdate, String> {
    let mut update = UserUpdate::new(id.0);
    for (path, value) in fields {
        update = match target(path, "user_fields") {
            Target::Custom(key) => update.set_user_field(key, value.clone()),
            Target::Standard(field) => update
                .set_field(field, value.clone())
                .map_err(|e| e.to_string())?,
        };
    }
    if let Some(organization) = organization {
        update = update.set_organization_id(organization.0);
    }
    Ok(update)
}

/// The organization to create for an account.
pub fn new_organization(account: &SalesforceId, fields: &FieldValues) -> NewOrganization {
    let name = fields
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim();
    let mut org = NewOrganization::new(name);
    org.external_id = Some(account.to_string());
    for (path, value) in fields {
        match target(path, "organization_fields") {
            Target::Custom(key) => {
                org.organization_fields
                    .insert(key.to_owned(), value.clone());
            }
            Target::Standard("name") => {}
            Target::Standard(field) => {
                org.fields.insert(field.to_owned(), value.clone());
            }
        }
    }
    org
}

/// The update of an organization: changed fields, and its link when `link` is set.
///
/// # Errors
/// A message naming a field Zendesk does not let an update write.
pub fn organization_update(
    id: domain::OrganizationId,
    fields: &FieldValues,
    link: Option<&SalesforceId>,
) -> Result<OrganizationUpdate, String> {
    let mut update = OrganizationUpdate::new(id.0);
    for (path, value) in fields {
        update = match target(path, "organization_fields") {
            Target::Custom(key) => update.set_organization_field(key, value.clone()),
            Target::Standard("name") => update.set_name(value.as_str().unwrap_or_default().trim()),
            Target::Standard(field) => update
                .set_field(field, value.clone())
                .map_err(|e| e.to_string())?,
        };
    }
    if let Some(account) = link {
        update = update.set_external_id(account.to_string());
    }
    Ok(update)
}

/// The client's name for the synced object.
pub fn client_object(object: domain::PersonObject) -> salesforce_client::PersonObject {
    match object {
        domain::PersonObject::Contact => salesforce_client::PersonObject::Contact,
        domain::PersonObject::Lead => salesforce_client::PersonObject::Lead,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn contact(value: Value) -> Contact {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn default_mapping_joins_names_and_reads_phone() {
        let mut mapping = FieldMapping::default();
        mapping.user.insert(
            "user_fields.tier".to_owned(),
            vec!["Account.Tier__c".to_owned()],
        );
        let c = contact(json!({
            "Id": "003000000000001AAA", "Email": "a@b.io", "FirstName": " Ann ", "LastName": "Lee",
            "Phone": "+1 555", "AccountId": null, "Account": {"Tier__c": "gold"}
        }));
        let person = person_from_contact(&c, &mapping).unwrap();
        assert_eq!(person.fields.get("name"), Some(&json!("Ann Lee")));
        assert_eq!(person.fields.get("phone"), Some(&json!("+1 555")));
        assert_eq!(person.fields.get("user_fields.tier"), Some(&json!("gold")));
        assert_eq!(
            mapping.person_fields(),
            vec!["Account.Tier__c", "FirstName", "LastName", "Phone"]
        );
    }

    #[test]
    fn long_names_are_cut_and_missing_names_fall_back_to_the_email() {
        let c = contact(
            json!({"Id": "003000000000001AAA", "Email": "a@b.io", "LastName": "x".repeat(300)}),
        );
        let person = person_from_contact(&c, &FieldMapping::default()).unwrap();
        assert_eq!(
            person.fields["name"].as_str().unwrap().chars().count(),
            MAX_NAME_CHARS
        );
        let email = domain::Email::parse("a@b.io").unwrap();
        let user = new_user(&email, &[("name".to_owned(), Value::Null)].into(), None);
        assert_eq!(user.name, "a@b.io");
    }

    #[test]
    fn a_bad_id_is_a_bad_record_not_a_panic() {
        let c = contact(json!({"Id": "003'; DROP", "Email": "a@b.io"}));
        let err = person_from_contact(&c, &FieldMapping::default()).unwrap_err();
        assert_eq!(err.id, "003'; DROP");
    }

    #[test]
    fn updates_put_custom_fields_in_their_object_and_never_email() {
        let fields: FieldValues = [
            ("phone".to_owned(), json!("1")),
            ("user_fields.tier".to_owned(), json!("gold")),
        ]
        .into();
        let update = user_update(domain::UserId(5), &fields, None).unwrap();
        assert_eq!(
            update.to_json(true),
            json!({"id": 5, "phone": "1", "user_fields": {"tier": "gold"}})
        );
        let bad: FieldValues = [("email".to_owned(), json!("x@y.io"))].into();
        assert!(user_update(domain::UserId(5), &bad, None).is_err());
    }
}
