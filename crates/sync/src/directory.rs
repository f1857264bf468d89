//! Finding the Zendesk side of a chunk: users by email and their memberships, by whichever
//! way costs fewer calls. A full run over many emails reads the whole account once through
//! the incremental export (1,000 users a call); an incremental run searches each email.
//!
//! Zendesk documents no read of several users' memberships at once: the Users sideload
//! `organizations` lists organizations without saying whose, and an `organization_memberships`
//! sideload is an open feature request. So an incremental run answers from the memberships
//! the state file remembers (written or read by earlier runs) whenever they cover every
//! organization the rules ask about, and lists a user's memberships only otherwise.

use std::collections::{BTreeSet, HashMap};

use domain::{Email, FieldValues, OrganizationId, UserId};
use futures::TryStreamExt;
use zendesk_client::{ZendeskError, ZendeskRead, stream};

use crate::mapping::{FieldMapping, user_fields};

/// What the rules need of a Zendesk user, without memberships.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    /// Zendesk id.
    pub id: UserId,
    /// Default organization.
    pub default_organization: Option<OrganizationId>,
    /// Current values of the mapped fields.
    pub fields: FieldValues,
}

fn record(user: &zendesk_client::User, mapping: &FieldMapping) -> UserRecord {
    UserRecord {
        id: UserId(user.id),
        default_organization: user.organization_id.map(OrganizationId),
        fields: user_fields(user, mapping),
    }
}

/// How users are found.
pub enum Directory {
    /// Every active user of the account, by each of its emails (read once).
    Indexed(HashMap<Email, UserRecord>),
    /// One search per email.
    Search,
}

impl Directory {
    /// Reads every user of the account through the incremental export.
    ///
    /// # Errors
    /// The export's error.
    pub async fn load(
        read: &dyn ZendeskRead,
        mapping: &FieldMapping,
    ) -> Result<Self, ZendeskError> {
        let mut index = HashMap::new();
        let mut users = Box::pin(stream::users_export_stream(read, None));
        while let Some(user) = users.try_next().await? {
            // The export also lists deleted users; their emails are free again.
            if !user.active {
                continue;
            }
            let rec = record(&user, mapping);
            for email in user.emails().filter_map(|e| Email::parse(e).ok()) {
                index.insert(email, rec.clone());
            }
        }
        tracing::info!(
            emails = index.len(),
            "read the Zendesk users through the incremental export"
        );
        Ok(Self::Indexed(index))
    }

    /// The users with these emails. `known` holds user ids remembered from earlier runs:
    /// those are read by id, 100 a call and without the search index's lag; the rest are
    /// searched one by one.
    ///
    /// # Errors
    /// A read's error.
    pub async fn lookup(
        &self,
        read: &dyn ZendeskRead,
        mapping: &FieldMapping,
        emails: &[Email],
        known: &HashMap<Email, UserId>,
    ) -> Result<HashMap<Email, UserRecord>, ZendeskError> {
        let mut found = HashMap::new();
        match self {
            Self::Indexed(index) => {
                for email in emails {
                    if let Some(user) = index.get(email) {
                        found.insert(email.clone(), user.clone());
                    }
                }
            }
            Self::Search => {
                let ids: Vec<u64> = emails
                    .iter()
                    .filter_map(|e| known.get(e).map(|u| u.0))
                    .collect();
                if !ids.is_empty() {
                    let users: HashMap<u64, zendesk_client::User> = read
                        .show_many_users(&ids)
                        .await?
                        .into_iter()
                        .map(|u| (u.id, u))
                        .collect();
                    for email in emails {
                        let user = known.get(email).and_then(|id| users.get(&id.0));
                        // The remembered user still counts only while it has the email.
                        if let Some(user) = user.filter(|u| has_email(u, email)) {
                            found.insert(email.clone(), record(user, mapping));
                        }
                    }
                }
                let unresolved: Vec<Email> = emails
                    .iter()
                    .filter(|e| !found.contains_key(*e))
                    .cloned()
                    .collect();
                found.extend(Self::search(read, mapping, &unresolved).await?);
            }
        }
        Ok(found)
    }

