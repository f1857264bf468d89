//! A private, temporary on-disk SQLite database that holds the run's Salesforce records
//! while they are grouped by email, so a run over a large org keeps bounded memory: the
//! engine reads one chunk of email groups at a time, whatever the order Salesforce sent
//! the records in.

use domain::{Account, Email, Person, PersonKind, Relation, SalesforceId};
use rusqlite::{Connection, OptionalExtension, params};

/// The staged records of one run; deleted when dropped.
pub struct Staging {
    conn: Connection,
}

/// Staging failed (disk full, temp dir missing, ...).
#[derive(Debug, thiserror::Error)]
#[error("staging records in a temporary database failed")]
pub struct StagingError(#[from] rusqlite::Error);

/// Converts a staged JSON body back, treating corruption as a database error.
fn decode<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, StagingError> {
    serde_json::from_str(body).map_err(|e| {
        StagingError(rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            Box::new(e),
        ))
    })
}

fn encode<T: serde::Serialize>(value: &T) -> Result<String, StagingError> {
    serde_json::to_string(value)
        .map_err(|e| StagingError(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))
}

/// The grouping key of a person: its normalized email, unless it cannot be synced.
fn email_key(person: &Person) -> Option<String> {
    if person.kind == PersonKind::Lead && person.converted {
        return None;
    }
    Email::parse(person.email.as_deref()?)
        .ok()
        .map(String::from)
}

