//! `cargo xtask soak`: long fault-injection and crash/resume runs against the sandbox.

use anyhow::{Result, bail};

/// Runs the command.
pub fn run(_args: &[String]) -> Result<()> {
    bail!("the soak run is being written")
}