    /// Searches each email now, whatever was read before: for an email Zendesk says belongs
    /// to a user that an earlier read did not show (an identity added since, search lag).
    ///
    /// # Errors
    /// A search's error.
    pub async fn search(
        read: &dyn ZendeskRead,
        mapping: &FieldMapping,
        emails: &[Email],
    ) -> Result<HashMap<Email, UserRecord>, ZendeskError> {
        let mut found = HashMap::new();
        for email in emails {
            let users = read.search_users_by_email(email.as_str()).await?;
            // Search is not exact matching: keep only a user that has this email.
            if let Some(user) = users.iter().find(|u| has_email(u, email)) {
                found.insert(email.clone(), record(user, mapping));
            }
        }
        Ok(found)
    }
}

fn has_email(user: &zendesk_client::User, email: &Email) -> bool {
    user.active && user.emails().any(|e| email.matches(e))
}

/// Memberships of users, read per user or for the whole account at once.
#[derive(Debug)]
pub enum Memberships {
    /// Every membership of the account, read on first use.
    Account(Option<HashMap<UserId, BTreeSet<OrganizationId>>>),
    /// One listing per user.
    PerUser,
}

impl Memberships {
    /// The memberships of `users`.
    ///
    /// # Errors
    /// A listing's error.
    pub async fn of(
        &mut self,
        read: &dyn ZendeskRead,
        users: &[UserId],
    ) -> Result<HashMap<UserId, BTreeSet<OrganizationId>>, ZendeskError> {
        if users.is_empty() {
            return Ok(HashMap::new());
        }
        if let Self::Account(None) = self {
            match account_memberships(read).await {
                Ok(all) => *self = Self::Account(Some(all)),
                // Without the account-wide list, each user's memberships are listed.
                Err(ZendeskError::NotFound { .. } | ZendeskError::Forbidden { .. }) => {
                    *self = Self::PerUser
                }
                Err(err) => return Err(err),
            }
        }
        let mut result = HashMap::new();
        match self {
            Self::Account(all) => {
                for user in users {
                    let orgs = all
                        .as_ref()
                        .and_then(|a| a.get(user))
                        .cloned()
                        .unwrap_or_default();
                    result.insert(*user, orgs);
                }
            }
            Self::PerUser => {
                for user in users {
                    let orgs: BTreeSet<OrganizationId> =
                        stream::user_memberships_stream(read, user.0)
                            .map_ok(|m| OrganizationId(m.organization_id))
                            .try_collect()
                            .await?;
                    result.insert(*user, orgs);
                }
            }
        }
        Ok(result)
    }
}

impl Memberships {
    /// Whether memberships are listed user by user, so remembered ones save calls.
    pub fn per_user(&self) -> bool {
        matches!(self, Self::PerUser)
    }

    /// The memberships of each user in `needs`, which names the organizations the rules ask
    /// about. Listing user by user, a user whose every asked organization is in `known` (the
    /// memberships the state file remembers) is answered from it without a call; the
    /// others are listed. The account-wide list answers everyone.
    ///
    /// # Errors
    /// A listing's error.
    pub async fn covering(
        &mut self,
        read: &dyn ZendeskRead,
        needs: &[(UserId, BTreeSet<OrganizationId>)],
        mut known: HashMap<UserId, BTreeSet<OrganizationId>>,
    ) -> Result<HashMap<UserId, BTreeSet<OrganizationId>>, ZendeskError> {
        let mut answered = HashMap::new();
        let mut unread = Vec::new();
        for (user, asked) in needs {
            match known.remove(user) {
                Some(orgs) if self.per_user() && asked.is_subset(&orgs) => {
                    answered.insert(*user, orgs);
                }
                _ => unread.push(*user),
            }
        }
        if !answered.is_empty() {
            tracing::debug!(
                remembered = answered.len(),
                listed = unread.len(),
                "memberships answered from the state file"
            );
        }
        answered.extend(self.of(read, &unread).await?);
        Ok(answered)
    }
}

