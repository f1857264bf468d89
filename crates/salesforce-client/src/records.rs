//! Typed records for Account, Contact, Lead and AccountContactRelation as the query API returns them.
//!
//! Each record names the standard fields the sync relies on; every other selected field
//! (mapped custom fields such as `Tier__c`, relationship objects such as `Account`) is
//! kept in `fields`. The per-record `attributes` object is dropped, and unknown fields
//! never fail decoding.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// A Salesforce Account (maps to a Zendesk organization).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// The 18-character record id.
    #[serde(rename = "Id")]
    pub id: String,
    /// `Name`.
    #[serde(rename = "Name", default)]
    pub name: Option<String>,
    /// `SystemModstamp`: changes with every modification, including automated ones.
    #[serde(
        rename = "SystemModstamp",
        default,
        deserialize_with = "datetime::option"
    )]
    pub system_modstamp: Option<DateTime<Utc>>,
    /// Every other selected field, by API name.
    #[serde(flatten, deserialize_with = "without_attributes")]
    pub fields: Map<String, Value>,
}

/// A Salesforce Contact (maps to a Zendesk user).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// The 18-character record id.
    #[serde(rename = "Id")]
    pub id: String,
    /// `Email` (not unique in Salesforce).
    #[serde(rename = "Email", default)]
    pub email: Option<String>,
    /// `FirstName`.
    #[serde(rename = "FirstName", default)]
    pub first_name: Option<String>,
    /// `LastName`.
    #[serde(rename = "LastName", default)]
    pub last_name: Option<String>,
    /// `AccountId`: the primary ("direct") account.
    #[serde(rename = "AccountId", default)]
    pub account_id: Option<String>,
    /// `CreatedDate`.
    #[serde(rename = "CreatedDate", default, deserialize_with = "datetime::option")]
    pub created_date: Option<DateTime<Utc>>,
    /// `SystemModstamp`.
    #[serde(
        rename = "SystemModstamp",
        default,
        deserialize_with = "datetime::option"
    )]
    pub system_modstamp: Option<DateTime<Utc>>,
    /// `IsDeleted`: true for a record in the Recycle Bin, which only `queryAll` returns.
    /// Not among [`CONTACT_FIELDS`]: `false` unless the query selected it.
    #[serde(rename = "IsDeleted", default, skip_serializing_if = "is_false")]
    pub is_deleted: bool,
    /// Every other selected field, by API name.
    #[serde(flatten, deserialize_with = "without_attributes")]
    pub fields: Map<String, Value>,
}

/// A Salesforce Lead (maps to a Zendesk user when leads are synced).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lead {
    /// The 18-character record id.
    #[serde(rename = "Id")]
    pub id: String,
    /// `Email`.
    #[serde(rename = "Email", default)]
    pub email: Option<String>,
    /// `FirstName`.
    #[serde(rename = "FirstName", default)]
    pub first_name: Option<String>,
    /// `LastName`.
    #[serde(rename = "LastName", default)]
    pub last_name: Option<String>,
    /// `CreatedDate`.
    #[serde(rename = "CreatedDate", default, deserialize_with = "datetime::option")]
    pub created_date: Option<DateTime<Utc>>,
    /// `SystemModstamp`.
    #[serde(
        rename = "SystemModstamp",
        default,
        deserialize_with = "datetime::option"
    )]
    pub system_modstamp: Option<DateTime<Utc>>,
    /// `IsConverted`: a converted lead duplicates its Contact.
    #[serde(rename = "IsConverted", default)]
    pub is_converted: bool,
    /// `ConvertedContactId`: the Contact a converted lead became.
    #[serde(rename = "ConvertedContactId", default)]
    pub converted_contact_id: Option<String>,
    /// `IsDeleted`: true for a record in the Recycle Bin, which only `queryAll` returns.
    /// Not among [`LEAD_FIELDS`]: `false` unless the query selected it.
    #[serde(rename = "IsDeleted", default, skip_serializing_if = "is_false")]
    pub is_deleted: bool,
    /// Every other selected field, by API name.
    #[serde(flatten, deserialize_with = "without_attributes")]
    pub fields: Map<String, Value>,
}

/// A Salesforce AccountContactRelation ("Contacts to Multiple Accounts").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountContactRelation {
    /// The 18-character record id.
    #[serde(rename = "Id")]
    pub id: String,
    /// `AccountId`.
    #[serde(rename = "AccountId")]
    pub account_id: String,
    /// `ContactId`.
    #[serde(rename = "ContactId")]
    pub contact_id: String,
    /// `IsDirect`: true for the contact's primary account (`Contact.AccountId`).
    #[serde(rename = "IsDirect", default)]
    pub is_direct: bool,
    /// `IsActive`.
    #[serde(rename = "IsActive", default)]
    pub is_active: bool,
    /// `SystemModstamp`.
    #[serde(
        rename = "SystemModstamp",
        default,
        deserialize_with = "datetime::option"
    )]
    pub system_modstamp: Option<DateTime<Utc>>,
}

/// Fields every [`Account`] query selects.
pub const ACCOUNT_FIELDS: &[&str] = &["Id", "Name", "SystemModstamp"];
/// Fields every [`Contact`] query selects.
pub const CONTACT_FIELDS: &[&str] = &[
    "Id",
    "Email",
    "FirstName",
    "LastName",
    "AccountId",
    "CreatedDate",
    "SystemModstamp",
];
/// Fields every [`Lead`] query selects.
pub const LEAD_FIELDS: &[&str] = &[
    "Id",
    "Email",
    "FirstName",
    "LastName",
    "CreatedDate",
    "SystemModstamp",
    "IsConverted",
    "ConvertedContactId",
];
/// Fields every [`AccountContactRelation`] query selects.
pub const RELATION_FIELDS: &[&str] = &[
    "Id",
    "AccountId",
    "ContactId",
    "IsDirect",
    "IsActive",
    "SystemModstamp",
];

