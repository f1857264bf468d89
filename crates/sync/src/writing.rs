//! The writer a run is given: Zendesk's bulk jobs ([`BulkWriter`]), or the dry run's
//! stand-in that writes nothing and answers every write as done. Everything above it
//! (planning, counting, plan lines) is the same code for both, so a dry run counts exactly
//! what a real run over the same data would do.

use std::sync::Arc;

use zendesk_client::{
    JobPoller, NewMembership, NewOrganization, NewUser, OrganizationUpdate, UserUpdate,
    ZendeskError, ZendeskRead, ZendeskWrite,
};

use crate::run::Progress;
pub(crate) use crate::writes::Outcome;
use crate::writes::{BulkWriter, Round};

/// Writes of one round, submitted together and finished together.
pub(crate) struct Batch<K> {
    round: Round<K>,
    planned: Vec<(K, Outcome)>,
}

impl<K> Default for Batch<K> {
    fn default() -> Self {
        Self {
            round: Round::default(),
            planned: Vec::new(),
        }
    }
}

/// How a run writes.
pub(crate) enum Writer<'a> {
    /// Bulk jobs against Zendesk.
    Zendesk(BulkWriter<'a>),
    /// A dry run: nothing is sent. Created records get stand-in ids counted down from
    /// `u64::MAX`, far above any id Zendesk hands out, so later writes that need the new
    /// record (a new user's memberships) are planned as the real run would plan them.
    DryRun {
        /// The next stand-in id.
        next_id: u64,
    },
}

impl<'a> Writer<'a> {
    /// A writer to Zendesk, reporting its jobs in flight to `progress`.
    pub(crate) fn zendesk(
        read: &'a dyn ZendeskRead,
        write: &'a dyn ZendeskWrite,
        poller: JobPoller,
        progress: Arc<dyn Progress>,
    ) -> Self {
        Self::Zendesk(BulkWriter::new(read, write, poller).with_progress(progress))
    }

    /// The dry run's writer.
    pub(crate) fn dry_run() -> Self {
        Self::DryRun { next_id: u64::MAX }
    }

    pub(crate) fn is_dry_run(&self) -> bool {
        matches!(self, Self::DryRun { .. })
    }

    /// The keys Zendesk dropped from this run's writes (`X-Zendesk-API-Warn`).
    pub(crate) fn dropped_keys(&self) -> Vec<crate::writes::DroppedKey> {
        match self {
            Self::Zendesk(writer) => writer.dropped_keys().iter().cloned().collect(),
            Self::DryRun { .. } => Vec::new(),
        }
    }

    /// From now on items advance the run's progress one record each as their outcomes
    /// become known (see [`BulkWriter::begin_item_progress`]).
    pub(crate) fn begin_item_progress(&mut self) {
        if let Self::Zendesk(writer) = self {
            writer.begin_item_progress();
        }
    }

    /// Stops counting items; returns how many advanced the progress. A dry run knows every
    /// outcome at once and advances none: its caller advances them all.
    pub(crate) fn end_item_progress(&mut self) -> u64 {
        match self {
            Self::Zendesk(writer) => writer.end_item_progress(),
            Self::DryRun { .. } => 0,
        }
    }

    /// Whether Zendesk refused bulk user import during this run.
    pub(crate) fn bulk_users_disabled(&self) -> bool {
        match self {
            Self::Zendesk(writer) => writer.bulk_users_disabled(),
            Self::DryRun { .. } => false,
        }
    }

    fn plan_created<K, T>(next_id: &mut u64, batch: &mut Batch<K>, items: Vec<(K, T)>) {
        for (key, _) in items {
            batch.planned.push((key, Outcome::Done(Some(*next_id))));
            *next_id -= 1;
        }
    }

    fn plan_done<K, T>(batch: &mut Batch<K>, items: Vec<(K, T)>) {
        batch
            .planned
            .extend(items.into_iter().map(|(key, _)| (key, Outcome::Done(None))));
    }

    /// Creates organizations.
    pub(crate) async fn create_organizations<K: Clone>(
        &mut self,
        batch: &mut Batch<K>,
        items: Vec<(K, NewOrganization)>,
    ) -> Result<(), ZendeskError> {
        match self {
            Self::Zendesk(w) => w.create_organizations(&mut batch.round, items).await,
            Self::DryRun { next_id } => {
                Self::plan_created(next_id, batch, items);
                Ok(())
            }
        }
    }

    /// Updates (or links) organizations.
    pub(crate) async fn update_organizations<K: Clone>(
        &mut self,
        batch: &mut Batch<K>,
        items: Vec<(K, OrganizationUpdate)>,
    ) -> Result<(), ZendeskError> {
        match self {
            Self::Zendesk(w) => w.update_organizations(&mut batch.round, items).await,
            Self::DryRun { .. } => {
                Self::plan_done(batch, items);
                Ok(())
            }
        }
    }

    /// Creates users.
    pub(crate) async fn create_users<K: Clone>(
        &mut self,
        batch: &mut Batch<K>,
        items: Vec<(K, NewUser)>,
    ) -> Result<(), ZendeskError> {
        match self {
            Self::Zendesk(w) => w.create_users(&mut batch.round, items).await,
            Self::DryRun { next_id } => {
                Self::plan_created(next_id, batch, items);
                Ok(())
            }
        }
    }

    /// Updates users.
    pub(crate) async fn update_users<K: Clone>(
        &mut self,
        batch: &mut Batch<K>,
        items: Vec<(K, UserUpdate)>,
    ) -> Result<(), ZendeskError> {
        match self {
            Self::Zendesk(w) => w.update_users(&mut batch.round, items).await,
            Self::DryRun { .. } => {
                Self::plan_done(batch, items);
                Ok(())
            }
        }
    }

    /// Creates memberships.
    pub(crate) async fn create_memberships<K: Clone>(
        &mut self,
        batch: &mut Batch<K>,
        items: Vec<(K, NewMembership)>,
    ) -> Result<(), ZendeskError> {
        match self {
            Self::Zendesk(w) => w.create_memberships(&mut batch.round, items).await,
            Self::DryRun { .. } => {
                Self::plan_done(batch, items);
                Ok(())
            }
        }
    }

    /// Waits for every write of the batch and maps each outcome to its key.
    pub(crate) async fn finish<K: Clone>(
        &mut self,
        batch: Batch<K>,
    ) -> Result<Vec<(K, Outcome)>, ZendeskError> {
        let mut outcomes = batch.planned;
        if let Self::Zendesk(w) = self {
            outcomes.extend(w.finish(batch.round).await?);
        }
        Ok(outcomes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_dry_run_answers_creates_with_distinct_stand_in_ids_and_sends_nothing() {
        let mut writer = Writer::dry_run();
        let mut batch = Batch::default();
        let users = vec![
            ("a", NewUser::new("A", "a@example.com")),
            ("b", NewUser::new("B", "b@example.com")),
        ];
        writer.create_users(&mut batch, users).await.unwrap();
        writer
            .create_memberships(&mut batch, vec![("m", NewMembership::new(1, 2))])
            .await
            .unwrap();
        let outcomes = writer.finish(batch).await.unwrap();
        assert_eq!(
            outcomes,
            vec![
                ("a", Outcome::Done(Some(u64::MAX))),
                ("b", Outcome::Done(Some(u64::MAX - 1))),
                ("m", Outcome::Done(None)),
            ]
        );
        assert!(writer.is_dry_run());
        assert!(!writer.bulk_users_disabled());
    }
}
