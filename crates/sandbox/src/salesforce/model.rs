//! Salesforce records as the simulator stores them, their ids and their SOQL field access.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An Account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SfAccount {
    /// 18-character Id starting with `001` (empty: assigned when added).
    pub id: String,
    /// `Name`.
    pub name: String,
    /// `Type` picklist, e.g. `Customer`.
    pub account_type: Option<String>,
    /// Custom field `Tier__c`.
    pub tier: Option<String>,
    /// `Phone`.
    pub phone: Option<String>,
    /// `Website`.
    pub website: Option<String>,
    /// `Industry`.
    pub industry: Option<String>,
    /// `CreatedDate` (the Unix epoch means "now, when added").
    pub created_date: DateTime<Utc>,
    /// `SystemModstamp` (the Unix epoch means "now, when added").
    pub system_modstamp: DateTime<Utc>,
    /// `IsDeleted`.
    pub is_deleted: bool,
    /// Further standard or custom fields of the schema (see the module docs), by API name.
    #[serde(default)]
    pub other_fields: BTreeMap<String, String>,
}

impl SfAccount {
    /// An account with only a name; Id and dates are assigned when added.
    pub fn new(name: &str) -> Self {
        Self {
            id: String::new(),
            name: name.to_owned(),
            account_type: None,
            tier: None,
            phone: None,
            website: None,
            industry: None,
            created_date: DateTime::UNIX_EPOCH,
            system_modstamp: DateTime::UNIX_EPOCH,
            is_deleted: false,
            other_fields: BTreeMap::new(),
        }
    }
}

/// A Contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SfContact {
    /// 18-character Id starting with `003` (empty: assigned when added).
    pub id: String,
    /// `FirstName`.
    pub first_name: Option<String>,
    /// `LastName` (required).
    pub last_name: String,
    /// `Email`.
    pub email: Option<String>,
    /// `Phone`.
    pub phone: Option<String>,
    /// `Title`.
    pub title: Option<String>,
    /// `Description`.
    pub description: Option<String>,
    /// `AccountId`, the primary (direct) account.
    pub account_id: Option<String>,
    /// `CreatedDate` (the Unix epoch means "now, when added").
    pub created_date: DateTime<Utc>,
    /// `SystemModstamp` (the Unix epoch means "now, when added").
    pub system_modstamp: DateTime<Utc>,
    /// `IsDeleted`.
    pub is_deleted: bool,
    /// Further standard or custom fields of the schema (see the module docs), by API name.
    #[serde(default)]
    pub other_fields: BTreeMap<String, String>,
}

impl SfContact {
    /// A contact with a name, an email and an optional account; Id and dates are assigned
    /// when added.
    pub fn new(
        first_name: &str,
        last_name: &str,
        email: Option<&str>,
        account_id: Option<&str>,
    ) -> Self {
        Self {
            id: String::new(),
            first_name: Some(first_name.to_owned()).filter(|f| !f.is_empty()),
            last_name: last_name.to_owned(),
            email: email.map(str::to_owned),
            phone: None,
            title: None,
            description: None,
            account_id: account_id.map(str::to_owned),
            created_date: DateTime::UNIX_EPOCH,
            system_modstamp: DateTime::UNIX_EPOCH,
            is_deleted: false,
            other_fields: BTreeMap::new(),
        }
    }
}

/// A Lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SfLead {
    /// 18-character Id starting with `00Q` (empty: assigned when added).
    pub id: String,
    /// `FirstName`.
    pub first_name: Option<String>,
    /// `LastName` (required).
    pub last_name: String,
    /// `Email`.
    pub email: Option<String>,
    /// `Phone`.
    pub phone: Option<String>,
    /// `Title`.
    pub title: Option<String>,
    /// `Company` (required).
    pub company: String,
    /// `Status`.
    pub status: String,
    /// `IsConverted`.
    pub is_converted: bool,
    /// `ConvertedContactId`.
    pub converted_contact_id: Option<String>,
    /// `ConvertedAccountId`.
    pub converted_account_id: Option<String>,
    /// `CreatedDate` (the Unix epoch means "now, when added").
    pub created_date: DateTime<Utc>,
    /// `SystemModstamp` (the Unix epoch means "now, when added").
    pub system_modstamp: DateTime<Utc>,
    /// `IsDeleted`.
    pub is_deleted: bool,
    /// Further standard or custom fields of the schema (see the module docs), by API name.
    #[serde(default)]
    pub other_fields: BTreeMap<String, String>,
}

