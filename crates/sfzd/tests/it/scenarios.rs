//! Replayed API traffic for every scenario of the decision table and every E-case: each
//! `fixtures/scenarios/<name>/scenario.json` (recorded by `cargo xtask fixtures --record`
//! from runs against the sandbox) is served by two wiremock servers (Salesforce, Zendesk),
//! the real `sfzd` binary syncs against them, and the test checks, run by run, that every
//! expected write arrived exactly once and nothing else was written, that every recorded
//! read was used, and the case's expected exit status and report. Then a run over unchanged
//! data, a `--full` run over the written data and a dry run on a fresh state must write
//! nothing at all. The format is documented in `fixtures/scenarios/README.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::{Value, json};
use wiremock::matchers::{any, body_json, method, path};
use wiremock::{Match, Mock, MockServer, Request, Respond, ResponseTemplate};

/// The only format version this harness reads.
const FORMAT: u64 = 2;
/// Priorities: authentication and the harness's own answers first, then the fixture's
/// interactions in file order, the catch-all last.
const HARNESS: u8 = 1;
const FIXTURE: u8 = 2;
const CATCH_ALL: u8 = 200;

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/scenarios")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    format: u64,
    case: String,
    description: String,
    /// Where the case is defined; the harness does not need it.
    #[allow(dead_code)]
    recorded_from: String,
    sync: serde_json::Map<String, Value>,
    /// The case's runs, on one state file.
    runs: Vec<Run>,
    /// The traffic of a further run with nothing changed in Salesforce.
    unchanged: Traffic,
    /// The traffic of a `--full` run over the data the runs wrote; its `expect` when the
    /// case says it writes (records Zendesk refused are sent again).
    full: Checked,
    /// The traffic of a dry run on a fresh state, over the world before the first run; its
    /// `expect` when it does not end as the first run (a refusal only Zendesk can give).
    dry_run: Checked,
}

/// A run that normally writes nothing, with the case's own expectation when it says more.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Checked {
    #[serde(default)]
    expect: Option<Expect>,
    #[serde(flatten)]
    traffic: Traffic,
}

/// What the servers answer in one run.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Traffic {
    #[serde(default)]
    salesforce: Vec<Interaction>,
    #[serde(default)]
    zendesk: Vec<Interaction>,
    /// Writes the run must send; a run over `unchanged`, `full` or `dry_run` has none.
    #[serde(default)]
    writes: Vec<Write>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Run {
    expect: Expect,
    #[serde(flatten)]
    traffic: Traffic,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Interaction {
    request: RequestSpec,
    /// The answer; or, for a read answered differently over the run, `responses`.
    #[serde(default)]
    response: Option<ResponseSpec>,
    /// The answers in order, the last one standing for any further call.
    #[serde(default)]
    responses: Vec<ResponseSpec>,
}

impl Interaction {
    fn answers(&self) -> Vec<&ResponseSpec> {
        self.response.iter().chain(&self.responses).collect()
    }
}

/// A read, matched exactly: method, path and the query as `normalize_query` gives it
/// (watermarks and times as `{time}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestSpec {
    method: String,
    path: String,
    #[serde(default)]
    query: BTreeMap<String, String>,
}

impl RequestSpec {
    fn shown(&self) -> String {
        let query: Vec<String> = self.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{} {}?{}", self.method, self.path, query.join("&"))
    }
}

impl Match for RequestSpec {
    fn matches(&self, request: &Request) -> bool {
        request.method.as_str() == self.method
            && request.url.path() == self.path
            && sandbox::recording::normalize_query(request.url.query_pairs()) == self.query
    }
}

/// Answers with the recorded responses in order (the last one again once they run out)
/// and counts how often it answered.
struct Counted {
    responses: Vec<ResponseTemplate>,
    uses: Arc<AtomicUsize>,
}

