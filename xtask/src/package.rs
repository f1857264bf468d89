//! `cargo xtask ci`'s package check: the client crates are products of their own, so each
//! must package (`cargo package --locked`, on a clean tree) and its tests must pass from
//! the packaged crate, unpacked outside the workspace, where a test reading a file outside
//! the crate fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The crates other teams reuse.
pub const CLIENT_CRATES: [&str; 2] = ["zendesk-client", "salesforce-client"];

/// Packages each client crate and runs its tests from the unpacked package.
pub fn check(cargo: &str) -> Result<()> {
    let target = target_dir(cargo)?;
    for name in CLIENT_CRATES {
        run(
            Command::new(cargo).args(["package", "-p", name, "--locked"]),
            &format!(
                "`cargo package -p {name} --locked` failed: commit or stash local changes (it \
                 needs a clean tree), and make sure the crate ships every file its build and \
                 tests need"
            ),
        )?;
        let archive = newest_archive(&target.join("package"), name)?;
        let stem = archive
            .file_stem()
            .and_then(|s| s.to_str())
            .context("archive name")?;
        // Outside the workspace, so cargo treats the package as the standalone crate a
        // user downloads, and a test that reads `../../anything` cannot find it. A previous
        // unpacking is removed first: a file the package no longer ships must be missing.
        let unpacked = std::env::temp_dir().join("sfzd-xtask-package");
        let _ = std::fs::remove_dir_all(unpacked.join(stem));
        std::fs::create_dir_all(&unpacked)
            .with_context(|| format!("cannot create {}", unpacked.display()))?;
        run(
            Command::new("tar")
                .arg("-xzf")
                .arg(&archive)
                .arg("-C")
                .arg(&unpacked),
            &format!("could not unpack {}", archive.display()),
        )?;
        let manifest = unpacked.join(stem).join("Cargo.toml");
        run(
            Command::new(cargo)
                .args(["test", "--locked", "--all-features", "--manifest-path"])
                .arg(&manifest)
                .env("CARGO_TARGET_DIR", target.join("package-test")),
            &format!(
                "the tests of the packaged {name} failed: a test may read a file outside the \
                 crate or one the package leaves out; reproduce with `cargo test --locked \
                 --all-features --manifest-path {}`",
                manifest.display()
            ),
        )?;
    }
    Ok(())
}

fn run(command: &mut Command, fix: &str) -> Result<()> {
    eprintln!("xtask: {command:?}");
    let status = command
        .status()
        .with_context(|| format!("could not start {command:?}"))?;
    if !status.success() {
        bail!("{fix}");
    }
    Ok(())
}

/// The workspace's target directory, wherever `CARGO_TARGET_DIR` or the config put it.
fn target_dir(cargo: &str) -> Result<PathBuf> {
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("could not run cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed");
    }
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .context("cargo metadata names no target directory")
}

/// The most recently written `NAME-VERSION.crate` in `dir`.
fn newest_archive(dir: &Path, name: &str) -> Result<PathBuf> {
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))? {
        let path = entry?.path();
        let file = path
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or_default();
        let version = file
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|rest| rest.strip_suffix(".crate"));
        // `zendesk-client-0.1.0.crate`, not `zendesk-client-extra-0.1.0.crate`.
        if version.is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit())) {
            let modified = path.metadata()?.modified()?;
            found.push((modified, path));
        }
    }
    found.sort();
    found
        .pop()
        .map(|(_, path)| path)
        .with_context(|| format!("no {name}-*.crate in {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_crate_archive_and_not_a_longer_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        for file in [
            "zendesk-client-extra-0.2.0.crate",
            "zendesk-client-0.1.0.crate",
            "zendesk-client-0.1.0",
        ] {
            std::fs::write(dir.path().join(file), b"").expect("write");
        }
        let found = newest_archive(dir.path(), "zendesk-client").expect("found");
        assert_eq!(found, dir.path().join("zendesk-client-0.1.0.crate"));
        assert!(newest_archive(dir.path(), "salesforce-client").is_err());
    }
}
