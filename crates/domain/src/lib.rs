//! Pure model of the sfzd sync rules.
