//! Email identities: how a user's addresses beyond the primary `email` are read, compared
//! and attached to [`User`]s.
//!
//! Zendesk's user object carries only the primary `email`. Every other address is an
//! identity: listed per user (`GET /api/v2/users/{id}/identities`) or sideloaded with
//! `include=identities`, which puts a top-level `identities` array (each item with its
//! `user_id`) beside `users`. [`attach_identities`] moves that array onto the users, so
//! [`User::emails`] sees every address whichever endpoint read the user.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::models::{Identity, User};

/// The identity type of email addresses.
pub const EMAIL_IDENTITY: &str = "email";

/// The form in which this crate compares email addresses: trimmed and lower-cased
/// (Unicode lower case, so `Jörg@Müller.DE` and `jörg@müller.de` are the same address,
/// as Zendesk treats addresses case-insensitively).
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Moves sideloaded `identities` onto the users they belong to (by `user_id`), in the
/// order Zendesk sent them. Identities of users not in `users` are dropped; an identity a
/// user already carries (same id, or same type and value) is not added twice.
pub fn attach_identities(users: &mut [User], identities: Vec<Identity>) {
    let mut by_user: BTreeMap<u64, Vec<Identity>> = BTreeMap::new();
    for identity in identities {
        if let Some(user_id) = identity.user_id {
            by_user.entry(user_id).or_default().push(identity);
        }
    }
    for user in users {
        for identity in by_user.remove(&user.id).unwrap_or_default() {
            let known = user.identities.iter().any(|have| {
                (have.id.is_some() && have.id == identity.id)
                    || (have.kind == identity.kind
                        && normalize_email(&have.value) == normalize_email(&identity.value))
            });
            if !known {
                user.identities.push(identity);
            }
        }
    }
}

impl User {
    /// Every email address of the user, each once (compared with [`normalize_email`]),
    /// as Zendesk spelled it: the primary `email` first, then the primary email identity,
    /// then the other email identities in Zendesk's order.
    ///
    /// Identities are known only when the user was read with them: every read of this
    /// crate's [`ZendeskRead`](crate::ZendeskRead) asks for the `identities` sideload, and
    /// [`ZendeskRead::list_user_identities`](crate::ZendeskRead::list_user_identities)
    /// lists them for one user.
    pub fn emails(&self) -> impl Iterator<Item = &str> {
        let mut seen: Vec<String> = Vec::new();
        let email_identities = || {
            self.identities
                .iter()
                .filter(|i| i.kind == EMAIL_IDENTITY && !i.value.trim().is_empty())
        };
        let primary = email_identities().filter(|i| i.primary);
        let others = email_identities().filter(|i| !i.primary);
        self.email
            .as_deref()
            .filter(|e| !e.trim().is_empty())
            .into_iter()
            .chain(primary.chain(others).map(|i| i.value.as_str()))
            .map(str::trim)
            .filter(move |email| {
                let key = normalize_email(email);
                if seen.contains(&key) {
                    false
                } else {
                    seen.push(key);
                    true
                }
            })
    }

    /// [`User::emails`], normalized with [`normalize_email`].
    pub fn normalized_emails(&self) -> Vec<String> {
        self.emails().map(normalize_email).collect()
    }

    /// Whether `email` is one of the user's addresses (compared with [`normalize_email`]).
    pub fn has_email(&self, email: &str) -> bool {
        let wanted = normalize_email(email);
        self.emails().any(|e| normalize_email(e) == wanted)
    }
}

/// An email identity to add to a user (`POST /api/v2/users/{user_id}/identities`).
///
/// Zendesk refuses an address that belongs to another user (422, `DuplicateValue`,
/// "Email: … is already being used by another user").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIdentity {
    /// The address.
    pub value: String,
    /// Mark it verified (admins only); `false` leaves Zendesk's default (unverified).
    pub verified: bool,
}

impl NewIdentity {
    /// An unverified email identity.
    pub fn email(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            verified: false,
        }
    }

    /// The JSON object sent (inside `{"identity": ...}`). `skip_verify_email` keeps Zendesk
    /// from mailing the address, as for new users.
    pub fn to_json(&self) -> Value {
        let mut object = json!({
            "type": EMAIL_IDENTITY,
            "value": self.value,
            "skip_verify_email": true,
        });
        if self.verified
            && let Some(map) = object.as_object_mut()
        {
            map.insert("verified".into(), Value::Bool(true));
        }
        object
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(value: Value) -> User {
        serde_json::from_value(value).expect("user")
    }

    fn identity(user_id: u64, id: u64, value: &str, primary: bool) -> Identity {
        serde_json::from_value(json!({
            "id": id, "user_id": user_id, "type": "email", "value": value, "primary": primary
        }))
        .expect("identity")
    }

    #[test]
    fn sideloaded_identities_land_on_their_users() {
        let mut users = vec![
            user(json!({"id": 1, "name": "A", "email": "a@x.com"})),
            user(json!({"id": 2, "name": "B", "email": "b@x.com"})),
        ];
        attach_identities(
            &mut users,
            vec![
                identity(2, 21, "b.work@x.com", false),
                identity(1, 11, "a@x.com", true),
                identity(9, 91, "stranger@x.com", true),
                identity(2, 20, "b@x.com", true),
            ],
        );
        assert_eq!(users[0].emails().collect::<Vec<_>>(), ["a@x.com"]);
        assert_eq!(
            users[1].emails().collect::<Vec<_>>(),
            ["b@x.com", "b.work@x.com"]
        );
        assert!(users[1].has_email(" B.Work@X.com "));
        assert!(!users[0].has_email("stranger@x.com"));
        // Attaching the same answer again adds nothing.
        attach_identities(&mut users, vec![identity(2, 21, "b.work@x.com", false)]);
        assert_eq!(users[1].identities.len(), 2);
    }

    #[test]
    fn emails_put_the_primary_first_and_compare_unicode_case_insensitively() {
        let u = user(json!({
            "id": 1, "name": "J", "email": null,
            "identities": [
                {"type": "email", "value": "Second@X.com", "primary": false},
                {"type": "phone_number", "value": "+1 555"},
                {"type": "email", "value": "Jörg@Müller.DE", "primary": true},
                {"type": "email", "value": "jörg@müller.de", "primary": false},
                {"type": "email", "value": "  ", "primary": false}
            ]
        }));
        assert_eq!(
            u.emails().collect::<Vec<_>>(),
            ["Jörg@Müller.DE", "Second@X.com"]
        );
        assert_eq!(u.normalized_emails(), ["jörg@müller.de", "second@x.com"]);
        assert!(u.has_email("JÖRG@MÜLLER.DE"));
    }

    #[test]
    fn new_identity_body() {
        assert_eq!(
            NewIdentity::email("a@x.com").to_json(),
            json!({"type": "email", "value": "a@x.com", "skip_verify_email": true})
        );
        let verified = NewIdentity {
            verified: true,
            ..NewIdentity::email("a@x.com")
        };
        assert_eq!(verified.to_json()["verified"], json!(true));
    }
}
