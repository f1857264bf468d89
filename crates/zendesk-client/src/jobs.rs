//! Background jobs answered by bulk endpoints: their status model, per-item outcomes, and a
//! poller that waits for many jobs at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::api::ZendeskRead;
use crate::clock::{Clock, TokioClock};
use crate::error::ZendeskError;

/// Where a job is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum JobState {
    /// Waiting for a worker.
    Queued,
    /// Being processed.
    Working,
    /// Done (individual items may still have failed: check the results).
    Completed,
    /// The job as a whole failed.
    Failed,
    /// Stopped by Zendesk (listed by older docs).
    Killed,
    /// A state this crate does not know, kept verbatim.
    Other(String),
}

impl JobState {
    /// Whether the job will not change any more (`completed`, `failed`, `killed`).
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Killed)
    }

    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Queued => "queued",
            Self::Working => "working",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Killed => "killed",
            Self::Other(other) => other,
        }
    }
}

impl From<&str> for JobState {
    fn from(value: &str) -> Self {
        match value {
            "queued" => Self::Queued,
            "working" => Self::Working,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "killed" => Self::Killed,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl From<JobState> for String {
    fn from(state: JobState) -> Self {
        state.as_str().to_owned()
    }
}

impl<'de> Deserialize<'de> for JobState {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Option::<String>::deserialize(deserializer)?;
        Ok(value
            .as_deref()
            .map_or(Self::Other(String::new()), Self::from))
    }
}

/// One item of a job's `results`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct JobResult {
    /// Position of the item in the submitted array (create jobs).
    #[serde(default)]
    pub index: Option<usize>,
    /// The record's id (created or updated record; for some failures the input's id).
    #[serde(default)]
    pub id: Option<u64>,
    /// `create`, `update`, ...
    #[serde(default)]
    pub action: Option<String>,
    /// `Created`, `Updated`, `Failed`, ...
    #[serde(default)]
    pub status: Option<String>,
    /// Whether the item succeeded, when Zendesk says.
    #[serde(default)]
    pub success: Option<bool>,
    /// The error code of a failed item.
    #[serde(default)]
    pub error: Option<String>,
    /// Details of a failed item (a string or an object).
    #[serde(default)]
    pub details: Option<Value>,
}

/// What happened to one submitted item.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemOutcome {
    /// A record was created.
    Created {
        /// Its id, when reported.
        id: Option<u64>,
    },
    /// An existing record was updated.
    Updated {
        /// Its id, when reported.
        id: Option<u64>,
    },
    /// The item failed.
    Failed {
        /// Zendesk's error code (empty when it sent none).
        error: String,
        /// Zendesk's details.
        details: Option<Value>,
    },
    /// A result this crate cannot classify; inspect the [`JobResult`].
    Unknown,
}

impl JobResult {
    /// Classifies this result.
    pub fn outcome(&self) -> ItemOutcome {
        let status = self.status.as_deref().unwrap_or("").to_ascii_lowercase();
        let action = self.action.as_deref().unwrap_or("").to_ascii_lowercase();
        if self.error.is_some() || status == "failed" || self.success == Some(false) {
            return ItemOutcome::Failed {
                error: self.error.clone().unwrap_or_default(),
                details: self.details.clone(),
            };
        }
        match (status.as_str(), action.as_str()) {
            ("created", _) | ("", "create") => ItemOutcome::Created { id: self.id },
            ("updated", _) | ("", "update") => ItemOutcome::Updated { id: self.id },
            _ => ItemOutcome::Unknown,
        }
    }
}

fn lenient_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

fn results_array<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<JobResult>, D::Error> {
    // Some jobs (permanent ticket deletion) answer an object instead of an array: no items.
    match Value::deserialize(deserializer)? {
        Value::Array(items) => items
            .into_iter()
            .map(|item| serde_json::from_value(item).map_err(serde::de::Error::custom))
            .collect(),
        _ => Ok(Vec::new()),
    }
}

/// The status of a background job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStatus {
    /// The job id.
    #[serde(deserialize_with = "lenient_id")]
    pub id: String,
    /// Where the job is.
    pub status: JobState,
    /// Items to process.
    #[serde(default)]
    pub total: Option<u64>,
    /// Items processed.
    #[serde(default)]
    pub progress: Option<u64>,
    /// The worker's message.
    #[serde(default)]
    pub message: Option<String>,
    /// Per-item results (empty until the job finished, or when not an array).
    #[serde(default, deserialize_with = "results_array")]
    pub results: Vec<JobResult>,
}

