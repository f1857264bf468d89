//! Tests of the state store.

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
    assert_eq!(SCHEMA_VERSION, 5);
    assert_eq!(
        table_names(&store),
        [
            "failed_records",
            "primary_pass",
            "refusals",
            "runs",
            "syncing_records",
            "watermarks",
            "zendesk_directory",
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
fn forgetting_the_zendesk_directory_forgets_its_users_and_when_it_was_read() {
    let (_dir, path) = temp_state();
    let mut store = StateStore::open(&path).unwrap();
    assert_eq!(store.zendesk_directory_read_at().unwrap(), None);
    let at = Utc::now();
    write(&mut store, |tx| {
        tx.set_zendesk_users(&[(email("a@x.io"), UserId(42))])?;
        tx.set_zendesk_directory_read(at)
    });
    assert_eq!(store.zendesk_directory_read_at().unwrap(), Some(at));
    write(&mut store, |tx| tx.forget_zendesk_directory());
    assert_eq!(store.zendesk_directory_read_at().unwrap(), None);
    assert!(store.zendesk_users(&[email("a@x.io")]).unwrap().is_empty());
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

#[test]
fn the_history_is_read_while_another_store_holds_the_lock() {
    let (_dir, path) = temp_state();
    let mut store = StateStore::open(&path).unwrap();
    let first = store.begin_run(RunMode::Full, false).unwrap();
    store
        .finish_run(first, RunOutcomeKind::Ok, "{\"n\":1}")
        .unwrap();
    store.begin_run(RunMode::Incremental, false).unwrap();
    // The store is alive and locked: a reader still sees both runs, newest first.
    let runs = read_recent_runs(&path, 10).unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].mode, RunMode::Incremental);
    assert_eq!(runs[0].outcome, None);
    assert_eq!(runs[1].report_json.as_deref(), Some("{\"n\":1}"));
    assert_eq!(read_recent_runs(&path, 1).unwrap().len(), 1);
    drop(store);
    assert_eq!(read_recent_runs(&path, 10).unwrap().len(), 2);
    // Reading wrote nothing: the file can still be locked and used.
    StateStore::open(&path).unwrap();
}