async fn account_memberships(
    read: &dyn ZendeskRead,
) -> Result<HashMap<UserId, BTreeSet<OrganizationId>>, ZendeskError> {
    let mut all: HashMap<UserId, BTreeSet<OrganizationId>> = HashMap::new();
    let mut memberships = Box::pin(stream::memberships_stream(read));
    while let Some(m) = memberships.try_next().await? {
        all.entry(UserId(m.user_id))
            .or_default()
            .insert(OrganizationId(m.organization_id));
    }
    tracing::info!(
        users = all.len(),
        "read the account's organization memberships"
    );
    Ok(all)
}

#[cfg(test)]
mod tests {
    use zendesk_client::{MockZendeskRead, OrganizationMembership, Page};

    use super::*;

    fn membership(user: u64, org: u64) -> OrganizationMembership {
        serde_json::from_value(serde_json::json!({"id": org * 10, "user_id": user, "organization_id": org, "default": null}))
            .unwrap()
    }

    #[tokio::test]
    async fn the_account_list_is_read_once_and_answers_every_user() {
        let mut read = MockZendeskRead::new();
        read.expect_list_memberships_page()
            .times(2)
            .returning(|cursor| {
                Ok(match cursor.as_deref() {
                    None => Page {
                        items: vec![membership(1, 10), membership(1, 11)],
                        next_cursor: Some("c2".into()),
                    },
                    Some(_) => Page {
                        items: vec![membership(2, 10)],
                        next_cursor: None,
                    },
                })
            });
        let mut memberships = Memberships::Account(None);
        let first = memberships.of(&read, &[UserId(1)]).await.unwrap();
        assert_eq!(
            first[&UserId(1)],
            [OrganizationId(10), OrganizationId(11)].into()
        );
        let second = memberships
            .of(&read, &[UserId(2), UserId(3)])
            .await
            .unwrap();
        assert_eq!(second[&UserId(2)], [OrganizationId(10)].into());
        assert!(second[&UserId(3)].is_empty());
    }

    #[tokio::test]
    async fn without_the_account_list_each_user_is_listed() {
        let mut read = MockZendeskRead::new();
        read.expect_list_memberships_page().times(1).returning(|_| {
            Err(ZendeskError::Forbidden {
                endpoint: "GET /api/v2/organization_memberships".into(),
                error: None,
                description: None,
            })
        });
        read.expect_list_user_memberships_page()
            .times(1)
            .returning(|user, _| {
                Ok(Page {
                    items: vec![membership(user, 12)],
                    next_cursor: None,
                })
            });
        let mut memberships = Memberships::Account(None);
        let found = memberships.of(&read, &[UserId(4)]).await.unwrap();
        assert_eq!(found[&UserId(4)], [OrganizationId(12)].into());
        assert!(matches!(memberships, Memberships::PerUser));
    }

    #[tokio::test]
    async fn a_remembered_user_is_matched_on_a_secondary_identity() {
        // The user remembered for vic@ has another primary email now; vic@ is one of its
        // identities (show_many answers carry them with include=identities).
        let mut read = MockZendeskRead::new();
        read.expect_show_many_users().times(1).returning(|_| {
            Ok(vec![
                serde_json::from_value(serde_json::json!({
                    "id": 5, "name": "Vic", "email": "victoria@x.io",
                    "identities": [
                        {"id": 1, "user_id": 5, "type": "email", "value": "victoria@x.io", "primary": true},
                        {"id": 2, "user_id": 5, "type": "email", "value": "Vic@X.io", "primary": false}
                    ]
                }))
                .unwrap(),
            ])
        });
        read.expect_search_users_by_email().never();
        let email = Email::parse("vic@x.io").unwrap();
        let known = HashMap::from([(email.clone(), UserId(5))]);
        let found = Directory::Search
            .lookup(
                &read,
                &FieldMapping::default(),
                std::slice::from_ref(&email),
                &known,
            )
            .await
            .unwrap();
        assert_eq!(found[&email].id, UserId(5));
    }