impl SfLead {
    /// An open lead; Id and dates are assigned when added.
    pub fn new(first_name: &str, last_name: &str, email: Option<&str>, company: &str) -> Self {
        Self {
            id: String::new(),
            first_name: Some(first_name.to_owned()).filter(|f| !f.is_empty()),
            last_name: last_name.to_owned(),
            email: email.map(str::to_owned),
            phone: None,
            title: None,
            company: company.to_owned(),
            status: "Open - Not Contacted".into(),
            is_converted: false,
            converted_contact_id: None,
            converted_account_id: None,
            created_date: DateTime::UNIX_EPOCH,
            system_modstamp: DateTime::UNIX_EPOCH,
            is_deleted: false,
            other_fields: BTreeMap::new(),
        }
    }
}

/// An AccountContactRelation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SfRelation {
    /// 18-character Id starting with `07k` (empty: assigned when added).
    pub id: String,
    /// `AccountId`.
    pub account_id: String,
    /// `ContactId`.
    pub contact_id: String,
    /// `IsDirect`: the contact's primary account.
    pub is_direct: bool,
    /// `IsActive`.
    pub is_active: bool,
    /// `Roles` (`;`-separated).
    pub roles: Option<String>,
    /// `CreatedDate` (the Unix epoch means "now, when added").
    pub created_date: DateTime<Utc>,
    /// `SystemModstamp` (the Unix epoch means "now, when added").
    pub system_modstamp: DateTime<Utc>,
    /// `IsDeleted`.
    pub is_deleted: bool,
}

impl SfRelation {
    /// An indirect relation; Id and dates are assigned when added.
    pub fn indirect(account_id: &str, contact_id: &str, is_active: bool) -> Self {
        Self {
            id: String::new(),
            account_id: account_id.to_owned(),
            contact_id: contact_id.to_owned(),
            is_direct: false,
            is_active,
            roles: None,
            created_date: DateTime::UNIX_EPOCH,
            system_modstamp: DateTime::UNIX_EPOCH,
            is_deleted: false,
        }
    }
}

/// Everything the Salesforce simulator holds, for assertions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SalesforceSnapshot {
    /// Accounts by Id.
    pub accounts: Vec<SfAccount>,
    /// Contacts by Id.
    pub contacts: Vec<SfContact>,
    /// Leads by Id.
    pub leads: Vec<SfLead>,
    /// AccountContactRelations by Id.
    pub relations: Vec<SfRelation>,
}

/// Builds an 18-character Salesforce Id: 3-char key prefix, 12 base-62 digits of `n`, and the
/// 3-character case-safety suffix Salesforce computes. Ids of one prefix sort like `n`.
pub fn sf_id(prefix: &str, n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut body = [b'0'; 12];
    let mut rest = n;
    for slot in body.iter_mut().rev() {
        *slot = DIGITS[(rest % 62) as usize];
        rest /= 62;
    }
    let mut id = String::with_capacity(18);
    id.push_str(&prefix[..prefix.len().min(3)]);
    id.push_str(&String::from_utf8_lossy(&body));
    let id15: Vec<u8> = id.bytes().collect();
    const SUFFIX: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    for chunk in id15.chunks(5).take(3) {
        let mut bits = 0usize;
        for (i, c) in chunk.iter().enumerate() {
            if c.is_ascii_uppercase() {
                bits |= 1 << i;
            }
        }
        id.push(SUFFIX[bits] as char);
    }
    id
}

/// Salesforce dateTime format in JSON responses.
pub(crate) fn sf_datetime(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// A field value as SOQL sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val<'a> {
    Null,
    Str(Cow<'a, str>),
    Bool(bool),
    Dt(DateTime<Utc>),
}

impl<'a> Val<'a> {
    fn opt(s: &'a Option<String>) -> Self {
        s.as_deref()
            .map_or(Val::Null, |s| Val::Str(Cow::Borrowed(s)))
    }

    fn str(s: &'a str) -> Self {
        Val::Str(Cow::Borrowed(s))
    }
}

/// Field types, for literal type checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldType {
    Id,
    Text,
    Number,
    Bool,
    DateTime,
}

