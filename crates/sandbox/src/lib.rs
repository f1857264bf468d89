//! Simulated Salesforce and Zendesk servers with a seeded data generator.
//!
//! The simulators are stateful, in-memory HTTP servers bound to `127.0.0.1:0`. They follow
//! the vendors' documented semantics closely enough to catch client bugs (unique Zendesk
//! emails, `organization_id` clobbering memberships, job polling, SOQL paging) while staying
//! cheap enough that a benchmark measures the client, not the simulator.
//!
//! - [`ZendeskSim`]: users, organizations, memberships, bulk jobs, incremental exports.
//! - [`SalesforceSim`]: OAuth client credentials and a SOQL subset over Account, Contact,
//!   Lead and AccountContactRelation.
//! - [`generate`]: a deterministic [`Dataset`] with the realistic mix the sync must handle.

mod common;
mod generator;
mod salesforce;
mod server;
mod zendesk;

pub use common::{FaultConfig, LoggedRequest, RequestCounts};
pub use generator::{Dataset, GeneratorConfig, ZendeskOrgSeed, ZendeskUserSeed, generate};
pub use salesforce::{
    SalesforceSim, SalesforceSimConfig, SalesforceSnapshot, SfAccount, SfContact, SfLead,
    SfRelation, sf_id,
};
pub use server::RunningServer;
pub use zendesk::{
    ZdIdentity, ZdMembership, ZdOrganization, ZdUser, ZendeskSim, ZendeskSimConfig, ZendeskSnapshot,
};

/// Failures of starting a simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// The local listener could not be bound.
    #[error("cannot bind the simulator to 127.0.0.1")]
    Bind(#[source] std::io::Error),
    /// A seeded record broke one of the simulator's rules (e.g. a duplicate email).
    #[error("the simulator rejected the record")]
    Rejected {
        /// Vendor error code, e.g. `DuplicateValue`.
        code: String,
        /// Vendor error description.
        description: String,
    },
}
