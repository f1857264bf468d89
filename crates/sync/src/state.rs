//! Persistent sync state in an embedded SQLite file: watermarks, remembered syncing
//! records, failed records to retry, primary-pass markers and the history of runs.
//!
//! The file lives at `[state] path` of the configuration. SQLite is linked into the
//! binary (`bundled`), so operators install nothing.
//!
//! # Crash safety
//!
//! The database runs in WAL mode with `synchronous = FULL`, and every mutation happens
//! inside one transaction, so a run killed at any point (even `SIGKILL`) leaves the
//! file as of its last committed transaction: a watermark never gets ahead of the
//! records it covers when the engine commits them together through
//! [`StateStore::transaction`].
//!
//! # One run at a time
//!
//! [`StateStore::open`] takes an exclusive OS lock (`flock` on Unix, `LockFileEx` on
//! Windows) on the sidecar file `<path>.lock` and holds it for the store's lifetime. The
//! lock belongs to the open file handle, so a second `open` of the same path fails with
//! [`StateError::Locked`] whether it comes from another process or from the same one,
//! and the OS drops the lock when a process dies, so no stale lock needs cleaning up.
//! The lock file is deliberately never deleted: removing it while another process
//! waits on it would let two runs in.
//!
//! # Schema migrations
//!
//! The schema version is SQLite's `user_version`. `MIGRATIONS` is an ordered
//! list; migration `n` (1-based) moves the schema from version `n - 1` to `n` and runs in
//! its own transaction together with the version bump, so a crash mid-migration leaves
//! the previous version intact. A file written by a newer sfzd is refused with
//! [`StateError::NewerSchema`] rather than misread.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use domain::{Email, OrganizationId, PersonObject, SalesforceId, UserId};
use rusqlite::{
    Connection, OptionalExtension, Transaction, TransactionBehavior, params, params_from_iter,
};

use crate::report::RunMode;

/// Ordered schema migrations; entry `i` upgrades the schema from version `i` to `i + 1`.
///
/// Released entries are never edited: a change to the schema is a new entry.
const MIGRATIONS: &[&str] = &[
    // Version 1, the first release.
    //
    // Timestamps are RFC 3339 text in UTC with nanoseconds (fixed width), readable with
    // the `sqlite3` shell and ordered like the instants they denote.
    "
    CREATE TABLE watermarks (
        scope TEXT PRIMARY KEY NOT NULL,
        at    TEXT NOT NULL
    ) STRICT;

    CREATE TABLE syncing_records (
        email         TEXT PRIMARY KEY NOT NULL,
        salesforce_id TEXT NOT NULL,
        updated_at    TEXT NOT NULL
    ) STRICT;

    CREATE TABLE failed_records (
        salesforce_id   TEXT PRIMARY KEY NOT NULL,
        kind            TEXT NOT NULL,
        email           TEXT,
        message         TEXT NOT NULL,
        attempts        INTEGER NOT NULL,
        first_failed_at TEXT NOT NULL,
        last_failed_at  TEXT NOT NULL
    ) STRICT;

    CREATE TABLE primary_pass (
        object       TEXT PRIMARY KEY NOT NULL,
        completed_at TEXT NOT NULL
    ) STRICT;

    CREATE TABLE runs (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        mode        TEXT NOT NULL,
        dry_run     INTEGER NOT NULL,
        started_at  TEXT NOT NULL,
        finished_at TEXT,
        outcome     TEXT,
        report_json TEXT
    ) STRICT;
    ",
    // Version 2: the Zendesk user each email was matched with or created as, so later runs
    // read users by id (100 a call, no search-index lag) instead of one search per email.
    "
    CREATE TABLE zendesk_users (
        email      TEXT PRIMARY KEY NOT NULL,
        user_id    INTEGER NOT NULL,
        updated_at TEXT NOT NULL
    ) STRICT;
    ",
    // Version 3: writes Zendesk refused (its per-record error), with what was sent, so
    // later runs do not send the same thing again until the record changes.
    "
    CREATE TABLE refusals (
        salesforce_id TEXT NOT NULL,
        subject       TEXT NOT NULL,
        sent          TEXT NOT NULL,
        message       TEXT NOT NULL,
        refused_at    TEXT NOT NULL,
        PRIMARY KEY (salesforce_id, subject)
    ) STRICT;
    ",
    // Version 4: memberships sfzd wrote or read, so an incremental run reads a user's
    // memberships only when the rules ask about an organization not remembered here
    // (Zendesk has no batched read of several users' memberships). A membership removed
    // by hand in Zendesk is added again by the next --full run, which reads them all.
    "
    CREATE TABLE zendesk_memberships (
        user_id         INTEGER NOT NULL,
        organization_id INTEGER NOT NULL,
        PRIMARY KEY (user_id, organization_id)
    ) STRICT, WITHOUT ROWID;
    ",
];

/// The schema version this build writes and reads.
// The list is tiny, so the cast cannot truncate.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// How many runs [`StateStore::begin_run`] keeps in the history; older ones are pruned so
/// the file does not grow with every cron invocation.
pub const RUN_HISTORY_LIMIT: usize = 1000;

/// A watermark: the newest `SystemModstamp` of a kind of record whose changes are synced.
///
/// The keys under which they are stored are named constants: changing one would make
/// every existing state file look new and force full runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Watermark {
    /// Accounts, synced to organizations.
    Accounts,
    /// Contacts or leads, synced to users.
    People(PersonObject),
    /// Account-contact relations, synced to memberships.
    Relations,
}

impl Watermark {
    /// Stored key of [`Watermark::Accounts`].
    pub const ACCOUNTS_KEY: &str = "account";
    /// Stored key of the contacts' watermark (and primary-pass marker).
    pub const CONTACTS_KEY: &str = "contact";
    /// Stored key of the leads' watermark (and primary-pass marker).
    pub const LEADS_KEY: &str = "lead";
    /// Stored key of [`Watermark::Relations`].
    pub const RELATIONS_KEY: &str = "relation";

    /// The key stored in the file.
    pub fn key(self) -> &'static str {
        match self {
            Self::Accounts => Self::ACCOUNTS_KEY,
            Self::People(PersonObject::Contact) => Self::CONTACTS_KEY,
            Self::People(PersonObject::Lead) => Self::LEADS_KEY,
            Self::Relations => Self::RELATIONS_KEY,
        }
    }
}

/// How a run ended, as stored in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunOutcomeKind {
    /// Every record synced.
    Ok,
    /// The run finished, but some records failed (exit status 3).
    Partial,
    /// The run could not finish (exit status 1 or 2).
    Failed,
    /// The run was stopped, or its process died.
    Interrupted,
}

impl RunOutcomeKind {
    /// Every outcome, in a stable order.
    pub const ALL: [RunOutcomeKind; 4] = [Self::Ok, Self::Partial, Self::Failed, Self::Interrupted];

    /// The lowercase name stored in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Partial => "partial",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for RunOutcomeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn decode_outcome(text: &str) -> Result<RunOutcomeKind, StateError> {
    RunOutcomeKind::ALL
        .into_iter()
        .find(|o| o.as_str() == text)
        .ok_or_else(|| StateError::Decode {
            what: "run outcome",
            value: text.to_owned(),
        })
}

fn decode_mode(text: &str) -> Result<RunMode, StateError> {
    [RunMode::Full, RunMode::Incremental]
        .into_iter()
        .find(|m| m.as_str() == text)
        .ok_or_else(|| StateError::Decode {
            what: "run mode",
            value: text.to_owned(),
        })
}

