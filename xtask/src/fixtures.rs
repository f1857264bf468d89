//! `cargo xtask fixtures --check`: every decision-table row and E-case has a complete replay
//! fixture (`fixtures/scenarios/*/scenario.json`, format in its README), and no fixture
//! holds a credential.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The only fixture format version this check knows.
const FORMAT: u64 = 1;

/// The E-cases of docs/behavior.md section 6.
const E_CASES: [&str; 10] = ["E1", "E2", "E3", "E4", "E5", "E6", "E7", "E8", "E9", "E10"];

/// E-cases whose (first) run writes nothing by the rules: E4 (no secondary relationship
/// under P4, the user already up to date) and E8 (a failed prerequisite stops the run
/// before any write).
const NOTHING_WRITTEN: [&str; 2] = ["E4", "E8"];

/// The E-case that must end with a configuration error (exit status 2) and no write.
const CONFIGURATION_ERROR: &str = "E8";

/// Keys whose string values are credentials unless they are obviously fake (`fixture-…`).
const SECRET_KEYS: [&str; 7] = [
    "access_token",
    "refresh_token",
    "client_secret",
    "password",
    "token",
    "api_token",
    "signature",
];

/// Runs the command.
pub fn run(args: &[String]) -> Result<()> {
    if args.first().map(String::as_str) != Some("--check") {
        bail!("usage: cargo xtask fixtures --check");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let problems = check(&root.join("fixtures"))?;
    if !problems.is_empty() {
        bail!(
            "{} fixture problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    eprintln!("xtask: every decision-table row and E-case has a complete fixture");
    Ok(())
}

/// One row of the decision table, as far as the check needs it.
struct Row {
    case: String,
    /// Whether the rules make the row write something: a user created or its fields written,
    /// or an organization or membership the user does not already have.
    writes: bool,
}

fn table_rows(csv: &str) -> Result<Vec<Row>> {
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .context("decision-table.csv is empty")?
        .split(',')
        .collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h.trim() == name)
            .with_context(|| format!("decision-table.csv has no column {name}"))
    };
    let (scenario, profile) = (column("scenario")?, column("profile")?);
    let (is_default, sets_org) = (column("org_is_user_default")?, column("sets_user_org")?);
    let (memberships, fields) = (column("creates_memberships")?, column("syncs_fields")?);
    let created = column("user_created")?;
    let mut rows = Vec::new();
    for line in lines {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let cell = |i: usize| {
            cells
                .get(i)
                .copied()
                .with_context(|| format!("decision-table.csv: short line {line:?}"))
        };
        let yes = |i: usize| cell(i).map(|c| c.to_ascii_lowercase().starts_with("yes"));
        let already_default = yes(is_default)?;
        rows.push(Row {
            case: format!("{} {}", cell(scenario)?, cell(profile)?),
            writes: yes(created)?
                || yes(fields)?
                || (yes(sets_org)? && !already_default)
                || (yes(memberships)? && !already_default),
        });
    }
    Ok(rows)
}

/// The problems of the fixtures under `fixtures` (the folder holding `decision-table.csv`
/// and `scenarios/`), each naming its file or case; empty when all is well.
///
/// # Errors
/// When the decision table or the scenarios folder cannot be read at all.
fn check(fixtures: &Path) -> Result<Vec<String>> {
    let csv = std::fs::read_to_string(fixtures.join("decision-table.csv"))
        .context("cannot read fixtures/decision-table.csv")?;
    let rows = table_rows(&csv)?;
    let dir = fixtures.join("scenarios");
    let mut problems = Vec::new();
    let mut by_case: BTreeMap<String, Vec<(PathBuf, Value)>> = BTreeMap::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    entries.sort();
    for entry in entries {
        let file = entry.join("scenario.json");
        let shown = file
            .strip_prefix(fixtures)
            .unwrap_or(&file)
            .display()
            .to_string();
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(err) => {
                problems.push(format!("{shown}: cannot read: {err}"));
                continue;
            }
        };
        let value: Value = match serde_json::from_str(&text) {
            Ok(value) => value,
            Err(err) => {
                problems.push(format!("{shown}: not JSON: {err}"));
                continue;
            }
        };
        problems.extend(secrets(&value).into_iter().map(|s| format!("{shown}: {s}")));
        match value.get("case").and_then(Value::as_str) {
            Some(case) => by_case
                .entry(case.to_owned())
                .or_default()
                .push((PathBuf::from(shown), value)),
            None => problems.push(format!("{shown}: no \"case\"")),
        }
    }

    let mut expected: Vec<(String, bool)> =
        rows.iter().map(|r| (r.case.clone(), r.writes)).collect();
    expected.extend(
        E_CASES
            .iter()
            .map(|e| ((*e).to_owned(), !NOTHING_WRITTEN.contains(e))),
    );
    for (case, writes) in &expected {
        match by_case.get(case).map(Vec::as_slice) {
            None | Some([]) => problems.push(format!("{case}: no fixture")),
            Some([(file, value)]) => {
                let shown = file.display();
                problems.extend(
                    complete(case, value, *writes)
                        .into_iter()
                        .map(|p| format!("{shown} ({case}): {p}")),
                );
            }
            Some(many) => problems.push(format!(
                "{case}: {} fixtures ({})",
                many.len(),
                many.iter()
                    .map(|(f, _)| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
    for (case, files) in &by_case {
        if !expected.iter().any(|(c, _)| c == case) {
            for (file, _) in files {
                problems.push(format!(
                    "{}: case {case:?} is neither a decision-table row nor an E-case",
                    file.display()
                ));
            }
        }
    }
    Ok(problems)
}

fn is_array(value: &Value, key: &str) -> bool {
    value.get(key).is_some_and(Value::is_array)
}

fn text(value: &Value, pointer: &str) -> Option<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The problems of one fixture: required keys, and writes declared as the rules demand.
fn complete(case: &str, value: &Value, writes: bool) -> Vec<String> {
    let mut problems = Vec::new();
    if value.get("format").and_then(Value::as_u64) != Some(FORMAT) {
        problems.push(format!("\"format\" must be {FORMAT}"));
    }
    if text(value, "/description").is_none_or(|d| d.trim().is_empty()) {
        problems.push("no \"description\"".to_owned());
    }
    if !value.get("sync").is_some_and(Value::is_object) {
        problems.push("no \"sync\" table".to_owned());
    }
    let mut runs = vec![("run 1".to_owned(), value)];
    if let Some(then) = value.get("then") {
        match then.as_array() {
            Some(more) => runs.extend(
                more.iter()
                    .enumerate()
                    .map(|(i, r)| (format!("run {}", i + 2), r)),
            ),
            None => problems.push("\"then\" must be a list of runs".to_owned()),
        }
    }
    match value.get("after") {
        None => problems.push(
            "no \"after\": the Zendesk reads after the writes, for the idempotence run".to_owned(),
        ),
        Some(after) => {
            if !is_array(after, "zendesk") {
                problems.push("\"after\" has no \"zendesk\" list".to_owned());
            }
            if after.get("salesforce").is_some_and(|s| !s.is_array()) {
                problems.push("\"after\".\"salesforce\" must be a list".to_owned());
            }
        }
    }
    for (name, run) in &runs {
        problems.extend(
            run_problems(run)
                .into_iter()
                .map(|p| format!("{name}: {p}")),
        );
    }
    let first_writes = value
        .get("writes")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if writes && first_writes == 0 {
        problems.push(
            "declares no write, but the rules write something here: list the expected writes"
                .to_owned(),
        );
    }
    if case == CONFIGURATION_ERROR {
        if first_writes != 0 {
            problems.push("a configuration error writes nothing: \"writes\" must be []".to_owned());
        }
        if value.pointer("/expect/exit").and_then(Value::as_i64) != Some(2) {
            problems.push("a configuration error exits with status 2".to_owned());
        }
    }
    problems
}

fn run_problems(run: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for server in ["salesforce", "zendesk"] {
        let Some(interactions) = run.get(server) else {
            continue;
        };
        let Some(interactions) = interactions.as_array() else {
            problems.push(format!("\"{server}\" must be a list"));
            continue;
        };
        for (i, interaction) in interactions.iter().enumerate() {
            for pointer in ["/request/method", "/request/path"] {
                if text(interaction, pointer).is_none() {
                    problems.push(format!("{server}[{i}]: no {pointer}"));
                }
            }
            if interaction.pointer("/response/body").is_none() {
                problems.push(format!("{server}[{i}]: no /response/body"));
            }
        }
    }
    if !is_array(run, "salesforce") && !is_array(run, "zendesk") {
        problems.push("serves no traffic: no \"salesforce\" or \"zendesk\" list".to_owned());
    }
    match run.get("writes").and_then(Value::as_array) {
        None => problems.push("no \"writes\" list (use [] where nothing is written)".to_owned()),
        Some(writes) => {
            for (i, write) in writes.iter().enumerate() {
                for pointer in ["/request/method", "/request/path", "/job/id"] {
                    if text(write, pointer).is_none() {
                        problems.push(format!("writes[{i}]: no {pointer}"));
                    }
                }
                if !write.pointer("/request/body").is_some_and(Value::is_object) {
                    problems.push(format!("writes[{i}]: no JSON object /request/body"));
                }
                if !write.pointer("/job/results").is_some_and(Value::is_array) {
                    problems.push(format!("writes[{i}]: no /job/results list"));
                }
            }
        }
    }
    if run
        .pointer("/expect/exit")
        .and_then(Value::as_i64)
        .is_none()
    {
        problems.push("no /expect/exit".to_owned());
    }
    problems
}

/// Whether a string looks like a credential: a long unbroken run of token characters with
/// letters and digits (bearer tokens, API tokens, session ids), or an auth scheme with a value.
fn token_like(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    if lower.starts_with("bearer ") || lower.starts_with("basic ") {
        return true;
    }
    if s.starts_with("fixture-") || s.starts_with('/') || lower.starts_with("http") {
        return false;
    }
    s.len() >= 32
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.=+/~!".contains(c))
        && s.chars().any(|c| c.is_ascii_digit())
        && s.chars().any(|c| c.is_ascii_alphabetic())
}

/// Credentials in a fixture: `Authorization` headers, secret-named keys with real-looking
/// values, and token-looking strings anywhere.
fn secrets(value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    walk(value, "", &mut found);
    found
}

fn walk(value: &Value, at: &str, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let here = format!("{at}/{key}");
                let lower = key.to_ascii_lowercase();
                if lower == "authorization" || lower == "proxy-authorization" {
                    found.push(format!("{here}: an Authorization value"));
                } else if SECRET_KEYS.contains(&lower.as_str())
                    && inner
                        .as_str()
                        .is_some_and(|s| !s.is_empty() && !s.starts_with("fixture-"))
                {
                    found.push(format!(
                        "{here}: a credential (fake ones start with \"fixture-\")"
                    ));
                } else {
                    walk(inner, &here, found);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &format!("{at}/{i}"), found);
            }
        }
        Value::String(s) if token_like(s) => {
            found.push(format!("{at}: a token-looking string"));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = include_str!("../../fixtures/decision-table.csv");

    fn minimal(case: &str, writes: bool) -> Value {
        let write = serde_json::json!({
            "request": {"method": "POST", "path": "/api/v2/users/create_many", "body": {"users": []}},
            "job": {"id": "job-1", "results": []}
        });
        serde_json::json!({
            "format": 1,
            "case": case,
            "description": "test fixture",
            "sync": {"contacts_to_users": true},
            "salesforce": [{"request": {"method": "GET", "path": "/q"}, "response": {"body": {}}}],
            "zendesk": [],
            "writes": if writes { vec![write] } else { vec![] },
            "expect": {"exit": if case == "E8" { 2 } else { 0 }},
            "after": {"zendesk": []}
        })
    }

    /// A fixtures folder with a complete fixture for every case.
    fn complete_tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("decision-table.csv"), TABLE).unwrap();
        let rows = table_rows(TABLE).unwrap();
        let cases = rows.iter().map(|r| (r.case.clone(), r.writes)).chain(
            E_CASES
                .iter()
                .map(|e| ((*e).to_owned(), !NOTHING_WRITTEN.contains(e))),
        );
        for (case, writes) in cases {
            let name = case.to_ascii_lowercase().replace(' ', "-");
            let folder = dir.path().join("scenarios").join(name);
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(
                folder.join("scenario.json"),
                minimal(&case, writes).to_string(),
            )
            .unwrap();
        }
        dir
    }

    #[test]
    fn the_repository_fixtures_pass() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
        let problems = check(&fixtures).unwrap();
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn a_complete_tree_passes() {
        let dir = complete_tree();
        assert_eq!(check(dir.path()).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn a_missing_fixture_is_named() {
        let dir = complete_tree();
        std::fs::remove_dir_all(dir.path().join("scenarios/s4-p4")).unwrap();
        std::fs::remove_dir_all(dir.path().join("scenarios/e7")).unwrap();
        let problems = check(dir.path()).unwrap();
        assert_eq!(problems, vec!["S4 P4: no fixture", "E7: no fixture"]);
    }

    #[test]
    fn a_fixture_without_its_writes_fails() {
        let dir = complete_tree();
        let file = dir.path().join("scenarios/s2-p3/scenario.json");
        std::fs::write(&file, minimal("S2 P3", false).to_string()).unwrap();
        let problems = check(dir.path()).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("S2 P3") && problems[0].contains("declares no write"));

        for (key, problem) in [
            ("writes", "no \"writes\" list"),
            ("after", "no \"after\""),
            ("expect", "no /expect/exit"),
        ] {
            let mut no_key = minimal("S2 P3", true);
            no_key.as_object_mut().unwrap().remove(key);
            std::fs::write(&file, no_key.to_string()).unwrap();
            let problems = check(dir.path()).unwrap();
            assert!(problems.iter().any(|p| p.contains(problem)), "{problems:?}");
        }
    }

    #[test]
    fn the_configuration_error_case_writes_nothing_and_exits_2() {
        let dir = complete_tree();
        let mut e8 = minimal("E8", true);
        e8["expect"]["exit"] = 0.into();
        std::fs::write(
            dir.path().join("scenarios/e8/scenario.json"),
            e8.to_string(),
        )
        .unwrap();
        let problems = check(dir.path()).unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn duplicates_and_unknown_cases_fail() {
        let dir = complete_tree();
        for (name, case) in [("again", "E3"), ("s8-p1", "S8 P1")] {
            let folder = dir.path().join("scenarios").join(name);
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(
                folder.join("scenario.json"),
                minimal(case, true).to_string(),
            )
            .unwrap();
        }
        let problems = check(dir.path()).unwrap();
        assert!(
            problems.iter().any(|p| p.starts_with("E3: 2 fixtures")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("\"S8 P1\" is neither")),
            "{problems:?}"
        );
    }

    #[test]
    fn credentials_fail_the_check() {
        let dir = complete_tree();
        let mut leaky = minimal("E1", true);
        leaky["salesforce"][0]["response"]["headers"] =
            serde_json::json!({"Authorization": "Bearer 00D5g000004ABCD!AQ4AQFakeButLongEnough"});
        leaky["zendesk"] = serde_json::json!([{
            "request": {"method": "POST", "path": "/oauth/tokens"},
            "response": {"body": {"access_token": "a1b2c3", "note": "x9F3kLq7Zt2mW8pV4rN6sY1uB5cE0dHgJ"}}
        }]);
        std::fs::write(
            dir.path().join("scenarios/e1/scenario.json"),
            leaky.to_string(),
        )
        .unwrap();
        let problems = check(dir.path()).unwrap();
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(
            problems
                .iter()
                .any(|p| p.contains("/Authorization: an Authorization value"))
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("/access_token: a credential"))
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("/note: a token-looking string"))
        );
    }

    #[test]
    fn ordinary_fixture_strings_are_not_tokens() {
        for s in [
            "003000000000001AAA",
            "fixture-zendesk-access-token",
            "/services/data/v62.0/query",
            "SELECT Id FROM AccountContactRelation LIMIT 1",
            "2024-01-01T00:00:00.000+0000",
            "job-memberships-create",
            "ann@example.com",
        ] {
            assert!(!token_like(s), "{s}");
        }
        assert!(token_like("Bearer abc"));
    }
}
