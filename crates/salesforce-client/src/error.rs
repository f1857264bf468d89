//! Errors returned by the Salesforce client, sorted by where the failure happened.

use std::fmt;

/// The result type used throughout this crate.
pub type Result<T, E = SalesforceError> = std::result::Result<T, E>;

/// The longest body excerpt kept in an error, in characters.
pub const BODY_EXCERPT_CHARS: usize = 200;

/// Everything that can go wrong when talking to Salesforce.
///
/// The variants follow the path of a request: configuration, authentication,
/// the API's own answers (query errors, unavailable objects, limits), the server,
/// the transport and finally decoding. `Display` is a short phrase; details such as
/// Salesforce's `errorCode` and `message` are kept in fields. No variant ever
/// carries the client secret or an access token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SalesforceError {
    /// The configuration is unusable (bad URL, plain `http` to a remote host, bad API version, ...).
    #[error("invalid salesforce configuration: {0}")]
    InvalidConfig(String),

    /// A `nextRecordsUrl` handed to `query_more` is not a path on the instance.
    ///
    /// Refused so that the bearer token is never sent to another host.
    #[error("invalid nextRecordsUrl: {0}")]
    InvalidNextRecordsUrl(String),

    /// The OAuth token endpoint refused to issue a token.
    #[error("salesforce authentication failed: {error}: {description}")]
    Auth {
        /// HTTP status of the token endpoint's answer.
        status: u16,
        /// OAuth `error` code, e.g. `invalid_client_id` or `invalid_grant`.
        error: String,
        /// OAuth `error_description`, e.g. `client identifier invalid`.
        description: String,
    },

    /// Salesforce answered `401` (`INVALID_SESSION_ID`) and no fresh session could be used.
    ///
    /// With [`SalesforceAuth::AccessToken`](crate::SalesforceAuth::AccessToken) the client
    /// cannot obtain a new token, so the caller must supply one. With client credentials
    /// this means a freshly issued token was rejected as well (wrong instance, IP
    /// restrictions or blocked API access).
    #[error("{}", session_expired_phrase(*.reauthenticated))]
    SessionExpired {
        /// Salesforce's message, e.g. `Session expired or invalid`.
        message: String,
        /// Whether the client had already re-authenticated once before giving up.
        reauthenticated: bool,
    },

    /// Salesforce rejected the query (`MALFORMED_QUERY`, `INVALID_FIELD`, ...).
    #[error("salesforce rejected the request ({error_code}): {}", last_line(.message))]
    Query {
        /// HTTP status, e.g. 400.
        status: u16,
        /// Salesforce `errorCode`, e.g. `MALFORMED_QUERY`.
        error_code: String,
        /// Salesforce `message`. For SOQL errors it repeats the statement with a caret
        /// under the problem; `Display` shows only its last line.
        message: String,
        /// Salesforce `fields`, when the error names fields.
        fields: Vec<String>,
    },

    /// The queried object does not exist in this org or is not visible (`INVALID_TYPE`).
    #[error("salesforce object {} is not available{}", .object.as_deref().unwrap_or("(unknown)"), object_hint(.object.as_deref()))]
    ObjectNotAvailable {
        /// The object's API name, when Salesforce's message names it.
        object: Option<String>,
        /// Salesforce's message.
        message: String,
    },

    /// The org's API request allocation (or concurrent request limit) is exhausted.
    #[error("salesforce request limit exceeded")]
    RequestLimitExceeded {
        /// HTTP status, usually 403.
        status: u16,
        /// Salesforce's message.
        message: String,
    },

    /// Salesforce answered with a server error (5xx) after all retries.
    #[error("salesforce server error (status {status})")]
    Server {
        /// HTTP status.
        status: u16,
        /// At most [`BODY_EXCERPT_CHARS`] characters of the body.
        body_excerpt: String,
    },

    /// The request could not be sent or its answer not received (after all retries).
    #[error("salesforce request failed ({kind})")]
    Transport {
        /// What kind of transport failure happened.
        kind: TransportKind,
        /// The underlying HTTP client error.
        #[source]
        source: reqwest::Error,
    },

    /// An answer could not be decoded.
    #[error("could not decode salesforce response (status {status})")]
    Decode {
        /// HTTP status of the answer.
        status: u16,
        /// At most [`BODY_EXCERPT_CHARS`] characters of the body.
        body_excerpt: String,
        /// Why decoding failed.
        #[source]
        source: Option<serde_json::Error>,
    },
}

