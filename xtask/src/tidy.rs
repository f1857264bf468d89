//! Tidy checks over the workspace itself: the dependency arrows of ARCHITECTURE.md, read
//! from `cargo metadata` so a new crate is covered without editing a list of manifests,
//! and a repository that explains itself without pointing at files outside it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The workspace crates a crate may depend on (in any section), by ARCHITECTURE.md.
#[derive(Debug, Clone, Copy)]
enum Allowed {
    /// None of the workspace's crates.
    Nothing,
    /// Only these.
    Only(&'static [&'static str]),
    /// Any crate of the workspace but these.
    AllBut(&'static [&'static str]),
}

/// One rule per workspace crate. A crate missing here fails the check, so a new crate
/// gets its arrows written down when it is added.
const RULES: &[(&str, Allowed)] = &[
    // The rules: pure, the bottom of the graph.
    ("domain", Allowed::Nothing),
    // Reusable products of their own.
    ("zendesk-client", Allowed::Nothing),
    ("salesforce-client", Allowed::Nothing),
    (
        "sync",
        Allowed::Only(&["domain", "zendesk-client", "salesforce-client"]),
    ),
    // The simulators stand for the vendors: built on the engine's own code they would
    // agree with its mistakes.
    (
        "sandbox",
        Allowed::AllBut(&["domain", "sync", "sfzd", "xtask"]),
    ),
    ("sfzd", Allowed::AllBut(&["xtask"])),
    ("xtask", Allowed::AllBut(&[])),
];

/// Crates that do I/O or run async code: `domain` must not reach any of them through its
/// normal dependencies, directly or transitively.
const IO_CRATES: &[&str] = &[
    "tokio",
    "async-std",
    "futures",
    "futures-io",
    "async-trait",
    "mio",
    "socket2",
    "hyper",
    "hyper-util",
    "reqwest",
    "ureq",
    "axum",
    "wiremock",
    "rusqlite",
    "libsqlite3-sys",
    "tracing-subscriber",
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

/// The triple of the machine running the check, from `rustc -vV`.
fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let output = Command::new(&rustc)
        .arg("-vV")
        .output()
        .unwrap_or_else(|e| panic!("could not start `{rustc} -vV`: {e}"));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .unwrap_or_else(|| panic!("`{rustc} -vV` names no host"))
        .to_owned()
}

/// `cargo metadata` of the workspace, offline and against the committed Cargo.lock. The
/// resolved graph is that of the host platform: dependencies behind another target's
/// `cfg` (wasm glue under `chrono`, for one) are not built here.
fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(&cargo)
        .args(["metadata", "--format-version", "1", "--offline", "--locked"])
        .args(["--filter-platform", &host_triple()])
        .arg("--manifest-path")
        .arg(workspace_root().join("Cargo.toml"))
        .output()
        .unwrap_or_else(|e| panic!("could not start `{cargo} metadata`: {e}"));
    assert!(
        output.status.success(),
        "`cargo metadata --offline --locked` failed (is Cargo.lock up to date? run `cargo metadata --offline` and commit it):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON")
}

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or_default()
}

/// Every way the workspace's dependencies break ARCHITECTURE.md's arrows, in words.
fn violations(metadata: &Value) -> Vec<String> {
    let members: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let packages: Vec<&Value> = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let name_of: BTreeMap<&str, &str> = packages
        .iter()
        .map(|p| (str_of(p, "id"), str_of(p, "name")))
        .collect();
    let workspace: BTreeSet<&str> = members
        .iter()
        .filter_map(|id| name_of.get(id).copied())
        .collect();
    let rules: BTreeMap<&str, Allowed> = RULES.iter().copied().collect();

    let mut found = Vec::new();
    for package in packages
        .iter()
        .filter(|p| members.contains(str_of(p, "id")))
    {
        let name = str_of(package, "name");
        let Some(allowed) = rules.get(name) else {
            found.push(format!(
                "crate `{name}` has no dependency rule: add it to RULES in xtask/src/tidy.rs with the arrows ARCHITECTURE.md gives it"
            ));
            continue;
        };
        let dependencies = package["dependencies"].as_array().into_iter().flatten();
        for dependency in dependencies.map(|d| str_of(d, "name")) {
            // A crate may name itself as a dev-dependency to test its own features.
            if dependency == name || !workspace.contains(dependency) {
                continue;
            }
            let ok = match allowed {
                Allowed::Nothing => false,
                Allowed::Only(list) => list.contains(&dependency),
                Allowed::AllBut(list) => !list.contains(&dependency),
            };
            if !ok {
                found.push(format!(
                    "crate `{name}` depends on `{dependency}`, against ARCHITECTURE.md's arrows"
                ));
            }
        }
    }

    // `domain`: no I/O crate among its normal dependencies, however deep.
    let nodes: BTreeMap<&str, &Value> = metadata["resolve"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| (str_of(n, "id"), n))
        .collect();
    let domain = members
        .iter()
        .copied()
        .find(|id| name_of.get(id) == Some(&"domain"));
    if let Some(domain) = domain {
        let mut seen = BTreeSet::from([domain]);
        let mut path_to: BTreeMap<&str, Vec<&str>> = BTreeMap::from([(domain, vec!["domain"])]);
        let mut queue = vec![domain];
        while let Some(id) = queue.pop() {
            let Some(node) = nodes.get(id) else { continue };
            for edge in node["deps"].as_array().into_iter().flatten() {
                let normal = edge["dep_kinds"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|k| k["kind"].is_null());
                let pkg = str_of(edge, "pkg");
                if !normal || !seen.insert(pkg) {
                    continue;
                }
                let dep_name = name_of.get(pkg).copied().unwrap_or(pkg);
                let mut path = path_to[id].clone();
                path.push(dep_name);
                if IO_CRATES.contains(&dep_name) {
                    found.push(format!(
                        "crate `domain` reaches the I/O crate `{dep_name}` ({}): domain does no I/O and no async",
                        path.join(" -> ")
                    ));
                }
                path_to.insert(pkg, path);
                queue.push(pkg);
            }
        }
    }
    found
}