impl JobStatus {
    /// A job in the given state without results (for tests and mocks).
    pub fn new(id: impl Into<String>, status: JobState) -> Self {
        Self {
            id: id.into(),
            status,
            total: None,
            progress: None,
            message: None,
            results: Vec::new(),
        }
    }

    /// Per-item outcomes, in the order Zendesk listed them.
    pub fn outcomes(&self) -> Vec<ItemOutcome> {
        self.results.iter().map(JobResult::outcome).collect()
    }

    /// Whether every item succeeded and the job completed.
    pub fn all_succeeded(&self) -> bool {
        self.status == JobState::Completed
            && self
                .outcomes()
                .iter()
                .all(|o| !matches!(o, ItemOutcome::Failed { .. }))
    }
}

/// How [`JobPoller`] waits.
#[derive(Debug, Clone)]
pub struct PollConfig {
    /// Wait before the first check (default 1 s); doubles after each check.
    pub initial_delay: Duration,
    /// Longest wait between checks (default 30 s).
    pub max_delay: Duration,
    /// Overall time after which polling gives up (default 15 min).
    pub deadline: Duration,
    /// The time source.
    pub clock: Arc<dyn Clock>,
}

impl Default for PollConfig {
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            deadline: Duration::from_secs(15 * 60),
            clock: Arc::new(TokioClock),
        }
    }
}

/// Waits for bulk jobs to finish, checking many jobs per request with exponential backoff.
#[derive(Debug, Clone, Default)]
pub struct JobPoller {
    config: PollConfig,
}

impl JobPoller {
    /// A poller with the given timing.
    pub fn new(config: PollConfig) -> Self {
        Self { config }
    }

    /// The timing this poller waits with, for callers that schedule their own checks (a
    /// sliding window of jobs polls on its own cadence, bounded by the same delays).
    pub fn config(&self) -> &PollConfig {
        &self.config
    }

    /// Waits until every job in `ids` is terminal and returns their statuses in the order of
    /// `ids` (duplicates in `ids` are answered once per occurrence).
    ///
    /// Checking a job through [`crate::HttpZendeskClient`] also frees its in-flight slot.
    ///
    /// # Errors
    ///
    /// [`ZendeskError::JobsPending`] with the unfinished ids when the deadline passes
    /// (including jobs Zendesk no longer reports), or the error of a status request.
    pub async fn wait(
        &self,
        api: &dyn ZendeskRead,
        ids: &[String],
    ) -> Result<Vec<JobStatus>, ZendeskError> {
        let clock = &self.config.clock;
        let deadline = clock.now() + self.config.deadline;
        let mut done: HashMap<String, JobStatus> = HashMap::new();
        let mut delay = self.config.initial_delay;
        let mut one_by_one = false;
        loop {
            let pending: Vec<String> = unique_pending(ids, &done);
            if pending.is_empty() {
                break;
            }
            let now = clock.now();
            if now >= deadline {
                return Err(ZendeskError::JobsPending { job_ids: pending });
            }
            clock.sleep(delay.min(deadline - now)).await;
            delay = (delay * 2).min(self.config.max_delay);
            let statuses = if one_by_one {
                show_each(api, &pending).await?
            } else {
                match api.show_many_job_statuses(&pending).await {
                    Ok(statuses) => statuses,
                    // A server without `show_many` still answers for each job.
                    Err(ZendeskError::NotFound { .. }) => {
                        one_by_one = true;
                        show_each(api, &pending).await?
                    }
                    Err(err) => return Err(err),
                }
            };
            for status in statuses {
                if status.status.is_terminal() {
                    tracing::debug!(job_id = %status.id, state = status.status.as_str(), "job finished");
                    done.insert(status.id.clone(), status);
                }
            }
        }
        Ok(ids.iter().filter_map(|id| done.get(id).cloned()).collect())
    }
}

async fn show_each(api: &dyn ZendeskRead, ids: &[String]) -> Result<Vec<JobStatus>, ZendeskError> {
    let mut statuses = Vec::with_capacity(ids.len());
    for id in ids {
        statuses.push(api.show_job_status(id).await?);
    }
    Ok(statuses)
}

