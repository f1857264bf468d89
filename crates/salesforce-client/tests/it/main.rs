//! Integration tests of the Salesforce client against local wiremock servers.

mod auth;
mod config;
mod deletions;
mod errors;
mod escaping;
mod fixtures;
#[cfg(feature = "mock")]
mod mock;
mod query;
mod recorded;
mod retries;
mod support;
