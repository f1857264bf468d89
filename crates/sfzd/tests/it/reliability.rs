//! Faults, crashes, concurrency, bad input and secrets (issue 7): the `sfzd` binary runs
//! against the sandbox simulators while they fail in the ways production systems do, and
//! every test checks that both systems end consistent, that the next run finishes the job,
//! and that the final Zendesk state equals the one a fault-free run produces on the same
//! data set (compared by email and external id, since record ids differ between sandboxes).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sandbox::{
    Dataset, GeneratorConfig, HoldAnswers, RunningServer, SalesforceSim, SalesforceSimConfig,
    SfContact, ZendeskSim, ZendeskSimConfig, ZendeskSnapshot, generate,
};
use serde_json::Value;
use tempfile::TempDir;

/// Contacts per data set: every kind of record of the generator's mix, runs under a second.
const CONTACTS: usize = 150;

/// The secrets the sandboxes accept: distinctive, so a leak is found by a plain search.
const SF_SECRET: &str = "sf-client-secret-Q7x9Lp2";
const ZD_SECRET: &str = "zd-client-secret-M4k8Vr6";
const ZD_API_TOKEN: &str = "zd-api-token-H3j5Tn1";
const ZD_AGENT: &str = "integration@sfzd.example";

/// How the binary authenticates to Zendesk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ZdAuth {
    OAuth,
    ApiToken,
}

/// What a sandbox starts with.
#[derive(Debug, Clone)]
struct Setup {
    seed: u64,
    contacts: usize,
    zendesk: ZendeskSimConfig,
    salesforce: SalesforceSimConfig,
    auth: ZdAuth,
    /// Extra TOML appended to the `[sync]` table's defaults (P5: every setting on).
    sync: String,
}

impl Setup {
    fn new(seed: u64) -> Self {
        Self {
            seed,
            contacts: CONTACTS,
            zendesk: ZendeskSimConfig {
                oauth_client_secret: ZD_SECRET.into(),
                api_token: Some((ZD_AGENT.into(), ZD_API_TOKEN.into())),
                // Jobs report completed on their first poll: the engine's first poll comes
                // after 1 s, a second one 2 s later, and the runs here are many.
                job_polls_before_complete: 0,
                ..ZendeskSimConfig::default()
            },
            salesforce: SalesforceSimConfig {
                client_secret: SF_SECRET.into(),
                ..SalesforceSimConfig::default()
            },
            auth: ZdAuth::OAuth,
            sync: "accounts_to_organizations = true\ncontacts_to_users = true\nprimary_relationship = true\nsecondary_relationships = true\n".into(),
        }
    }
}

/// Both simulators serving one generated data set, and a configuration file for them.
struct World {
    dataset: Dataset,
    salesforce: SalesforceSim,
    zendesk: ZendeskSim,
    dir: TempDir,
    config: PathBuf,
    _servers: (RunningServer, RunningServer),
}

/// How one run of the binary ended.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    report: Option<Value>,
}

impl Run {
    fn assert_code(&self, code: i32) {
        assert_eq!(self.code, code, "exit status; {self:#?}");
    }

    fn assert_no_panic(&self) {
        assert!(
            !self.stderr.contains("panicked at") && !self.stdout.contains("panicked at"),
            "the binary panicked: {self:#?}"
        );
    }

    fn errors(&self) -> Vec<Value> {
        self.report
            .as_ref()
            .and_then(|r| r["errors"].as_array().cloned())
            .unwrap_or_default()
    }
}

