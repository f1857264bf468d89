//! Orchestration of an sfzd run.