/// A write Zendesk refused, remembered so the same thing is not sent again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// What was sent, as JSON.
    pub sent: String,
    /// Zendesk's message.
    pub message: String,
    /// When Zendesk refused it.
    pub refused_at: DateTime<Utc>,
}

/// Emails per `IN (...)` list, well under SQLite's bound on statement variables.
const IN_LIST_CHUNK: usize = 500;

/// How long a statement waits for SQLite's own file lock (e.g. an operator inspecting the
/// file with `sqlite3`) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The name used for the store in errors when it has no file.
const IN_MEMORY: &str = ":memory:";

/// Why the state store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Another store (another sfzd run) holds the lock on this state file.
    #[error(
        "another sfzd run is using the state file {} (lock {}); wait for it to finish",
        path.display(),
        lock.display()
    )]
    Locked {
        /// The state file.
        path: PathBuf,
        /// The sidecar lock file.
        lock: PathBuf,
    },
    /// The sidecar lock file could not be created or locked.
    #[error("cannot lock the state file through {}", lock.display())]
    LockFile {
        /// The sidecar lock file.
        lock: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// The state file could not be opened as an SQLite database.
    #[error("cannot open the state file {}", path.display())]
    Open {
        /// The state file.
        path: PathBuf,
        /// SQLite's failure, e.g. "file is not a database".
        #[source]
        source: rusqlite::Error,
    },
    /// A query on the state database failed.
    #[error("state database query failed")]
    Sqlite(#[from] rusqlite::Error),
    /// A schema migration failed; the schema stays at the previous version.
    #[error("migrating the state file {} to schema version {version} failed", path.display())]
    Migration {
        /// The state file.
        path: PathBuf,
        /// The version the failed migration would have reached.
        version: u32,
        /// SQLite's failure.
        #[source]
        source: rusqlite::Error,
    },
    /// The state file was written by a newer sfzd.
    #[error(
        "the state file {} has schema version {found}, newer than version {supported} of this sfzd; upgrade sfzd",
        path.display()
    )]
    NewerSchema {
        /// The state file.
        path: PathBuf,
        /// The version stored in the file.
        found: u32,
        /// The newest version this build knows.
        supported: u32,
    },
    /// A value read from the file is not one this build writes.
    #[error("invalid {what} {value:?} in the state file")]
    Decode {
        /// What the value should have been, e.g. "timestamp".
        what: &'static str,
        /// The stored value.
        value: String,
    },
    /// A caller passed a value the store does not accept.
    #[error("invalid {what} {value:?}")]
    InvalidValue {
        /// What the value is, e.g. "run outcome".
        what: &'static str,
        /// The rejected value.
        value: String,
    },
    /// [`StateStore::finish_run`] named a run that does not exist or already finished.
    #[error("run {run} is unknown or already finished")]
    RunNotOpen {
        /// The run.
        run: RunId,
    },
}

impl StateError {
    /// Whether the error means another run holds the state file.
    pub fn is_locked(&self) -> bool {
        matches!(self, StateError::Locked { .. })
    }
}

/// The kind of Salesforce record a failure refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// An Account, synced to an organization.
    Account,
    /// A Contact, synced to a user.
    Contact,
    /// A Lead, synced to a user.
    Lead,
    /// An AccountContactRelation (or a direct account link), synced to a membership.
    Relation,
}

impl RecordKind {
    /// Every kind, in a stable order.
    pub const ALL: [RecordKind; 4] = [
        RecordKind::Account,
        RecordKind::Contact,
        RecordKind::Lead,
        RecordKind::Relation,
    ];

    /// The kind of the people synced to users.
    pub fn person(object: PersonObject) -> Self {
        match object {
            PersonObject::Contact => RecordKind::Contact,
            PersonObject::Lead => RecordKind::Lead,
        }
    }

    /// The lowercase name stored in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Account => "account",
            RecordKind::Contact => "contact",
            RecordKind::Lead => "lead",
            RecordKind::Relation => "relation",
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RecordKind {
    type Err = StateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RecordKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| StateError::Decode {
                what: "record kind",
                value: s.to_owned(),
            })
    }
}

/// A record that failed in a run and is retried in the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRecord {
    /// The record's 18-character Salesforce Id.
    pub salesforce_id: String,
    /// What kind of record it is.
    pub kind: RecordKind,
    /// The record's normalized email, for contacts and leads.
    pub email: Option<String>,
    /// The last failure's message.
    pub message: String,
    /// How many runs it failed in, counting the last one.
    pub attempts: u32,
    /// When it failed first.
    pub first_failed_at: DateTime<Utc>,
    /// When it failed last.
    pub last_failed_at: DateTime<Utc>,
}

/// A failure to remember, as passed to [`StateStore::record_failures`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFailure {
    /// The record's 18-character Salesforce Id.
    pub salesforce_id: String,
    /// What kind of record it is.
    pub kind: RecordKind,
    /// The record's normalized email, for contacts and leads.
    pub email: Option<String>,
    /// Why it failed.
    pub message: String,
}

/// The identifier of a run in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunId(i64);

impl RunId {
    /// The numeric id, as stored in the file.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One run of the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    /// The run's id; later runs have larger ids.
    pub id: RunId,
    /// Full or incremental.
    pub mode: RunMode,
    /// Whether the run was a dry run.
    pub dry_run: bool,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// When the run finished; `None` while it runs or if it was killed.
    pub finished_at: Option<DateTime<Utc>>,
    /// How it ended; `None` while it runs.
    pub outcome: Option<RunOutcomeKind>,
    /// The run's JSON report, when it finished.
    pub report_json: Option<String>,
}

/// The sync state of one state file, locked for the lifetime of the value.
#[derive(Debug)]
pub struct StateStore {
    // Field order matters: the connection closes (checkpointing the WAL) before the lock
    // is released, so the next run never sees a half-closed database.
    conn: Connection,
    _lock: Option<File>,
    path: Option<PathBuf>,
}