impl World {
    async fn start(setup: &Setup) -> Self {
        let dataset = generate(&GeneratorConfig::new(setup.seed, setup.contacts));
        let (zendesk, zendesk_server) = ZendeskSim::start(setup.zendesk.clone()).await.unwrap();
        let (salesforce, salesforce_server) = SalesforceSim::start(setup.salesforce.clone())
            .await
            .unwrap();
        salesforce.load(&dataset);
        zendesk.load(&dataset).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("sfzd.toml");
        std::fs::write(
            &config,
            config_text(&salesforce.base_url(), &zendesk.base_url(), setup),
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

    fn report_path(&self) -> PathBuf {
        self.dir.path().join("report.json")
    }

    /// `sfzd sync --config F --report R` plus `extra`, secrets in the environment.
    fn command(&self, extra: &[&str]) -> Command {
        self.command_reporting_to(&self.report_path(), extra)
    }

    fn command_reporting_to(&self, report: &Path, extra: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sfzd"));
        command
            .arg("sync")
            .arg("--config")
            .arg(&self.config)
            .arg("--report")
            .arg(report)
            .args(extra)
            .env("SFZD_SALESFORCE_CLIENT_SECRET", SF_SECRET)
            .env("SFZD_ZENDESK_CLIENT_SECRET", ZD_SECRET)
            .env("SFZD_ZENDESK_API_TOKEN", ZD_API_TOKEN)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    async fn sync(&self, extra: &[&str]) -> Run {
        let command = self.command(extra);
        self.output(command).await
    }

    /// Runs `command` to its end and collects what it wrote.
    async fn output(&self, mut command: Command) -> Run {
        let _ = std::fs::remove_file(self.report_path());
        let output = tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap();
        self.collect(output)
    }

    fn collect(&self, output: std::process::Output) -> Run {
        let report = std::fs::read_to_string(self.report_path())
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok());
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            report,
        }
    }

    /// Runs until a run exits 0, at most `max` runs. Every run either finishes (0) or
    /// finishes with failed records it reports (3); returns the runs.
    async fn converge(&self, max: usize) -> Vec<Run> {
        let mut runs = Vec::new();
        for _ in 0..max {
            let run = self.sync(&[]).await;
            run.assert_no_panic();
            assert!(
                run.code == 0 || run.code == 3,
                "a run under faults must finish, with failed records reported: {run:#?}"
            );
            if run.code == 3 {
                assert!(
                    run.errors()
                        .iter()
                        .all(|e| e["salesforce_id"].as_str().is_some_and(|id| !id.is_empty())),
                    "every failed record is reported with its Id: {run:#?}"
                );
                assert!(!run.errors().is_empty(), "exit 3 without errors: {run:#?}");
            }
            let done = run.code == 0;
            runs.push(run);
            if done {
                return runs;
            }
        }
        panic!("no run completed within {max} runs: {runs:#?}");
    }

    fn writes(&self) -> u64 {
        self.zendesk.counts().writes
    }
}

fn config_text(salesforce: &str, zendesk: &str, setup: &Setup) -> String {
    let auth = match setup.auth {
        ZdAuth::OAuth => format!("client_id = \"{}\"", setup.zendesk.oauth_client_id),
        ZdAuth::ApiToken => format!("email = \"{ZD_AGENT}\""),
    };
    format!(
        r#"[salesforce]
login_url = "{salesforce}"
client_id = "{sf_client}"
api_version = "62.0"

[zendesk]
url = "{zendesk}"
{auth}
requests_per_minute = 100000

[sync]
object = "contact"
{sync}
[state]
path = "state.db"
"#,
        sf_client = setup.salesforce.client_id,
        sync = setup.sync,
    )
}

// ------------------------------------------------------------------ normalized state

/// A Zendesk state without record ids and timestamps: organizations by external id (or
/// name), users by email with their fields and memberships by organization key.
#[derive(Debug, PartialEq, Eq)]
struct Normal {
    organizations: BTreeMap<String, String>,
    users: BTreeMap<String, String>,
    memberships: usize,
}

fn org_key(snapshot: &ZendeskSnapshot, id: u64) -> String {
    snapshot
        .organizations
        .iter()
        .find(|o| o.id == id)
        .map_or_else(
            || format!("missing organization {id}"),
            |o| match &o.external_id {
                Some(ext) => format!("ext:{}", ext.to_lowercase()),
                None => format!("name:{}", o.name),
            },
        )
}

fn normalize(snapshot: &ZendeskSnapshot) -> Normal {
    let mut organizations = BTreeMap::new();
    for o in &snapshot.organizations {
        let key = org_key(snapshot, o.id);
        let value = format!("{}|{:?}", o.name, o.organization_fields);
        assert!(
            organizations.insert(key.clone(), value).is_none(),
            "duplicate organization {key}"
        );
    }
    let mut users = BTreeMap::new();
    for u in &snapshot.users {
        let key = u
            .email
            .as_deref()
            .map_or_else(|| format!("no-email:{}", u.name), str::to_lowercase);
        let memberships: BTreeSet<(String, bool)> = snapshot
            .memberships
            .iter()
            .filter(|m| m.user_id == u.id)
            .map(|m| (org_key(snapshot, m.organization_id), m.default))
            .collect();
        let identities: BTreeSet<String> = u
            .identities
            .iter()
            .map(|i| i.value.to_lowercase())
            .collect();
        let value = format!(
            "name={:?} phone={:?} external_id={:?} fields={:?} organization={:?} identities={identities:?} memberships={memberships:?}",
            u.name,
            u.phone,
            u.external_id,
            u.user_fields,
            u.organization_id.map(|id| org_key(snapshot, id)),
        );
        assert!(
            users.insert(key.clone(), value).is_none(),
            "duplicate user {key}"
        );
    }
    let pairs: BTreeSet<(u64, u64)> = snapshot
        .memberships
        .iter()
        .map(|m| (m.user_id, m.organization_id))
        .collect();
    assert_eq!(
        pairs.len(),
        snapshot.memberships.len(),
        "duplicate membership"
    );
    Normal {
        organizations,
        users,
        memberships: snapshot.memberships.len(),
    }
}

/// Asserts two normalized states are equal, naming the first differences.
fn assert_same_state(actual: &Normal, expected: &Normal, context: &str) {
    let mut differences = Vec::new();
    for (what, a, e) in [
        (
            "organization",
            &actual.organizations,
            &expected.organizations,
        ),
        ("user", &actual.users, &expected.users),
    ] {
        for key in a.keys().chain(e.keys()).collect::<BTreeSet<_>>() {
            if a.get(key) != e.get(key) {
                differences.push(format!(
                    "{what} {key}:\n   got      {:?}\n   expected {:?}",
                    a.get(key),
                    e.get(key)
                ));
            }
        }
    }
    assert!(
        differences.is_empty(),
        "{context}: {} differences from the fault-free run, first ones:\n{}",
        differences.len(),
        differences
            .iter()
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(actual.memberships, expected.memberships, "{context}");
}

/// Asserts that no membership of `before` is gone and that no pre-existing user's default
/// organization moved (docs/behavior.md rule 4; multi-organization mode). Both snapshots come
/// from one sandbox, so records are compared by id: linking an organization (E9) changes
/// its external id, not its id.
fn assert_only_added(before: &ZendeskSnapshot, after: &ZendeskSnapshot) {
    let pairs = |s: &ZendeskSnapshot| -> BTreeSet<(u64, u64)> {
        s.memberships
            .iter()
            .map(|m| (m.user_id, m.organization_id))
            .collect()
    };
    let after_pairs = pairs(after);
    for m in pairs(before) {
        assert!(
            after_pairs.contains(&m),
            "membership (user, organization) {m:?} was lost"
        );
    }
    let defaults = |s: &ZendeskSnapshot| -> BTreeMap<u64, u64> {
        s.memberships
            .iter()
            .filter(|m| m.default)
            .map(|m| (m.user_id, m.organization_id))
            .collect()
    };
    let after_defaults = defaults(after);
    for (user, organization) in defaults(before) {
        assert_eq!(
            after_defaults.get(&user),
            Some(&organization),
            "the default organization of user {user} moved"
        );
    }
}

/// A change of the Salesforce data between two runs.
#[derive(Debug, Clone, Copy)]
enum Change {
    /// New phone numbers for every seventh contact: the result does not depend on when the
    /// users were created.
    Phones(u64),
    /// `SalesforceSim::change_fraction(0.1, seed)`: titles, phones and account moves.
    Fraction(u64),
}

impl Change {
    fn apply(self, world: &World) {
        match self {
            Change::Phones(seed) => {
                for (i, contact) in world.dataset.contacts.iter().enumerate() {
                    if (i as u64 + seed).is_multiple_of(7) {
                        world
                            .salesforce
                            .update_contact(&contact.id, |c| {
                                c.phone = Some(format!("+1 555 {seed}{i}"));
                            })
                            .unwrap();
                    }
                }
            }
            Change::Fraction(seed) => {
                world.salesforce.change_fraction(0.1, seed);
            }
        }
    }
}

/// The state a fault-free sandbox of `setup` reaches after a first run and then, for each
/// change, the change and a run; and the Zendesk requests its first run made.
async fn reference(setup: &Setup, changes: &[Change]) -> (Normal, u64) {
    let clean = Setup {
        zendesk: ZendeskSimConfig {
            faults: sandbox::FaultConfig::default(),
            rate_limit_per_minute: None,
            ..setup.zendesk.clone()
        },
        salesforce: SalesforceSimConfig {
            faults: sandbox::FaultConfig::default(),
            ..setup.salesforce.clone()
        },
        ..setup.clone()
    };
    let world = World::start(&clean).await;
    world.sync(&[]).await.assert_code(0);
    let requests = world.zendesk.counts().total();
    for change in changes {
        change.apply(&world);
        world.sync(&[]).await.assert_code(0);
    }
    (normalize(&world.zendesk.snapshot()), requests)
}

// ------------------------------------------------------------------ faults

/// A 429 storm: Zendesk allows 8 requests per second and another client spends them in
/// bursts, so the run lives on `Retry-After` answers, and still ends in the fault-free state.
#[tokio::test(flavor = "multi_thread")]
async fn rate_limit_storms_are_waited_out() {
    let mut setup = Setup::new(71);
    setup.contacts = 100;
    setup.zendesk.rate_limit_per_minute = Some(8);
    setup.zendesk.rate_limit_window = Duration::from_secs(1);
    let (expected, _) = reference(&setup, &[]).await;
    let world = World::start(&setup).await;
    let before = world.zendesk.snapshot();
    // Another integration of the account spends the whole budget just before every
    // twelfth request of the run, so the run meets 429s it could not foresee from the
    // rate-limit headers: counted on requests, not timed, so the storm always happens.
    world.zendesk.spend_rate_limit_every(STORM_EVERY);
    let run = world.sync(&[]).await;
    run.assert_code(0);
    let api_requests = world.zendesk.counts().reads + world.zendesk.counts().writes;
    let limited = world
        .zendesk
        .request_log()
        .iter()
        .filter(|r| r.status == 429)
        .count() as u64;
    assert!(
        limited >= api_requests / STORM_EVERY,
        "{limited} requests answered 429 in {api_requests}: the storm did not happen"
    );
    let after = world.zendesk.snapshot();
    assert_only_added(&before, &after);
    assert_same_state(&normalize(&after), &expected, "after a 429 storm");
}

/// The other client of `rate_limit_storms_are_waited_out` spends the budget before every
/// this many requests of the run.
const STORM_EVERY: u64 = 12;

/// 10% of writes answered 500/503 without being applied: runs finish (0 or 3, failed
/// records reported), and the next runs complete them.
#[tokio::test(flavor = "multi_thread")]
async fn failed_writes_are_reported_and_completed_by_the_next_run() {
    let mut setup = Setup::new(72);
    setup.zendesk.faults.seed = 72;
    setup.zendesk.faults.write_failure_rate = 0.1;
    let (expected, _) = reference(&setup, &[]).await;
    let world = World::start(&setup).await;
    let before = world.zendesk.snapshot();
    let runs = world.converge(5).await;
    let failed = world
        .zendesk
        .request_log()
        .iter()
        .filter(|r| r.status >= 500)
        .count();
    // `converge` resets nothing: count over the last run only is not enough, so look at
    // the reports too.
    assert!(
        failed > 0 || runs.len() > 1,
        "no write failure was injected"
    );
    let after = world.zendesk.snapshot();
    assert_only_added(&before, &after);
    assert_same_state(&normalize(&after), &expected, "after failed writes");
    world.zendesk.reset_counts();
    world.sync(&[]).await.assert_code(0);
    assert_eq!(world.writes(), 0, "a run after convergence writes nothing");
}

/// Bulk jobs that complete with some items failed (10% of users, organizations and
/// memberships): the run exits 3 naming the failed records, the next runs complete them.
#[tokio::test(flavor = "multi_thread")]
async fn failed_bulk_items_are_reported_and_completed_by_the_next_run() {
    let mut setup = Setup::new(84);
    setup.zendesk.faults.seed = 84;
    setup.zendesk.faults.item_failure_rate = 0.1;
    let (expected, _) = reference(&setup, &[]).await;
    let world = World::start(&setup).await;
    let before = world.zendesk.snapshot();
    let runs = world.converge(6).await;
    assert_eq!(runs[0].code, 3, "the first run reports its failed items");
    let failed_ids: BTreeSet<String> = runs[0]
        .errors()
        .iter()
        .map(|e| e["salesforce_id"].as_str().unwrap().to_owned())
        .collect();
    let known: BTreeSet<&str> = world
        .dataset
        .contacts
        .iter()
        .map(|c| c.id.as_str())
        .chain(world.dataset.accounts.iter().map(|a| a.id.as_str()))
        .chain(world.dataset.relations.iter().map(|r| r.id.as_str()))
        .collect();
    assert!(
        failed_ids.iter().all(|id| known.contains(id.as_str())),
        "errors name Salesforce records: {failed_ids:?}"
    );
    let after = world.zendesk.snapshot();
    assert_only_added(&before, &after);
    assert_same_state(&normalize(&after), &expected, "after failed bulk items");
}

/// An organization whose creation fails must not change where the users of its account
/// land: with 300 contacts and 10% of bulk items failing, some email groups meet a failed
/// organization of their syncing record's account.
#[tokio::test(flavor = "multi_thread")]
async fn failed_organizations_do_not_change_where_users_land() {
    let mut setup = Setup::new(2);
    setup.contacts = 300;
    setup.zendesk.faults.seed = 2;
    setup.zendesk.faults.item_failure_rate = 0.1;
    let (expected, _) = reference(&setup, &[]).await;
    let world = World::start(&setup).await;
    let before = world.zendesk.snapshot();
    let runs = world.converge(6).await;
    let after = world.zendesk.snapshot();
    assert_only_added(&before, &after);
    let failed_accounts: Vec<String> = runs[0]
        .errors()
        .iter()
        .filter_map(|e| e["salesforce_id"].as_str())
        .filter(|id| id.starts_with("001"))
        .map(str::to_owned)
        .collect();
    let actual = normalize(&after);
    let differing: Vec<&String> = expected
        .users
        .keys()
        .filter(|k| actual.users.get(*k) != expected.users.get(*k))
        .collect();
    eprintln!(
        "organizations failed in the first run: {failed_accounts:?}; users that differ from the fault-free run: {differing:?}"
    );
    // Groups touching an account whose organization failed wait for the next run, so the
    // end state is that of a fault-free run.
    assert_same_state(&actual, &expected, "after failed organizations");
}

/// 5% of connections to both systems cut after the request was processed (a write may
/// have landed), and both systems' sessions revoked again and again during the run.
#[tokio::test(flavor = "multi_thread")]
async fn dropped_connections_and_expired_sessions_are_survived() {
    let mut setup = Setup::new(73);
    setup.zendesk.faults.seed = 73;
    setup.zendesk.faults.drop_rate = 0.05;
    setup.salesforce.faults.seed = 74;
    setup.salesforce.faults.drop_rate = 0.05;
    let (expected, _) = reference(&setup, &[]).await;
    let world = World::start(&setup).await;
    let before = world.zendesk.snapshot();
    // Sessions expire mid-run: after every few answered API requests a system forgets
    // its tokens (counted by the simulators, not timed, so a fresh token is always used
    // at least once and the expiries happen on every run of the test).
    world.salesforce.expire_tokens_every(2);
    world.zendesk.expire_tokens_every(10);
    let runs = world.converge(5).await;
    let salesforce_tokens = world.salesforce.counts().get("POST /services/oauth2/token");
    assert!(
        salesforce_tokens > runs.len() as u64,
        "the Salesforce session never expired mid-run ({salesforce_tokens} token requests)"
    );
    let after = world.zendesk.snapshot();
    assert_only_added(&before, &after);
    assert_same_state(
        &normalize(&after),
        &expected,
        "after dropped connections and expired sessions",
    );
}

/// Answers that never come, past the client's timeout (driven in-process: the binary's
/// 30 s timeout is not configurable). In each of three runs one Zendesk write, the first,
/// second or third of the run, is processed (so it lands) but its answer is held back for
/// good: the client must give up on it, and the run must not take that write as done. A
/// timed-out write may have been applied; the next runs must see it and neither duplicate
/// nor lose anything.
#[tokio::test(flavor = "multi_thread")]
async fn slow_answers_past_the_timeout_are_survived() {
    let mut setup = Setup::new(75);
    setup.contacts = 100;
    let (expected, _) = reference(&setup, &[]).await;
    let world = World::start(&setup).await;
    let before = world.zendesk.snapshot();
    let env = |name: &str| match name {
        "SFZD_SALESFORCE_CLIENT_SECRET" => Some(SF_SECRET.to_owned()),
        "SFZD_ZENDESK_CLIENT_SECRET" => Some(ZD_SECRET.to_owned()),
        _ => None,
    };
    let config = sfzd::config::Config::load_with_env(&world.config, &env).unwrap();
    let mut timed_out = 0;
    for write in 1..=3 {
        world.zendesk.hold_answers(HoldAnswers::NthWrite(write));
        let outcome = run_in_process(&config).await;
        assert_only_zendesk_errors(&outcome);
        if world.zendesk.held_answers() == 1 {
            timed_out += 1;
            // A timed-out bulk submission may have created a job, so it is not repeated
            // blindly: the run ends (exit status 1) and the next run reads what landed. A
            // timed-out single write fails its record (exit status 3).
            assert!(
                outcome.error.is_some() || outcome.report.has_failures(),
                "write {write} never got an answer, yet the run reported success: {:?}",
                outcome.report
            );
        }
        world.zendesk.release_answers();
    }
    assert!(
        timed_out >= 2,
        "only {timed_out} runs met an answer that never came"
    );
    let mut finished = false;
    for _ in 0..2 {
        let outcome = run_in_process(&config).await;
        assert_only_zendesk_errors(&outcome);
        if outcome.error.is_none() && !outcome.report.has_failures() {
            finished = true;
            break;
        }
    }
    assert!(finished, "no run completed after the timeouts");
    let after = world.zendesk.snapshot();
    assert_only_added(&before, &after);
    assert_same_state(&normalize(&after), &expected, "after slow answers");
}

/// One run through the engine, with a Zendesk client that gives up after 400 ms.
async fn run_in_process(config: &sfzd::config::Config) -> sync::RunOutcome {
    let sfzd::cli::Clients {
        salesforce,
        zendesk: _,
    } = sfzd::cli::clients(config).unwrap();
    let zendesk = zendesk_with_timeout(config, Duration::from_millis(400));
    let mut state = sync::StateStore::open(&config.state.path).unwrap();
    sync::Engine::new(
        &salesforce,
        &zendesk,
        Some(&zendesk),
        sfzd::cli::options(config, false),
    )
    .run(&mut state)
    .await
}

/// The only error a timeout may end a run with is Zendesk's.
fn assert_only_zendesk_errors(outcome: &sync::RunOutcome) {
    if let Some(err) = &outcome.error {
        assert!(
            matches!(err, sync::SyncError::Zendesk(_)),
            "unexpected error {err}"
        );
    }
}

fn zendesk_with_timeout(
    config: &sfzd::config::Config,
    timeout: Duration,
) -> zendesk_client::HttpZendeskClient {
    let sfzd::config::ZendeskAuth::OAuth {
        client_id,
        client_secret,
    } = &config.zendesk.auth
    else {
        panic!("the test configures OAuth");
    };
    let mut zendesk_config = zendesk_client::ZendeskConfig::new(
        config.zendesk.url.as_str(),
        zendesk_client::Auth::OAuthClientCredentials {
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
            scope: "read write".to_owned(),
        },
    )
    .unwrap();
    zendesk_config.requests_per_minute = config.zendesk.requests_per_minute;
    zendesk_config.timeout = timeout;
    zendesk_client::HttpZendeskClient::new(zendesk_config).unwrap()
}

// ------------------------------------------------------------------ crash and resume

/// Spawns a run and kills it (SIGKILL) while it waits for the answer to its
/// `requests`-th Zendesk request (processed, so a write there has landed), or lets it end
/// if it finishes first. Returns whether it was killed.
async fn run_and_kill_at(world: &World, requests: u64) -> bool {
    world.zendesk.hold_answers(HoldAnswers::From(requests));
    let child: Child = world.command(&[]).spawn().unwrap();
    let pid = child.id().to_string();
    let mut exited = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap());
    let killed = tokio::select! {
        () = world.zendesk.answer_held() => true,
        _ = &mut exited => false,
    };
    if killed {
        let status = Command::new("kill").args(["-KILL", &pid]).status().unwrap();
        assert!(status.success(), "could not kill the run");
        exited.await.unwrap();
    }
    world.zendesk.release_answers();
    killed
}

/// A run killed at many points of its life: the next run reaches the state of an
/// uninterrupted run, contacts changed between the killed run and the next are not skipped
/// by the watermark, and later incremental runs go on as after a clean run.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_anywhere_is_completed_by_the_next_runs() {
    let mut setup = Setup::new(76);
    setup.contacts = 100;
    let (resumed_state, requests) = reference(&setup, &[Change::Phones(761)]).await;
    let (expected, _) = reference(&setup, &[Change::Phones(761), Change::Fraction(762)]).await;
    let mut killed = 0;
    for fraction in [0.05, 0.3, 0.55, 0.8, 0.95] {
        let world = World::start(&setup).await;
        let before = world.zendesk.snapshot();
        let at = ((requests as f64 * fraction) as u64).max(1);
        if run_and_kill_at(&world, at).await {
            killed += 1;
        }
        let context = format!("killed after {at} of {requests} Zendesk requests");
        // Contacts change while no run is active, as they would between cron runs.
        Change::Phones(761).apply(&world);
        let resumed = world.sync(&[]).await;
        resumed.assert_no_panic();
        resumed.assert_code(0);
        let after = world.zendesk.snapshot();
        assert_only_added(&before, &after);
        assert_same_state(&normalize(&after), &resumed_state, &context);
        Change::Fraction(762).apply(&world);
        world.sync(&[]).await.assert_code(0);
        assert_same_state(&normalize(&world.zendesk.snapshot()), &expected, &context);
    }
    // The runs are those of the reference, so each reaches its kill point.
    assert_eq!(killed, 5, "only {killed} of 5 runs were killed mid-way");
}

