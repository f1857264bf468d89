//! Operating sfzd unattended (issue 13), through the binary against the sandbox:
//! `sync --every` with `/metrics`, `/healthz` and `--metrics-file` through an outage and a
//! stop signal, a configuration error that stops continuous mode, `--metrics-file` on a
//! one-shot run, and `sfzd runs`.
//!
//! Every wait is for an event (a run recorded in the state file, an answer of `/healthz`,
//! a change in Zendesk) under a generous overall timeout; nothing asserts elapsed time.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_parse::{Scrape, Value as Sample};
use sandbox::{
    FaultConfig, GeneratorConfig, RunningServer, SalesforceSim, SalesforceSimConfig, ZendeskSim,
    ZendeskSimConfig, generate,
};
use serde_json::Value;
use tempfile::TempDir;

const SF_SECRET: &str = "sf-client-secret-Cn4Tq8";
const ZD_SECRET: &str = "zd-client-secret-Wm2Rk5";

/// The overall limit of one wait: far above what any step takes, so only a hang fails.
const PATIENCE: Duration = Duration::from_secs(180);

/// Both simulators with a generated data set, and a configuration file for them.
struct World {
    dataset: sandbox::Dataset,
    salesforce: SalesforceSim,
    zendesk: ZendeskSim,
    dir: TempDir,
    config: PathBuf,
    _servers: (RunningServer, RunningServer),
}

impl World {
    async fn start(seed: u64, multiple_organizations: bool) -> Self {
        let dataset = generate(&GeneratorConfig::new(seed, 80));
        let (zendesk, zendesk_server) = ZendeskSim::start(ZendeskSimConfig {
            oauth_client_secret: ZD_SECRET.into(),
            multiple_organizations,
            // Jobs complete on their first poll, so runs are quick.
            job_polls_before_complete: 0,
            ..ZendeskSimConfig::default()
        })
        .await
        .unwrap();
        let (salesforce, salesforce_server) = SalesforceSim::start(SalesforceSimConfig {
            client_secret: SF_SECRET.into(),
            ..SalesforceSimConfig::default()
        })
        .await
        .unwrap();
        salesforce.load(&dataset);
        zendesk.load(&dataset).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("sfzd.toml");
        std::fs::write(
            &config,
            format!(
                r#"[salesforce]
login_url = "{salesforce}"
client_id = "{sf_client}"

[zendesk]
url = "{zendesk}"
client_id = "{zd_client}"
requests_per_minute = 100000

[sync]
accounts_to_organizations = true
contacts_to_users = true
primary_relationship = true
secondary_relationships = true

[state]
path = "state.db"
"#,
                salesforce = salesforce.base_url(),
                zendesk = zendesk.base_url(),
                sf_client = SalesforceSimConfig::default().client_id,
                zd_client = ZendeskSimConfig::default().oauth_client_id,
            ),
        )
        .unwrap();
        Self {
            dataset,
            salesforce,
            zendesk,
            dir,
            config,
            _servers: (zendesk_server, salesforce_server),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `sfzd ARGS` with the secrets given as files, as Kubernetes mounts them.
    fn command(&self, args: &[&str]) -> Command {
        let secret = |name: &str, value: &str| {
            let path = self.path(name);
            std::fs::write(&path, format!("{value}\n")).unwrap();
            path
        };
        let mut command = Command::new(env!("CARGO_BIN_EXE_sfzd"));
        command
            .args(args)
            .env_remove("SFZD_SALESFORCE_CLIENT_SECRET")
            .env_remove("SFZD_ZENDESK_CLIENT_SECRET")
            .env_remove("SFZD_ZENDESK_API_TOKEN")
            .env(
                "SFZD_SALESFORCE_CLIENT_SECRET_FILE",
                secret("sf-secret", SF_SECRET),
            )
            .env(
                "SFZD_ZENDESK_CLIENT_SECRET_FILE",
                secret("zd-secret", ZD_SECRET),
            )
            .env("RUST_LOG", "info")
            .stdin(Stdio::null());
        command
    }

    fn config_arg(&self) -> String {
        self.config.display().to_string()
    }

    /// Runs `sfzd ARGS` to its end: exit status, stdout, stderr.
    async fn output(&self, args: &[&str]) -> (i32, String, String) {
        let mut command = self.command(args);
        let output = tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// The runs of the state file, oldest first.
    fn history(&self) -> Vec<sync::state::RunRecord> {
        let state = self.path("state.db");
        if !state.exists() {
            return Vec::new();
        }
        let mut runs = sync::state::read_recent_runs(&state, 10_000).unwrap();
        runs.reverse();
        runs
    }

    fn finished_runs(&self) -> usize {
        self.history()
            .iter()
            .filter(|run| run.outcome.is_some())
            .count()
    }
}

/// A running `sfzd` whose stderr is collected line by line.
struct Daemon {
    child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let pipe = child.stderr.take().unwrap();
        let lines = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                lines.lock().unwrap().push(line);
            }
        });
        Self { child, stderr }
    }

    /// The address the listener logged once bound.
    async fn address(&self) -> String {
        wait_for("the listener's address in the log", async || {
            self.stderr.lock().unwrap().iter().find_map(|line| {
                let (_, rest) = line
                    .contains("serving /metrics and /healthz")
                    .then(|| line.split_once("address="))??;
                Some(rest.split_whitespace().next()?.to_owned())
            })
        })
        .await
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    async fn wait(mut self) -> (i32, String) {
        let stderr = self.stderr.clone();
        let status = tokio::time::timeout(
            PATIENCE,
            tokio::task::spawn_blocking(move || self.child.wait().unwrap()),
        )
        .await
        .unwrap_or_else(|_| {
            panic!(
                "sfzd did not exit; stderr:\n{}",
                stderr.lock().unwrap().join("\n")
            )
        })
        .unwrap();
        // The reader thread ends with the pipe; what it has read by now is enough.
        (
            status.code().unwrap_or(-1),
            stderr.lock().unwrap().join("\n"),
        )
    }
}

