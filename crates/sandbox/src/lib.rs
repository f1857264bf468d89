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
//!
//! # Choices where the vendors' docs are silent
//!
//! - Zendesk, multiple organizations off: creating a second membership for a user is
//!   rejected with 422 (`InvalidValue` on `organization_id`); writing the user's
//!   `organization_id` moves the user instead. With the setting on, writing
//!   `organization_id` still removes every other membership, as documented.
//! - Zendesk memberships report `default: null` when not default (as the docs say), and a
//!   user's first membership always becomes the default.
//! - Zendesk jobs are applied when submitted; they report `queued` for
//!   `job_polls_before_complete` polls and, with a [`JobTiming`], until their time has
//!   passed (`queued` behind the account's busy workers, then `working`), then
//!   `completed`. A job stays in flight (counts
//!   towards the cap of 30, over which submissions get 429 `TooManyJobs`) until a poll has
//!   reported it completed.
//! - Zendesk incremental organization pages hold 1000 records but never split records that
//!   share a second, so `end_time` can move past that second; `start_time` is not required
//!   to be a minute in the past.
//! - Zendesk counters: `reads`/`writes` count API requests by method; `POST /oauth/tokens`
//!   is counted per endpoint but in neither total.
//! - Salesforce: changing a contact's `AccountId` makes the new account's relation direct
//!   (creating it when missing) and keeps the old direct relation as an indirect, active one.
//!   Deleting a contact soft-deletes its relations; both are visible only to `queryAll`
//!   and listed by `sobjects/{type}/deleted`, whose log covers up to the moment of the
//!   request (Salesforce may cover less) and reaches 15 days back.
//! - Zendesk refuses the configured [`ZendeskSimConfig::refused_emails`] with the words of
//!   its format check ("Email: … is not properly formatted", recorded from Zendesk); a
//!   membership past [`ZendeskSimConfig::max_organizations_per_user`] fails with
//!   `InvalidValue` "User cannot belong to more than N organizations" (Zendesk documents
//!   the limit of 300, not the wording of the refusal).
//! - SOQL: string `=`, `!=`, `IN`, `LIKE` and ordering compare case-insensitively; `!=` and
//!   `NOT IN` match nulls; mixing `AND` and `OR` without parentheses is `MALFORMED_QUERY`;
//!   a quoted dateTime (or an unquoted string) is `INVALID_FIELD`. Without `ORDER BY`
//!   records come in Id order. Fields beyond the typed ones (`Region__c`, `LeadSource`,
//!   `NumberOfEmployees`, ...) live in `other_fields`.

mod common;
mod generator;
pub mod recording;
mod salesforce;
mod server;
mod zendesk;

pub use common::{FaultConfig, HoldAnswers, LoggedRequest, RequestCounts};
pub use generator::{Dataset, GeneratorConfig, ZendeskOrgSeed, ZendeskUserSeed, generate};
pub use salesforce::{
    Churn, SalesforceSim, SalesforceSimConfig, SalesforceSnapshot, SfAccount, SfContact, SfLead,
    SfRelation, sf_id,
};
pub use server::RunningServer;
pub use zendesk::{
    JobTiming, JobTotals, MAX_ORGANIZATIONS_PER_USER, ZdIdentity, ZdMembership, ZdOrganization,
    ZdUser, ZendeskSim, ZendeskSimConfig, ZendeskSnapshot,
};

/// Both simulators loaded with one dataset and listening, as the demo and the benchmark use them.
#[derive(Debug)]
pub struct Sandbox {
    /// Handle to the Salesforce simulator.
    pub salesforce: SalesforceSim,
    /// Handle to the Zendesk simulator.
    pub zendesk: ZendeskSim,
    /// The Salesforce server (its `url` is the login host and the `instance_url`).
    pub salesforce_server: RunningServer,
    /// The Zendesk server (its `url` stands for `https://{subdomain}.zendesk.com`).
    pub zendesk_server: RunningServer,
}

impl Sandbox {
    /// Creates both simulators, loads `dataset` into them and serves them on `127.0.0.1`.
    ///
    /// # Errors
    /// [`SandboxError::Bind`] when a port cannot be bound, [`SandboxError::Rejected`] when
    /// the dataset breaks a Zendesk rule.
    pub async fn start(
        dataset: &Dataset,
        salesforce: SalesforceSimConfig,
        zendesk: ZendeskSimConfig,
    ) -> Result<Self, SandboxError> {
        let salesforce = SalesforceSim::new(salesforce);
        salesforce.load(dataset);
        let zendesk = ZendeskSim::new(zendesk);
        zendesk.load(dataset)?;
        let salesforce_server = salesforce.serve().await?;
        let zendesk_server = zendesk.serve().await?;
        Ok(Self {
            salesforce,
            zendesk,
            salesforce_server,
            zendesk_server,
        })
    }

    /// Stops both servers and waits for in-flight requests.
    pub async fn shutdown(self) {
        self.salesforce_server.shutdown().await;
        self.zendesk_server.shutdown().await;
    }
}

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