// ------------------------------------------------------------------ concurrency

/// A second run on the same state file is refused with a message naming the file, and
/// the first run completes normally.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_on_the_same_state_file_is_refused() {
    let setup = Setup::new(77);
    let (expected, _) = reference(&setup, &[]).await;
    let world = World::start(&setup).await;
    // The first run waits for the answer to its first Zendesk request until the second
    // run has been refused, so it is certainly running, and holding the state file.
    world.zendesk.hold_answers(HoldAnswers::From(1));
    let first = world.command(&[]).spawn().unwrap();
    let mut first = tokio::task::spawn_blocking(move || first.wait_with_output().unwrap());
    tokio::select! {
        () = world.zendesk.answer_held() => {}
        output = &mut first => panic!("the first run ended before its first answer: {output:?}"),
    }
    // Only that answer waits: were the second run not refused, it would run to its end.
    world.zendesk.stop_holding();
    let writes_before = world.writes();
    // Its own report file, so the first run's is not overwritten.
    let mut second = world.command_reporting_to(&world.dir.path().join("second.json"), &[]);
    let second = tokio::task::spawn_blocking(move || second.output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    let state = world.dir.path().join("state.db");
    assert!(
        stderr.contains(&state.display().to_string()) && stderr.contains("another sfzd run"),
        "the message names the state file: {stderr}"
    );
    world.zendesk.release_answers();
    let first = world.collect(first.await.unwrap());
    first.assert_code(0);
    assert!(world.writes() > writes_before, "the first run kept writing");
    assert_same_state(
        &normalize(&world.zendesk.snapshot()),
        &expected,
        "after a refused concurrent run",
    );
    // The state file is intact: the next run is incremental and writes nothing.
    world.zendesk.reset_counts();
    let next = world.sync(&[]).await;
    next.assert_code(0);
    assert_eq!(next.report.as_ref().unwrap()["mode"], "incremental");
    assert_eq!(world.writes(), 0);
}