impl StateStore {
    /// Opens (creating it if absent) the state file at `path`, locks it for this run and
    /// brings its schema up to [`SCHEMA_VERSION`].
    ///
    /// The parent directory must exist; it is not created, so a typo in `[state] path`
    /// fails loudly instead of scattering state files.
    ///
    /// # Errors
    ///
    /// [`StateError::Locked`] when another store holds the file, [`StateError::LockFile`]
    /// or [`StateError::Open`] when the files cannot be opened,
    /// [`StateError::NewerSchema`] for a file of a newer sfzd, and
    /// [`StateError::Migration`] when a migration fails.
    pub fn open(path: &Path) -> Result<Self, StateError> {
        let lock = lock_path(path);
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
            .map_err(|source| StateError::LockFile {
                lock: lock.clone(),
                source,
            })?;
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StateError::Locked {
                    path: path.to_path_buf(),
                    lock,
                });
            }
            Err(TryLockError::Error(source)) => return Err(StateError::LockFile { lock, source }),
        }

        let open_error = |source| StateError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(open_error)?;
        configure(&conn, true).map_err(open_error)?;
        let mut store = StateStore {
            conn,
            _lock: Some(lock_file),
            path: Some(path.to_path_buf()),
        };
        store.migrate()?;
        tracing::debug!(path = %path.display(), "opened the state file");
        Ok(store)
    }

    /// Opens a fresh store in memory, for tests; nothing is persisted and nothing locked.
    ///
    /// # Errors
    ///
    /// [`StateError::Open`] or [`StateError::Migration`] if SQLite fails, which does not
    /// happen short of memory exhaustion.
    pub fn open_in_memory() -> Result<Self, StateError> {
        let open_error = |source| StateError::Open {
            path: PathBuf::from(IN_MEMORY),
            source,
        };
        let conn = Connection::open_in_memory().map_err(open_error)?;
        configure(&conn, false).map_err(open_error)?;
        let mut store = StateStore {
            conn,
            _lock: None,
            path: None,
        };
        store.migrate()?;
        Ok(store)
    }

    /// The state file, or `None` for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The schema version stored in the file.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] if the query fails.
    pub fn schema_version(&self) -> Result<u32, StateError> {
        Ok(user_version(&self.conn)?)
    }

    /// Runs `f` in one immediate transaction and commits it if `f` succeeds.
    ///
    /// This is how the engine commits a chunk's syncing records, failures and watermark
    /// together: if `f` fails (or panics) nothing of it is written.
    ///
    /// # Errors
    ///
    /// The error of `f`, or [`StateError::Sqlite`] if beginning or committing fails.
    pub fn transaction<T>(
        &mut self,
        f: impl FnOnce(&StateTx<'_>) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        // IMMEDIATE takes SQLite's write lock up front, so a transaction never fails
        // half-way because it could not upgrade a read lock.
        let tx = Transaction::new(&mut self.conn, TransactionBehavior::Immediate)?;
        let state_tx = StateTx { tx };
        let value = f(&state_tx)?;
        state_tx.tx.commit()?;
        Ok(value)
    }

    /// The watermark `mark`: the newest `SystemModstamp` whose records are all synced.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] or [`StateError::Decode`] on a damaged file.
    pub fn watermark(&self, mark: Watermark) -> Result<Option<DateTime<Utc>>, StateError> {
        get_watermark(&self.conn, mark)
    }

    /// The remembered syncing record of each of `emails` that has one.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] if the query fails, [`StateError::Decode`] on a damaged file.
    pub fn syncing_records(
        &self,
        emails: &[Email],
    ) -> Result<HashMap<Email, SalesforceId>, StateError> {
        let mut found = HashMap::new();
        for (email, id) in select_by_email(&self.conn, "syncing_records", "salesforce_id", emails)?
        {
            found.insert(email, decode_id(id)?);
        }
        Ok(found)
    }

    /// The emails whose remembered syncing record is one of `records`, with that record:
    /// the groups to decide again when those records are deleted or change their email.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] if the query fails, [`StateError::Decode`] on a damaged file.
    pub fn emails_synced_by(
        &self,
        records: &[SalesforceId],
    ) -> Result<Vec<(Email, SalesforceId)>, StateError> {
        let mut found = Vec::new();
        for chunk in records.chunks(IN_LIST_CHUNK) {
            let placeholders = vec!["?"; chunk.len()].join(", ");
            let mut stmt = self.conn.prepare(&format!(
                "SELECT email, salesforce_id FROM syncing_records WHERE salesforce_id IN ({placeholders})"
            ))?;
            let ids = chunk.iter().map(SalesforceId::as_str);
            let rows = stmt.query_map(params_from_iter(ids), |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })?;
            for row in rows {
                let (email, id) = row?;
                found.push((decode_email(email)?, decode_id(id)?));
            }
        }
        Ok(found)
    }

    /// The Zendesk user remembered for each of `emails` that has one.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] if the read fails.
    pub fn zendesk_users(&self, emails: &[Email]) -> Result<HashMap<Email, UserId>, StateError> {
        let mut found = HashMap::new();
        for (email, id) in select_by_email::<i64>(&self.conn, "zendesk_users", "user_id", emails)? {
            if let Ok(id) = u64::try_from(id) {
                found.insert(email, UserId(id));
            }
        }
        Ok(found)
    }

    /// The memberships remembered for each of `users` that has any.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] if the read fails.
    pub fn known_memberships(
        &self,
        users: &[UserId],
    ) -> Result<HashMap<UserId, BTreeSet<OrganizationId>>, StateError> {
        let mut found: HashMap<UserId, BTreeSet<OrganizationId>> = HashMap::new();
        let ids: Vec<i64> = users
            .iter()
            .filter_map(|u| i64::try_from(u.0).ok())
            .collect();
        for chunk in ids.chunks(IN_LIST_CHUNK) {
            let placeholders = vec!["?"; chunk.len()].join(", ");
            let mut stmt = self.conn.prepare_cached(&format!(
                "SELECT user_id, organization_id FROM zendesk_memberships WHERE user_id IN ({placeholders})"
            ))?;
            let rows = stmt.query_map(params_from_iter(chunk.iter()), |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
            })?;
            for row in rows {
                let (user, organization) = row?;
                if let (Ok(user), Ok(organization)) =
                    (u64::try_from(user), u64::try_from(organization))
                {
                    found
                        .entry(UserId(user))
                        .or_default()
                        .insert(OrganizationId(organization));
                }
            }
        }
        Ok(found)
    }

    /// Every remembered failure, oldest last failure first.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] or [`StateError::Decode`] on a damaged file.
    pub fn failed_records(&self) -> Result<Vec<FailedRecord>, StateError> {
        let mut stmt = self.conn.prepare(
            "SELECT salesforce_id, kind, email, message, attempts, first_failed_at, last_failed_at
             FROM failed_records ORDER BY last_failed_at, salesforce_id",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, u32>(4)?,
                row.get::<_, String>(5)?,
                row.get::<_, String>(6)?,
            ))
        })?;
        let mut failures = Vec::new();
        for row in rows {
            let (salesforce_id, kind, email, message, attempts, first, last) = row?;
            failures.push(FailedRecord {
                salesforce_id,
                kind: kind.parse()?,
                email,
                message,
                attempts,
                first_failed_at: parse_time(&first)?,
                last_failed_at: parse_time(&last)?,
            });
        }
        Ok(failures)
    }

    /// The refusals remembered for `records`, keyed by record and what was refused.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] or [`StateError::Decode`] on a damaged file.
    pub fn refusals(
        &self,
        records: &[SalesforceId],
    ) -> Result<HashMap<(SalesforceId, String), Refusal>, StateError> {
        let mut found = HashMap::new();
        for chunk in records.chunks(IN_LIST_CHUNK) {
            let placeholders = vec!["?"; chunk.len()].join(", ");
            let mut stmt = self.conn.prepare(&format!(
                "SELECT salesforce_id, subject, sent, message, refused_at FROM refusals
                 WHERE salesforce_id IN ({placeholders})"
            ))?;
            let ids = chunk.iter().map(SalesforceId::as_str);
            let rows = stmt.query_map(params_from_iter(ids), |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                ))
            })?;
            for row in rows {
                let (id, subject, sent, message, at) = row?;
                found.insert(
                    (decode_id(id)?, subject),
                    Refusal {
                        sent,
                        message,
                        refused_at: parse_time(&at)?,
                    },
                );
            }
        }
        Ok(found)
    }

    /// Every remembered refusal, by record.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] or [`StateError::Decode`] on a damaged file.
    pub fn all_refusals(&self) -> Result<Vec<(SalesforceId, String, Refusal)>, StateError> {
        let mut stmt = self.conn.prepare(
            "SELECT salesforce_id, subject, sent, message, refused_at FROM refusals
             ORDER BY salesforce_id, subject",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
            ))
        })?;
        let mut all = Vec::new();
        for row in rows {
            let (id, subject, sent, message, at) = row?;
            all.push((
                decode_id(id)?,
                subject,
                Refusal {
                    sent,
                    message,
                    refused_at: parse_time(&at)?,
                },
            ));
        }
        Ok(all)
    }

    /// Whether the primary pass over `object` has completed once.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] if the query fails.
    pub fn primary_pass_complete(&self, object: PersonObject) -> Result<bool, StateError> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM primary_pass WHERE object = ?1",
                [Watermark::People(object).key()],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Starts a run in the history, now.
    ///
    /// Runs left without an outcome can only belong to a process that died (this store
    /// holds the lock), so they are marked `"interrupted"`. The history is pruned to the
    /// latest [`RUN_HISTORY_LIMIT`] runs.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] if the write fails.
    pub fn begin_run(&mut self, mode: RunMode, dry_run: bool) -> Result<RunId, StateError> {
        let now = format_time(Utc::now());
        let keep = i64::try_from(RUN_HISTORY_LIMIT).unwrap_or(i64::MAX);
        self.transaction(|tx| {
            let interrupted = tx.tx.execute(
                "UPDATE runs SET outcome = 'interrupted' WHERE outcome IS NULL",
                [],
            )?;
            if interrupted > 0 {
                tracing::warn!(
                    runs = interrupted,
                    "earlier runs ended without an outcome; marked interrupted"
                );
            }
            tx.tx.execute(
                "INSERT INTO runs (mode, dry_run, started_at) VALUES (?1, ?2, ?3)",
                params![mode.as_str(), dry_run, now],
            )?;
            let id = tx.tx.last_insert_rowid();
            // Keep the new run plus the latest `keep - 1` before it.
            tx.tx.execute(
                "DELETE FROM runs WHERE id NOT IN (SELECT id FROM runs ORDER BY id DESC LIMIT ?1)",
                [keep],
            )?;
            Ok(RunId(id))
        })
    }

    /// Finishes `run`, now, with its outcome and JSON report.
    ///
    /// # Errors
    ///
    /// [`StateError::RunNotOpen`] if the run is unknown or already finished, or
    /// [`StateError::Sqlite`] if the write fails.
    pub fn finish_run(
        &mut self,
        run: RunId,
        outcome: RunOutcomeKind,
        report_json: &str,
    ) -> Result<(), StateError> {
        let now = format_time(Utc::now());
        self.transaction(|tx| {
            let updated = tx.tx.execute(
                "UPDATE runs SET finished_at = ?2, outcome = ?3, report_json = ?4
                 WHERE id = ?1 AND finished_at IS NULL AND outcome IS NULL",
                params![run.0, now, outcome.as_str(), report_json],
            )?;
            if updated == 0 {
                return Err(StateError::RunNotOpen { run });
            }
            Ok(())
        })
    }

    /// The latest `limit` runs, newest first.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] or [`StateError::Decode`] on a damaged file.
    pub fn recent_runs(&self, limit: usize) -> Result<Vec<RunRecord>, StateError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self.conn.prepare(
            "SELECT id, mode, dry_run, started_at, finished_at, outcome, report_json
             FROM runs ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, bool>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, Option<String>>(5)?,
                row.get::<_, Option<String>>(6)?,
            ))
        })?;
        let mut runs = Vec::new();
        for row in rows {
            let (id, mode, dry_run, started_at, finished_at, outcome, report_json) = row?;
            runs.push(RunRecord {
                id: RunId(id),
                mode: decode_mode(&mode)?,
                dry_run,
                started_at: parse_time(&started_at)?,
                finished_at: finished_at.as_deref().map(parse_time).transpose()?,
                outcome: outcome.as_deref().map(decode_outcome).transpose()?,
                report_json,
            });
        }
        Ok(runs)
    }

    /// Applies the pending migrations, each in its own transaction with its version bump.
    fn migrate(&mut self) -> Result<(), StateError> {
        let path = self
            .path
            .clone()
            .unwrap_or_else(|| PathBuf::from(IN_MEMORY));
        let found = user_version(&self.conn)?;
        if found > SCHEMA_VERSION {
            return Err(StateError::NewerSchema {
                path,
                found,
                supported: SCHEMA_VERSION,
            });
        }
        for (version, sql) in (1..).zip(MIGRATIONS).skip(found as usize) {
            let migration_error = |source| StateError::Migration {
                path: path.clone(),
                version,
                source,
            };
            let tx = Transaction::new(&mut self.conn, TransactionBehavior::Immediate)
                .map_err(migration_error)?;
            tx.execute_batch(sql).map_err(migration_error)?;
            tx.pragma_update(None, "user_version", version)
                .map_err(migration_error)?;
            tx.commit().map_err(migration_error)?;
            tracing::info!(path = %path.display(), version, "migrated the state schema");
        }
        Ok(())
    }
}