/// Probes until `probe` answers, failing after [`PATIENCE`].
async fn wait_for<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        // Pacing between probes, not a timing assumption.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).unwrap()
}

/// The value of the sample `name{labels}`; counters must be typed as counters.
fn sample(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            Sample::Counter(v) => {
                assert!(name.ends_with("_total"), "{name} is a counter");
                v
            }
            Sample::Gauge(v) => {
                assert!(!name.ends_with("_total"), "{name} is a gauge");
                v
            }
            ref other => panic!("{name} has an unexpected type: {other:?}"),
        })
}

fn runs_total(scrape: &Scrape, result: &str) -> f64 {
    sample(scrape, "sfzd_runs_total", &[("result", result)]).unwrap()
}

/// Reads the metrics file over and over while sfzd replaces it: every read must be a
/// whole file, and the file must be replaced (a new inode), not rewritten in place.
struct TextfileWatcher {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(usize, HashSet<u64>)>,
}

impl TextfileWatcher {
    fn start(path: PathBuf) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let done = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut reads = 0;
            let mut inodes = HashSet::new();
            while !done.load(Ordering::SeqCst) {
                if let Ok(mut file) = std::fs::File::open(&path) {
                    let inode = file.metadata().unwrap().ino();
                    let mut text = String::new();
                    file.read_to_string(&mut text).unwrap();
                    assert!(
                        text.ends_with('\n')
                            && text.contains("sfzd_api_calls_total{system=\"zendesk\"}"),
                        "a partial metrics file was read:\n{text}"
                    );
                    parse(&text);
                    reads += 1;
                    inodes.insert(inode);
                }
                // Pacing, so the reader does not starve the runs on a small machine.
                std::thread::sleep(Duration::from_millis(2));
            }
            (reads, inodes)
        });
        Self { stop, thread }
    }

    fn finish(self) -> (usize, HashSet<u64>) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

/// A contact whose Zendesk user carries its phone after the first run, alone with its
/// email: a change to its phone must reach that user.
fn syncing_contact_with_phone(world: &World) -> (String, String) {
    let contacts = &world.dataset.contacts;
    contacts
        .iter()
        .filter(|c| !c.is_deleted && c.phone.is_some())
        .filter_map(|c| Some((c, c.email.as_deref()?.trim().to_lowercase())))
        .filter(|(c, email)| {
            contacts
                .iter()
                .filter(|o| {
                    o.email.as_deref().map(|e| e.trim().to_lowercase()).as_ref() == Some(email)
                })
                .count()
                == 1
                && world
                    .zendesk
                    .user_by_email(email)
                    .is_some_and(|u| u.phone == c.phone)
        })
        .map(|(c, email)| (c.id.clone(), email))
        .next()
        .expect("the data set has a synced contact with a phone")
}