// ------------------------------------------------------------------ graceful stop

/// SIGINT and SIGTERM: the in-flight chunk finishes, the state is stored, the run exits 1
/// saying it was interrupted, and the next run completes.
#[tokio::test(flavor = "multi_thread")]
async fn sigint_and_sigterm_stop_cleanly_and_the_next_run_completes() {
    let setup = Setup::new(78);
    let (expected, _) = reference(&setup, &[]).await;
    for signal in ["-INT", "-TERM"] {
        let world = World::start(&setup).await;
        // The run waits for the answer to its first write while it is asked to stop, and
        // gets it only once it has said it will stop: the signal lands mid-run, always.
        world.zendesk.hold_answers(HoldAnswers::FromFirstWrite);
        let mut child = world.command(&[]).spawn().unwrap();
        let mut stderr = StderrLines::of(&mut child);
        let pid = child.id().to_string();
        let mut exited = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap());
        tokio::select! {
            () = world.zendesk.answer_held() => {}
            output = &mut exited => panic!("{signal}: the run ended before its first write: {output:?}"),
        }
        let status = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(status.success());
        stderr.wait_for("stop requested").await;
        world.zendesk.release_answers();
        let output = exited.await.unwrap();
        let stopped = world.collect(std::process::Output {
            stderr: stderr.rest().await.into_bytes(),
            ..output
        });
        stopped.assert_no_panic();
        assert_eq!(stopped.code, 1, "{signal}: {stopped:#?}");
        assert!(
            stopped.stderr.contains("interrupted"),
            "{signal}: the message says the run was interrupted: {stopped:#?}"
        );
        assert!(
            stopped.report.is_some(),
            "{signal}: the report of a stopped run is written"
        );
        let next = world.sync(&[]).await;
        next.assert_code(0);
        assert_same_state(
            &normalize(&world.zendesk.snapshot()),
            &expected,
            &format!("after {signal} and a new run"),
        );
    }
}