/// A transaction on the state store, handed to the closure of [`StateStore::transaction`]:
/// every change to the state goes through one, so a chunk's facts commit together.
#[derive(Debug)]
pub struct StateTx<'a> {
    tx: Transaction<'a>,
}

impl StateTx<'_> {
    /// Advances the watermark `mark` to `at`; an older `at` leaves it unchanged.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] or [`StateError::Decode`] on a damaged file.
    pub fn set_watermark(&self, mark: Watermark, at: DateTime<Utc>) -> Result<(), StateError> {
        // Compared as instants rather than in SQL, so the rule does not depend on how
        // timestamps sort as text.
        if let Some(current) = get_watermark(&self.tx, mark)?
            && current >= at
        {
            return Ok(());
        }
        self.tx.execute(
            "INSERT INTO watermarks (scope, at) VALUES (?1, ?2)
             ON CONFLICT (scope) DO UPDATE SET at = excluded.at",
            params![mark.key(), format_time(at)],
        )?;
        Ok(())
    }

    /// Forgets every watermark, so the next run considers every record.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] if the write fails.
    pub fn clear_watermarks(&self) -> Result<(), StateError> {
        self.tx.execute("DELETE FROM watermarks", [])?;
        Ok(())
    }

    /// Remembers syncing records, replacing earlier choices for the same emails.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] if the write fails.
    pub fn set_syncing_records(&self, entries: &[(Email, SalesforceId)]) -> Result<(), StateError> {
        let now = format_time(Utc::now());
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO syncing_records (email, salesforce_id, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (email) DO UPDATE
             SET salesforce_id = excluded.salesforce_id, updated_at = excluded.updated_at
             WHERE salesforce_id <> excluded.salesforce_id",
        )?;
        for (email, salesforce_id) in entries {
            stmt.execute(params![email.as_str(), salesforce_id.as_str(), now])?;
        }
        Ok(())
    }

    /// Forgets the syncing records of `emails`.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] if the write fails.
    pub fn forget_syncing_records(&self, emails: &[Email]) -> Result<(), StateError> {
        let mut stmt = self
            .tx
            .prepare_cached("DELETE FROM syncing_records WHERE email = ?1")?;
        for email in emails {
            stmt.execute([email.as_str()])?;
        }
        Ok(())
    }

    /// Remembers memberships seen in Zendesk or written to it.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] if the write fails, [`StateError::InvalidValue`] for an id
    /// SQLite cannot hold.
    pub fn remember_memberships(
        &self,
        entries: &[(UserId, OrganizationId)],
    ) -> Result<(), StateError> {
        let mut stmt = self.tx.prepare_cached(
            "INSERT OR IGNORE INTO zendesk_memberships (user_id, organization_id) VALUES (?1, ?2)",
        )?;
        for (user, organization) in entries {
            let id = |value: u64, what: &'static str| {
                i64::try_from(value).map_err(|_| StateError::InvalidValue {
                    what,
                    value: value.to_string(),
                })
            };
            stmt.execute(params![
                id(user.0, "zendesk user id")?,
                id(organization.0, "zendesk organization id")?
            ])?;
        }
        Ok(())
    }

    /// Remembers the Zendesk user of each email.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] if the write fails, [`StateError::InvalidValue`] for an id
    /// SQLite cannot hold.
    pub fn set_zendesk_users(&self, entries: &[(Email, UserId)]) -> Result<(), StateError> {
        let now = format_time(Utc::now());
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO zendesk_users (email, user_id, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (email) DO UPDATE
             SET user_id = excluded.user_id, updated_at = excluded.updated_at
             WHERE user_id <> excluded.user_id",
        )?;
        for (email, user) in entries {
            let user_id = i64::try_from(user.0).map_err(|_| StateError::InvalidValue {
                what: "zendesk user id",
                value: user.0.to_string(),
            })?;
            stmt.execute(params![email.as_str(), user_id, now])?;
        }
        Ok(())
    }

    /// Remembers failures: a new record starts at one attempt, a known one counts one more
    /// and takes the new message.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] if the write fails.
    pub fn record_failures(&self, failures: &[NewFailure]) -> Result<(), StateError> {
        let now = format_time(Utc::now());
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO failed_records
                 (salesforce_id, kind, email, message, attempts, first_failed_at, last_failed_at)
             VALUES (?1, ?2, ?3, ?4, 1, ?5, ?5)
             ON CONFLICT (salesforce_id) DO UPDATE SET
                 kind = excluded.kind,
                 email = excluded.email,
                 message = excluded.message,
                 attempts = attempts + 1,
                 last_failed_at = excluded.last_failed_at",
        )?;
        for failure in failures {
            stmt.execute(params![
                failure.salesforce_id,
                failure.kind.as_str(),
                failure.email,
                failure.message,
                now
            ])?;
        }
        Ok(())
    }

    /// Forgets the failures of records that have now synced.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] if the write fails.
    pub fn clear_failures(&self, salesforce_ids: &[String]) -> Result<(), StateError> {
        let mut stmt = self
            .tx
            .prepare_cached("DELETE FROM failed_records WHERE salesforce_id = ?1")?;
        for id in salesforce_ids {
            stmt.execute([id])?;
        }
        Ok(())
    }

    /// Remembers that Zendesk refused what was sent for a record (`subject` says which
    /// write: `"user"`, or a membership), replacing an earlier refusal of the same write.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] if the write fails.
    pub fn record_refusal(
        &self,
        record: &SalesforceId,
        subject: &str,
        sent: &str,
        message: &str,
    ) -> Result<(), StateError> {
        self.tx.execute(
            "INSERT INTO refusals (salesforce_id, subject, sent, message, refused_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (salesforce_id, subject) DO UPDATE SET
                 sent = excluded.sent, message = excluded.message, refused_at = excluded.refused_at",
            params![record.as_str(), subject, sent, message, format_time(Utc::now())],
        )?;
        Ok(())
    }

    /// Forgets the refusals of records whose writes Zendesk has now accepted (or that a
    /// `--full` run sends again).
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] if the write fails.
    pub fn clear_refusals(&self, records: &[SalesforceId]) -> Result<(), StateError> {
        let mut stmt = self
            .tx
            .prepare_cached("DELETE FROM refusals WHERE salesforce_id = ?1")?;
        for id in records {
            stmt.execute([id.as_str()])?;
        }
        Ok(())
    }

    /// Records that the primary pass over `object` has completed; the first time is kept.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] if the write fails.
    pub fn set_primary_pass_complete(&self, object: PersonObject) -> Result<(), StateError> {
        self.tx.execute(
            "INSERT OR IGNORE INTO primary_pass (object, completed_at) VALUES (?1, ?2)",
            params![Watermark::People(object).key(), format_time(Utc::now())],
        )?;
        Ok(())
    }
}

