//! Project automation, run as `cargo xtask <command>`.
//!
//! `ci` is the single entry point CI uses: formatting, lints with warnings denied, the
//! test suite, the client crates' docs, and the client crates packaged with their tests run
//! from the package. Each failing step prints the command that fixes or reproduces it.

use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

mod bench;
mod fixtures;
mod package;
mod soak;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  ci                 fmt check, clippy (warnings denied), the test suite, client crate docs,
                     client crates packaged (clean tree) and tested from the package
  package            the client crates packaged (clean tree) and tested from the package
  fixtures --check   every decision-table row and E-case has a complete replay fixture
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
mod tests {
    //! Tidy checks over the workspace itself.

    use std::path::Path;

    /// The arrows of ARCHITECTURE.md: which workspace crates each crate may depend on.
    const ALLOWED: &[(&str, &[&str])] = &[
        ("domain", &[]),
        ("zendesk-client", &[]),
        ("salesforce-client", &[]),
        ("sandbox", &[]),
        ("sync", &["domain", "zendesk-client", "salesforce-client"]),
        (
            "sfzd",
            &[
                "sync",
                "domain",
                "zendesk-client",
                "salesforce-client",
                "sandbox",
            ],
        ),
    ];

    /// Workspace crates named as dependencies (any section) in a manifest.
    fn workspace_dependencies(manifest: &str) -> Vec<String> {
        let crates: Vec<&str> = ALLOWED.iter().map(|(name, _)| *name).collect();
        let mut in_deps = false;
        let mut found = Vec::new();
        for line in manifest.lines().map(str::trim) {
            if line.starts_with('[') {
                in_deps = line.contains("dependencies");
                continue;
            }
            let name = line.split(['=', '.', ' ']).next().unwrap_or_default();
            if in_deps && crates.contains(&name) {
                found.push(name.to_owned());
            }
        }
        found
    }

    #[test]
    fn dependencies_point_down() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for (name, allowed) in ALLOWED {
            let manifest =
                std::fs::read_to_string(root.join("crates").join(name).join("Cargo.toml"))
                    .unwrap_or_else(|e| panic!("crates/{name}/Cargo.toml: {e}"));
            // A crate may name itself as a dev-dependency to test its own features.
            for dependency in workspace_dependencies(&manifest)
                .into_iter()
                .filter(|d| d != name)
            {
                assert!(
                    allowed.contains(&dependency.as_str()),
                    "crates/{name} depends on {dependency}, against ARCHITECTURE.md's arrows"
                );
            }
        }
    }

    #[test]
    fn the_check_sees_a_wrong_arrow() {
        let manifest = "[package]\nname = \"domain\"\n[dependencies]\nsync.workspace = true\n";
        assert_eq!(workspace_dependencies(manifest), vec!["sync".to_owned()]);
    }
}