/// A child's stderr read line by line as it is written, so a test can wait for a line.
struct StderrLines {
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    seen: String,
    reader: tokio::task::JoinHandle<()>,
}

impl StderrLines {
    /// Takes the child's piped stderr.
    fn of(child: &mut Child) -> Self {
        use std::io::BufRead;
        let stderr = child.stderr.take().expect("stderr is piped");
        let (send, lines) = tokio::sync::mpsc::unbounded_channel();
        let reader = tokio::task::spawn_blocking(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            lines,
            seen: String::new(),
            reader,
        }
    }

    /// Returns once a line containing `needle` was written; fails if stderr closes first.
    async fn wait_for(&mut self, needle: &str) {
        while let Some(line) = self.lines.recv().await {
            let found = line.contains(needle);
            self.seen.push_str(&line);
            self.seen.push('\n');
            if found {
                return;
            }
        }
        panic!(
            "stderr closed without a line containing {needle:?}:\n{}",
            self.seen
        );
    }

    /// Everything written, once the child has closed stderr.
    async fn rest(mut self) -> String {
        while let Some(line) = self.lines.recv().await {
            self.seen.push_str(&line);
            self.seen.push('\n');
        }
        self.reader.await.unwrap();
        self.seen
    }
}

// ------------------------------------------------------------------ idempotence

