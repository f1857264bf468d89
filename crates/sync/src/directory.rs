//! Finding the Zendesk side of a chunk: users by email and their memberships, by whichever
//! way costs fewer calls.
//!
//! - A full run over many emails reads the whole account once through the incremental
//!   export (1,000 users a call) into a temporary on-disk index, so memory does not grow
//!   with the account, and remembers every email's user in the state file.
//! - An incremental run reads remembered users by id (100 a call). Once a full run has
//!   read the account, an email the state file does not remember is taken to have no user
//!   without a search: if Zendesk knows better, it refuses the create ("already being
//!   used") and the run searches that email then (`apply::resolve_taken_emails`).
//!
//! Zendesk documents no read of several users' memberships at once: the Users sideload
//! `organizations` lists organizations without saying whose, and an `organization_memberships`
//! sideload is an open feature request. A full run lists the account's memberships once; an
//! incremental run answers from the memberships the state file remembers and writes the
//! others, counting Zendesk's "already a member" as present. Only a dry run, which cannot
//! write to find out, lists a user's memberships.

use std::collections::{BTreeSet, HashMap};

use domain::{Email, FieldValues, OrganizationId, UserId};
use futures::TryStreamExt;
use rusqlite::{Connection, OptionalExtension, params};
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

/// Reading the account into a temporary index failed (disk full, temp dir missing, ...).
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// A Zendesk read failed.
    #[error(transparent)]
    Zendesk(#[from] ZendeskError),
    /// The temporary index failed.
    #[error("indexing Zendesk users in a temporary database failed")]
    Index(#[from] rusqlite::Error),
}

/// A private temporary SQLite database (on disk, deleted on close): what a full run reads
/// of the whole account, kept off the heap.
fn temporary_index(schema: &str) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open("")?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; {schema}"
    ))?;
    Ok(conn)
}

fn id_to_sql(id: u64) -> Option<i64> {
    i64::try_from(id).ok()
}

/// Every active user of the account by each of its emails, in a temporary database.
pub struct UserIndex {
    conn: Connection,
}

impl UserIndex {
    fn new() -> Result<Self, rusqlite::Error> {
        let conn = temporary_index(
            "CREATE TABLE users (
                 email   TEXT PRIMARY KEY NOT NULL,
                 user_id INTEGER NOT NULL,
                 default_organization INTEGER,
                 fields  TEXT NOT NULL
             ) WITHOUT ROWID;",
        )?;
        Ok(Self { conn })
    }

    /// Reads every user of the account through the incremental export.
    ///
    /// # Errors
    /// The export's error, or the temporary index's.
    pub async fn load(
        read: &dyn ZendeskRead,
        mapping: &FieldMapping,
    ) -> Result<Self, DirectoryError> {
        let mut index = Self::new()?;
        let mut page = Vec::new();
        let mut users = Box::pin(stream::users_export_stream(read, None));
        while let Some(user) = users.try_next().await? {
            // The export also lists deleted users; their emails are free again.
            if !user.active {
                continue;
            }
            let rec = record(&user, mapping);
            for email in user.emails().filter_map(|e| Email::parse(e).ok()) {
                page.push((email, rec.clone()));
            }
            if page.len() >= 1000 {
                index.add(&page)?;
                page.clear();
            }
        }
        index.add(&page)?;
        tracing::info!(
            emails = index.len()?,
            "read the Zendesk users through the incremental export"
        );
        Ok(index)
    }

    fn add(&mut self, users: &[(Email, UserRecord)]) -> Result<(), rusqlite::Error> {
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO users (email, user_id, default_organization, fields)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (email, user) in users {
                let Some(id) = id_to_sql(user.id.0) else {
                    continue;
                };
                let fields = serde_json::to_string(&user.fields)
                    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
                insert.execute(params![
                    email.as_str(),
                    id,
                    user.default_organization.and_then(|o| id_to_sql(o.0)),
                    fields
                ])?;
            }
        }
        tx.commit()
    }

    fn get(&self, email: &Email) -> Result<Option<UserRecord>, rusqlite::Error> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT user_id, default_organization, fields FROM users WHERE email = ?1",
        )?;
        stmt.query_row([email.as_str()], |row| {
            let fields: String = row.get(2)?;
            let fields = serde_json::from_str(&fields).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    2,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            })?;
            Ok(UserRecord {
                id: UserId(row.get::<_, i64>(0)?.unsigned_abs()),
                default_organization: row
                    .get::<_, Option<i64>>(1)?
                    .map(|o| OrganizationId(o.unsigned_abs())),
                fields,
            })
        })
        .optional()
    }

    /// How many emails the index holds.
    ///
    /// # Errors
    /// A database failure.
    pub fn len(&self) -> Result<u64, rusqlite::Error> {
        self.conn
            .query_row("SELECT COUNT(*) FROM users", [], |row| row.get::<_, i64>(0))
            .map(i64::unsigned_abs)
    }

    /// Whether the index holds no email.
    ///
    /// # Errors
    /// A database failure.
    pub fn is_empty(&self) -> Result<bool, rusqlite::Error> {
        self.len().map(|n| n == 0)
    }

    /// Up to `limit` emails with their user ids, in email order after `after`: to copy
    /// the index into the state file page by page.
    ///
    /// # Errors
    /// A database failure.
    pub fn user_ids(
        &self,
        after: Option<&Email>,
        limit: usize,
    ) -> Result<Vec<(Email, UserId)>, rusqlite::Error> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT email, user_id FROM users WHERE email > ?1 ORDER BY email LIMIT ?2",
        )?;
        let rows = stmt.query_map(
            params![
                after.map_or("", Email::as_str),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)),
        )?;
        let mut page = Vec::new();
        for row in rows {
            let (email, id) = row?;
            // The index holds only emails that parsed when they were added.
            if let Ok(email) = Email::parse(&email) {
                page.push((email, UserId(id.unsigned_abs())));
            }
        }
        Ok(page)
    }
}

