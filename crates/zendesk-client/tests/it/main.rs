//! Integration tests of the HTTP client against local `wiremock` servers, one module per
//! area of the API. Response bodies come from `tests/data/` (see its README): fixtures
//! shaped after Zendesk's documented examples, and traffic recorded against live accounts.

mod api_shape;
mod auth;
mod common;
mod documented;
mod errors;
mod exports;
mod identities;
mod jobs;
mod limits;
mod memberships;
#[cfg(feature = "mock")]
mod mock;
mod organizations;
mod recorded;
mod resilience;
mod users;
