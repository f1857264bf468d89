//! Orchestration of an sfzd run: prerequisites, phases, chunking, reading both sides,
//! planning with `domain`, writing with Zendesk's bulk jobs, the state store and the report.
//!
//! The engine talks to the APIs only through the client crates' traits
//! ([`salesforce_client::SalesforceApi`], [`zendesk_client::ZendeskRead`],
//! [`zendesk_client::ZendeskWrite`]); without a writer it is a dry run by construction.
//!
//! A run, module by module in the order it happens:
//! [`run`] (life of a run, errors, history) → `accounts` (accounts to organizations) →
//! `people` (the people phase: chunk loop and watermarks) → `selection` (which records an
//! incremental run reads) → `chunk` (reading Zendesk and planning a chunk) → `apply`
//! (writing a chunk, counting, committing) → `writing` (bulk jobs or the dry run) →
//! [`writes`] (Zendesk's bulk jobs). Plan lines are made in `describe`.

mod accounts;
mod apply;
mod chunk;
mod describe;
pub mod directory;
pub mod explain;
pub mod mapping;
mod people;
pub mod progress;
pub mod report;
pub mod run;
mod selection;
pub mod staging;
pub mod state;
pub mod writes;
mod writing;

// Unit tests of the run, one file per module under `tests/`, through the clients' mockall
// mocks wired to a small in-memory world (`testkit`): no HTTP, no real waits.
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

pub use mapping::FieldMapping;
pub use progress::ProgressLog;
pub use report::{Report, RunMode};
pub use run::{
    CallCounter, Engine, NoProgress, Progress, RunOutcome, SyncError, SyncOptions, preflight,
};
pub use state::StateStore;
