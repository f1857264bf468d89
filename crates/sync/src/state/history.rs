//! The history of runs: started, finished with an outcome and a report, listed newest first.

use super::*;

impl StateStore {
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
}

/// The latest `limit` runs of the state file at `path`, newest first, read without taking
/// the lock, so the history can be read while a run (or `sfzd sync --every`) holds the
/// file. The file is opened read-only: nothing is migrated or written.
///
/// # Errors
///
/// [`StateError::Open`] when the file cannot be opened (or is not a database),
/// [`StateError::NewerSchema`] for a file of a newer sfzd, [`StateError::Sqlite`] or
/// [`StateError::Decode`] on a damaged file.
pub fn read_recent_runs(path: &Path, limit: usize) -> Result<Vec<RunRecord>, StateError> {
    match StateStore::open_read_only(path)? {
        Some(store) => store.recent_runs(limit),
        None => Ok(Vec::new()),
    }
}
