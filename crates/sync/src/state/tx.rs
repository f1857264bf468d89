//! Changes to the state file, always inside one transaction.

use super::*;

/// A transaction on the state store, handed to the closure of [`StateStore::transaction`]:
/// every change to the state goes through one, so a chunk's facts commit together.
#[derive(Debug)]
pub struct StateTx<'a> {
    pub(super) tx: Transaction<'a>,
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

    /// Forgets every remembered Zendesk user and when they were all read: a full run is
    /// about to read them all again.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] if the write fails.
    pub fn forget_zendesk_directory(&self) -> Result<(), StateError> {
        self.tx.execute("DELETE FROM zendesk_directory", [])?;
        self.tx.execute("DELETE FROM zendesk_users", [])?;
        Ok(())
    }

    /// Notes that every active Zendesk user was read into the remembered users at `at`.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] if the write fails.
    pub fn set_zendesk_directory_read(&self, at: DateTime<Utc>) -> Result<(), StateError> {
        self.tx.execute(
            "INSERT INTO zendesk_directory (id, read_at) VALUES (1, ?1)
             ON CONFLICT (id) DO UPDATE SET read_at = excluded.read_at",
            [format_time(at)],
        )?;
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
