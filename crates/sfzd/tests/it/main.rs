//! End-to-end tests of the `sfzd` binary: replayed API traffic for every scenario of the
//! decision table and the E-cases, and full runs against the sandbox simulators.

// Test helpers outside #[test] functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod bulk;
mod check;
mod custom_fields;
mod e2e;
mod reliability;
mod scenarios;