impl Respond for Counted {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let n = self.uses.fetch_add(1, Ordering::SeqCst);
        let last = self.responses.len().saturating_sub(1);
        self.responses[n.min(last)].clone()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResponseSpec {
    #[serde(default = "ok")]
    status: u16,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Value,
}

fn ok() -> u16 {
    200
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Write {
    request: WriteRequest,
    job: Job,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteRequest {
    method: String,
    path: String,
    body: Value,
}

/// The bulk job a write starts: queued when submitted, `completed` with `results` when
/// polled.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Job {
    id: String,
    results: Vec<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    exit: i32,
    /// A subset of the JSON report: objects by key, arrays element-wise "contains".
    #[serde(default)]
    report: Option<Value>,
    #[serde(default)]
    stderr_contains: Vec<String>,
    /// Fragments the report's JSON text must hold (values that carry the run's date).
    #[serde(default)]
    report_mentions: Vec<String>,
}

fn load(name: &str) -> Scenario {
    let file = scenarios_dir().join(name).join("scenario.json");
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{name}: cannot read {}: {e}", file.display()));
    let scenario: Scenario =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: scenario.json: {e}"));
    assert_eq!(
        scenario.format, FORMAT,
        "{name}: unknown format {}",
        scenario.format
    );
    scenario
}

/// Replaces `{salesforce}` and `{zendesk}` in a response body by the servers' base URLs.
fn resolve(body: &Value, salesforce: &str, zendesk: &str) -> Value {
    let text = body
        .to_string()
        .replace("{salesforce}", salesforce)
        .replace("{zendesk}", zendesk);
    serde_json::from_str(&text).unwrap()
}

/// Answers 500 and records the request: nothing in the fixture matched it.
#[derive(Clone)]
struct Unexpected {
    server: &'static str,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Respond for Unexpected {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let query = request
            .url
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        self.seen.lock().unwrap().push(format!(
            "unexpected request to {}: {} {}{query} {}",
            self.server,
            request.method,
            request.url.path(),
            String::from_utf8_lossy(&request.body)
        ));
        ResponseTemplate::new(500).set_body_json(json!({"error": "unexpected request"}))
    }
}

/// Answers job status polls with the fixture's jobs, completed.
struct JobStatuses {
    jobs: Vec<Job>,
    many: bool,
}

impl JobStatuses {
    fn status(job: &Job) -> Value {
        json!({
            "id": job.id,
            "status": "completed",
            "total": job.results.len(),
            "progress": job.results.len(),
            "message": "Completed",
            "results": job.results,
        })
    }
}

impl Respond for JobStatuses {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        if self.many {
            let ids: Vec<String> = request
                .url
                .query_pairs()
                .filter(|(k, _)| k == "ids")
                .flat_map(|(_, v)| v.split(',').map(str::to_owned).collect::<Vec<_>>())
                .collect();
            let statuses: Vec<Value> = self
                .jobs
                .iter()
                .filter(|j| ids.contains(&j.id))
                .map(Self::status)
                .collect();
            ResponseTemplate::new(200).set_body_json(json!({"job_statuses": statuses}))
        } else {
            let id = request.url.path().rsplit('/').next().unwrap_or_default();
            match self.jobs.iter().find(|j| j.id == id) {
                Some(job) => ResponseTemplate::new(200)
                    .set_body_json(json!({"job_status": Self::status(job)})),
                None => {
                    ResponseTemplate::new(404).set_body_json(json!({"error": "RecordNotFound"}))
                }
            }
        }
    }
}

struct Servers {
    salesforce: MockServer,
    zendesk: MockServer,
    unexpected: Arc<Mutex<Vec<String>>>,
    /// The reads mounted for the current run, each with how often it answered.
    reads: Vec<(&'static str, RequestSpec, Arc<AtomicUsize>)>,
}

impl Servers {
    async fn start() -> Self {
        Self {
            salesforce: MockServer::start().await,
            zendesk: MockServer::start().await,
            unexpected: Arc::new(Mutex::new(Vec::new())),
            reads: Vec::new(),
        }
    }