    #[tokio::test]
    async fn remembered_memberships_answer_a_user_only_when_they_cover_every_asked_organization() {
        let mut read = MockZendeskRead::new();
        // Only user 2 is listed: user 1's remembered memberships cover what is asked.
        read.expect_list_user_memberships_page()
            .times(1)
            .withf(|user, _| *user == 2)
            .returning(|user, _| {
                Ok(Page {
                    items: vec![membership(user, 20), membership(user, 21)],
                    next_cursor: None,
                })
            });
        let orgs = |ids: &[u64]| {
            ids.iter()
                .map(|o| OrganizationId(*o))
                .collect::<BTreeSet<_>>()
        };
        let known = HashMap::from([
            (UserId(1), orgs(&[10, 11, 12])),
            // User 2 is asked about 21, which no earlier run saw.
            (UserId(2), orgs(&[20])),
        ]);
        let needs = vec![(UserId(1), orgs(&[10, 11])), (UserId(2), orgs(&[20, 21]))];
        let mut memberships = Memberships::PerUser;
        let found = memberships.covering(&read, &needs, known).await.unwrap();
        assert_eq!(found[&UserId(1)], orgs(&[10, 11, 12]));
        assert_eq!(found[&UserId(2)], orgs(&[20, 21]));
    }

    #[tokio::test]
    async fn remembered_users_are_read_by_id_and_the_rest_searched() {
        let mut read = MockZendeskRead::new();
        read.expect_show_many_users().times(1).returning(|ids| {
            assert_eq!(ids, [5, 6]);
            Ok(vec![
                serde_json::from_value(
                    serde_json::json!({"id": 5, "name": "A", "email": "a@x.io"}),
                )
                .unwrap(),
                // User 6 changed its email since: it no longer counts for b@x.io.
                serde_json::from_value(
                    serde_json::json!({"id": 6, "name": "B", "email": "other@x.io"}),
                )
                .unwrap(),
            ])
        });
        read.expect_search_users_by_email()
            .times(2)
            .returning(|email| {
                Ok(if email == "b@x.io" {
                    vec![
                        serde_json::from_value(
                            serde_json::json!({"id": 9, "name": "B", "email": "b@x.io"}),
                        )
                        .unwrap(),
                    ]
                } else {
                    Vec::new()
                })
            });
        let emails: Vec<Email> = ["a@x.io", "b@x.io", "c@x.io"]
            .iter()
            .map(|e| Email::parse(e).unwrap())
            .collect();
        let known = HashMap::from([
            (emails[0].clone(), UserId(5)),
            (emails[1].clone(), UserId(6)),
        ]);
        let found = Directory::Search
            .lookup(&read, &FieldMapping::default(), &emails, &known)
            .await
            .unwrap();
        assert_eq!(found[&emails[0]].id, UserId(5));
        assert_eq!(found[&emails[1]].id, UserId(9));
        assert!(!found.contains_key(&emails[2]));
    }

    #[tokio::test]
    async fn search_keeps_only_a_user_that_has_the_email() {
        let mut read = MockZendeskRead::new();
        read.expect_search_users_by_email().returning(|_| {
            Ok(vec![
                serde_json::from_value(serde_json::json!({"id": 1, "name": "Other", "email": "ann.lee@example.com"})).unwrap(),
                serde_json::from_value(serde_json::json!({"id": 2, "name": "Ann", "email": "Ann@Example.com", "organization_id": 7})).unwrap(),
            ])
        });
        let email = Email::parse("ann@example.com").unwrap();
        let found = Directory::Search
            .lookup(
                &read,
                &FieldMapping::default(),
                std::slice::from_ref(&email),
                &HashMap::new(),
            )
            .await
            .unwrap();
        assert_eq!(found[&email].id, UserId(2));
        assert_eq!(found[&email].default_organization, Some(OrganizationId(7)));
    }
}
