//! The crate's error type, sorted by what a caller can do about each failure.

use std::time::Duration;

use serde_json::Value;

/// Which way a transport failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// The connection could not be established (nothing was sent).
    Connect,
    /// No answer within the configured timeout.
    Timeout,
    /// The connection broke before a complete answer arrived.
    ConnectionDropped,
}

/// Everything that can go wrong talking to Zendesk.
///
/// `Display` is a short phrase; the underlying cause, where there is one, is the
/// [`std::error::Error::source`]. No variant ever holds a token or secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZendeskError {
    /// The configuration cannot work (bad base URL, zero budget, ...).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The request was refused before sending (too many items, a forbidden field, ...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Zendesk rejected the credentials, also after fetching a fresh OAuth token.
    #[error("unauthorized")]
    Unauthorized {
        /// Zendesk's explanation, if it sent one.
        description: Option<String>,
    },
    /// The credentials are valid but not allowed to do this (role, scope or plan). Nothing
    /// more can be written with these credentials until an admin grants the access.
    #[error("forbidden: {endpoint}: {}", .description.as_deref().or(.error.as_deref()).unwrap_or("Zendesk gave no reason; check the role and OAuth scopes of the integration's credentials"))]
    Forbidden {
        /// The endpoint, e.g. `PUT /api/v2/users/{id}`.
        endpoint: String,
        /// Zendesk's error code, if any.
        error: Option<String>,
        /// Zendesk's explanation, if any.
        description: Option<String>,
    },
    /// Bulk user import (`create_many`, `create_or_update_many`) is not enabled on the
    /// account (Zendesk answers 403 naming data imports until the account owner asks for
    /// them). Fall back to single-record calls. Any other 403 is [`Self::Forbidden`].
    #[error("bulk user import is disabled on this account")]
    BulkImportDisabled {
        /// The bulk endpoint that was refused.
        endpoint: String,
    },
    /// The record or endpoint does not exist.
    #[error("not found: {endpoint}")]
    NotFound {
        /// The endpoint, e.g. `GET /api/v2/users/{id}`.
        endpoint: String,
    },
    /// Zendesk refused the record (422), e.g. a duplicate email.
    #[error("validation failed: {description}")]
    ValidationFailed {
        /// Zendesk's error code, e.g. `RecordInvalid`.
        error: String,
        /// Zendesk's summary, e.g. `Record validation errors`.
        description: String,
        /// Per-field details, e.g. `{"email":[{"error":"DuplicateValue", ...}]}`.
        details: Option<Value>,
    },
    /// Zendesk answered another client error (400, 409, ...).
    #[error("request rejected with status {status}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// Zendesk's error code, if any.
        error: Option<String>,
        /// Zendesk's explanation, if any.
        description: Option<String>,
    },
    /// Still rate limited after every retry, or asked to wait longer than allowed.
    #[error("rate limited{}", .description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    RateLimited {
        /// How long Zendesk asked to wait, if it said.
        retry_after: Option<Duration>,
        /// Zendesk's text naming the limit (e.g. "You have exceeded the rate limit for
        /// updating a single unique user"), if it sent one.
        description: Option<String>,
    },
    /// Too many bulk jobs queued or running on the account, after every retry.
    #[error("too many jobs queued on the account")]
    TooManyJobs {
        /// How long Zendesk asked to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// Zendesk failed (5xx) after every retry, or on a write that is not repeated.
    #[error("server error with status {status}")]
    Server {
        /// The HTTP status.
        status: u16,
        /// The first 200 characters of the answer.
        body: String,
    },
    /// The request did not get an answer.
    #[error("transport error ({kind:?})")]
    Transport {
        /// How it failed.
        kind: TransportKind,
        /// The HTTP library's error.
        #[source]
        source: reqwest::Error,
    },
    /// The answer was not the JSON expected.
    #[error("could not decode response with status {status}")]
    Decode {
        /// The HTTP status.
        status: u16,
        /// The first 200 characters of the answer (withheld for token answers).
        body: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The job poller's deadline passed before these jobs finished.
    #[error("jobs still running at the polling deadline")]
    JobsPending {
        /// Ids of the jobs not yet terminal.
        job_ids: Vec<String>,
    },
}

impl ZendeskError {
    /// Whether trying the same call later may succeed (rate limits, job cap, 5xx, transport).
    ///
    /// The client already retried what was safe to retry; this helps a caller decide whether
    /// to reschedule the work or report it as failed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::RateLimited { .. }
            | Self::TooManyJobs { .. }
            | Self::Server { .. }
            | Self::Transport { .. }
            | Self::JobsPending { .. } => true,
            Self::Rejected { status, .. } => *status == 409,
            _ => false,
        }
    }

    /// The HTTP status Zendesk answered, when the error comes from an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Unauthorized { .. } => Some(401),
            Self::Forbidden { .. } | Self::BulkImportDisabled { .. } => Some(403),
            Self::NotFound { .. } => Some(404),
            Self::ValidationFailed { .. } => Some(422),
            Self::RateLimited { .. } => Some(429),
            Self::Rejected { status, .. }
            | Self::Server { status, .. }
            | Self::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// At most `max` characters of `text`, cut on a character boundary.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_cuts_on_char_boundary() {
        assert_eq!(excerpt("héllo", 2), "hé…");
        assert_eq!(excerpt("abc", 5), "abc");
    }

    #[test]
    fn retryable_errors() {
        assert!(
            ZendeskError::RateLimited {
                retry_after: None,
                description: None
            }
            .is_retryable()
        );
        assert!(
            ZendeskError::Server {
                status: 503,
                body: String::new()
            }
            .is_retryable()
        );
        assert!(
            !ZendeskError::NotFound {
                endpoint: "GET /x".into()
            }
            .is_retryable()
        );
        assert!(
            !ZendeskError::ValidationFailed {
                error: "RecordInvalid".into(),
                description: "d".into(),
                details: None
            }
            .is_retryable()
        );
    }
}
