//! Runs of the binary against the sandbox simulators (filled by the e2e work).