/// The kind of a [`SalesforceError::Transport`] failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// The request timed out.
    Timeout,
    /// No connection could be established.
    Connect,
    /// The connection broke while sending or receiving.
    Connection,
    /// The request could not be built (not retryable).
    Request,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Timeout => "timed out",
            TransportKind::Connect => "could not connect",
            TransportKind::Connection => "connection dropped",
            TransportKind::Request => "could not build request",
        })
    }
}

impl SalesforceError {
    /// Whether repeating the same (read-only) request may succeed.
    ///
    /// True for server errors and transport failures other than a request that could not
    /// be built. The client has already retried these according to its
    /// [`RetryConfig`](crate::RetryConfig); this tells a caller whether a later run may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            SalesforceError::Server { .. } => true,
            SalesforceError::Transport { kind, .. } => *kind != TransportKind::Request,
            _ => false,
        }
    }

    /// Salesforce's `errorCode`, when the error came from the API itself.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            SalesforceError::Query { error_code, .. } => Some(error_code),
            SalesforceError::ObjectNotAvailable { .. } => Some("INVALID_TYPE"),
            SalesforceError::RequestLimitExceeded { .. } => Some("REQUEST_LIMIT_EXCEEDED"),
            SalesforceError::SessionExpired { .. } => Some("INVALID_SESSION_ID"),
            _ => None,
        }
    }
}

fn session_expired_phrase(reauthenticated: bool) -> &'static str {
    if reauthenticated {
        "salesforce rejected a freshly issued session (check the instance, IP restrictions and API access of the run-as user)"
    } else {
        "salesforce session expired or invalid (supply a new access token)"
    }
}

/// The last non-blank line: SOQL error messages end with the sentence that matters
/// (`unexpected token: ...`) after echoing the statement.
fn last_line(message: &str) -> &str {
    message
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

fn object_hint(object: Option<&str>) -> &'static str {
    if object.is_some_and(|o| o.eq_ignore_ascii_case("AccountContactRelation")) {
        " (enable \"Contacts to Multiple Accounts\" in Setup > Account Settings)"
    } else {
        ""
    }
}

/// Cuts `body` to at most [`BODY_EXCERPT_CHARS`] characters, on a character boundary.
pub(crate) fn excerpt(body: &str) -> String {
    match body.char_indices().nth(BODY_EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &body[..cut]),
        None => body.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_keeps_short_bodies_and_cuts_long_ones_on_char_boundaries() {
        assert_eq!(excerpt("short"), "short");
        let long = "é".repeat(500);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), BODY_EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn acr_unavailable_explains_the_setting() {
        let err = SalesforceError::ObjectNotAvailable {
            object: Some("AccountContactRelation".into()),
            message: "sObject type 'AccountContactRelation' is not supported.".into(),
        };
        assert!(err.to_string().contains("Contacts to Multiple Accounts"));
        let other = SalesforceError::ObjectNotAvailable {
            object: Some("Foo__c".into()),
            message: String::new(),
        };
        assert_eq!(
            other.to_string(),
            "salesforce object Foo__c is not available"
        );
    }

    #[test]
    fn query_error_display_shows_the_last_line_of_the_message() {
        let err = SalesforceError::Query {
            status: 400,
            error_code: "MALFORMED_QUERY".into(),
            message: "\nSELECT Id FROM Contact WHERE\n      ^\nERROR at Row:1:Column:28\nunexpected token: '<EOF>'".into(),
            fields: vec![],
        };
        assert_eq!(
            err.to_string(),
            "salesforce rejected the request (MALFORMED_QUERY): unexpected token: '<EOF>'"
        );
    }

    #[test]
    fn retryable_errors() {
        assert!(
            SalesforceError::Server {
                status: 503,
                body_excerpt: String::new()
            }
            .is_retryable()
        );
        assert!(
            !SalesforceError::Query {
                status: 400,
                error_code: "MALFORMED_QUERY".into(),
                message: String::new(),
                fields: vec![]
            }
            .is_retryable()
        );
        assert!(
            !SalesforceError::RequestLimitExceeded {
                status: 403,
                message: String::new()
            }
            .is_retryable()
        );
    }
}