#[tokio::test(flavor = "multi_thread")]
async fn continuous_mode_syncs_changes_survives_an_outage_and_stops_on_sigterm() {
    let world = World::start(131, true).await;
    let metrics_file = world.path("sfzd.prom");
    let watcher = TextfileWatcher::start(metrics_file.clone());
    let config = world.config_arg();
    let daemon = Daemon::spawn(world.command(&[
        "sync",
        "--config",
        &config,
        "--every",
        "1s",
        "--listen",
        "127.0.0.1:0",
        "--metrics-file",
        metrics_file.to_str().unwrap(),
    ]));
    let base = format!("http://{}", daemon.address().await);

    // Several runs: the first reads everything, the next ones are incremental.
    wait_for("three finished runs", async || {
        (world.finished_runs() >= 3).then_some(())
    })
    .await;
    let (status, body) = get(&format!("{base}/healthz")).await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (_, served) = get(&format!("{base}/metrics")).await;
    let scrape = parse(&served);
    assert!(runs_total(&scrape, "ok") >= 3.0, "{served}");
    assert!(sample(&scrape, "sfzd_last_success_timestamp_seconds", &[]).is_some());

    // The process holds the state file: a cron run is refused, the history is readable.
    let (code, _, stderr) = world.output(&["sync", "--config", &config]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("another sfzd run"), "{stderr}");
    let (code, stdout, stderr) = world.output(&["runs", "--config", &config, "--json"]).await;
    assert_eq!(code, 0, "{stderr}");
    let listed: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    assert!(listed.len() >= 3, "{stdout}");

    // A change made between runs reaches Zendesk.
    let (contact, email) = syncing_contact_with_phone(&world);
    let phone = "+1 555 0100 4242";
    world
        .salesforce
        .update_contact(&contact, |c| c.phone = Some(phone.into()))
        .unwrap();
    wait_for("the changed phone in Zendesk", async || {
        world
            .zendesk
            .user_by_email(&email)
            .filter(|u| u.phone.as_deref() == Some(phone))
    })
    .await;

    // An outage: every Zendesk request answers 503. Runs fail, /healthz says why.
    world.zendesk.set_faults(FaultConfig {
        unavailable_rate: 1.0,
        ..FaultConfig::default()
    });
    let reason = wait_for("/healthz to turn 503", async || {
        let (status, body) = get(&format!("{base}/healthz")).await;
        (status == 503).then_some(body)
    })
    .await;
    assert!(reason.starts_with("the last run failed: "), "{reason}");
    assert!(reason.contains("zendesk"), "{reason}");
    let (_, served) = get(&format!("{base}/metrics")).await;
    assert!(runs_total(&parse(&served), "error") >= 1.0, "{served}");

    // The outage ends: the next run succeeds and /healthz recovers.
    world.zendesk.set_faults(FaultConfig::default());
    wait_for("/healthz to turn 200 again", async || {
        let (status, _) = get(&format!("{base}/healthz")).await;
        (status == 200).then_some(())
    })
    .await;

    // SIGTERM: the process stops cleanly with exit status 0.
    daemon.signal("-TERM");
    let (code, stderr) = daemon.wait().await;
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for secret in [SF_SECRET, ZD_SECRET] {
        assert!(!stderr.contains(secret), "a secret was logged");
    }
    let (reads, inodes) = watcher.finish();
    assert!(reads > 0, "the metrics file was never read");
    assert!(
        inodes.len() >= 2,
        "the metrics file is replaced by a new file after each run, not rewritten: {inodes:?}"
    );

    // The history: a full run, then incremental ones; failures during the outage, then
    // success again.
    let history = world.history();
    assert_eq!(history[0].mode, sync::RunMode::Full);
    assert!(
        history[1..]
            .iter()
            .all(|run| run.mode == sync::RunMode::Incremental)
    );
    let outcomes: Vec<&str> = history
        .iter()
        .filter_map(|run| run.outcome.map(|o| o.as_str()))
        .collect();
    let first_failure = outcomes.iter().position(|o| *o == "failed").unwrap();
    assert!(
        outcomes[first_failure..].contains(&"ok"),
        "a run succeeded after the outage: {outcomes:?}"
    );

    // The last metrics file counts what the reports and the simulators say.
    let scrape = parse(&std::fs::read_to_string(&metrics_file).unwrap());
    let count = |outcome: &str| outcomes.iter().filter(|o| **o == outcome).count() as f64;
    assert_eq!(runs_total(&scrape, "ok"), count("ok"));
    assert_eq!(runs_total(&scrape, "failed_records"), count("partial"));
    assert_eq!(
        runs_total(&scrape, "error"),
        count("failed") + count("interrupted")
    );
    let reports: Vec<Value> = history
        .iter()
        .filter_map(|run| serde_json::from_str(run.report_json.as_deref()?).ok())
        .collect();
    let sum = |object: &str, key: &str| -> f64 {
        reports
            .iter()
            .map(|r| r[object][key].as_u64().unwrap() as f64)
            .sum()
    };
    for (object, outcome, report_object, report_key) in [
        ("organization", "created", "organizations", "created"),
        ("organization", "updated", "organizations", "updated"),
        ("organization", "unchanged", "organizations", "unchanged"),
        ("organization", "failed", "organizations", "failed"),
        ("user", "created", "users", "created"),
        ("user", "updated", "users", "updated"),
        ("user", "unchanged", "users", "unchanged"),
        ("user", "failed", "users", "failed"),
        ("membership", "created", "memberships", "created"),
        ("membership", "unchanged", "memberships", "already_present"),
        ("membership", "failed", "memberships", "failed"),
    ] {
        assert_eq!(
            sample(
                &scrape,
                "sfzd_records_total",
                &[("object", object), ("outcome", outcome)]
            ),
            Some(sum(report_object, report_key)),
            "{object} {outcome}"
        );
    }
    assert!(sum("users", "created") > 0.0 && sum("users", "updated") > 0.0);
    let skipped: f64 = ["organization", "user", "membership"]
        .iter()
        .map(|object| {
            sample(
                &scrape,
                "sfzd_records_total",
                &[("object", object), ("outcome", "skipped")],
            )
            .unwrap()
        })
        .sum();
    let reported_skips: usize = reports
        .iter()
        .map(|r| r["skipped"].as_array().unwrap().len())
        .sum();
    assert_eq!(skipped, reported_skips as f64);
    // Every request the simulators saw, retries and token requests included.
    assert_eq!(
        sample(&scrape, "sfzd_api_calls_total", &[("system", "zendesk")]),
        Some(world.zendesk.counts().total() as f64)
    );
    assert_eq!(
        sample(&scrape, "sfzd_api_calls_total", &[("system", "salesforce")]),
        Some(world.salesforce.counts().total() as f64)
    );
    assert!(sample(&scrape, "sfzd_salesforce_daily_api_remaining", &[]).is_some());
    assert!(sample(&scrape, "sfzd_run_duration_seconds", &[]).is_some());

    // `sfzd runs` shows each run with its numbers, newest first.
    let (code, stdout, _) = world
        .output(&["runs", "--config", &config, "--json", "--limit", "2"])
        .await;
    assert_eq!(code, 0);
    let listed: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(listed.len(), 2, "{stdout}");
    assert!(listed[0]["id"].as_i64() > listed[1]["id"].as_i64());
    for run in &listed {
        for key in [
            "mode",
            "started_at",
            "duration_ms",
            "outcome",
            "exit_status",
            "counts",
            "api_calls",
        ] {
            assert!(!run[key].is_null(), "{key} missing: {run}");
        }
        for key in ["created", "updated", "failed"] {
            assert!(run["counts"][key].is_u64(), "{run}");
        }
        for key in ["salesforce", "zendesk"] {
            assert!(run["api_calls"][key].is_u64(), "{run}");
        }
    }
    let (code, stdout, _) = world
        .output(&["runs", "--config", &config, "--limit", "1000"])
        .await;
    assert_eq!(code, 0);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), history.len() + 1, "{stdout}");
    assert!(
        lines[0].contains("mode") && lines[0].contains("exit"),
        "{stdout}"
    );
    assert!(lines.last().unwrap().contains(" full "), "{stdout}");
    assert!(stdout.contains(" failed "), "{stdout}");
}

