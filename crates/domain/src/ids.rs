//! Identifiers of both systems: validated Salesforce record Ids and Zendesk numeric ids.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A Salesforce record Id in its canonical, case-insensitive-safe 18-character form.
///
/// Salesforce returns 18-character Ids from its API; 15-character Ids (case-sensitive) are
/// accepted and extended with their checksum, so both forms of one record compare equal.
/// Zendesk compares `external_id` case-insensitively, which is why only the 18-character
/// form is ever written there.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SalesforceId(String);

/// Why a string is not a Salesforce Id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SalesforceIdError {
    /// The Id has neither 15 nor 18 characters.
    #[error("salesforce id `{0}` must have 15 or 18 characters")]
    Length(String),
    /// The Id contains a character other than ASCII letters and digits.
    #[error("salesforce id `{0}` may only contain ASCII letters and digits")]
    Characters(String),
    /// The 18-character Id's last three characters do not match its first fifteen.
    #[error("salesforce id `{0}` has a wrong checksum suffix")]
    Checksum(String),
}

const CHECKSUM_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

fn checksum(id15: &str) -> String {
    id15.as_bytes()
        .chunks(5)
        .map(|chunk| {
            let bits = chunk
                .iter()
                .enumerate()
                .filter(|(_, b)| b.is_ascii_uppercase())
                .fold(0usize, |acc, (i, _)| acc | (1 << i));
            char::from(CHECKSUM_ALPHABET[bits])
        })
        .collect()
}

impl SalesforceId {
    /// Parses a 15- or 18-character Id into its 18-character form.
    ///
    /// # Errors
    /// Returns [`SalesforceIdError`] when the length, the characters or the checksum are wrong.
    pub fn parse(raw: &str) -> Result<Self, SalesforceIdError> {
        let raw = raw.trim();
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(SalesforceIdError::Characters(raw.to_owned()));
        }
        match raw.len() {
            15 => Ok(Self(format!("{raw}{}", checksum(raw)))),
            18 => {
                let (head, tail) = raw.split_at(15);
                if checksum(head).eq_ignore_ascii_case(tail) {
                    // The suffix is case-insensitive; store it in its canonical upper case.
                    Ok(Self(format!("{head}{}", tail.to_ascii_uppercase())))
                } else {
                    Err(SalesforceIdError::Checksum(raw.to_owned()))
                }
            }
            _ => Err(SalesforceIdError::Length(raw.to_owned())),
        }
    }

    /// The 18-character form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SalesforceId {
    type Error = SalesforceIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<SalesforceId> for String {
    fn from(id: SalesforceId) -> Self {
        id.0
    }
}

impl fmt::Display for SalesforceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SalesforceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

macro_rules! zendesk_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}#{}", stringify!($name), self.0)
            }
        }
    };
}

zendesk_id!(
    /// A Zendesk user id.
    UserId
);
zendesk_id!(
    /// A Zendesk organization id.
    OrganizationId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifteen_char_id_gets_its_checksum() {
        // A widely published 15/18 pair from Salesforce's knowledge base.
        let id = SalesforceId::parse("0015000000Gv7qJ").unwrap();
        assert_eq!(id.as_str(), "0015000000Gv7qJAAR");
    }

    #[test]
    fn eighteen_char_forms_compare_equal_to_their_fifteen_char_form() {
        let long = SalesforceId::parse("001A0000006Vm9rIAC").unwrap();
        let lower_suffix = SalesforceId::parse("001A0000006Vm9riac").unwrap();
        let short = SalesforceId::parse("001A0000006Vm9r").unwrap();
        assert_eq!(long, short);
        assert_eq!(long, lower_suffix);
    }

    #[test]
    fn bad_ids_are_refused_with_a_reason() {
        assert!(matches!(
            SalesforceId::parse("003"),
            Err(SalesforceIdError::Length(_))
        ));
        assert!(matches!(
            SalesforceId::parse("003'000000000000"),
            Err(SalesforceIdError::Characters(_))
        ));
        assert!(matches!(
            SalesforceId::parse("001A0000006Vm9rAAA"),
            Err(SalesforceIdError::Checksum(_))
        ));
    }
}