/// The sidecar lock file of a state file: `<path>.lock`.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut lock = path.as_os_str().to_owned();
    lock.push(".lock");
    PathBuf::from(lock)
}

/// Sets the connection up for crash safety before anything else touches the file.
fn configure(conn: &Connection, on_disk: bool) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    if on_disk {
        // This is also the first read of the file, so a file that is not a database
        // fails here, as an open error naming the path.
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            // Some file systems (network shares) refuse WAL; the rollback journal is
            // still crash safe, only slower.
            tracing::warn!(journal_mode = %mode, "the state file could not use WAL mode");
        }
    }
    // FULL syncs the WAL on every commit: a committed watermark survives power loss too.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(())
}

fn user_version(conn: &Connection) -> Result<u32, rusqlite::Error> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Formats an instant as stored: RFC 3339, UTC, nanoseconds, fixed width.
fn format_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, StateError> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| StateError::Decode {
            what: "timestamp",
            value: text.to_owned(),
        })
}

fn get_watermark(conn: &Connection, mark: Watermark) -> Result<Option<DateTime<Utc>>, StateError> {
    let at: Option<String> = conn
        .query_row(
            "SELECT at FROM watermarks WHERE scope = ?1",
            [mark.key()],
            |row| row.get(0),
        )
        .optional()?;
    at.as_deref().map(parse_time).transpose()
}

/// `(email, column)` of the rows of `table` whose email is one of `emails`, with the
/// caller's `Email` values (stored emails are the normalized text of those).
fn select_by_email<T: rusqlite::types::FromSql>(
    conn: &Connection,
    table: &str,
    column: &str,
    emails: &[Email],
) -> Result<Vec<(Email, T)>, StateError> {
    let by_text: HashMap<&str, &Email> = emails.iter().map(|e| (e.as_str(), e)).collect();
    let mut found = Vec::new();
    for chunk in emails.chunks(IN_LIST_CHUNK) {
        let placeholders = vec!["?"; chunk.len()].join(", ");
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT email, {column} FROM {table} WHERE email IN ({placeholders})"
        ))?;
        let rows = stmt.query_map(params_from_iter(chunk.iter().map(Email::as_str)), |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, T>(1)?))
        })?;
        for row in rows {
            let (email, value) = row?;
            if let Some(email) = by_text.get(email.as_str()) {
                found.push(((*email).clone(), value));
            }
        }
    }
    Ok(found)
}

fn decode_email(text: String) -> Result<Email, StateError> {
    Email::parse(&text).map_err(|_| StateError::Decode {
        what: "email",
        value: text,
    })
}

