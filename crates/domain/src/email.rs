//! Email normalization and validation: the key that groups Salesforce contacts into one
//! Zendesk user.
//!
//! Zendesk emails are unique and compared case-insensitively; Salesforce emails are free
//! text. An email is trimmed and lower-cased, then checked against what Zendesk would
//! refuse, so a bad address is reported with a reason instead of failing a bulk job.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A normalized (trimmed, lower-case) email address that Zendesk would accept.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

/// Why an email cannot be synced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmailError {
    /// No email at all, or only white space.
    #[error("no email")]
    Missing,
    /// Longer than the 254 characters an address may have.
    #[error("email is longer than 254 characters")]
    TooLong,
    /// Not exactly one `@` separating a local part and a domain.
    #[error("email must have exactly one `@` between a name and a domain")]
    Shape,
    /// A character Zendesk does not accept (white space, quotes, backslashes, non-ASCII).
    #[error("email contains the character {0:?}, which Zendesk does not accept")]
    Character(char),
    /// The part before the `@` is malformed (empty, too long, dots at the ends or doubled).
    #[error("the part before `@` is not valid")]
    LocalPart,
    /// The domain is malformed (no dot, empty labels, bad hyphens, no top-level domain).
    #[error("the domain `{0}` is not valid")]
    Domain(String),
}

/// Characters allowed in the local part besides ASCII letters and digits (RFC 5322 atext and dots).
const LOCAL_SPECIALS: &str = "!#$%&'*+/=?^_`{|}~.-";

impl Email {
    /// Normalizes and validates a raw email.
    ///
    /// # Errors
    /// Returns [`EmailError`] with the reason Zendesk would refuse the address.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Missing);
        }
        if trimmed.chars().count() > 254 {
            return Err(EmailError::TooLong);
        }
        if let Some(bad) = trimmed
            .chars()
            .find(|c| !c.is_ascii() || c.is_ascii_whitespace() || c.is_ascii_control())
        {
            return Err(EmailError::Character(bad));
        }
        let normalized = trimmed.to_ascii_lowercase();
        let (local, domain) = match normalized.split_once('@') {
            Some((local, domain)) if !domain.contains('@') => (local, domain),
            _ => return Err(EmailError::Shape),
        };
        if let Some(bad) = local
            .chars()
            .find(|c| !c.is_ascii_alphanumeric() && !LOCAL_SPECIALS.contains(*c))
        {
            return Err(EmailError::Character(bad));
        }
        if local.is_empty()
            || local.len() > 64
            || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
        {
            return Err(EmailError::LocalPart);
        }
        if !valid_domain(domain) {
            return Err(EmailError::Domain(domain.to_owned()));
        }
        Ok(Self(normalized))
    }

    /// The normalized address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let Some(tld) = labels.last() else {
        return false;
    };
    labels.len() >= 2
        && domain.len() <= 253
        && tld.len() >= 2
        && tld.chars().all(|c| c.is_ascii_alphabetic())
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

impl TryFrom<String> for Email {
    type Error = EmailError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> Self {
        email.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn trims_and_lower_cases() {
        let email = Email::parse("  Ann.O'Brien@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "ann.o'brien@example.com");
    }

    #[test]
    fn refuses_what_zendesk_would_refuse() {
        let cases = [
            ("", EmailError::Missing),
            ("   ", EmailError::Missing),
            ("no-at-sign.example.com", EmailError::Shape),
            ("a@b@example.com", EmailError::Shape),
            ("ann smith@example.com", EmailError::Character(' ')),
            ("ann\\smith@example.com", EmailError::Character('\\')),
            ("\"ann\"@example.com", EmailError::Character('"')),
            ("zoë@example.com", EmailError::Character('ë')),
            (".ann@example.com", EmailError::LocalPart),
            ("ann..b@example.com", EmailError::LocalPart),
            ("@example.com", EmailError::LocalPart),
            ("ann@localhost", EmailError::Domain("localhost".into())),
            ("ann@-bad.com", EmailError::Domain("-bad.com".into())),
            ("ann@example.c0m", EmailError::Domain("example.c0m".into())),
            (
                "ann@example..com",
                EmailError::Domain("example..com".into()),
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(Email::parse(raw), Err(expected), "{raw:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_is_idempotent(raw in "\\PC{0,80}") {
            if let Ok(email) = Email::parse(&raw) {
                let again = Email::parse(email.as_str()).unwrap();
                prop_assert_eq!(&again, &email);
                prop_assert_eq!(email.as_str(), email.as_str().trim().to_ascii_lowercase());
            }
        }

        #[test]
        fn case_and_surrounding_space_do_not_change_the_key(
            local in "[a-zA-Z0-9._%+-]{1,20}",
            domain in "[a-zA-Z]{1,10}\\.[a-zA-Z]{2,5}",
            pad in " {0,3}",
        ) {
            let raw = format!("{pad}{local}@{domain}{pad}");
            let upper = raw.to_uppercase();
            prop_assert_eq!(Email::parse(&raw).ok(), Email::parse(&upper).ok());
        }
    }
}
