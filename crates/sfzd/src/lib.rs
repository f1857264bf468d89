//! The `sfzd` binary's pieces: the command line of the operator contract
//! (`docs/operator.md`), the TOML configuration, logging, progress and exit codes,
//! continuous mode with its metrics, and the run history.
//! The sync itself lives in the `sync` crate; `main.rs` only calls [`main_entry`].

pub mod cli;
pub mod config;
pub mod continuous;
pub mod demo;
pub mod explain;
pub mod metrics;
pub mod output;
pub mod runs;

use clap::Parser;

use crate::cli::{Cli, Command};

/// What `sfzd --version` prints after the name: the version and the commit it was built
/// from (recorded by `build.rs`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("SFZD_COMMIT"),
    ")"
);

/// Exit statuses of the operator contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The run finished and every record synced.
    Ok = 0,
    /// The run could not finish (network, authentication, API limit exhausted).
    RunFailed = 1,
    /// Usage or configuration error, including a failed prerequisite; nothing was written.
    Config = 2,
    /// The run finished, but some records failed; they are retried next run.
    RecordsFailed = 3,
}

/// Parses the command line, runs the command and returns the exit status.
pub fn main_entry() -> Exit {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints help and version to stdout with success, usage errors with exit 2.
            let _ = err.print();
            return if err.use_stderr() {
                Exit::Config
            } else {
                Exit::Ok
            };
        }
    };
    output::init_logging(cli.log_format, cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: could not start the async runtime: {err}");
            return Exit::RunFailed;
        }
    };
    runtime.block_on(async {
        match cli.command {
            Command::Sync(args) => cli::sync(args).await,
            Command::Check(args) => cli::check(args).await,
            Command::Demo(args) => demo::demo(args).await,
            Command::Runs(args) => runs::runs(&args),
            Command::Explain(args) => explain::explain(args).await,
        }
    })
}