/// A failed prerequisite is a configuration error: continuous mode stops with exit 2
/// instead of repeating a run that cannot succeed.
#[tokio::test(flavor = "multi_thread")]
async fn a_configuration_error_stops_continuous_mode_with_exit_2() {
    // Secondary relationships need multiple organizations, which this account lacks.
    let world = World::start(132, false).await;
    let config = world.config_arg();
    let daemon = Daemon::spawn(world.command(&["sync", "--config", &config, "--every", "1s"]));
    let (code, stderr) = daemon.wait().await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("multiple organizations"), "{stderr}");
    assert_eq!(world.zendesk.counts().writes, 0);
    assert_eq!(world.finished_runs(), 1);
}

/// A one-shot run writes its metrics for node_exporter's textfile collector.
#[tokio::test(flavor = "multi_thread")]
async fn a_one_shot_run_writes_the_metrics_file() {
    let world = World::start(133, true).await;
    let metrics_file = world.path("sfzd.prom");
    let config = world.config_arg();
    let args = [
        "sync",
        "--config",
        &config,
        "--metrics-file",
        metrics_file.to_str().unwrap(),
    ];
    let (code, _, stderr) = world.output(&args).await;
    assert_eq!(code, 0, "{stderr}");
    let first = parse(&std::fs::read_to_string(&metrics_file).unwrap());
    assert_eq!(runs_total(&first, "ok"), 1.0);
    assert!(
        sample(
            &first,
            "sfzd_records_total",
            &[("object", "user"), ("outcome", "created")]
        ) > Some(0.0)
    );

    // The next run fails on an outage: its file counts that run only, and still says
    // when the sync last succeeded (from the state file's history).
    world.zendesk.set_faults(FaultConfig {
        unavailable_rate: 1.0,
        ..FaultConfig::default()
    });
    let (code, _, stderr) = world.output(&args).await;
    assert_eq!(code, 1, "{stderr}");
    let second = parse(&std::fs::read_to_string(&metrics_file).unwrap());
    assert_eq!(runs_total(&second, "ok"), 0.0);
    assert_eq!(runs_total(&second, "error"), 1.0);
    assert_eq!(
        sample(&second, "sfzd_last_success_timestamp_seconds", &[]),
        sample(&first, "sfzd_last_success_timestamp_seconds", &[])
    );
    assert!(
        sample(&second, "sfzd_last_run_timestamp_seconds", &[])
            > sample(&first, "sfzd_last_run_timestamp_seconds", &[])
    );
}