/// A second run over unchanged data makes no write call, through an API-token login.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_over_unchanged_data_writes_nothing() {
    let mut setup = Setup::new(79);
    setup.auth = ZdAuth::ApiToken;
    let world = World::start(&setup).await;
    world.sync(&[]).await.assert_code(0);
    assert!(world.writes() > 0);
    world.zendesk.reset_counts();
    world.sync(&[]).await.assert_code(0);
    assert_eq!(world.writes(), 0, "{:?}", world.zendesk.counts());
}

// ------------------------------------------------------------------ bad input

/// Configuration errors exit 2 with a message naming the key (or file, or variable), and
/// reach neither system; a failed prerequisite is found with reads only.
#[tokio::test(flavor = "multi_thread")]
async fn configuration_errors_exit_2_naming_the_key_before_any_write() {
    let world = World::start(&Setup::new(80)).await;
    let good = std::fs::read_to_string(&world.config).unwrap();
    let zendesk_url = world.zendesk.base_url();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "unknown key",
            good.replace("[sync]\n", "[sync]\nprimary_relationships = true\n"),
            "primary_relationships",
        ),
        (
            "wrong type",
            good.replace(
                "primary_relationship = true",
                "primary_relationship = \"yes\"",
            ),
            "sync.primary_relationship",
        ),
        (
            "non-https URL",
            good.replace(&zendesk_url, "http://acme.zendesk.example"),
            "zendesk.url",
        ),
        (
            "missing key",
            good.replace("client_id = \"sfzd-sandbox\"\napi_version", "api_version"),
            "salesforce.client_id",
        ),
    ];
    for (case, text, key) in cases {
        assert_ne!(text, good, "{case}: the replacement did not apply");
        std::fs::write(&world.config, text).unwrap();
        let run = world.sync(&[]).await;
        run.assert_no_panic();
        assert_eq!(run.code, 2, "{case}: {run:#?}");
        assert!(run.stderr.contains(key), "{case}: names {key}: {run:#?}");
    }
    std::fs::write(&world.config, &good).unwrap();

    // A missing secret names its environment variable.
    let mut command = world.command(&[]);
    command.env_remove("SFZD_SALESFORCE_CLIENT_SECRET");
    let run = world.output(command).await;
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(
        run.stderr.contains("SFZD_SALESFORCE_CLIENT_SECRET"),
        "{run:#?}"
    );

    // A missing file names the file.
    let mut command = Command::new(env!("CARGO_BIN_EXE_sfzd"));
    let missing = world.dir.path().join("nowhere.toml");
    command.args(["sync", "--config", &missing.display().to_string()]);
    let run = world.output(command).await;
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(run.stderr.contains("nowhere.toml"), "{run:#?}");

    assert_eq!(world.zendesk.counts().total(), 0, "Zendesk was contacted");
    assert_eq!(
        world.salesforce.counts().total(),
        0,
        "Salesforce was contacted"
    );

    // Secondary relationships without their prerequisites: the systems are read, never
    // written.
    for (case, text, missing) in [
        (
            "without primary_relationship",
            good.replace(
                "primary_relationship = true",
                "primary_relationship = false",
            ),
            "primary_relationship",
        ),
        (
            "without accounts_to_organizations",
            good.replace(
                "accounts_to_organizations = true",
                "accounts_to_organizations = false",
            ),
            "accounts_to_organizations",
        ),
    ] {
        std::fs::write(&world.config, text).unwrap();
        let run = world.sync(&[]).await;
        assert_eq!(run.code, 2, "{case}: {run:#?}");
        assert!(run.stderr.contains(missing), "{case}: {run:#?}");
    }
    std::fs::write(&world.config, &good).unwrap();
    world.zendesk.set_multiple_organizations(false);
    let run = world.sync(&[]).await;
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(run.stderr.contains("multiple organizations"), "{run:#?}");
    world.zendesk.set_multiple_organizations(true);
    world.salesforce.set_contacts_to_multiple_accounts(false);
    let run = world.sync(&[]).await;
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(run.stderr.contains("AccountContactRelation"), "{run:#?}");
    assert_eq!(world.zendesk.counts().writes, 0, "a write reached Zendesk");
}

