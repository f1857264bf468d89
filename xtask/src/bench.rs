//! `cargo xtask bench`: sync benchmarks against the sandbox.

use anyhow::{Result, bail};

/// Runs the command.
pub fn run(_args: &[String]) -> Result<()> {
    bail!("the benchmark is being written")
}