/// The queryable objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Obj {
    Account,
    Contact,
    Lead,
    Relation,
}

use FieldType::{Bool, DateTime as Dt, Id, Number as Num, Text};

const COMMON: &[(&str, FieldType)] = &[
    ("Id", Id),
    ("IsDeleted", Bool),
    ("CreatedDate", Dt),
    ("LastModifiedDate", Dt),
    ("SystemModstamp", Dt),
];

impl Obj {
    pub(crate) fn api_name(self) -> &'static str {
        match self {
            Obj::Account => "Account",
            Obj::Contact => "Contact",
            Obj::Lead => "Lead",
            Obj::Relation => "AccountContactRelation",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        [Obj::Account, Obj::Contact, Obj::Lead, Obj::Relation]
            .into_iter()
            .find(|o| o.api_name().eq_ignore_ascii_case(name))
    }

    fn own_fields(self) -> &'static [(&'static str, FieldType)] {
        match self {
            Obj::Account => &[
                ("Name", Text),
                ("Type", Text),
                ("Tier__c", Text),
                ("Phone", Text),
                ("Website", Text),
                ("Industry", Text),
                ("Description", Text),
                ("AccountNumber", Text),
                ("BillingCity", Text),
                ("BillingCountry", Text),
                ("NumberOfEmployees", Num),
                ("AnnualRevenue", Num),
                ("OwnerId", Id),
                ("ParentId", Id),
                ("Region__c", Text),
            ],
            Obj::Contact => &[
                ("FirstName", Text),
                ("LastName", Text),
                ("Name", Text),
                ("Email", Text),
                ("Phone", Text),
                ("Title", Text),
                ("Description", Text),
                ("AccountId", Id),
                ("MasterRecordId", Id),
                ("MobilePhone", Text),
                ("Department", Text),
                ("MailingCity", Text),
                ("MailingCountry", Text),
                ("LeadSource", Text),
                ("OwnerId", Id),
                ("Region__c", Text),
            ],
            Obj::Lead => &[
                ("FirstName", Text),
                ("LastName", Text),
                ("Name", Text),
                ("Email", Text),
                ("Phone", Text),
                ("Title", Text),
                ("Company", Text),
                ("Status", Text),
                ("IsConverted", Bool),
                ("ConvertedContactId", Id),
                ("ConvertedAccountId", Id),
                ("MasterRecordId", Id),
                ("LeadSource", Text),
                ("Industry", Text),
                ("Rating", Text),
                ("City", Text),
                ("Country", Text),
                ("NumberOfEmployees", Num),
                ("OwnerId", Id),
                ("Region__c", Text),
            ],
            Obj::Relation => &[
                ("AccountId", Id),
                ("ContactId", Id),
                ("IsDirect", Bool),
                ("IsActive", Bool),
                ("Roles", Text),
            ],
        }
    }

    /// Canonical name and type of a field (case-insensitive lookup).
    pub(crate) fn field(self, name: &str) -> Option<(&'static str, FieldType)> {
        COMMON
            .iter()
            .chain(self.own_fields())
            .find(|(f, _)| f.eq_ignore_ascii_case(name))
            .copied()
    }

    /// Child-to-parent relationships: (relationship name, foreign key field, parent object).
    pub(crate) fn relationship(self, name: &str) -> Option<(&'static str, &'static str, Obj)> {
        let all: &[(&str, &str, Obj)] = match self {
            Obj::Contact => &[("Account", "AccountId", Obj::Account)],
            Obj::Relation => &[
                ("Account", "AccountId", Obj::Account),
                ("Contact", "ContactId", Obj::Contact),
            ],
            Obj::Lead => &[
                ("ConvertedContact", "ConvertedContactId", Obj::Contact),
                ("ConvertedAccount", "ConvertedAccountId", Obj::Account),
            ],
            Obj::Account => &[],
        };
        all.iter()
            .find(|(r, _, _)| r.eq_ignore_ascii_case(name))
            .copied()
    }

    /// Every field name, for `sobjects` describe output.
    pub(crate) fn field_names(self) -> impl Iterator<Item = &'static str> {
        COMMON.iter().chain(self.own_fields()).map(|(n, _)| *n)
    }
}

/// Read access by canonical field name.
pub(crate) trait Row {
    fn get(&self, field: &str) -> Val<'_>;
    fn id(&self) -> &str;
}

