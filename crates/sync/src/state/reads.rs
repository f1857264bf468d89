//! What the state file remembers, read: one accessor per fact.

use super::*;

impl StateStore {
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

    /// When a full run last read every active Zendesk user into the remembered users, if
    /// one did since they were last forgotten.
    ///
    /// # Errors
    ///
    /// [`StateError::Sqlite`] or [`StateError::Decode`] on a damaged file.
    pub fn zendesk_directory_read_at(&self) -> Result<Option<DateTime<Utc>>, StateError> {
        let at: Option<String> = self
            .conn
            .query_row(
                "SELECT read_at FROM zendesk_directory WHERE id = 1",
                [],
                |row| row.get(0),
            )
            .optional()?;
        at.as_deref().map(parse_time).transpose()
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
}
