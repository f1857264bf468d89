//! The traits callers program against: [`ZendeskRead`] for lookups and exports,
//! [`ZendeskWrite`] for changes. A dry run that is only given a `ZendeskRead` cannot write.

use async_trait::async_trait;

use crate::Result;
use crate::identities::NewIdentity;
use crate::jobs::JobStatus;
use crate::models::{
    AccountSettings, CustomField, Identity, NewMembership, NewOrganization, NewUser, Organization,
    OrganizationExportPage, OrganizationMembership, OrganizationUpdate, Page, User, UserExportPage,
    UserUpdate,
};
use crate::warn::Written;

/// At most this many records per bulk call or per `show_many` request. Bulk methods given
/// more items fail with [`crate::ZendeskError::InvalidRequest`] without sending anything;
/// `show_many` methods split the ids into several requests.
pub const BULK_LIMIT: usize = 100;

/// Reading from Zendesk. Paginated endpoints fetch one page per call; see [`crate::stream`]
/// for `Stream`s over all pages.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ZendeskRead: Send + Sync {
    /// The account settings (`GET /api/v2/account/settings`).
    ///
    /// # Errors
    ///
    /// Any [`crate::ZendeskError`] of the request.
    async fn account_settings(&self) -> Result<AccountSettings>;

    /// One user with its identities (`GET /api/v2/users/{id}?include=identities`).
    ///
    /// # Errors
    ///
    /// [`crate::ZendeskError::NotFound`] for an unknown id, or any other request error.
    async fn show_user(&self, id: u64) -> Result<User>;

    /// Users by id with their identities
    /// (`GET /api/v2/users/show_many?ids=&include=identities`), 100 per request. Unknown
    /// ids are left out of the answer.
    ///
    /// # Errors
    ///
    /// Any [`crate::ZendeskError`] of the requests.
    async fn show_many_users(&self, ids: &[u64]) -> Result<Vec<User>>;

    /// Users by external id with their identities
    /// (`GET /api/v2/users/show_many?external_ids=&include=identities`), 100 per request.
    ///
    /// # Errors
    ///
    /// [`crate::ZendeskError::InvalidRequest`] for an external id containing a comma, or
    /// any error of the requests.
    async fn show_many_users_by_external_ids(&self, external_ids: &[String]) -> Result<Vec<User>>;

    /// Users having `email` as any identity, with their identities
    /// (`GET /api/v2/users/search?query=email:…&include=identities`). Reads the first page
    /// of results (up to 100 users, far more than one address can match). Search is served
    /// from an index that can lag recent writes; prefer
    /// [`ZendeskRead::show_many_users_by_external_ids`] for exact lookups.
    ///
    /// Zendesk documents the sideload for the Users resource but not explicitly for
    /// search: when an answer carries no `identities`, a returned user whose primary
    /// email is not `email` gets its identities listed
    /// ([`ZendeskRead::list_user_identities`], one more call for that user), so
    /// [`User::has_email`] is true for a user found by a secondary address.
    ///
    /// # Errors
    ///
    /// Any [`crate::ZendeskError`] of the request.
    async fn search_users_by_email(&self, email: &str) -> Result<Vec<User>>;

    /// The number of users (`GET /api/v2/users/count`); `None` when the account does not
    /// support counting (404).
    ///
    /// # Errors
    ///
    /// Any other [`crate::ZendeskError`] of the request.
    async fn count_users(&self) -> Result<Option<u64>>;

    /// One page of the cursor-based incremental user export with identities attached. `None`
    /// starts from the beginning (`start_time=0`).
    ///
    /// # Errors
    ///
    /// Any [`crate::ZendeskError`] of the request.
    async fn export_users_page(&self, cursor: Option<String>) -> Result<UserExportPage>;

    /// One page of the time-based incremental organization export. `None` starts from the
    /// beginning; otherwise pass the previous page's `next_page` URL.
    ///
    /// # Errors
    ///
    /// [`crate::ZendeskError::InvalidRequest`] for a `next_page` URL outside the configured
    /// account, or any error of the request.
    async fn export_organizations_page(
        &self,
        next_page: Option<String>,
    ) -> Result<OrganizationExportPage>;

    /// Organizations by external id (`GET /api/v2/organizations/show_many?external_ids=`),
    /// 100 per request.
    ///
    /// # Errors
    ///
    /// [`crate::ZendeskError::InvalidRequest`] for an external id containing a comma, or
    /// any error of the requests.
    async fn show_many_organizations_by_external_ids(
        &self,
        external_ids: &[String],
    ) -> Result<Vec<Organization>>;

    /// Organizations whose name matches exactly, ignoring case
    /// (`GET /api/v2/organizations/search?name=`).
    ///
    /// # Errors
    ///
    /// Any [`crate::ZendeskError`] of the request.
    async fn search_organizations_by_name(&self, name: &str) -> Result<Vec<Organization>>;

    /// One page of a user's memberships
    /// (`GET /api/v2/users/{id}/organization_memberships?page[size]=100`).
    ///
    /// # Errors
    ///
    /// Any [`crate::ZendeskError`] of the request.
    async fn list_user_memberships_page(
        &self,
        user_id: u64,
        cursor: Option<String>,
    ) -> Result<Page<OrganizationMembership>>;

    /// One page of every membership of the account
    /// (`GET /api/v2/organization_memberships?page[size]=100`).
    ///
    /// # Errors
    ///
    /// Any [`crate::ZendeskError`] of the request.
    async fn list_memberships_page(
        &self,
        cursor: Option<String>,
    ) -> Result<Page<OrganizationMembership>>;

    /// Every custom user field of the account (`GET /api/v2/user_fields`, all pages).
    ///
    /// # Errors
    ///
    /// Any [`crate::ZendeskError`] of the requests.
    async fn list_user_fields(&self) -> Result<Vec<CustomField>>;

    /// Every custom organization field of the account
    /// (`GET /api/v2/organization_fields`, all pages).
    ///
    /// # Errors
    ///
    /// Any [`crate::ZendeskError`] of the requests.
    async fn list_organization_fields(&self) -> Result<Vec<CustomField>>;

    /// One job's status (`GET /api/v2/job_statuses/{id}`).
    ///
    /// # Errors
    ///
    /// [`crate::ZendeskError::NotFound`] once Zendesk forgot the job, or any other error.
    async fn show_job_status(&self, id: &str) -> Result<JobStatus>;

    /// Several jobs' statuses (`GET /api/v2/job_statuses/show_many?ids=`), 100 per request.
    ///
    /// # Errors
    ///
    /// Any [`crate::ZendeskError`] of the requests.
    async fn show_many_job_statuses(&self, ids: &[String]) -> Result<Vec<JobStatus>>;

    /// Every identity of one user (`GET /api/v2/users/{user_id}/identities`, cursor pages
    /// of 100 followed to the end), each with its `user_id`.
    ///
    /// # Errors
    ///
    /// [`crate::ZendeskError::NotFound`] for an unknown user, or any other request error.
    /// Zendesk refuses OAuth tokens scoped only `users:read` here (403).
    async fn list_user_identities(&self, user_id: u64) -> Result<Vec<Identity>>;
}

