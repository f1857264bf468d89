//! Replayed API traffic for every scenario (filled by the fixtures work).