fn unique_pending(ids: &[String], done: &HashMap<String, JobStatus>) -> Vec<String> {
    let mut pending: Vec<String> = Vec::new();
    for id in ids {
        if !done.contains_key(id) && !pending.contains(id) {
            pending.push(id.clone());
        }
    }
    pending
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::MockZendeskRead;
    use serde_json::json;

    #[test]
    fn results_not_an_array_reads_as_empty() {
        let job: JobStatus = serde_json::from_value(json!({
            "id": "abc", "status": "completed", "results": {"success": true}
        }))
        .expect("job");
        assert!(job.results.is_empty());
        assert_eq!(job.status, JobState::Completed);
    }

    #[test]
    fn unknown_state_is_kept() {
        let job: JobStatus =
            serde_json::from_value(json!({"id": 5, "status": "paused"})).expect("job");
        assert_eq!(job.id, "5");
        assert_eq!(job.status, JobState::Other("paused".into()));
        assert!(!job.status.is_terminal());
    }

    #[test]
    fn outcomes_are_classified() {
        let job: JobStatus = serde_json::from_value(json!({
            "id": "j", "status": "completed",
            "results": [
                {"index": 0, "id": 11, "status": "Created"},
                {"index": 1, "id": 12, "action": "update", "success": true},
                {"index": 2, "id": 2, "status": "Failed", "error": "UserUpdateError", "details": "Email is invalid"},
                {"index": 3, "success": false},
                {"index": 4, "status": "Skipped"}
            ]
        }))
        .expect("job");
        assert_eq!(
            job.outcomes(),
            vec![
                ItemOutcome::Created { id: Some(11) },
                ItemOutcome::Updated { id: Some(12) },
                ItemOutcome::Failed {
                    error: "UserUpdateError".into(),
                    details: Some(json!("Email is invalid"))
                },
                ItemOutcome::Failed {
                    error: String::new(),
                    details: None
                },
                ItemOutcome::Unknown,
            ]
        );
        assert!(!job.all_succeeded());
    }

    fn poll_config() -> PollConfig {
        PollConfig {
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(4),
            deadline: Duration::from_secs(60),
            clock: Arc::new(TokioClock),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn poller_backs_off_and_asks_only_for_pending_jobs() {
        let mut api = MockZendeskRead::new();
        let mut seq = mockall::Sequence::new();
        api.expect_show_many_job_statuses()
            .withf(|ids| ids == ["b", "a"])
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| {
                Ok(vec![
                    JobStatus::new("a", JobState::Completed),
                    JobStatus::new("b", JobState::Working),
                ])
            });
        api.expect_show_many_job_statuses()
            .withf(|ids| ids == ["b"])
            .times(2)
            .in_sequence(&mut seq)
            .returning(|_| Ok(vec![JobStatus::new("b", JobState::Queued)]));
        api.expect_show_many_job_statuses()
            .withf(|ids| ids == ["b"])
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(vec![JobStatus::new("b", JobState::Failed)]));

        let start = tokio::time::Instant::now();
        let statuses = JobPoller::new(poll_config())
            .wait(&api, &["b".to_owned(), "a".to_owned()])
            .await
            .expect("jobs finish");
        assert_eq!(
            statuses
                .iter()
                .map(|s| (s.id.as_str(), s.status.clone()))
                .collect::<Vec<_>>(),
            vec![("b", JobState::Failed), ("a", JobState::Completed)]
        );
        // Waits of 1 + 2 + 4 + 4 (capped) seconds.
        assert_eq!(start.elapsed(), Duration::from_secs(11));
    }

    #[tokio::test(start_paused = true)]
    async fn without_show_many_each_job_is_asked_for() {
        let mut api = MockZendeskRead::new();
        api.expect_show_many_job_statuses().times(1).returning(|_| {
            Err(ZendeskError::NotFound {
                endpoint: "GET /api/v2/job_statuses/show_many".into(),
            })
        });
        api.expect_show_job_status()
            .times(2)
            .returning(|id| Ok(JobStatus::new(id, JobState::Completed)));
        let statuses = JobPoller::new(poll_config())
            .wait(&api, &["a".to_owned(), "b".to_owned()])
            .await
            .expect("jobs finish");
        assert_eq!(statuses.len(), 2);
        assert!(statuses.iter().all(|s| s.status == JobState::Completed));
    }

    #[tokio::test(start_paused = true)]
    async fn poller_gives_up_at_deadline_naming_pending_jobs() {
        let mut api = MockZendeskRead::new();
        api.expect_show_many_job_statuses()
            .returning(|_| Ok(vec![JobStatus::new("x", JobState::Working)]));
        let start = tokio::time::Instant::now();
        let err = JobPoller::new(poll_config())
            .wait(&api, &["x".to_owned()])
            .await
            .expect_err("deadline");
        match err {
            ZendeskError::JobsPending { job_ids } => assert_eq!(job_ids, vec!["x".to_owned()]),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(start.elapsed(), Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn poller_returns_immediately_for_no_jobs() {
        let api = MockZendeskRead::new();
        let statuses = JobPoller::new(poll_config())
            .wait(&api, &[])
            .await
            .expect("nothing to do");
        assert!(statuses.is_empty());
    }
}