    /// Serves `traffic` (and only it) for the next run.
    async fn mount(&mut self, traffic: &Traffic) {
        self.salesforce.reset().await;
        self.zendesk.reset().await;
        self.unexpected.lock().unwrap().clear();
        self.reads.clear();

        Mock::given(method("POST"))
            .and(path("/services/oauth2/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": "fixture-salesforce-access-token",
                "instance_url": self.salesforce.uri(),
                "id": format!("{}/id/00D000000000001AAA/005000000000001AAA", self.salesforce.uri()),
                "token_type": "Bearer",
                "issued_at": "1706742061000",
                "signature": "fixture-signature",
            })))
            .with_priority(HARNESS)
            .mount(&self.salesforce)
            .await;
        Mock::given(method("POST"))
            .and(path("/oauth/tokens"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": "fixture-zendesk-access-token",
                "token_type": "bearer",
                "scope": "read write",
                "expires_in": 3600,
            })))
            .with_priority(HARNESS)
            .mount(&self.zendesk)
            .await;
        let uris = (self.salesforce.uri(), self.zendesk.uri());
        for (name, interactions) in [
            ("salesforce", &traffic.salesforce),
            ("zendesk", &traffic.zendesk),
        ] {
            let server = if name == "salesforce" {
                &self.salesforce
            } else {
                &self.zendesk
            };
            for interaction in interactions {
                let answers = interaction.answers();
                assert!(
                    !answers.is_empty(),
                    "{} has neither \"response\" nor \"responses\"",
                    interaction.request.shown()
                );
                let responses = answers
                    .into_iter()
                    .map(|answer| {
                        let mut response = ResponseTemplate::new(answer.status)
                            .set_body_json(resolve(&answer.body, &uris.0, &uris.1));
                        for (header, value) in &answer.headers {
                            response = response.insert_header(header.as_str(), value.as_str());
                        }
                        response
                    })
                    .collect();
                let uses = Arc::new(AtomicUsize::new(0));
                Mock::given(interaction.request.clone())
                    .respond_with(Counted {
                        responses,
                        uses: uses.clone(),
                    })
                    .with_priority(FIXTURE)
                    .mount(server)
                    .await;
                self.reads.push((name, interaction.request.clone(), uses));
            }
        }
        for write in &traffic.writes {
            let spec = &write.request;
            Mock::given(method(spec.method.as_str()))
                .and(path(spec.path.as_str()))
                .and(body_json(&spec.body))
                .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                    "job_status": {"id": write.job.id, "status": "queued", "url": null}
                })))
                .with_priority(FIXTURE)
                .mount(&self.zendesk)
                .await;
        }
        let jobs: Vec<Job> = traffic.writes.iter().map(|w| w.job.clone()).collect();
        Mock::given(method("GET"))
            .and(path("/api/v2/job_statuses/show_many"))
            .respond_with(JobStatuses {
                jobs: jobs.clone(),
                many: true,
            })
            .with_priority(HARNESS)
            .mount(&self.zendesk)
            .await;
        for job in &jobs {
            Mock::given(method("GET"))
                .and(path(format!("/api/v2/job_statuses/{}", job.id)))
                .respond_with(JobStatuses {
                    jobs: jobs.clone(),
                    many: false,
                })
                .with_priority(HARNESS)
                .mount(&self.zendesk)
                .await;
        }
        for (server, name) in [(&self.salesforce, "salesforce"), (&self.zendesk, "zendesk")] {
            Mock::given(any())
                .respond_with(Unexpected {
                    server: name,
                    seen: self.unexpected.clone(),
                })
                .with_priority(CATCH_ALL)
                .mount(server)
                .await;
        }
    }

    /// The recorded reads the run did not use: a stale interaction is a failure, so the
    /// fixture holds what the engine reads now and nothing else.
    fn unused(&self) -> Vec<String> {
        self.reads
            .iter()
            .filter(|(_, _, uses)| uses.load(Ordering::SeqCst) == 0)
            .map(|(server, spec, _)| format!("{server} interaction never used: {}", spec.shown()))
            .collect()
    }

    /// Every write request Zendesk received, as (method, path, body).
    async fn writes(&self) -> Vec<(String, String, Value)> {
        self.zendesk
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.method.as_str() != "GET" && r.url.path() != "/oauth/tokens")
            .map(|r| {
                let body = serde_json::from_slice(&r.body)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&r.body).into()));
                (r.method.to_string(), r.url.path().to_owned(), body)
            })
            .collect()
    }
}

/// A JSON string literal is a valid TOML basic string for the values fixtures use.
fn toml_value(value: &Value) -> String {
    match value {
        Value::Bool(_) | Value::Number(_) | Value::String(_) => value.to_string(),
        other => panic!("sync settings hold booleans and strings only, not {other}"),
    }
}

fn write_config(dir: &Path, scenario: &Scenario, servers: &Servers) -> PathBuf {
    let mut text = format!(
        "[salesforce]\nlogin_url = \"{}\"\nclient_id = \"fixture-client\"\napi_version = \"62.0\"\n\n\
         [zendesk]\nurl = \"{}\"\nclient_id = \"sfzd\"\nrequests_per_minute = 100000\n\n[sync]\n",
        servers.salesforce.uri(),
        servers.zendesk.uri()
    );
    for (key, value) in &scenario.sync {
        text.push_str(&format!("{key} = {}\n", toml_value(value)));
    }
    text.push_str("\n[state]\npath = \"state.db\"\n");
    let file = dir.join("sfzd.toml");
    std::fs::write(&file, text).unwrap();
    file
}