/// How users are found.
pub enum Directory {
    /// Every active user of the account by each of its emails (read once).
    Indexed(UserIndex),
    /// Remembered users read by id, 100 a call; the other emails searched one by one, unless
    /// `unknown_is_absent`: the state file remembers every user of the account (a full run
    /// read them all) and the run writes, so an unremembered email is taken to have none.
    Search {
        /// Take an email the state file does not remember to have no user.
        unknown_is_absent: bool,
    },
}

impl Directory {
    /// The users with these emails. `known` holds user ids remembered from earlier runs:
    /// those are read by id, 100 a call and without the search index's lag; the rest are
    /// searched one by one, unless the state file remembers every user (see
    /// [`Directory::Search`]).
    ///
    /// # Errors
    /// A read's error.
    pub async fn lookup(
        &self,
        read: &dyn ZendeskRead,
        mapping: &FieldMapping,
        emails: &[Email],
        known: &HashMap<Email, UserId>,
    ) -> Result<HashMap<Email, UserRecord>, DirectoryError> {
        let mut found = HashMap::new();
        match self {
            Self::Indexed(index) => {
                for email in emails {
                    if let Some(user) = index.get(email)? {
                        found.insert(email.clone(), user);
                    }
                }
            }
            Self::Search { unknown_is_absent } => {
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
                // A remembered user that lost the email may have handed it to another.
                let unresolved: Vec<Email> = emails
                    .iter()
                    .filter(|e| !found.contains_key(*e))
                    .filter(|e| !unknown_is_absent || known.contains_key(*e))
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

/// Every membership of the account by user, in a temporary database.
#[derive(Debug)]
pub struct MembershipIndex {
    conn: Connection,
}

impl MembershipIndex {
    async fn load(read: &dyn ZendeskRead) -> Result<Self, DirectoryError> {
        let mut conn = temporary_index(
            "CREATE TABLE memberships (
                 user_id INTEGER NOT NULL,
                 organization_id INTEGER NOT NULL,
                 PRIMARY KEY (user_id, organization_id)
             ) WITHOUT ROWID;",
        )?;
        let mut count = 0u64;
        let mut page = Vec::new();
        let mut memberships = Box::pin(stream::memberships_stream(read));
        loop {
            let next = memberships.try_next().await?;
            let end = next.is_none();
            if let Some(m) = next
                && let (Some(user), Some(org)) =
                    (id_to_sql(m.user_id), id_to_sql(m.organization_id))
            {
                page.push((user, org));
            }
            if page.len() >= 1000 || (end && !page.is_empty()) {
                let tx = conn.transaction()?;
                {
                    let mut insert = tx.prepare_cached(
                        "INSERT OR IGNORE INTO memberships (user_id, organization_id) VALUES (?1, ?2)",
                    )?;
                    for (user, org) in page.drain(..) {
                        count += insert.execute(params![user, org])? as u64;
                    }
                }
                tx.commit()?;
            }
            if end {
                break;
            }
        }
        tracing::info!(
            memberships = count,
            "read the account's organization memberships"
        );
        Ok(Self { conn })
    }

    fn of(&self, user: UserId) -> Result<BTreeSet<OrganizationId>, rusqlite::Error> {
        let Some(id) = id_to_sql(user.0) else {
            return Ok(BTreeSet::new());
        };
        let mut stmt = self
            .conn
            .prepare_cached("SELECT organization_id FROM memberships WHERE user_id = ?1")?;
        let rows = stmt.query_map([id], |row| row.get::<_, i64>(0))?;
        let mut orgs = BTreeSet::new();
        for row in rows {
            orgs.insert(OrganizationId(row?.unsigned_abs()));
        }
        Ok(orgs)
    }
}

/// How the memberships the rules ask about are known.
#[derive(Debug)]
pub enum Memberships {
    /// Every membership of the account, read on first use (a full run).
    Account(Option<MembershipIndex>),
    /// One listing per user whose asked organizations the state file does not all
    /// remember: a dry run, which cannot learn by writing.
    PerUser,
    /// Only what the state file remembers: a membership it does not is taken to be absent
    /// and written, and Zendesk's "already a member" counts it present.
    Remembered,
}

impl Memberships {
    /// Whether the state file's memberships answer (all or part of) the question.
    pub fn uses_remembered(&self) -> bool {
        matches!(self, Self::PerUser | Self::Remembered)
    }

    /// The memberships of `users`, read from the account's list or listed per user.
    ///
    /// # Errors
    /// A listing's error.
    pub async fn of(
        &mut self,
        read: &dyn ZendeskRead,
        users: &[UserId],
    ) -> Result<HashMap<UserId, BTreeSet<OrganizationId>>, DirectoryError> {
        if users.is_empty() {
            return Ok(HashMap::new());
        }
        if let Self::Account(None) = self {
            match MembershipIndex::load(read).await {
                Ok(all) => *self = Self::Account(Some(all)),
                // Without the account-wide list, each user's memberships are listed.
                Err(DirectoryError::Zendesk(
                    ZendeskError::NotFound { .. } | ZendeskError::Forbidden { .. },
                )) => *self = Self::PerUser,
                Err(err) => return Err(err),
            }
        }
        let mut result = HashMap::new();
        match self {
            Self::Account(all) => {
                for user in users {
                    let orgs = match all {
                        Some(index) => index.of(*user)?,
                        None => BTreeSet::new(),
                    };
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
            Self::Remembered => {}
        }
        Ok(result)
    }

    /// The memberships of each user in `needs`, which names the organizations the rules ask
    /// about. `known` holds the memberships the state file remembers: listing user by user,
    /// a user whose every asked organization is in it is answered from it without a call,
    /// the others are listed; [`Memberships::Remembered`] answers from it alone. The
    /// account-wide list answers everyone.
    ///
    /// # Errors
    /// A listing's error.
    pub async fn covering(
        &mut self,
        read: &dyn ZendeskRead,
        needs: &[(UserId, BTreeSet<OrganizationId>)],
        mut known: HashMap<UserId, BTreeSet<OrganizationId>>,
    ) -> Result<HashMap<UserId, BTreeSet<OrganizationId>>, DirectoryError> {
        let mut answered = HashMap::new();
        let mut unread = Vec::new();
        for (user, asked) in needs {
            match (known.remove(user), &*self) {
                (Some(orgs), Self::Remembered) => {
                    answered.insert(*user, orgs);
                }
                (Some(orgs), Self::PerUser) if asked.is_subset(&orgs) => {
                    answered.insert(*user, orgs);
                }
                (None, Self::Remembered) => {}
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
        let found = Directory::Search {
            unknown_is_absent: false,
        }
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
        let found = Directory::Search {
            unknown_is_absent: false,
        }
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
        let found = Directory::Search {
            unknown_is_absent: false,
        }
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

    #[tokio::test]
    async fn once_the_account_was_read_an_unremembered_email_is_not_searched() {
        let mut read = MockZendeskRead::new();
        read.expect_show_many_users().times(1).returning(|_| {
            // The user remembered for b@ has another email now.
            Ok(vec![
                serde_json::from_value(
                    serde_json::json!({"id": 6, "name": "B", "email": "other@x.io"}),
                )
                .unwrap(),
            ])
        });
        // Only b@ is searched: its remembered user lost it, maybe to another user. c@ was
        // in no user when the account was read, and a create will tell if that changed.
        read.expect_search_users_by_email()
            .times(1)
            .withf(|email| email == "b@x.io")
            .returning(|_| Ok(Vec::new()));
        let emails: Vec<Email> = ["b@x.io", "c@x.io"]
            .iter()
            .map(|e| Email::parse(e).unwrap())
            .collect();
        let known = HashMap::from([(emails[0].clone(), UserId(6))]);
        let found = Directory::Search {
            unknown_is_absent: true,
        }
        .lookup(&read, &FieldMapping::default(), &emails, &known)
        .await
        .unwrap();
        assert!(found.is_empty());
    }

    #[tokio::test]
    async fn remembered_memberships_alone_answer_a_run_that_writes() {
        let mut read = MockZendeskRead::new();
        read.expect_list_user_memberships_page().never();
        read.expect_list_memberships_page().never();
        let known = HashMap::from([(UserId(1), [OrganizationId(10)].into())]);
        let needs = vec![
            (UserId(1), [OrganizationId(10), OrganizationId(11)].into()),
            (UserId(2), [OrganizationId(20)].into()),
        ];
        let mut memberships = Memberships::Remembered;
        let found = memberships.covering(&read, &needs, known).await.unwrap();
        // 11 and 20 are unknown: the plans add them and Zendesk says if they exist.
        assert_eq!(found[&UserId(1)], [OrganizationId(10)].into());
        assert!(!found.contains_key(&UserId(2)));
    }

    #[tokio::test]
    async fn the_export_is_indexed_by_every_email_of_every_active_user() {
        let mut read = MockZendeskRead::new();
        read.expect_export_users_page().times(1).returning(|_| {
            Ok(zendesk_client::UserExportPage::new(
                vec![
                    serde_json::from_value(serde_json::json!({
                        "id": 5, "name": "Vic", "email": "vic@x.io", "organization_id": 7,
                        "identities": [
                            {"id": 1, "user_id": 5, "type": "email", "value": "vic@x.io", "primary": true},
                            {"id": 2, "user_id": 5, "type": "email", "value": "V@Y.io", "primary": false}
                        ]
                    }))
                    .unwrap(),
                    serde_json::from_value(serde_json::json!({"id": 6, "name": "Gone", "email": "gone@x.io", "active": false}))
                        .unwrap(),
                ],
                None,
                true,
            ))
        });
        let index = UserIndex::load(&read, &FieldMapping::default())
            .await
            .unwrap();
        let email = |e: &str| Email::parse(e).unwrap();
        assert_eq!(index.len().unwrap(), 2);
        let vic = index.get(&email("v@y.io")).unwrap().unwrap();
        assert_eq!(vic.id, UserId(5));
        assert_eq!(vic.default_organization, Some(OrganizationId(7)));
        assert_eq!(index.get(&email("gone@x.io")).unwrap(), None);
        let first = index.user_ids(None, 1).unwrap();
        assert_eq!(first, [(email("v@y.io"), UserId(5))]);
        let rest = index.user_ids(Some(&first[0].0), 10).unwrap();
        assert_eq!(rest, [(email("vic@x.io"), UserId(5))]);
    }
}