#[test]
fn dependencies_point_down() {
    let found = violations(&metadata());
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn every_workspace_crate_has_a_rule() {
    // `violations` covers this too; this names the crates the metadata lists, so a
    // metadata format change that hid every package would not pass silently.
    let metadata = metadata();
    let members = metadata["workspace_members"].as_array().map_or(0, Vec::len);
    assert_eq!(
        members,
        RULES.len(),
        "one rule per workspace crate: {:?}",
        metadata["workspace_members"]
    );
}

/// A made-up workspace: `domain` -> `sync` (wrong way), `domain` -> `chrono` -> `tokio`
/// (I/O through a dependency), `sync` -> `sandbox` (not its arrow), an unknown crate, and
/// `sfzd` -> everything (allowed).
#[test]
fn the_check_sees_wrong_arrows() {
    let pkg = |name: &str, deps: &[&str]| {
        serde_json::json!({
            "id": format!("{name}-id"),
            "name": name,
            "dependencies": deps.iter().map(|d| serde_json::json!({"name": d, "kind": null})).collect::<Vec<_>>(),
        })
    };
    let node = |name: &str, deps: &[(&str, Option<&str>)]| {
        serde_json::json!({
            "id": format!("{name}-id"),
            "deps": deps.iter().map(|(d, kind)| serde_json::json!({
                "pkg": format!("{d}-id"),
                "dep_kinds": [{"kind": kind, "target": null}],
            })).collect::<Vec<_>>(),
        })
    };
    let metadata = serde_json::json!({
        "workspace_members": ["domain-id", "sync-id", "sfzd-id", "sandbox-id", "newcomer-id"],
        "packages": [
            pkg("domain", &["sync", "chrono", "proptest"]),
            pkg("sync", &["domain", "sandbox"]),
            pkg("sfzd", &["sync", "domain", "sandbox"]),
            pkg("sandbox", &["tokio"]),
            pkg("newcomer", &[]),
            pkg("chrono", &["tokio"]),
            pkg("tokio", &[]),
            pkg("proptest", &["tokio"]),
        ],
        "resolve": {"nodes": [
            node("domain", &[("sync", None), ("chrono", None), ("proptest", Some("dev"))]),
            node("sync", &[("domain", None), ("sandbox", None)]),
            node("chrono", &[("tokio", None)]),
            node("proptest", &[("tokio", None)]),
            node("sandbox", &[("tokio", None)]),
        ]},
    });
    let found = violations(&metadata);
    let has = |needle: &str| found.iter().any(|f| f.contains(needle));
    assert!(has("crate `domain` depends on `sync`"), "{found:#?}");
    assert!(has("crate `sync` depends on `sandbox`"), "{found:#?}");
    assert!(has("`newcomer` has no dependency rule"), "{found:#?}");
    assert!(has("domain -> chrono -> tokio"), "{found:#?}");
    // Dev-dependencies may do I/O (proptest here), and sfzd may use every crate.
    assert_eq!(found.len(), 4, "{found:#?}");
}

// ---------------------------------------------------------------- pointers outside the repo

/// Text that points outside the repository: a clone has nothing there. Spelled in pieces
/// so this file does not match itself.
fn outside_pointers() -> [String; 4] {
    [
        ["..", "/shared"].concat(),
        ["/work", "/"].concat(),
        // The contracts' names outside the repo; inside it they are docs/behavior.md and
        // docs/operator.md.
        ["BEHAVIOR", ".md"].concat(),
        ["CLI", ".md"].concat(),
    ]
}

/// Every tracked file's path, from git.
fn tracked_files(root: &Path) -> Vec<PathBuf> {
    let output = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root)
        .output()
        .unwrap_or_else(|e| panic!("could not run `git ls-files`: {e}"));
    assert!(
        output.status.success(),
        "`git ls-files` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
        .stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| root.join(String::from_utf8_lossy(p).as_ref()))
        .collect()
}

/// `(file, line number, line)` of every line holding one of `patterns`.
fn pointers_in(path: &Path, text: &str, patterns: &[String]) -> Vec<String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| patterns.iter().any(|p| line.contains(p.as_str())))
        .map(|(i, line)| format!("{}:{}: {}", path.display(), i + 1, line.trim()))
        .collect()
}

#[test]
fn no_tracked_file_points_outside_the_repository() {
    let root = workspace_root();
    let patterns = outside_pointers();
    let mut found = Vec::new();
    for path in tracked_files(&root) {
        // Binary files and files deleted in the work tree have no text to check.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let shown = path.strip_prefix(&root).unwrap_or(&path);
        found.extend(pointers_in(shown, &text, &patterns));
    }
    assert!(
        found.is_empty(),
        "files point outside the repository; say it in the repo's own words (the contracts are docs/behavior.md and docs/operator.md):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_pointer_check_sees_each_pattern() {
    let patterns = outside_pointers();
    let text = format!(
        "fine\nsee {}/spec\nsee {}x\n{} section 4\nthe {}\n",
        patterns[0], patterns[1], patterns[2], patterns[3]
    );
    let found = pointers_in(Path::new("f.md"), &text, &patterns);
    assert_eq!(found.len(), 4, "{found:#?}");
    assert!(found[0].starts_with("f.md:2: "), "{found:#?}");
}