/// Writing to Zendesk. Bulk methods take at most [`BULK_LIMIT`] items and answer the queued
/// job; wait for it with [`crate::JobPoller`]. Every write answers a [`Written`]: the record
/// or job, and the keys Zendesk dropped from the request (`X-Zendesk-API-Warn`), which it
/// does silently with a 2xx, e.g. a custom field key the account does not define.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ZendeskWrite: Send + Sync {
    /// Creates a user (`POST /api/v2/users`). Not retried after a 5xx or timeout.
    ///
    /// # Errors
    ///
    /// [`crate::ZendeskError::ValidationFailed`] e.g. for a duplicate email, or any other
    /// request error.
    async fn create_user(&self, user: &NewUser) -> Result<Written<User>>;

    /// Updates a user (`PUT /api/v2/users/{id}`). Not retried after a 5xx or timeout.
    ///
    /// # Errors
    ///
    /// [`crate::ZendeskError::InvalidRequest`] for an empty update, or any request error.
    async fn update_user(&self, update: &UserUpdate) -> Result<Written<User>>;

    /// Creates users in a job (`POST /api/v2/users/create_many`).
    ///
    /// # Errors
    ///
    /// [`crate::ZendeskError::BulkImportDisabled`] when the account does not allow bulk
    /// import, [`crate::ZendeskError::InvalidRequest`] for 0 or more than [`BULK_LIMIT`]
    /// users, or any request error.
    async fn create_many_users(&self, users: &[NewUser]) -> Result<Written<JobStatus>>;

    /// Creates or updates users (matched by email or external id) in a job
    /// (`POST /api/v2/users/create_or_update_many`).
    ///
    /// # Errors
    ///
    /// As [`ZendeskWrite::create_many_users`].
    async fn create_or_update_many_users(&self, users: &[NewUser]) -> Result<Written<JobStatus>>;

    /// Updates users in a job (`PUT /api/v2/users/update_many`, batch form).
    ///
    /// # Errors
    ///
    /// [`crate::ZendeskError::InvalidRequest`] for 0 or more than [`BULK_LIMIT`] updates, or
    /// any request error.
    async fn update_many_users(&self, updates: &[UserUpdate]) -> Result<Written<JobStatus>>;

    /// Creates an organization (`POST /api/v2/organizations`). Not retried after a 5xx or
    /// timeout.
    ///
    /// # Errors
    ///
    /// [`crate::ZendeskError::ValidationFailed`] e.g. for a name already taken, or any
    /// other request error.
    async fn create_organization(&self, org: &NewOrganization) -> Result<Written<Organization>>;

    /// Updates an organization (`PUT /api/v2/organizations/{id}`). Not retried after a 5xx
    /// or timeout.
    ///
    /// # Errors
    ///
    /// [`crate::ZendeskError::InvalidRequest`] for an empty update, or any request error.
    async fn update_organization(
        &self,
        update: &OrganizationUpdate,
    ) -> Result<Written<Organization>>;

    /// Creates organizations in a job (`POST /api/v2/organizations/create_many`).
    ///
    /// # Errors
    ///
    /// [`crate::ZendeskError::InvalidRequest`] for 0 or more than [`BULK_LIMIT`]
    /// organizations, or any request error.
    async fn create_many_organizations(
        &self,
        orgs: &[NewOrganization],
    ) -> Result<Written<JobStatus>>;

    /// Updates organizations in a job (`PUT /api/v2/organizations/update_many`, batch form).
    ///
    /// # Errors
    ///
    /// [`crate::ZendeskError::InvalidRequest`] for 0 or more than [`BULK_LIMIT`] updates, or
    /// any request error.
    async fn update_many_organizations(
        &self,
        updates: &[OrganizationUpdate],
    ) -> Result<Written<JobStatus>>;

    /// Adds a user to an organization (`POST /api/v2/organization_memberships`). Not retried
    /// after a 5xx or timeout.
    ///
    /// # Errors
    ///
    /// [`crate::ZendeskError::ValidationFailed`] when the membership already exists, or any
    /// other request error.
    async fn create_membership(
        &self,
        membership: &NewMembership,
    ) -> Result<Written<OrganizationMembership>>;

    /// Adds memberships in a job (`POST /api/v2/organization_memberships/create_many`).
    ///
    /// # Errors
    ///
    /// [`crate::ZendeskError::InvalidRequest`] for 0 or more than [`BULK_LIMIT`]
    /// memberships, or any request error.
    async fn create_many_memberships(
        &self,
        memberships: &[NewMembership],
    ) -> Result<Written<JobStatus>>;

    /// Makes a membership the user's default
    /// (`PUT /api/v2/users/{user_id}/organization_memberships/{membership_id}/make_default`)
    /// and answers the user's memberships.
    ///
    /// # Errors
    ///
    /// [`crate::ZendeskError::NotFound`] for an unknown membership, or any request error.
    async fn make_default_membership(
        &self,
        user_id: u64,
        membership_id: u64,
    ) -> Result<Vec<OrganizationMembership>>;

    /// Adds an email identity to a user (`POST /api/v2/users/{user_id}/identities`), e.g.
    /// to seed a secondary address in tests. Not retried after a 5xx or timeout.
    ///
    /// # Errors
    ///
    /// [`crate::ZendeskError::ValidationFailed`] when the address belongs to another user
    /// ("Email: … is already being used by another user") or is malformed,
    /// [`crate::ZendeskError::NotFound`] for an unknown user, or any other request error.
    async fn create_user_identity(&self, user_id: u64, identity: &NewIdentity) -> Result<Identity>;
}

/// Both halves of the API, for code that reads and writes.
pub trait ZendeskApi: ZendeskRead + ZendeskWrite {}

impl<T: ZendeskRead + ZendeskWrite + ?Sized> ZendeskApi for T {}
