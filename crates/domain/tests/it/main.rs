//! Behaviour tests of the sync rules: the article's decision table, the E-cases of
//! docs/behavior.md and properties over random groups.

// Test helpers outside #[test] functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod ecases;
mod properties;
mod support;
mod table;
