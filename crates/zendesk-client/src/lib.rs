//! A typed, rate-aware client for the Zendesk Support API: users, organizations,
//! organization memberships, incremental exports and bulk jobs.
//!
//! * [`ZendeskRead`] and [`ZendeskWrite`] are the object-safe traits to program against;
//!   [`HttpZendeskClient`] implements both over HTTP. With the `mock` feature,
//!   `MockZendeskRead` and `MockZendeskWrite` (mockall) are exported for tests.
//! * Paginated endpoints fetch one page per call; [`stream`] turns them into `Stream`s.
//! * Bulk writes answer a [`JobStatus`]; [`JobPoller`] waits for many jobs at once.
//! * The client keeps a requests-per-minute budget shared by its clones, follows Zendesk's
//!   rate-limit headers and `Retry-After`, caps in-flight jobs, and retries only what is safe
//!   to repeat (see [`retry::decide`]).
//! * [`HttpZendeskClient::calls`] counts every request per endpoint.
//! * Users are read with their email identities (`include=identities`), so
//!   [`User::emails`] and [`User::has_email`] see secondary addresses; see [`identities`].
//!
//! # Example
//!
//! ```no_run
//! use zendesk_client::{Auth, HttpZendeskClient, ZendeskConfig, ZendeskRead};
//!
//! # async fn run() -> zendesk_client::Result<()> {
//! let config = ZendeskConfig::new(
//!     "https://acme.zendesk.com",
//!     Auth::oauth_client_credentials("sync-client", "client-secret"),
//! )?;
//! let client = HttpZendeskClient::new(config)?;
//! for user in client.search_users_by_email("ann@example.com").await? {
//!     println!("{} {}", user.id, user.name);
//! }
//! println!("{} requests sent", client.calls().total());
//! # Ok(())
//! # }
//! ```

mod api;
mod auth;
pub mod clock;
mod config;
mod error;
mod http;
pub mod identities;
mod jobs;
mod models;
pub mod rate;
pub mod retry;
pub mod stream;
mod warn;

pub use api::{BULK_LIMIT, ZendeskApi, ZendeskRead, ZendeskWrite};
#[cfg(any(test, feature = "mock"))]
pub use api::{MockZendeskRead, MockZendeskWrite};
pub use clock::{Clock, ManualClock, TokioClock};
pub use config::{Auth, ZendeskConfig, is_secure_url};
pub use error::{TransportKind, ZendeskError};
pub use http::{CallCounts, HttpZendeskClient};
pub use identities::{NewIdentity, normalize_email};
pub use jobs::{ItemOutcome, JobPoller, JobResult, JobState, JobStatus, PollConfig};
pub use models::{
    AccountSettings, CustomField, Identity, JsonMap, NewMembership, NewOrganization, NewUser,
    Organization, OrganizationExportPage, OrganizationMembership, OrganizationUpdate, Page, User,
    UserExportPage, UserUpdate,
};
pub use retry::RetryConfig;
pub use secrecy::SecretString;
pub use warn::{API_WARN_HEADER, ApiWarning, Written};

/// The crate's result type.
pub type Result<T, E = ZendeskError> = std::result::Result<T, E>;