/// The secrets and tokens the harness hands out; none may show in output or the report.
const SECRETS: [&str; 4] = [
    "fixture-salesforce-secret",
    "fixture-zendesk-secret",
    "fixture-salesforce-access-token",
    "fixture-zendesk-access-token",
];

struct Outcome {
    exit: i32,
    report: Option<Value>,
    report_text: String,
    stdout: String,
    stderr: String,
}

fn run_sfzd(config: &Path, flags: &[&str]) -> Outcome {
    let report = config.with_file_name("report.json");
    let _ = std::fs::remove_file(&report);
    let mut command = Command::new(env!("CARGO_BIN_EXE_sfzd"));
    command
        .arg("sync")
        .arg("--config")
        .arg(config)
        .arg("--report")
        .arg(&report)
        .env("SFZD_SALESFORCE_CLIENT_SECRET", "fixture-salesforce-secret")
        .env("SFZD_ZENDESK_CLIENT_SECRET", "fixture-zendesk-secret")
        .env_remove("SFZD_ZENDESK_API_TOKEN")
        .env_remove("RUST_LOG");
    command.args(flags);
    let output = command.output().unwrap();
    let report_text = std::fs::read_to_string(&report).unwrap_or_default();
    Outcome {
        exit: output.status.code().unwrap_or(-1),
        report: serde_json::from_str(&report_text).ok(),
        report_text,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Whether `actual` holds everything `expected` says: objects by key, arrays by each
/// expected element matching some actual element, other values by equality.
fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| contains(av, v))),
        (Value::Array(a), Value::Array(e)) => {
            e.iter().all(|ev| a.iter().any(|av| contains(av, ev)))
        }
        (a, e) => a == e,
    }
}

/// Checks one run and returns its failures, each a sentence.
async fn check_run(
    what: &str,
    servers: &Servers,
    outcome: &Outcome,
    expected_writes: &[Write],
    expect: &Expect,
) -> Vec<String> {
    let mut failures = Vec::new();
    if outcome.exit != expect.exit {
        failures.push(format!(
            "{what}: exit status {} (expected {})",
            outcome.exit, expect.exit
        ));
    }
    failures.extend(
        servers
            .unexpected
            .lock()
            .unwrap()
            .iter()
            .map(|u| format!("{what}: {u}")),
    );
    failures.extend(servers.unused().into_iter().map(|u| format!("{what}: {u}")));
    let writes = servers.writes().await;
    for write in expected_writes {
        let spec = &write.request;
        let count = writes
            .iter()
            .filter(|(m, p, b)| *m == spec.method && *p == spec.path && *b == spec.body)
            .count();
        if count != 1 {
            failures.push(format!(
                "{what}: expected write {} {} {} arrived {count} times",
                spec.method, spec.path, spec.body
            ));
        }
    }
    for (m, p, b) in &writes {
        let expected = expected_writes
            .iter()
            .any(|w| w.request.method == *m && w.request.path == *p && w.request.body == *b);
        if !expected {
            failures.push(format!("{what}: unexpected write {m} {p} {b}"));
        }
    }
    if let Some(report) = &expect.report {
        match &outcome.report {
            Some(actual) if contains(actual, report) => {}
            Some(actual) => failures.push(format!(
                "{what}: report does not contain {report}\nreport: {actual}"
            )),
            None => failures.push(format!("{what}: no report was written")),
        }
    }
    // Every skipped record is reported with its reason (docs/behavior.md 4, E7).
    let skipped = outcome
        .report
        .as_ref()
        .and_then(|r| r["skipped"].as_array().cloned());
    for skip in skipped.into_iter().flatten() {
        if skip["reason"].as_str().is_none_or(|r| r.trim().is_empty()) {
            failures.push(format!("{what}: a skipped record has no reason: {skip}"));
        }
    }
    for secret in SECRETS {
        for (place, text) in [
            ("stdout", &outcome.stdout),
            ("stderr", &outcome.stderr),
            ("the report", &outcome.report_text),
        ] {
            if text.contains(secret) {
                failures.push(format!("{what}: {place} shows the secret {secret:?}"));
            }
        }
    }
    for text in &expect.stderr_contains {
        if !outcome.stderr.contains(text.as_str()) {
            failures.push(format!("{what}: stderr does not mention {text:?}"));
        }
    }
    for text in &expect.report_mentions {
        if !outcome.report_text.contains(text.as_str()) {
            failures.push(format!("{what}: the report does not mention {text:?}"));
        }
    }
    // A refused request is retried: say it once, with how often it came.
    let mut unique: Vec<(String, usize)> = Vec::new();
    for failure in failures {
        match unique.iter_mut().find(|(f, _)| *f == failure) {
            Some((_, n)) => *n += 1,
            None => unique.push((failure, 1)),
        }
    }
    let mut failures: Vec<String> = unique
        .into_iter()
        .map(|(f, n)| if n > 1 { format!("{f} (x{n})") } else { f })
        .collect();
    if !failures.is_empty() {
        failures.push(format!(
            "{what}: stdout:\n{}\nstderr:\n{}",
            outcome.stdout, outcome.stderr
        ));
    }
    failures
}

