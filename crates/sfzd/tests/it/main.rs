//! End-to-end tests of the `sfzd` binary: replayed API traffic for every scenario of the
//! decision table and the E-cases, and full runs against the sandbox simulators.

// Test helpers outside #[test] functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod bulk;
mod check;
mod continuous;
mod custom_fields;
mod demo;
mod deploy;
mod e2e;
mod explain;
mod real_world;
mod reliability;
mod scenarios;
