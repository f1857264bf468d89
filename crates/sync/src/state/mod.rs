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

mod history;
mod reads;
#[cfg(test)]
mod tests;
mod tx;

pub use history::read_recent_runs;
pub use tx::StateTx;

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
    // Version 5: when a full run last read every active Zendesk user (with all its emails)
    // into `zendesk_users`. While set, an incremental run takes an email the file does not
    // remember to have no user instead of searching it; if Zendesk says otherwise, the
    // create is refused ("already being used") and the run searches then.
    "
    CREATE TABLE zendesk_directory (
        id      INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
        read_at TEXT NOT NULL
    ) STRICT;
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

/// A failure to remember, as passed to [`StateTx::record_failures`].
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

    /// Opens an existing state file to read it, without the lock and without migrating it:
    /// for commands that only look (`sfzd runs`, `sfzd explain`) while a run may hold the
    /// file. `None` when the file was never written by a run.
    ///
    /// # Errors
    ///
    /// [`StateError::Open`] when the file cannot be opened, [`StateError::NewerSchema`] for
    /// a file of a newer sfzd.
    pub fn open_read_only(path: &Path) -> Result<Option<Self>, StateError> {
        let open_error = |source| StateError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(open_error)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
        let found = user_version(&conn).map_err(open_error)?;
        if found > SCHEMA_VERSION {
            return Err(StateError::NewerSchema {
                path: path.to_path_buf(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        if found == 0 {
            // Created but never migrated: nothing was recorded.
            return Ok(None);
        }
        Ok(Some(StateStore {
            conn,
            _lock: None,
            path: Some(path.to_path_buf()),
        }))
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
