//! Records the commit sfzd is built from, for `sfzd --version`.
//!
//! In order: `SFZD_BUILD_COMMIT` (set by builds that have no `.git`, such as the
//! Dockerfile's, which passes it as a build argument), `git rev-parse HEAD` in a checkout,
//! the `build-commit` file that `git archive` fills in (see `.gitattributes` beside it),
//! else the version says the build was made outside a git checkout.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=SFZD_BUILD_COMMIT");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build-commit");
    let commit = std::env::var("SFZD_BUILD_COMMIT")
        .ok()
        .map(|commit| commit.trim().to_owned())
        .filter(|commit| is_commit(commit))
        .or_else(git_commit)
        .or_else(archive_commit)
        .map(|commit| commit.chars().take(12).collect::<String>())
        .unwrap_or_else(|| "unknown: built outside a git checkout".to_owned());
    println!("cargo:rustc-env=SFZD_COMMIT={commit}");
}

/// This crate's directory, as cargo tells the build script.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from("."), PathBuf::from)
}

fn is_commit(text: &str) -> bool {
    (7..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Runs git in this crate's directory; `None` when git is absent or fails (no checkout).
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(manifest_dir())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

fn git_commit() -> Option<String> {
    let commit = git(&["rev-parse", "HEAD"]).filter(|c| is_commit(c))?;
    // Build again when HEAD moves: HEAD itself (a checkout), the branch it points to (a
    // commit) and the packed refs (a branch packed by gc). Only existing paths are named,
    // since cargo reruns on every build for a path that does not exist.
    let mut watched = Vec::new();
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        watched.push(Path::new(&git_dir).join("HEAD"));
    }
    if let Some(common) = git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]) {
        let common = Path::new(&common);
        watched.push(common.join("packed-refs"));
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watched.push(common.join(branch));
        }
    }
    for path in watched.iter().filter(|path| path.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    Some(commit)
}

/// The commit `git archive` wrote into `build-commit` (its `$Format:%H$` placeholder is
/// replaced in archives only).
fn archive_commit() -> Option<String> {
    let text = std::fs::read_to_string(manifest_dir().join("build-commit")).ok()?;
    let commit = text.trim();
    is_commit(commit).then(|| commit.to_owned())
}