/// Contacts with hostile data never abort a run nor break a query: quotes, backslashes,
/// unicode, upper case and spaces in emails; 300-character and missing names; invalid
/// emails; duplicate contacts. Incremental runs query their email groups by those emails.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_records_never_abort_a_run() {
    let mut setup = Setup::new(81);
    setup.contacts = 60;
    let world = World::start(&setup).await;
    let account = world.dataset.accounts[0].id.clone();
    let long = "L".repeat(300);
    let hostile: Vec<(String, String, Option<String>)> = vec![
        (
            "Pat".into(),
            "O'Brien".into(),
            Some("pat.o'brien@example.com".into()),
        ),
        (
            "Back".into(),
            "Slash".into(),
            Some("back\\slash@example.com".into()),
        ),
        (
            "Quote".into(),
            "Double".into(),
            Some("\"quoted\"@example.com".into()),
        ),
        (
            "Jörg".into(),
            "Müller".into(),
            Some("jörg.müller@exämple.de".into()),
        ),
        (
            "JÖRG".into(),
            "MÜLLER".into(),
            Some("JÖRG.MÜLLER@EXÄMPLE.DE".into()),
        ),
        (
            "Upper".into(),
            "Case".into(),
            Some("  UPPER.Case@Example.COM ".into()),
        ),
        (
            "Inner".into(),
            "Space".into(),
            Some("inner space@example.com".into()),
        ),
        (
            long.clone(),
            long.clone(),
            Some("long.name@example.com".into()),
        ),
        (
            String::new(),
            String::new(),
            Some("no.name@example.com".into()),
        ),
        ("Not".into(), "Email".into(), Some("not-an-email".into())),
        ("Two".into(), "Ats".into(), Some("a@b@example.com".into())),
        ("Empty".into(), "Email".into(), Some(String::new())),
        ("No".into(), "Email".into(), None),
        ("Dup".into(), "One".into(), Some("dup@example.com".into())),
        ("Dup".into(), "One".into(), Some("dup@example.com".into())),
        ("Dup".into(), "Two".into(), Some("DUP@example.com".into())),
        (
            "Semi".into(),
            "Colon".into(),
            Some("x'; DELETE FROM Contact; --@example.com".into()),
        ),
        (
            "Percent".into(),
            "Like".into(),
            Some("100%_sure@example.com".into()),
        ),
    ];
    let mut ids = Vec::new();
    for (first, last, email) in &hostile {
        let contact = SfContact::new(first, last, email.as_deref(), Some(&account));
        ids.push(world.salesforce.add_contact(contact));
    }
    let first = world.sync(&[]).await;
    first.assert_no_panic();
    assert!(first.code == 0 || first.code == 3, "{first:#?}");
    let skipped: BTreeSet<String> = first.report.as_ref().unwrap()["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["salesforce_id"].as_str().unwrap().to_owned())
        .collect();
    for (i, (_, _, email)) in hostile.iter().enumerate() {
        let synced = email
            .as_deref()
            .is_some_and(|e| world.zendesk.user_by_email(e).is_some());
        let reported = skipped.contains(&ids[i])
            || first
                .errors()
                .iter()
                .any(|e| e["salesforce_id"] == ids[i].as_str());
        assert!(
            synced || reported,
            "contact {:?} was neither synced nor reported: {first:#?}",
            hostile[i]
        );
    }
    for must in [
        "pat.o'brien@example.com",
        "upper.case@example.com",
        "long.name@example.com",
        "no.name@example.com",
        "dup@example.com",
    ] {
        assert!(
            world.zendesk.user_by_email(must).is_some(),
            "{must} was not synced: {first:#?}"
        );
    }
    // An incremental run reads the changed contacts' email groups by those emails.
    world.salesforce.touch_contacts(&ids);
    let second = world.sync(&[]).await;
    second.assert_no_panic();
    assert!(second.code == 0 || second.code == 3, "{second:#?}");
    assert_eq!(second.report.as_ref().unwrap()["mode"], "incremental");
}