/// Replays one scenario: its runs, an incremental run over unchanged data, a `--full` run
/// over the written data, and a dry run on a fresh state, each against its own recorded
/// traffic. Every failure is collected and reported at once, naming the scenario.
async fn replay(name: &str) {
    let scenario = load(name);
    let mut servers = Servers::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &scenario, &servers);
    let mut failures = Vec::new();
    assert!(!scenario.runs.is_empty(), "{name}: no run");

    for (i, run) in scenario.runs.iter().enumerate() {
        servers.mount(&run.traffic).await;
        let outcome = run_sfzd(&config, &[]);
        let what = format!("run {}", i + 1);
        failures
            .extend(check_run(&what, &servers, &outcome, &run.traffic.writes, &run.expect).await);
    }

    // Nothing changed in Salesforce, then everything compared again over the written data:
    // no write at all (docs/behavior.md 5, idempotence).
    let last = &scenario.runs[scenario.runs.len() - 1];
    let quiet = Expect {
        exit: if last.expect.exit == 2 { 2 } else { 0 },
        report: None,
        stderr_contains: Vec::new(),
        report_mentions: Vec::new(),
    };
    assert!(
        scenario.unchanged.writes.is_empty(),
        "{name}: the run over unchanged data lists writes"
    );
    servers.mount(&scenario.unchanged).await;
    let outcome = run_sfzd(&config, &[]);
    failures.extend(check_run("run over unchanged data", &servers, &outcome, &[], &quiet).await);
    // A --full run sends refused records again (docs/behavior.md 4): only a case that says
    // so may write, and then exactly its recorded writes.
    let full = &scenario.full;
    assert!(
        full.expect.is_some() || full.traffic.writes.is_empty(),
        "{name}: the full run lists writes but no expectation of its own"
    );
    servers.mount(&full.traffic).await;
    let outcome = run_sfzd(&config, &["--full"]);
    let what = "full run over the written data";
    let expect = full.expect.as_ref().unwrap_or(&quiet);
    failures.extend(check_run(what, &servers, &outcome, &full.traffic.writes, expect).await);

    // A dry run on a fresh state: the first run's plan, and no write.
    let first = &scenario.runs[0];
    assert!(
        scenario.dry_run.traffic.writes.is_empty(),
        "{name}: the dry run lists writes"
    );
    let fresh = tempfile::tempdir().unwrap();
    let dry_config = write_config(fresh.path(), &scenario, &servers);
    servers.mount(&scenario.dry_run.traffic).await;
    let outcome = run_sfzd(&dry_config, &["--dry-run"]);
    // The plan's counts are the first run's (a dry run reports what the run would do),
    // unless the case says otherwise: what Zendesk refuses shows only when it is sent.
    let dry = match &scenario.dry_run.expect {
        Some(own) => own.clone(),
        None => {
            let mut report = first.expect.report.clone().unwrap_or_else(|| json!({}));
            report["dry_run"] = json!(true);
            Expect {
                exit: first.expect.exit,
                report: Some(report),
                stderr_contains: Vec::new(),
                report_mentions: Vec::new(),
            }
        }
    };
    failures.extend(check_run("dry run", &servers, &outcome, &[], &dry).await);
    // The plan names the rule behind every action, and has an action wherever the run writes.
    let writes = !first.traffic.writes.is_empty();
    if let Some(plan) = outcome.report.as_ref().and_then(|r| r.get("plan")) {
        let actions = plan.as_array().map_or(0, Vec::len);
        if actions == 0 && writes {
            failures.push(format!("dry run: the plan is empty: {plan}"));
        }
        for action in plan.as_array().into_iter().flatten() {
            if action["rules"].as_array().is_none_or(Vec::is_empty) {
                failures.push(format!("dry run: a planned action names no rule: {action}"));
            }
        }
    } else if writes {
        failures.push("dry run: the report has no plan".to_owned());
    }

    assert!(
        failures.is_empty(),
        "scenario {name} ({}: {}):\n{}",
        scenario.case,
        scenario.description,
        failures.join("\n")
    );
}