/// `sfzd runs` needs no secret and no state file yet.
#[tokio::test(flavor = "multi_thread")]
async fn runs_before_any_run_says_so() {
    let world = World::start(134, true).await;
    let config = world.config_arg();
    let mut command = world.command(&["runs", "--config", &config]);
    command.env_remove("SFZD_SALESFORCE_CLIENT_SECRET_FILE");
    command.env_remove("SFZD_ZENDESK_CLIENT_SECRET_FILE");
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(stdout.contains("no runs recorded yet"), "{stdout}");
    assert!(!Path::new(&world.path("state.db")).exists());
}

/// SIGTERM while a run writes: the run finishes its chunk, its state is stored, the
/// process exits 0, and the next run completes the sync.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_a_run_lets_it_finish_its_chunk_and_exits_0() {
    let world = World::start(135, true).await;
    // Every Zendesk answer takes 30 ms, so the first run is still writing when stopped.
    world.zendesk.set_faults(FaultConfig {
        slow_rate: 1.0,
        slow_delay: Duration::from_millis(30),
        ..FaultConfig::default()
    });
    let config = world.config_arg();
    let daemon = Daemon::spawn(world.command(&["sync", "--config", &config, "--every", "1h"]));
    wait_for("the first write", async || {
        (world.zendesk.counts().writes > 0).then_some(())
    })
    .await;
    daemon.signal("-TERM");
    let (code, stderr) = daemon.wait().await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("the run in flight stopped after its chunk"),
        "{stderr}"
    );
    let history = world.history();
    assert_eq!(history.len(), 1);
    assert_eq!(
        history[0].outcome,
        Some(sync::state::RunOutcomeKind::Interrupted)
    );

    // The next run takes over where it stopped and completes.
    world.zendesk.set_faults(FaultConfig::default());
    let (code, _, stderr) = world.output(&["sync", "--config", &config]).await;
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = world.output(&["sync", "--config", &config]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        world
            .history()
            .last()
            .unwrap()
            .report_json
            .as_deref()
            .map(|json| {
                let report: Value = serde_json::from_str(json).unwrap();
                report["users"]["created"].as_u64().unwrap()
                    + report["users"]["updated"].as_u64().unwrap()
            }),
        Some(0),
        "after the completing run, nothing is left to write"
    );
}

/// `sfzd --version` names the commit the binary was built from.
#[test]
fn version_names_the_commit() {
    let output = Command::new(env!("CARGO_BIN_EXE_sfzd"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let commit = stdout
        .trim()
        .strip_prefix(concat!("sfzd ", env!("CARGO_PKG_VERSION"), " (commit "))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("unexpected version line: {stdout}"));
    assert!(
        (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit()))
            || commit == "unknown: built outside a git checkout",
        "{stdout}"
    );
}
