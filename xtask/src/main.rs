//! Project automation, run as `cargo xtask <command>`.
//!
//! `ci` is the single entry point CI uses: formatting, lints with warnings denied, the
//! test suite, the client crates' docs, the client crates packaged with their tests run
//! from the package, and the check that the scenario fixtures equal a fresh recording. Each
//! failing step prints the command that fixes or reproduces it.

use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

mod bench;
mod fixtures;
mod package;
mod soak;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  ci                 fmt check, clippy (warnings denied, sfzd also without its demo),
                     the test suite, client crate docs, client crates packaged (clean tree)
                     and tested from the package, fixtures --check
  package            the client crates packaged (clean tree) and tested from the package
  fixtures --record  record the scenario fixtures from sfzd runs against the sandbox
  fixtures --check   every decision-table row and E-case has a fixture equal to a fresh recording
  bench              full and incremental sync benchmarks against the sandbox
  soak               long fault-injection and crash/resume runs against the sandbox";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("fixtures") => fixtures::run(&args[1..]),
        Some("package") => {
            package::check(&std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        }
        Some("bench") => bench::run(&args[1..]),
        Some("soak") => soak::run(&args[1..]),
        Some("-h" | "--help") | None => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("unknown command `{other}`\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// One step of a check: the cargo arguments, extra environment and the hint shown on failure.
struct Step {
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    fix: &'static str,
}

fn ci() -> Result<()> {
    let steps = [
        Step {
            args: &["fmt", "--all", "--", "--check"],
            env: &[],
            fix: "run `cargo fmt --all` and commit the result",
        },
        Step {
            args: &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ],
            env: &[],
            fix: "fix the lints above; reproduce with the same command",
        },
        // The operations build: sfzd without the demo's simulators must keep building.
        Step {
            args: &[
                "clippy",
                "-p",
                "sfzd",
                "--no-default-features",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ],
            env: &[],
            fix: "sfzd must build without its `demo` feature: gate demo-only code with #[cfg(feature = \"demo\")]",
        },
        Step {
            args: &["test", "--workspace", "--locked"],
            env: &[],
            fix: "reproduce with `cargo test --workspace --locked`",
        },
        Step {
            args: &[
                "doc",
                "--no-deps",
                "--locked",
                "-p",
                "zendesk-client",
                "-p",
                "salesforce-client",
                "-p",
                "domain",
            ],
            env: &[("RUSTDOCFLAGS", "-D warnings")],
            fix: "fix the rustdoc warnings above",
        },
    ];
    for step in &steps {
        run_cargo(step)?;
    }
    // After the tests, which replay the fixtures: the fixtures are what the engine records now.
    eprintln!("xtask: cargo xtask fixtures --check");
    fixtures::run(&["--check".to_owned()])
        .context("fix the engine or the case definitions, then `cargo xtask fixtures --record`")?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    package::check(&cargo)
}

fn run_cargo(step: &Step) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("xtask: cargo {}", step.args.join(" "));
    let status = Command::new(&cargo)
        .args(step.args)
        .envs(step.env.iter().copied())
        .status()
        .with_context(|| format!("could not start `{cargo}`"))?;
    if !status.success() {
        bail!("`cargo {}` failed: {}", step.args.join(" "), step.fix);
    }
    Ok(())
}

#[cfg(test)]
mod tidy;