fn request(url: &str) -> Request {
    Request {
        url: url::Url::parse(url).unwrap(),
        method: wiremock::http::Method::GET,
        headers: wiremock::http::HeaderMap::new(),
        body: Vec::new(),
    }
}

#[test]
fn a_recorded_read_matches_whatever_watermark_the_run_sends() {
    let spec = RequestSpec {
        method: "GET".to_owned(),
        path: "/services/data/v62.0/query".to_owned(),
        query: BTreeMap::from([(
            "q".to_owned(),
            "SELECT Id FROM Contact WHERE SystemModstamp > {time}".to_owned(),
        )]),
    };
    let base = "http://127.0.0.1/services/data/v62.0/query?q=";
    assert!(spec.matches(&request(&format!(
        "{base}SELECT+Id+FROM+Contact+WHERE+SystemModstamp+%3E+2026-11-29T23%3A41%3A20.000%2B0000"
    ))));
    assert!(!spec.matches(&request(&format!("{base}SELECT+Id+FROM+Contact"))));
    assert!(!spec.matches(&request(&format!(
        "{base}SELECT+Id+FROM+Lead+WHERE+SystemModstamp+%3E+2024-02-01T00%3A00%3A00Z"
    ))));
}

#[test]
fn a_read_with_several_answers_gives_them_in_order_then_repeats_the_last() {
    let counted = Counted {
        responses: vec![ResponseTemplate::new(200), ResponseTemplate::new(404)],
        uses: Arc::new(AtomicUsize::new(0)),
    };
    let any = request("http://127.0.0.1/api/v2/users/show_many?ids=7");
    let statuses: Vec<String> = (0..3)
        .map(|_| format!("{:?}", counted.respond(&any)))
        .collect();
    assert!(statuses[0].contains("200"), "{statuses:?}");
    assert!(
        statuses[1].contains("404") && statuses[2].contains("404"),
        "{statuses:?}"
    );
    assert_eq!(
        counted.uses.load(Ordering::SeqCst),
        3,
        "every answer is counted"
    );
}

macro_rules! scenarios {
    ($($test:ident: $dir:literal;)*) => {
        $(
            #[tokio::test]
            async fn $test() {
                replay($dir).await;
            }
        )*

        /// Every fixture directory has its test above, so none is silently left out.
        #[test]
        fn every_fixture_directory_has_a_test() {
            let known = [$($dir),*];
            let mut missing = Vec::new();
            for entry in std::fs::read_dir(scenarios_dir()).unwrap() {
                let entry = entry.unwrap();
                if entry.path().join("scenario.json").is_file() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if !known.contains(&name.as_str()) {
                        missing.push(name);
                    }
                }
            }
            assert!(missing.is_empty(), "fixtures without a test: {missing:?}");
        }
    };
}

scenarios! {
    s1_p1: "s1-p1"; s1_p2: "s1-p2"; s1_p3: "s1-p3"; s1_p4: "s1-p4"; s1_p5: "s1-p5";
    s2_p1: "s2-p1"; s2_p2: "s2-p2"; s2_p3: "s2-p3"; s2_p4: "s2-p4"; s2_p5: "s2-p5";
    s3_p1: "s3-p1"; s3_p2: "s3-p2"; s3_p3: "s3-p3"; s3_p4: "s3-p4"; s3_p5: "s3-p5";
    s4_p1: "s4-p1"; s4_p2: "s4-p2"; s4_p3: "s4-p3"; s4_p4: "s4-p4"; s4_p5: "s4-p5";
    s5_p1: "s5-p1"; s5_p2: "s5-p2"; s5_p3: "s5-p3"; s5_p4: "s5-p4"; s5_p5: "s5-p5";
    s6_p1: "s6-p1"; s6_p2: "s6-p2"; s6_p3: "s6-p3"; s6_p4: "s6-p4"; s6_p5: "s6-p5";
    s7_p1: "s7-p1"; s7_p2: "s7-p2"; s7_p3: "s7-p3"; s7_p4: "s7-p4"; s7_p5: "s7-p5";
    e1: "e1"; e2: "e2"; e3: "e3"; e4: "e4"; e5: "e5";
    e6: "e6"; e7: "e7"; e8: "e8"; e9: "e9"; e10: "e10";
    e11: "e11"; e12: "e12"; e13: "e13";
}
