//! Email identities over HTTP: the `include=identities` sideload on user reads, the
//! identities endpoints, and the fallback when a search answer carries no sideload.
//!
//! Kept apart from the rest of the client so the identity rules live in one place.

use serde::Deserialize;

use super::{CursorMeta, HttpZendeskClient, PAGE_SIZE};
use crate::identities::{NewIdentity, attach_identities};
use crate::models::{Identity, User};
use crate::{Result, Written};

/// The query parameter that sideloads identities on the Users endpoints (show, show many,
/// search, the incremental export).
pub(super) const INCLUDE_IDENTITIES: (&str, &str) = ("include", "identities");

/// `{"user": ..., "identities": [...]}` of `GET /api/v2/users/{id}?include=identities`.
#[derive(Deserialize)]
pub(super) struct UserWithIdentities {
    user: User,
    #[serde(default)]
    identities: Vec<Identity>,
}

impl UserWithIdentities {
    pub(super) fn into_user(self) -> User {
        let mut users = [self.user];
        attach_identities(&mut users, self.identities);
        let [user] = users;
        user
    }
}

/// `{"users": [...], "identities": [...]}` of show many and search with the sideload.
#[derive(Deserialize)]
pub(super) struct UsersWithIdentities {
    #[serde(default)]
    users: Vec<User>,
    /// `None` when Zendesk left the sideload out of the answer.
    #[serde(default)]
    identities: Option<Vec<Identity>>,
}

impl UsersWithIdentities {
    /// Whether Zendesk answered the sideload.
    pub(super) fn has_sideload(&self) -> bool {
        self.identities.is_some()
    }

    pub(super) fn into_users(self) -> Vec<User> {
        let mut users = self.users;
        attach_identities(&mut users, self.identities.unwrap_or_default());
        users
    }
}

#[derive(Deserialize)]
struct IdentitiesPage {
    #[serde(default)]
    identities: Vec<Identity>,
    #[serde(default)]
    meta: Option<CursorMeta>,
}

#[derive(Deserialize)]
struct IdentityEnvelope {
    identity: Identity,
}

impl HttpZendeskClient {
    /// Every identity of one user, following cursor pages.
    pub(super) async fn user_identities(&self, user_id: u64) -> Result<Vec<Identity>> {
        let path = format!("/api/v2/users/{user_id}/identities");
        let mut identities = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![("page[size]", PAGE_SIZE.to_owned())];
            if let Some(after) = cursor.take() {
                query.push(("page[after]", after));
            }
            let page: IdentitiesPage = self
                .get("/api/v2/users/{id}/identities", &path, &query)
                .await?;
            identities.extend(page.identities.into_iter().map(|mut identity| {
                identity.user_id.get_or_insert(user_id);
                identity
            }));
            match page.meta {
                Some(CursorMeta {
                    has_more: true,
                    after_cursor: Some(after),
                }) => cursor = Some(after),
                _ => return Ok(identities),
            }
        }
    }

    /// Adds an email identity to a user.
    pub(super) async fn add_user_identity(
        &self,
        user_id: u64,
        identity: &NewIdentity,
    ) -> Result<Identity> {
        let body = serde_json::json!({ "identity": identity.to_json() });
        let answer: Written<IdentityEnvelope> = self
            .single_write(
                reqwest::Method::POST,
                "/api/v2/users/{id}/identities",
                &format!("/api/v2/users/{user_id}/identities"),
                &body,
            )
            .await?;
        let mut identity = answer.value.identity;
        identity.user_id.get_or_insert(user_id);
        Ok(identity)
    }

    /// The users of a search for `email`, each judged on all its identities.
    ///
    /// Zendesk's search matches any email identity, but its reference does not promise
    /// the `identities` sideload on this endpoint. When the answer carries none, a user
    /// that does not show `email` among what was returned gets its identities listed
    /// (one more call per such user, usually none or one), so a secondary address is
    /// never mistaken for no match.
    pub(super) async fn searched_users(
        &self,
        answer: UsersWithIdentities,
        email: &str,
    ) -> Result<Vec<User>> {
        let sideloaded = answer.has_sideload();
        let mut users = answer.into_users();
        if sideloaded {
            return Ok(users);
        }
        for user in users.iter_mut().filter(|u| !u.has_email(email)) {
            let identities = self.user_identities(user.id).await?;
            attach_identities(std::slice::from_mut(user), identities);
        }
        Ok(users)
    }
}
