//! Integration tests of the HTTP client against local `wiremock` servers, one module per
//! area of the API. Response bodies come from `fixtures/zendesk/`.

mod api_shape;
mod auth;
mod common;
mod errors;
mod exports;
mod identities;
mod jobs;
mod memberships;
#[cfg(feature = "mock")]
mod mock;
mod organizations;
mod resilience;
mod users;