impl Row for SfAccount {
    fn get(&self, field: &str) -> Val<'_> {
        match field {
            "Id" => Val::str(&self.id),
            "IsDeleted" => Val::Bool(self.is_deleted),
            "CreatedDate" => Val::Dt(self.created_date),
            "LastModifiedDate" | "SystemModstamp" => Val::Dt(self.system_modstamp),
            "Name" => Val::str(&self.name),
            "Type" => Val::opt(&self.account_type),
            "Tier__c" => Val::opt(&self.tier),
            "Phone" => Val::opt(&self.phone),
            "Website" => Val::opt(&self.website),
            "Industry" => Val::opt(&self.industry),
            other => other_field(&self.other_fields, other),
        }
    }

    fn id(&self) -> &str {
        &self.id
    }
}

fn other_field<'a>(fields: &'a BTreeMap<String, String>, name: &str) -> Val<'a> {
    fields.get(name).map_or(Val::Null, |v| Val::str(v))
}

fn full_name<'a>(first: &'a Option<String>, last: &'a str) -> Val<'a> {
    match first {
        Some(f) => Val::Str(Cow::Owned(format!("{f} {last}"))),
        None => Val::str(last),
    }
}

impl Row for SfContact {
    fn get(&self, field: &str) -> Val<'_> {
        match field {
            "Id" => Val::str(&self.id),
            "IsDeleted" => Val::Bool(self.is_deleted),
            "CreatedDate" => Val::Dt(self.created_date),
            "LastModifiedDate" | "SystemModstamp" => Val::Dt(self.system_modstamp),
            "FirstName" => Val::opt(&self.first_name),
            "LastName" => Val::str(&self.last_name),
            "Name" => full_name(&self.first_name, &self.last_name),
            "Email" => Val::opt(&self.email),
            "Phone" => Val::opt(&self.phone),
            "Title" => Val::opt(&self.title),
            "Description" => Val::opt(&self.description),
            "AccountId" => Val::opt(&self.account_id),
            other => other_field(&self.other_fields, other),
        }
    }

    fn id(&self) -> &str {
        &self.id
    }
}

impl Row for SfLead {
    fn get(&self, field: &str) -> Val<'_> {
        match field {
            "Id" => Val::str(&self.id),
            "IsDeleted" => Val::Bool(self.is_deleted),
            "CreatedDate" => Val::Dt(self.created_date),
            "LastModifiedDate" | "SystemModstamp" => Val::Dt(self.system_modstamp),
            "FirstName" => Val::opt(&self.first_name),
            "LastName" => Val::str(&self.last_name),
            "Name" => full_name(&self.first_name, &self.last_name),
            "Email" => Val::opt(&self.email),
            "Phone" => Val::opt(&self.phone),
            "Title" => Val::opt(&self.title),
            "Company" => Val::str(&self.company),
            "Status" => Val::str(&self.status),
            "IsConverted" => Val::Bool(self.is_converted),
            "ConvertedContactId" => Val::opt(&self.converted_contact_id),
            "ConvertedAccountId" => Val::opt(&self.converted_account_id),
            other => other_field(&self.other_fields, other),
        }
    }

    fn id(&self) -> &str {
        &self.id
    }
}

impl Row for SfRelation {
    fn get(&self, field: &str) -> Val<'_> {
        match field {
            "Id" => Val::str(&self.id),
            "IsDeleted" => Val::Bool(self.is_deleted),
            "CreatedDate" => Val::Dt(self.created_date),
            "LastModifiedDate" | "SystemModstamp" => Val::Dt(self.system_modstamp),
            "AccountId" => Val::str(&self.account_id),
            "ContactId" => Val::str(&self.contact_id),
            "IsDirect" => Val::Bool(self.is_direct),
            "IsActive" => Val::Bool(self.is_active),
            "Roles" => Val::opt(&self.roles),
            _ => Val::Null,
        }
    }

    fn id(&self) -> &str {
        &self.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_prefix_length_and_order() {
        let a = sf_id("003", 1);
        let b = sf_id("003", 62);
        assert_eq!(a.len(), 18);
        assert!(a.starts_with("003"));
        assert!(a < b);
        // All-digit 15-char ids have no uppercase letters, so the suffix is "AAA".
        assert_eq!(&sf_id("003", 0)[15..], "AAA");
    }
}
