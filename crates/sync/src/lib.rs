//! Orchestration of an sfzd run: prerequisites, phases, chunking, reading both sides,
//! planning with `domain`, writing with Zendesk's bulk jobs, the state store and the report.
//!
//! The engine talks to the APIs only through the client crates' traits
//! ([`salesforce_client::SalesforceApi`], [`zendesk_client::ZendeskRead`],
//! [`zendesk_client::ZendeskWrite`]); without a writer it is a dry run by construction.

pub mod directory;
pub mod engine;
pub mod mapping;
pub mod report;
pub mod staging;
pub mod state;
pub mod writes;

pub use engine::{Engine, NoProgress, Progress, RunOutcome, SyncError, SyncOptions, preflight};
pub use mapping::FieldMapping;
pub use report::{Report, RunMode};
pub use state::StateStore;