impl Staging {
    /// A new empty staging database in a temporary file.
    ///
    /// # Errors
    /// When SQLite cannot create its temporary file.
    pub fn new() -> Result<Self, StagingError> {
        // An empty path is SQLite's private temporary database: on disk, deleted on close.
        let conn = Connection::open("")?;
        conn.execute_batch(
            "PRAGMA journal_mode = OFF;
             PRAGMA synchronous = OFF;
             CREATE TABLE people (id TEXT PRIMARY KEY, email_key TEXT, body TEXT NOT NULL);
             CREATE INDEX people_email ON people (email_key);
             CREATE TABLE relations (id TEXT PRIMARY KEY, contact_id TEXT NOT NULL, body TEXT NOT NULL);
             CREATE INDEX relations_contact ON relations (contact_id);
             CREATE TABLE accounts (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;
             CREATE TABLE deferred (seq INTEGER PRIMARY KEY, body TEXT NOT NULL);",
        )?;
        Ok(Self { conn })
    }

    /// Adds (or refreshes) people.
    ///
    /// # Errors
    /// On a database failure.
    pub fn add_people(&mut self, people: &[Person]) -> Result<(), StagingError> {
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO people (id, email_key, body) VALUES (?1, ?2, ?3)",
            )?;
            for person in people {
                insert.execute(params![
                    person.id.as_str(),
                    email_key(person),
                    encode(person)?
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Adds (or refreshes) account-contact relations.
    ///
    /// # Errors
    /// On a database failure.
    pub fn add_relations(&mut self, relations: &[Relation]) -> Result<(), StagingError> {
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO relations (id, contact_id, body) VALUES (?1, ?2, ?3)",
            )?;
            for relation in relations {
                insert.execute(params![
                    relation.id.as_str(),
                    relation.contact_id.as_str(),
                    encode(relation)?
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Adds (or refreshes) accounts.
    ///
    /// # Errors
    /// On a database failure.
    pub fn add_accounts(&mut self, accounts: &[Account]) -> Result<(), StagingError> {
        let tx = self.conn.transaction()?;
        {
            let mut insert =
                tx.prepare_cached("INSERT OR REPLACE INTO accounts (id, body) VALUES (?1, ?2)")?;
            for account in accounts {
                insert.execute(params![account.id.as_str(), encode(account)?])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Number of staged accounts.
    ///
    /// # Errors
    /// On a database failure.
    pub fn account_count(&self) -> Result<u64, StagingError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM accounts", [], |row| row.get(0))?)
    }

    /// The next page of accounts in Id order: up to `limit` after `after`, with the last
    /// Id of the page, or `None` when done.
    ///
    /// # Errors
    /// On a database failure.
    pub fn next_accounts(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Option<(Vec<Account>, String)>, StagingError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, body FROM accounts WHERE id > ?1 ORDER BY id LIMIT ?2")?;
        let rows: Vec<(String, String)> = stmt
            .query_map(
                params![
                    after.unwrap_or(""),
                    i64::try_from(limit).unwrap_or(i64::MAX)
                ],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?
            .collect::<Result<_, _>>()?;
        let Some((last, _)) = rows.last() else {
            return Ok(None);
        };
        let last = last.clone();
        let accounts = rows
            .iter()
            .map(|(_, b)| decode(b))
            .collect::<Result<_, _>>()?;
        Ok(Some((accounts, last)))
    }

    /// Keeps items for later in the run, in the order given.
    ///
    /// # Errors
    /// On a database failure.
    pub fn defer<T: serde::Serialize>(&mut self, items: &[T]) -> Result<(), StagingError> {
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached("INSERT INTO deferred (body) VALUES (?1)")?;
            for item in items {
                insert.execute([encode(item)?])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Number of deferred items.
    ///
    /// # Errors
    /// On a database failure.
    pub fn deferred_count(&self) -> Result<u64, StagingError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM deferred", [], |row| row.get(0))?)
    }

    /// The next page of deferred items: up to `limit` after position `after` (0 first), with
    /// the position of the page's last item, or `None` when done.
    ///
    /// # Errors
    /// On a database failure, or an item that does not decode as `T`.
    pub fn next_deferred<T: serde::de::DeserializeOwned>(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Option<(Vec<T>, i64)>, StagingError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, body FROM deferred WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows: Vec<(i64, String)> = stmt
            .query_map(
                params![after, i64::try_from(limit).unwrap_or(i64::MAX)],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?
            .collect::<Result<_, _>>()?;
        let Some((last, _)) = rows.last() else {
            return Ok(None);
        };
        let last = *last;
        let items = rows
            .iter()
            .map(|(_, b)| decode(b))
            .collect::<Result<_, _>>()?;
        Ok(Some((items, last)))
    }

    /// Number of staged people.
    ///
    /// # Errors
    /// On a database failure.
    pub fn people_count(&self) -> Result<u64, StagingError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM people", [], |row| row.get(0))?)
    }

    /// Number of distinct emails staged.
    ///
    /// # Errors
    /// On a database failure.
    pub fn email_count(&self) -> Result<u64, StagingError> {
        Ok(self.conn.query_row(
            "SELECT count(DISTINCT email_key) FROM people WHERE email_key IS NOT NULL",
            [],
            |row| row.get(0),
        )?)
    }

    /// Every distinct email staged, in order.
    ///
    /// # Errors
    /// On a database failure.
    pub fn emails(&self) -> Result<Vec<String>, StagingError> {
        let mut stmt = self.conn.prepare(
            "SELECT DISTINCT email_key FROM people WHERE email_key IS NOT NULL ORDER BY email_key",
        )?;
        let emails = stmt
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(emails)
    }

    /// Ids of every staged contact.
    ///
    /// # Errors
    /// On a database failure.
    pub fn contact_ids(&self) -> Result<Vec<String>, StagingError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM people WHERE email_key IS NOT NULL ORDER BY id")?;
        let ids = stmt
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    /// `(id, email)` of every staged person that has an email group.
    ///
    /// # Errors
    /// On a database failure.
    pub fn grouped_people(&self) -> Result<Vec<(String, String)>, StagingError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, email_key FROM people WHERE email_key IS NOT NULL ORDER BY id")?;
        let pairs = stmt
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(pairs)
    }

    /// People that cannot be grouped (no or invalid email, converted leads).
    ///
    /// # Errors
    /// On a database failure.
    pub fn ungroupable(&self) -> Result<Vec<Person>, StagingError> {
        let mut stmt = self
            .conn
            .prepare("SELECT body FROM people WHERE email_key IS NULL ORDER BY id")?;
        let bodies: Vec<String> = stmt
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        bodies.iter().map(|b| decode(b)).collect()
    }

    /// The next chunk: up to `limit` emails after `after`, with all their people.
    /// Returns the people and the last email of the chunk, or `None` when done.
    ///
    /// # Errors
    /// On a database failure.
    pub fn next_chunk(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Option<(Vec<Person>, String)>, StagingError> {
        let after = after.unwrap_or("");
        let last: Option<String> = self
            .conn
            .query_row(
                "SELECT max(email_key) FROM (SELECT DISTINCT email_key FROM people
                  WHERE email_key IS NOT NULL AND email_key > ?1 ORDER BY email_key LIMIT ?2)",
                params![after, i64::try_from(limit).unwrap_or(i64::MAX)],
                |row| row.get(0),
            )
            .optional()?
            .flatten();
        let Some(last) = last else { return Ok(None) };
        let mut stmt = self
            .conn
            .prepare_cached("SELECT body FROM people WHERE email_key > ?1 AND email_key <= ?2 ORDER BY email_key, id")?;
        let bodies: Vec<String> = stmt
            .query_map(params![after, last], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        let people = bodies.iter().map(|b| decode(b)).collect::<Result<_, _>>()?;
        Ok(Some((people, last)))
    }

    /// Staged relations of the given contacts.
    ///
    /// # Errors
    /// On a database failure.
    pub fn relations_of(&self, contacts: &[&SalesforceId]) -> Result<Vec<Relation>, StagingError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT body FROM relations WHERE contact_id = ?1 ORDER BY id")?;
        let mut relations = Vec::new();
        for contact in contacts {
            let bodies: Vec<String> = stmt
                .query_map([contact.as_str()], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            for body in bodies {
                relations.push(decode(&body)?);
            }
        }
        Ok(relations)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(n: u32, email: Option<&str>) -> Person {
        Person {
            id: SalesforceId::parse(&format!("003000000000{n:03}")).unwrap(),
            kind: PersonKind::Contact,
            email: email.map(str::to_owned),
            account_id: None,
            created_date: None,
            converted: false,
            fields: Default::default(),
        }
    }

    #[test]
    fn chunks_never_split_an_email_group() {
        let mut staging = Staging::new().unwrap();
        staging
            .add_people(&[
                person(1, Some("b@x.io")),
                person(2, Some("A@x.io")),
                person(3, Some("a@x.io ")),
                person(4, Some("c@x.io")),
                person(5, None),
                person(6, Some("bad email")),
            ])
            .unwrap();
        assert_eq!(staging.email_count().unwrap(), 3);
        let (first, last) = staging.next_chunk(None, 2).unwrap().unwrap();
        assert_eq!(last, "b@x.io");
        assert_eq!(first.len(), 3, "both a@x.io contacts and b@x.io");
        let (second, last) = staging.next_chunk(Some(&last), 2).unwrap().unwrap();
        assert_eq!((second.len(), last.as_str()), (1, "c@x.io"));
        assert!(staging.next_chunk(Some(&last), 2).unwrap().is_none());
        assert_eq!(staging.ungroupable().unwrap().len(), 2);
    }

    #[test]
    fn restaging_a_record_replaces_it() {
        let mut staging = Staging::new().unwrap();
        staging.add_people(&[person(1, Some("a@x.io"))]).unwrap();
        staging.add_people(&[person(1, Some("b@x.io"))]).unwrap();
        assert_eq!(staging.people_count().unwrap(), 1);
        assert_eq!(staging.emails().unwrap(), vec!["b@x.io".to_owned()]);
    }

    #[test]
    fn accounts_come_back_once_each_in_id_order_a_page_at_a_time() {
        let account = |n: u32, name: &str| Account {
            id: SalesforceId::parse(&format!("001000000000{n:03}")).unwrap(),
            fields: [("name".to_owned(), serde_json::json!(name))].into(),
        };
        let mut staging = Staging::new().unwrap();
        staging
            .add_accounts(&[account(3, "C"), account(1, "A")])
            .unwrap();
        // Read again (a retried account): replaced, not doubled.
        staging
            .add_accounts(&[account(2, "B"), account(1, "A2")])
            .unwrap();
        assert_eq!(staging.account_count().unwrap(), 3);
        let (first, last) = staging.next_accounts(None, 2).unwrap().unwrap();
        assert_eq!(first, vec![account(1, "A2"), account(2, "B")]);
        let (rest, last) = staging.next_accounts(Some(&last), 2).unwrap().unwrap();
        assert_eq!(rest, vec![account(3, "C")]);
        assert!(staging.next_accounts(Some(&last), 2).unwrap().is_none());
    }

    #[test]
    fn deferred_items_come_back_in_the_order_they_were_deferred() {
        let mut staging = Staging::new().unwrap();
        staging.defer(&["b", "a"]).unwrap();
        staging.defer(&["c"]).unwrap();
        assert_eq!(staging.deferred_count().unwrap(), 3);
        let (first, last) = staging.next_deferred::<String>(0, 2).unwrap().unwrap();
        assert_eq!(first, ["b", "a"]);
        let (rest, last) = staging.next_deferred::<String>(last, 2).unwrap().unwrap();
        assert_eq!(rest, ["c"]);
        assert!(staging.next_deferred::<String>(last, 2).unwrap().is_none());
    }
}
