//! Faults, crashes, concurrency, bad input and secrets (filled by the reliability work).
