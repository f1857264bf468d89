//! The sfzd command-line tool.

fn main() {}