/// Serde helper: leaves `IsDeleted: false` out of serialized records, so records read
/// without the field round-trip unchanged.
fn is_false(value: &bool) -> bool {
    !*value
}

fn without_attributes<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    let mut map = Map::deserialize(d)?;
    map.remove("attributes");
    Ok(map)
}

/// Parsing of Salesforce dateTime values.
pub mod datetime {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer};

    /// Parses `2013-05-20T20:49:32.000+0000` (what the API sends), RFC 3339 with `Z` or
    /// `+00:00`, and other offsets, into UTC.
    pub fn parse(s: &str) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(s)
            .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
            .ok()
            .map(|dt| dt.with_timezone(&Utc))
    }

    /// Serde helper for `Option<DateTime<Utc>>` fields holding Salesforce dateTimes or `null`.
    ///
    /// # Errors
    ///
    /// Fails when the value is neither `null` nor a dateTime string [`parse`] accepts.
    pub fn option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => parse(&s).map(Some).ok_or_else(|| {
                serde::de::Error::custom(format!("invalid Salesforce dateTime {s:?}"))
            }),
        }
    }

    /// Formats a dateTime the way the API sends it: `2013-05-20T20:49:32.000+0000`.
    pub fn format(t: &DateTime<Utc>) -> String {
        t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
    }

    /// `#[serde(with = "...")]` helper for required dateTime fields.
    pub mod required {
        use chrono::{DateTime, Utc};
        use serde::{Deserialize, Deserializer, Serializer};

        /// Writes the API's format ([`super::format`]).
        ///
        /// # Errors
        ///
        /// Only the serializer's own errors.
        pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&super::format(t))
        }

        /// Reads what [`super::parse`] accepts.
        ///
        /// # Errors
        ///
        /// Fails for anything but a dateTime string.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
            let s = String::deserialize(d)?;
            super::parse(&s).ok_or_else(|| {
                serde::de::Error::custom(format!("invalid Salesforce dateTime {s:?}"))
            })
        }
    }

    /// `#[serde(with = "...")]` helper for optional dateTime fields (`null` or absent).
    pub mod optional {
        use chrono::{DateTime, Utc};
        use serde::{Deserializer, Serializer};

        /// Writes the API's format, or `null`.
        ///
        /// # Errors
        ///
        /// Only the serializer's own errors.
        pub fn serialize<S: Serializer>(
            t: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_some(&super::format(t)),
                None => s.serialize_none(),
            }
        }

        /// Reads `null` or what [`super::parse`] accepts.
        ///
        /// # Errors
        ///
        /// Fails for anything but `null` or a dateTime string.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            super::option(d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn datetime_formats() {
        let expected = Utc
            .with_ymd_and_hms(2013, 5, 20, 20, 49, 32)
            .single()
            .expect("ts");
        for s in [
            "2013-05-20T20:49:32.000+0000",
            "2013-05-20T20:49:32Z",
            "2013-05-20T20:49:32+00:00",
            "2013-05-20T22:49:32.000+0200",
        ] {
            assert_eq!(datetime::parse(s), Some(expected), "{s}");
        }
        assert_eq!(datetime::parse("2013-05-20"), None);
    }

    #[test]
    fn contact_keeps_custom_fields_and_drops_attributes() {
        let c: Contact = serde_json::from_value(json!({
            "attributes": {"type": "Contact", "url": "/services/data/v62.0/sobjects/Contact/003"},
            "Id": "003000000000001AAA",
            "Email": "o'brien@x.com",
            "FirstName": null,
            "LastName": "O'Brien",
            "AccountId": "001000000000001AAA",
            "CreatedDate": "2024-01-31T23:01:01.000+0000",
            "SystemModstamp": null,
            "Tier__c": "Gold",
            "Account": {"attributes": {"type": "Account"}, "Name": "Acme"}
        }))
        .expect("contact");
        assert_eq!(c.email.as_deref(), Some("o'brien@x.com"));
        assert_eq!(c.first_name, None);
        assert_eq!(c.system_modstamp, None);
        assert!(c.created_date.is_some());
        assert_eq!(c.fields.get("Tier__c"), Some(&json!("Gold")));
        assert!(c.fields.contains_key("Account"));
        assert!(!c.fields.contains_key("attributes"));
        assert!(
            !c.fields.contains_key("Email"),
            "known fields are not duplicated"
        );
    }

    #[test]
    fn records_round_trip_through_json() {
        let lead = Lead {
            id: "00Q000000000001AAA".into(),
            email: Some("a@b.c".into()),
            first_name: None,
            last_name: Some("L".into()),
            created_date: None,
            system_modstamp: Some(
                Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
                    .single()
                    .expect("ts"),
            ),
            is_converted: true,
            converted_contact_id: Some("003000000000001AAA".into()),
            is_deleted: true,
            fields: Map::new(),
        };
        let back: Lead =
            serde_json::from_value(serde_json::to_value(&lead).expect("json")).expect("lead");
        assert_eq!(back, lead);
        let live: Contact =
            serde_json::from_value(serde_json::json!({"Id": "003A"})).expect("contact");
        assert!(!live.is_deleted, "IsDeleted not selected reads as false");
        assert!(
            !serde_json::to_value(&live)
                .expect("json")
                .as_object()
                .expect("object")
                .contains_key("IsDeleted"),
            "a live record serializes without IsDeleted"
        );
    }

    #[test]
    fn bad_datetime_is_an_error() {
        let r: Result<Account, _> =
            serde_json::from_value(json!({"Id": "001", "SystemModstamp": "yesterday"}));
        assert!(r.is_err());
    }
}