fn decode_id(text: String) -> Result<SalesforceId, StateError> {
    SalesforceId::parse(&text).map_err(|_| StateError::Decode {
        what: "Salesforce Id",
        value: text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const CONTACTS: Watermark = Watermark::People(PersonObject::Contact);
    const ACCOUNTS: Watermark = Watermark::Accounts;

    fn email(text: &str) -> Email {
        Email::parse(text).unwrap()
    }

    fn sf(text: &str) -> SalesforceId {
        SalesforceId::parse(text).unwrap()
    }

    /// Commits one change.
    fn write(store: &mut StateStore, f: impl FnOnce(&StateTx<'_>) -> Result<(), StateError>) {
        store.transaction(f).unwrap();
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + seconds, 0).unwrap()
    }

    fn failure(id: &str, kind: RecordKind, message: &str) -> NewFailure {
        NewFailure {
            salesforce_id: id.to_owned(),
            kind,
            email: Some(format!("{id}@example.com")),
            message: message.to_owned(),
        }
    }

    fn temp_state() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sfzd-state.db");
        (dir, path)
    }

    fn table_names(store: &StateStore) -> Vec<String> {
        let mut stmt = store
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .unwrap();
        stmt.query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn open_creates_the_file_and_migrates_from_empty() {
        let (_dir, path) = temp_state();
        assert!(!path.exists());
        let store = StateStore::open(&path).unwrap();
        assert!(path.exists());
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(SCHEMA_VERSION, 4);
        assert_eq!(
            table_names(&store),
            [
                "failed_records",
                "primary_pass",
                "refusals",
                "runs",
                "syncing_records",
                "watermarks",
                "zendesk_memberships",
                "zendesk_users"
            ]
        );
        assert_eq!(store.path(), Some(path.as_path()));
    }

    #[test]
    fn reopen_is_idempotent_and_keeps_every_kind_of_state() {
        let (_dir, path) = temp_state();
        let run;
        {
            let mut store = StateStore::open(&path).unwrap();
            write(&mut store, |tx| tx.set_watermark(CONTACTS, at(10)));
            write(&mut store, |tx| {
                tx.set_syncing_records(&[(email("a@example.com"), sf("003000000000001AAA"))])
            });
            write(&mut store, |tx| {
                tx.record_failures(&[failure("003000000000002AAA", RecordKind::Contact, "boom")])
            });
            write(&mut store, |tx| {
                tx.set_primary_pass_complete(PersonObject::Contact)
            });
            run = store.begin_run(RunMode::Full, false).unwrap();
            store
                .finish_run(run, RunOutcomeKind::Ok, "{\"mode\":\"full\"}")
                .unwrap();
        }
        let store = StateStore::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(store.watermark(CONTACTS).unwrap(), Some(at(10)));
        assert_eq!(
            store
                .syncing_records(&[email("a@example.com")])
                .unwrap()
                .get(&email("a@example.com")),
            Some(&sf("003000000000001AAA"))
        );
        let failures = store.failed_records().unwrap();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].message, "boom");
        assert!(store.primary_pass_complete(PersonObject::Contact).unwrap());
        let runs = store.recent_runs(10).unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].id, run);
        assert_eq!(runs[0].report_json.as_deref(), Some("{\"mode\":\"full\"}"));
    }

    #[test]
    fn file_store_uses_wal_and_full_sync() {
        let (_dir, path) = temp_state();
        let store = StateStore::open(&path).unwrap();
        let mode: String = store
            .conn
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let synchronous: i64 = store
            .conn
            .pragma_query_value(None, "synchronous", |row| row.get(0))
            .unwrap();
        assert_eq!(synchronous, 2, "2 is FULL");
    }

    #[test]
    fn a_version_1_file_is_migrated_and_keeps_its_state() {
        let (_dir, path) = temp_state();
        {
            // A state file as the first release wrote it.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO syncing_records (email, salesforce_id, updated_at) VALUES ('a@x.io', '003000000000001AAA', '2024-01-01T00:00:00.000000000Z')",
                [],
            )
            .unwrap();
        }
        let mut store = StateStore::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(store.syncing_records(&[email("a@x.io")]).unwrap().len(), 1);
        write(&mut store, |tx| {
            tx.set_zendesk_users(&[(email("a@x.io"), UserId(42)), (email("b@x.io"), UserId(7))])
        });
        write(&mut store, |tx| {
            tx.set_zendesk_users(&[(email("a@x.io"), UserId(43))])
        });
        let users = store
            .zendesk_users(&[email("a@x.io"), email("c@x.io")])
            .unwrap();
        assert_eq!(users, HashMap::from([(email("a@x.io"), UserId(43))]));
    }

    #[test]
    fn memberships_are_remembered_once_per_user_and_organization() {
        let (_dir, path) = temp_state();
        let mut store = StateStore::open(&path).unwrap();
        let (u1, u2) = (UserId(1), UserId(2));
        write(&mut store, |tx| {
            tx.remember_memberships(&[
                (u1, OrganizationId(10)),
                (u1, OrganizationId(11)),
                (u2, OrganizationId(10)),
            ])
        });
        // Seen again in a later chunk: no duplicate, no error.
        write(&mut store, |tx| {
            tx.remember_memberships(&[(u1, OrganizationId(10))])
        });
        let known = store.known_memberships(&[u1, UserId(3)]).unwrap();
        assert_eq!(
            known,
            HashMap::from([(u1, BTreeSet::from([OrganizationId(10), OrganizationId(11)]))])
        );
    }

    #[test]
    fn newer_schema_is_refused() {
        let (_dir, path) = temp_state();
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
                .unwrap();
        }
        let error = StateStore::open(&path).unwrap_err();
        match &error {
            StateError::NewerSchema {
                found, supported, ..
            } => {
                assert_eq!(*found, SCHEMA_VERSION + 1);
                assert_eq!(*supported, SCHEMA_VERSION);
            }
            other => panic!("expected NewerSchema, got {other:?}"),
        }
        assert!(error.to_string().contains(&path.display().to_string()));
        // The refused file is left as it was.
        let conn = Connection::open(&path).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION + 1);
    }

    #[test]
    fn a_file_that_is_not_a_database_is_an_open_error_naming_it() {
        let (_dir, path) = temp_state();
        std::fs::write(&path, b"this is not an sqlite database, just some text").unwrap();
        let error = StateStore::open(&path).unwrap_err();
        assert!(matches!(error, StateError::Open { .. }), "{error:?}");
        assert!(error.to_string().contains(&path.display().to_string()));
    }

    #[test]
    fn missing_parent_directory_is_not_created() {
        let (dir, _) = temp_state();
        let path = dir.path().join("missing").join("state.db");
        let error = StateStore::open(&path).unwrap_err();
        assert!(matches!(error, StateError::LockFile { .. }), "{error:?}");
        assert!(!dir.path().join("missing").exists());
    }

    #[test]
    fn second_open_while_the_first_is_alive_is_locked() {
        let (_dir, path) = temp_state();
        let first = StateStore::open(&path).unwrap();
        let error = StateStore::open(&path).unwrap_err();
        assert!(error.is_locked(), "{error:?}");
        let message = error.to_string();
        assert!(
            message.contains(&format!("state file {}", path.display())),
            "{message}"
        );
        assert!(
            message.contains(&lock_path(&path).display().to_string()),
            "{message}"
        );
        assert!(message.contains("another sfzd run"), "{message}");
        // The first store is unaffected by the refused second one.
        assert_eq!(first.schema_version().unwrap(), SCHEMA_VERSION);

        drop(first);
        let again = StateStore::open(&path).unwrap();
        assert_eq!(again.schema_version().unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn the_lock_is_on_the_sidecar_file() {
        let (_dir, path) = temp_state();
        // Someone else holding `<path>.lock` is enough to keep a run out.
        let foreign = File::create(lock_path(&path)).unwrap();
        foreign.lock().unwrap();
        assert!(StateStore::open(&path).unwrap_err().is_locked());
        foreign.unlock().unwrap();
        StateStore::open(&path).unwrap();
    }

    #[test]
    fn watermark_never_moves_backwards() {
        let mut store = StateStore::open_in_memory().unwrap();
        assert_eq!(store.watermark(ACCOUNTS).unwrap(), None);
        write(&mut store, |tx| tx.set_watermark(ACCOUNTS, at(100)));
        write(&mut store, |tx| tx.set_watermark(ACCOUNTS, at(50)));
        assert_eq!(store.watermark(ACCOUNTS).unwrap(), Some(at(100)));
        write(&mut store, |tx| tx.set_watermark(ACCOUNTS, at(200)));
        assert_eq!(store.watermark(ACCOUNTS).unwrap(), Some(at(200)));
        // Scopes are independent.
        assert_eq!(store.watermark(CONTACTS).unwrap(), None);
        write(&mut store, |tx| tx.set_watermark(CONTACTS, at(1)));
        assert_eq!(store.watermark(ACCOUNTS).unwrap(), Some(at(200)));
        assert_eq!(store.watermark(CONTACTS).unwrap(), Some(at(1)));
    }

    #[test]
    fn watermark_keeps_salesforce_millisecond_precision() {
        let mut store = StateStore::open_in_memory().unwrap();
        let precise = at(0) + chrono::Duration::milliseconds(123);
        write(&mut store, |tx| tx.set_watermark(CONTACTS, precise));
        write(&mut store, |tx| tx.set_watermark(CONTACTS, at(0)));
        assert_eq!(store.watermark(CONTACTS).unwrap(), Some(precise));
    }

    #[test]
    fn clear_watermarks_forgets_every_scope() {
        let mut store = StateStore::open_in_memory().unwrap();
        write(&mut store, |tx| tx.set_watermark(ACCOUNTS, at(100)));
        write(&mut store, |tx| tx.set_watermark(CONTACTS, at(100)));
        write(&mut store, |tx| tx.clear_watermarks());
        assert_eq!(store.watermark(ACCOUNTS).unwrap(), None);
        assert_eq!(store.watermark(CONTACTS).unwrap(), None);
        // After a clear, an older watermark is accepted again.
        write(&mut store, |tx| tx.set_watermark(ACCOUNTS, at(5)));
        assert_eq!(store.watermark(ACCOUNTS).unwrap(), Some(at(5)));
    }

    #[test]
    fn syncing_records_upsert_lookup_and_forget_in_bulk() {
        let mut store = StateStore::open_in_memory().unwrap();
        let emails: Vec<Email> = (0..2000)
            .map(|i| email(&format!("user{i}@example.com")))
            .collect();
        let entries: Vec<(Email, SalesforceId)> = emails
            .iter()
            .enumerate()
            .map(|(i, email)| (email.clone(), sf(&format!("003{i:012}AAA"))))
            .collect();
        write(&mut store, |tx| tx.set_syncing_records(&entries));

        let mut wanted = emails.clone();
        wanted.push(email("nobody@example.com"));
        let found = store.syncing_records(&wanted).unwrap();
        assert_eq!(found.len(), 2000);
        assert_eq!(
            found[&email("user1999@example.com")],
            sf("003000000001999AAA")
        );
        assert!(!found.contains_key(&email("nobody@example.com")));
        assert!(store.syncing_records(&[]).unwrap().is_empty());

        // A new choice replaces the remembered one.
        write(&mut store, |tx| {
            tx.set_syncing_records(&[(email("user7@example.com"), sf("003000000009999AAA"))])
        });
        assert_eq!(
            store
                .syncing_records(&[email("user7@example.com")])
                .unwrap()[&email("user7@example.com")],
            sf("003000000009999AAA")
        );
        // The groups a record is the syncing record of.
        assert_eq!(
            store
                .emails_synced_by(&[sf("003000000009999AAA"), sf("003000000000008AAA")])
                .unwrap()
                .len(),
            2
        );

        write(&mut store, |tx| tx.forget_syncing_records(&emails[..1000]));
        let found = store.syncing_records(&emails).unwrap();
        assert_eq!(found.len(), 1000);
        assert!(!found.contains_key(&email("user0@example.com")));
        assert!(found.contains_key(&email("user1000@example.com")));
    }

    #[test]
    fn refusals_are_remembered_per_record_and_write_until_cleared() {
        let mut store = StateStore::open_in_memory().unwrap();
        let ann = sf("003000000000001AAA");
        write(&mut store, |tx| {
            tx.record_refusal(
                &ann,
                "user",
                r#"{"email":"jörg@müller.de"}"#,
                "Email: is invalid",
            )
        });
        write(&mut store, |tx| {
            tx.record_refusal(&ann, "membership 7", "{}", "limit")
        });
        let found = store.refusals(std::slice::from_ref(&ann)).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(
            found[&(ann.clone(), "user".to_owned())].message,
            "Email: is invalid"
        );
        // A second refusal of the same write replaces the first.
        write(&mut store, |tx| {
            tx.record_refusal(&ann, "user", "{}", "again")
        });
        assert_eq!(
            store.refusals(std::slice::from_ref(&ann)).unwrap()[&(ann.clone(), "user".to_owned())]
                .message,
            "again"
        );
        write(&mut store, |tx| {
            tx.clear_refusals(std::slice::from_ref(&ann))
        });
        assert!(store.refusals(&[ann]).unwrap().is_empty());
    }

    #[test]
    fn failures_count_attempts_and_clear() {
        let mut store = StateStore::open_in_memory().unwrap();
        write(&mut store, |tx| {
            tx.record_failures(&[
                failure("001000000000001AAA", RecordKind::Account, "first"),
                failure("003000000000001AAA", RecordKind::Contact, "first"),
            ])
        });
        write(&mut store, |tx| {
            tx.record_failures(&[failure("001000000000001AAA", RecordKind::Account, "second")])
        });

        let failures = store.failed_records().unwrap();
        assert_eq!(failures.len(), 2);
        let account = failures
            .iter()
            .find(|f| f.salesforce_id == "001000000000001AAA")
            .unwrap();
        assert_eq!(account.attempts, 2);
        assert_eq!(account.message, "second");
        assert_eq!(account.kind, RecordKind::Account);
        assert!(account.first_failed_at <= account.last_failed_at);
        let contact = failures
            .iter()
            .find(|f| f.salesforce_id == "003000000000001AAA")
            .unwrap();
        assert_eq!(contact.attempts, 1);
        assert_eq!(
            contact.email.as_deref(),
            Some("003000000000001AAA@example.com")
        );

        write(&mut store, |tx| {
            tx.clear_failures(&["001000000000001AAA".to_owned()])
        });
        let failures = store.failed_records().unwrap();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].salesforce_id, "003000000000001AAA");

        // A cleared record that fails again starts counting afresh.
        write(&mut store, |tx| {
            tx.record_failures(&[failure("001000000000001AAA", RecordKind::Account, "third")])
        });
        let account = store
            .failed_records()
            .unwrap()
            .into_iter()
            .find(|f| f.salesforce_id == "001000000000001AAA")
            .unwrap();
        assert_eq!(account.attempts, 1);
    }

    #[test]
    fn every_record_kind_round_trips() {
        let mut store = StateStore::open_in_memory().unwrap();
        let failures: Vec<NewFailure> = RecordKind::ALL
            .into_iter()
            .enumerate()
            .map(|(i, kind)| NewFailure {
                salesforce_id: format!("id{i}"),
                kind,
                email: None,
                message: kind.to_string(),
            })
            .collect();
        write(&mut store, |tx| tx.record_failures(&failures));
        let mut stored = store.failed_records().unwrap();
        stored.sort_by(|a, b| a.salesforce_id.cmp(&b.salesforce_id));
        let kinds: Vec<RecordKind> = stored.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, RecordKind::ALL);
        assert!(stored.iter().all(|f| f.email.is_none()));
        assert!("opportunity".parse::<RecordKind>().is_err());
    }

    #[test]
    fn primary_pass_is_remembered_per_object() {
        let mut store = StateStore::open_in_memory().unwrap();
        assert!(!store.primary_pass_complete(PersonObject::Contact).unwrap());
        write(&mut store, |tx| {
            tx.set_primary_pass_complete(PersonObject::Contact)
        });
        write(&mut store, |tx| {
            tx.set_primary_pass_complete(PersonObject::Contact)
        });
        assert!(store.primary_pass_complete(PersonObject::Contact).unwrap());
        assert!(!store.primary_pass_complete(PersonObject::Lead).unwrap());
    }

    #[test]
    fn runs_history_is_newest_first_with_outcomes() {
        let mut store = StateStore::open_in_memory().unwrap();
        let first = store.begin_run(RunMode::Full, false).unwrap();
        store
            .finish_run(first, RunOutcomeKind::Ok, "{\"n\":1}")
            .unwrap();
        let second = store.begin_run(RunMode::Incremental, true).unwrap();
        assert!(second > first);

        let runs = store.recent_runs(10).unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].id, second);
        assert_eq!(runs[0].mode, RunMode::Incremental);
        assert!(runs[0].dry_run);
        assert_eq!(runs[0].finished_at, None);
        assert_eq!(runs[0].outcome, None);
        assert_eq!(runs[0].report_json, None);
        assert_eq!(runs[1].id, first);
        assert_eq!(runs[1].mode, RunMode::Full);
        assert!(!runs[1].dry_run);
        assert_eq!(runs[1].outcome, Some(RunOutcomeKind::Ok));
        assert_eq!(runs[1].report_json.as_deref(), Some("{\"n\":1}"));
        let finished = runs[1].finished_at.unwrap();
        assert!(finished >= runs[1].started_at);

        assert_eq!(store.recent_runs(1).unwrap().len(), 1);
        assert_eq!(store.recent_runs(1).unwrap()[0].id, second);

        store
            .finish_run(second, RunOutcomeKind::Partial, "{}")
            .unwrap();
        assert_eq!(
            store.recent_runs(1).unwrap()[0].outcome,
            Some(RunOutcomeKind::Partial)
        );
    }

    #[test]
    fn finishing_twice_or_an_unknown_run_is_refused() {
        let mut store = StateStore::open_in_memory().unwrap();
        let run = store.begin_run(RunMode::Full, false).unwrap();
        store.finish_run(run, RunOutcomeKind::Failed, "{}").unwrap();
        assert!(matches!(
            store.finish_run(run, RunOutcomeKind::Ok, "{}"),
            Err(StateError::RunNotOpen { run: r }) if r == run
        ));
        assert!(matches!(
            store.finish_run(RunId(9999), RunOutcomeKind::Ok, "{}"),
            Err(StateError::RunNotOpen { .. })
        ));
        assert_eq!(
            store.recent_runs(1).unwrap()[0].outcome,
            Some(RunOutcomeKind::Failed)
        );
    }

    #[test]
    fn a_damaged_mode_or_outcome_is_a_decode_error_naming_it() {
        let mut store = StateStore::open_in_memory().unwrap();
        let run = store.begin_run(RunMode::Full, false).unwrap();
        store
            .conn
            .execute(
                "UPDATE runs SET mode = 'sometimes' WHERE id = ?1",
                [run.get()],
            )
            .unwrap();
        assert!(matches!(
            store.recent_runs(10),
            Err(StateError::Decode {
                what: "run mode",
                ..
            })
        ));
        store
            .conn
            .execute(
                "UPDATE runs SET mode = 'full', outcome = 'great' WHERE id = ?1",
                [run.get()],
            )
            .unwrap();
        assert!(matches!(
            store.recent_runs(10),
            Err(StateError::Decode {
                what: "run outcome",
                ..
            })
        ));
    }

    #[test]
    fn watermark_keys_are_the_ones_existing_state_files_hold() {
        // Changing a key would make every existing state file look new: full runs.
        assert_eq!(Watermark::Accounts.key(), "account");
        assert_eq!(Watermark::People(PersonObject::Contact).key(), "contact");
        assert_eq!(Watermark::People(PersonObject::Lead).key(), "lead");
        assert_eq!(Watermark::Relations.key(), "relation");
    }

    #[test]
    fn a_run_left_open_by_a_killed_process_is_marked_interrupted() {
        let (_dir, path) = temp_state();
        let killed = {
            let mut store = StateStore::open(&path).unwrap();
            store.begin_run(RunMode::Incremental, false).unwrap()
            // Dropped without finish_run, as after SIGKILL.
        };
        let mut store = StateStore::open(&path).unwrap();
        let next = store.begin_run(RunMode::Incremental, false).unwrap();
        let runs = store.recent_runs(10).unwrap();
        assert_eq!(runs[1].id, killed);
        assert_eq!(runs[1].outcome, Some(RunOutcomeKind::Interrupted));
        assert_eq!(runs[1].finished_at, None);
        assert_eq!(runs[0].id, next);
        assert_eq!(runs[0].outcome, None);
    }

    #[test]
    fn history_is_pruned_to_the_limit() {
        let mut store = StateStore::open_in_memory().unwrap();
        let mut last = None;
        for _ in 0..RUN_HISTORY_LIMIT + 5 {
            let run = store.begin_run(RunMode::Incremental, false).unwrap();
            store.finish_run(run, RunOutcomeKind::Ok, "{}").unwrap();
            last = Some(run);
        }
        let runs = store.recent_runs(usize::MAX).unwrap();
        assert_eq!(runs.len(), RUN_HISTORY_LIMIT);
        assert_eq!(runs[0].id, last.unwrap());
    }

    #[test]
    fn transaction_commits_everything_or_nothing() {
        let mut store = StateStore::open_in_memory().unwrap();
        let result: Result<(), StateError> = store.transaction(|tx| {
            tx.set_syncing_records(&[(email("a@example.com"), sf("003000000000001AAA"))])?;
            tx.record_failures(&[failure("003000000000002AAA", RecordKind::Contact, "x")])?;
            tx.set_watermark(CONTACTS, at(10))?;
            Err(StateError::InvalidValue {
                what: "test",
                value: "abort".into(),
            })
        });
        assert!(result.is_err());
        assert_eq!(store.watermark(CONTACTS).unwrap(), None);
        assert!(
            store
                .syncing_records(&[email("a@example.com")])
                .unwrap()
                .is_empty()
        );
        assert!(store.failed_records().unwrap().is_empty());

        write(&mut store, |tx| {
            tx.set_syncing_records(&[(email("a@example.com"), sf("003000000000001AAA"))])?;
            tx.clear_failures(&["003000000000002AAA".to_owned()])?;
            tx.set_watermark(CONTACTS, at(10))?;
            tx.set_primary_pass_complete(PersonObject::Contact)
        });
        assert_eq!(
            store
                .syncing_records(&[email("a@example.com")])
                .unwrap()
                .len(),
            1
        );
        assert_eq!(store.watermark(CONTACTS).unwrap(), Some(at(10)));
        assert!(store.primary_pass_complete(PersonObject::Contact).unwrap());
    }

    #[test]
    fn uncommitted_work_of_a_dead_store_is_not_in_the_file() {
        let (_dir, path) = temp_state();
        {
            let mut store = StateStore::open(&path).unwrap();
            write(&mut store, |tx| tx.set_watermark(CONTACTS, at(1)));
            // A panic mid-transaction (like a kill) must not leave half a chunk behind.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _ = store.transaction(|tx| -> Result<(), StateError> {
                    tx.set_watermark(CONTACTS, at(99))?;
                    panic!("killed mid-chunk");
                });
            }));
            assert!(outcome.is_err());
        }
        let store = StateStore::open(&path).unwrap();
        assert_eq!(store.watermark(CONTACTS).unwrap(), Some(at(1)));
    }

    #[test]
    fn lock_path_appends_to_the_file_name() {
        assert_eq!(
            lock_path(Path::new("/var/lib/sfzd/state.db")),
            Path::new("/var/lib/sfzd/state.db.lock")
        );
    }
}
