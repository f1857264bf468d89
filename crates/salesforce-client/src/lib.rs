//! A typed Salesforce REST client for SOQL reads of accounts, contacts, leads and
//! account-contact relations.
//!
//! - [`SalesforceApi`] is the object-safe, page-based trait the sync is written against;
//!   with the `mock` feature, `MockSalesforceApi` (mockall) implements it for tests.
//! - [`HttpSalesforceClient`] implements it over HTTPS: OAuth 2.0 client credentials (or a
//!   ready access token), one re-authentication on `401 INVALID_SESSION_ID`, retries with
//!   jittered exponential backoff for 5xx, timeouts and dropped connections, call counts
//!   per endpoint and the org's API usage from `Sforce-Limit-Info`.
//! - [`query_stream`] and the helpers in [`reads`] follow `nextRecordsUrl` and decode
//!   records into [`Account`], [`Contact`], [`Lead`] and [`AccountContactRelation`].
//! - Deletions: [`query_all_rows_stream`] runs a statement through `queryAll` (Recycle Bin
//!   included; [`queries::deleted_people`] selects deleted people since a watermark), and
//!   [`SalesforceApi::deleted_records`] reads the `sobjects/{type}/deleted` log.
//! - [`soql`] escapes literals and chunks `IN` lists; [`queries`] builds the sync's statements.
//!
//! # Example
//!
//! ```no_run
//! use futures::TryStreamExt;
//! use salesforce_client::{reads, HttpSalesforceClient, SalesforceAuth, SalesforceConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = SalesforceConfig::new(
//!     "https://acme.my.salesforce.com",
//!     "62.0",
//!     SalesforceAuth::ClientCredentials {
//!         client_id: std::env::var("SF_CLIENT_ID")?,
//!         client_secret: std::env::var("SF_CLIENT_SECRET")?.into(),
//!     },
//! )?
//! .with_batch_size(500);
//! let client = HttpSalesforceClient::new(config)?;
//!
//! let emails = vec!["o'brien@example.com".to_owned()];
//! let mut pages = Box::pin(reads::contacts_by_emails(&client, &["Tier__c"], &emails, None));
//! while let Some(contacts) = pages.try_next().await? {
//!     for contact in contacts {
//!         println!("{} {:?} {:?}", contact.id, contact.email, contact.fields.get("Tier__c"));
//!     }
//! }
//! println!("{} API calls", client.calls().total());
//! # Ok(()) }
//! ```

mod api;
mod client;
mod config;
mod error;
pub mod queries;
pub mod reads;
mod records;
pub mod retry;
pub mod soql;
mod usage;

#[cfg(any(test, feature = "mock"))]
pub use api::MockSalesforceApi;
pub use api::{
    DeletedRecord, DeletedRecords, QueryPage, SalesforceApi, decode_records, page_stream,
    page_stream_all_rows, query_all, query_all_rows_stream, query_all_rows_stream_many,
    query_stream, query_stream_many,
};
pub use client::HttpSalesforceClient;
pub use config::{
    DEFAULT_TIMEOUT, MAX_BATCH_SIZE, MIN_BATCH_SIZE, SalesforceAuth, SalesforceConfig,
    is_secure_url,
};
pub use error::{BODY_EXCERPT_CHARS, Result, SalesforceError, TransportKind};
pub use queries::PersonObject;
pub use records::{
    ACCOUNT_FIELDS, Account, AccountContactRelation, CONTACT_FIELDS, Contact, LEAD_FIELDS, Lead,
    RELATION_FIELDS, datetime,
};
pub use retry::RetryConfig;
pub use secrecy::SecretString;
pub use url::Url;
pub use usage::{
    ApiUsage, CallCounts, ENDPOINT_DELETED, ENDPOINT_QUERY, ENDPOINT_QUERY_ALL,
    ENDPOINT_QUERY_MORE, ENDPOINT_TOKEN,
};

/// Compiles the README's examples as doctests so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