/// Answers that are not JSON, or JSON cut short, become clear errors (exit 1), never
/// panics: from Zendesk's API, from its token endpoint and from Salesforce's.
#[tokio::test(flavor = "multi_thread")]
async fn answers_that_are_not_json_are_clear_errors() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let html = ResponseTemplate::new(200)
        .insert_header("content-type", "text/html")
        .set_body_string("<html><body><h1>502 Bad Gateway</h1></body></html>");
    let truncated = ResponseTemplate::new(200)
        .insert_header("content-type", "application/json")
        .set_body_string(r#"{"settings": {"active_features": {"organization_access_en"#);
    let token = ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "access_token": "zdsim00000000000000000000000000", "token_type": "bearer",
        "scope": "read write", "expires_in": 7200
    }));
    let world = World::start(&Setup::new(82)).await;
    let good = std::fs::read_to_string(&world.config).unwrap();
    let cases = [
        (
            "zendesk api answers html",
            "zendesk",
            Some(token.clone()),
            html.clone(),
        ),
        (
            "zendesk api answers truncated json",
            "zendesk",
            Some(token),
            truncated.clone(),
        ),
        (
            "zendesk token endpoint answers html",
            "zendesk",
            None,
            html.clone(),
        ),
        ("salesforce answers html", "salesforce", None, html),
        (
            "salesforce answers truncated json",
            "salesforce",
            None,
            truncated,
        ),
    ];
    for (case, system, token, answer) in cases {
        let server = MockServer::start().await;
        if let Some(token) = token {
            Mock::given(method("POST"))
                .and(path("/oauth/tokens"))
                .respond_with(token)
                .mount(&server)
                .await;
        }
        Mock::given(wiremock::matchers::any())
            .respond_with(answer)
            .mount(&server)
            .await;
        let text = if system == "zendesk" {
            good.replace(&world.zendesk.base_url(), &server.uri())
        } else {
            good.replace(&world.salesforce.base_url(), &server.uri())
        };
        std::fs::write(&world.config, text).unwrap();
        let run = world.sync(&[]).await;
        run.assert_no_panic();
        assert_eq!(run.code, 1, "{case}: {run:#?}");
        let message = run.stderr.to_lowercase();
        assert!(
            message.contains("error") && message.contains(system),
            "{case}: the message names the system: {run:#?}"
        );
        assert!(
            message.contains("json")
                || message.contains("decode")
                || message.contains("unexpected"),
            "{case}: the message says the answer could not be read: {run:#?}"
        );
    }
    assert_eq!(world.zendesk.counts().writes, 0);
}

// ------------------------------------------------------------------ secrets

/// Standard base64 with padding, to look for a leaked `Authorization: Basic` value.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The secrets a run must never print, and the access tokens the simulators issue
/// (`zdsim` plus 24 hex digits; Salesforce's carry `!AQ`).
fn assert_no_secret(what: &str, text: &str, extra: &[&str]) {
    let basic = base64(format!("{ZD_AGENT}/token:{ZD_API_TOKEN}").as_bytes());
    for secret in [SF_SECRET, ZD_SECRET, ZD_API_TOKEN, basic.as_str(), "!AQ"]
        .iter()
        .chain(extra)
    {
        assert!(
            !text.contains(secret),
            "{what} contains the secret {secret}:\n{text}"
        );
    }
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices("zdsim") {
        let hex = bytes[i + 5..]
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        assert!(hex < 16, "{what} contains a Zendesk access token:\n{text}");
    }
}

/// With known secrets, OAuth and API-token logins, at every log level and format, in
/// success and in failure: no secret or access token reaches stdout, stderr or the report.
#[tokio::test(flavor = "multi_thread")]
async fn no_secret_reaches_any_output() {
    for auth in [ZdAuth::OAuth, ZdAuth::ApiToken] {
        let mut setup = Setup::new(83);
        setup.contacts = 60;
        setup.auth = auth;
        // Some writes fail so error paths print too.
        setup.zendesk.faults.write_failure_rate = 0.2;
        let world = World::start(&setup).await;
        // Sessions expire mid-run so tokens are fetched again, at points counted by the
        // simulators rather than on a timer.
        world.zendesk.expire_tokens_every(5);
        world.salesforce.expire_tokens_every(2);
        let variants: [&[&str]; 4] = [
            &["-vv"],
            &["-vv", "--log-format", "json"],
            &["--full", "--log-format", "json"],
            &["--dry-run", "-vv"],
        ];
        for extra in variants {
            let mut command = world.command(extra);
            command.env("RUST_LOG", "trace");
            let run = world.output(command).await;
            assert!(
                run.code == 0 || run.code == 3,
                "{auth:?} {extra:?}: {run:#?}"
            );
            assert!(run.stderr.len() > 1000, "trace logs were written: {run:#?}");
            let report = std::fs::read_to_string(world.report_path()).unwrap();
            for (what, text) in [
                ("stdout", &run.stdout),
                ("stderr", &run.stderr),
                ("report", &report),
            ] {
                assert_no_secret(&format!("{auth:?} {extra:?} {what}"), text, &[]);
            }
        }
        // Refused credentials: the error names the problem, not the secret sent.
        let wrong = "wrong-secret-P0o9I8u7";
        for variable in [
            "SFZD_SALESFORCE_CLIENT_SECRET",
            "SFZD_ZENDESK_CLIENT_SECRET",
            "SFZD_ZENDESK_API_TOKEN",
        ] {
            for subcommand in ["sync", "check"] {
                let mut command = world.command(&["-vv"]);
                if subcommand == "check" {
                    command = Command::new(env!("CARGO_BIN_EXE_sfzd"));
                    command
                        .args(["check", "-vv", "--config"])
                        .arg(&world.config)
                        .env("SFZD_SALESFORCE_CLIENT_SECRET", SF_SECRET)
                        .env("SFZD_ZENDESK_CLIENT_SECRET", ZD_SECRET)
                        .env("SFZD_ZENDESK_API_TOKEN", ZD_API_TOKEN);
                }
                command.env(variable, wrong).env("RUST_LOG", "trace");
                let run = world.output(command).await;
                run.assert_no_panic();
                let used = !matches!(
                    (auth, variable),
                    (ZdAuth::OAuth, "SFZD_ZENDESK_API_TOKEN")
                        | (ZdAuth::ApiToken, "SFZD_ZENDESK_CLIENT_SECRET")
                );
                if used && subcommand == "check" && variable == "SFZD_SALESFORCE_CLIENT_SECRET" {
                    // Refused Salesforce credentials: the run could not finish (exit 1), and
                    // no prerequisite verdict is given on a capability nobody answered.
                    assert_eq!(run.code, 1, "{auth:?} {variable} {subcommand}: {run:#?}");
                    assert!(!run.stdout.contains("failed prerequisite"), "{run:#?}");
                } else if used {
                    assert_eq!(run.code, 1, "{auth:?} {variable} {subcommand}: {run:#?}");
                }
                for (what, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
                    assert_no_secret(
                        &format!("{auth:?} wrong {variable} {subcommand} {what}"),
                        text,
                        &[wrong],
                    );
                }
            }
        }
    }
}
