//! `cargo xtask bench`: sync benchmarks against the sandbox (issue 6).
//!
//! For each data set size the simulators run in this process (a tokio runtime) while the
//! release `sfzd` binary syncs against them as a child process, so the child's CPU time
//! and peak memory, read with `wait4(2)`, are the engine's alone. Two runs per size: a
//! full sync (profile P5, every setting on) on a fresh state of the real-world mix
//! (`GeneratorConfig::real_world`: internationalized emails, secondary Zendesk identities),
//! then an incremental sync after 1% of the contacts changed, 0.5% were deleted (syncing
//! records of shared emails among them) and 0.5% got a new email. Printed per run: Zendesk calls per contact (per
//! changed contact for the incremental run), Salesforce calls, wall and CPU seconds, peak
//! memory, the ratio of Zendesk calls to the lower bound the bulk sizes allow, the minutes
//! the run would take under a 700 requests/minute budget, and each endpoint's calls.
//!
//! The simulated Zendesk runs its bulk jobs in time ([`JobTiming`]): a job takes a base
//! time plus a cost per item, with jitter, and waits queued while the account's workers
//! are busy. The **job-time lower bound** of a run is the sum of its jobs' durations
//! divided by the number of workers, plus the time before its first job (the reads that
//! must come before any write); the wall time is printed as a ratio of it.
//!
//! The child is started by a small launcher process (this binary, `bench --launcher`),
//! not by the benchmark itself: Linux folds the resident size of the process that spawns
//! a child into the child's `ru_maxrss` (the spawner's memory is the child's until `exec`),
//! and the benchmark holds the simulators' data, hundreds of MB at 100,000 contacts.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sandbox::{
    GeneratorConfig, JobTiming, JobTotals, RequestCounts, SalesforceSim, SalesforceSimConfig,
    ZendeskSim, ZendeskSimConfig, generate,
};
use serde_json::{Value, json};

/// Records per Zendesk bulk request (`create_many`, `update_many`, memberships).
const BULK_SIZE: u64 = 100;
/// The request budget the "minutes" column assumes.
const BUDGET_PER_MINUTE: f64 = 700.0;
/// Share of contacts changed before the incremental run.
const CHANGED_FRACTION: f64 = 0.01;
/// Share of contacts deleted before the incremental run.
const DELETED_FRACTION: f64 = 0.005;
/// Share of contacts given a new email before the incremental run.
const READDRESSED_FRACTION: f64 = 0.005;
/// Endpoints that read a whole Zendesk account; an incremental run must use none.
const WHOLE_ACCOUNT_READS: &[&str] = &[
    "GET /api/v2/incremental/users/cursor",
    "GET /api/v2/incremental/organizations",
    "GET /api/v2/organization_memberships",
    "GET /api/v2/users",
    "GET /api/v2/organizations",
];

/// A user's memberships listed one user at a time: what incremental runs must not need.
const PER_USER_MEMBERSHIP_LISTING: &str = "GET /api/v2/users/{id}/organization_memberships";

const USAGE: &str = "usage: cargo xtask bench [--contacts N] [--seed S] [--quick] [--binary PATH]
                         [--job-time BASE,PER_ITEM] [--job-workers N]

  --contacts N              one data set of N contacts (default: 10000, then 100000)
  --seed S                  seed of the data generator (default 42)
  --quick                   1000 contacts: a smoke run for CI
  --binary PATH             measure this sfzd binary instead of building target/release/sfzd
  --job-time BASE,PER_ITEM  seconds a simulated Zendesk job takes, plus seconds per item
                            (default 0.5,0.01: 1.5 s for 100 items, give or take 25%)
  --job-workers N           simulated Zendesk jobs that run at once (default 10)";

/// The simulated job timing the benchmark uses unless told otherwise: a job of 100 items
/// takes 1.5 s (real Zendesk jobs take seconds to minutes, depending on load; shorter
/// here so a benchmark takes minutes), and 10 of the account's jobs run at once
/// (Zendesk does not document this number; fewer workers than the 25 jobs sfzd keeps in
/// flight means a queue, as real accounts show with jobs reported `queued`).
fn default_job_timing() -> JobTiming {
    JobTiming {
        base: Duration::from_millis(500),
        per_item: Duration::from_millis(10),
        jitter: 0.25,
        concurrency: 10,
    }
}

/// Reads `BASE,PER_ITEM` in seconds.
fn parse_job_time(text: &str, timing: &mut JobTiming) -> Result<()> {
    let seconds = |part: &str| -> Result<Duration> {
        let value: f64 = part
            .trim()
            .parse()
            .with_context(|| format!("--job-time {text}: `{part}` is not a number of seconds"))?;
        Duration::try_from_secs_f64(value)
            .with_context(|| format!("--job-time {text}: `{part}` is not a duration"))
    };
    let (base, per_item) = text
        .split_once(',')
        .with_context(|| format!("--job-time {text}: expected BASE,PER_ITEM, e.g. 0.5,0.01"))?;
    timing.base = seconds(base)?;
    timing.per_item = seconds(per_item)?;
    Ok(())
}

/// What to run.
#[derive(Debug, PartialEq)]
struct Options {
    contacts: Vec<usize>,
    seed: u64,
    binary: Option<PathBuf>,
    job_timing: JobTiming,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        contacts: vec![10_000, 100_000],
        seed: 42,
        binary: None,
        job_timing: default_job_timing(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .with_context(|| format!("{name} needs a value\n\n{USAGE}"))
        };
        match arg.as_str() {
            "--contacts" => {
                let n = value("--contacts")?;
                options.contacts = vec![n.parse().with_context(|| format!("--contacts {n}"))?];
            }
            "--seed" => {
                let s = value("--seed")?;
                options.seed = s.parse().with_context(|| format!("--seed {s}"))?;
            }
            "--quick" => options.contacts = vec![1000],
            "--binary" => options.binary = Some(PathBuf::from(value("--binary")?)),
            "--job-time" => parse_job_time(value("--job-time")?, &mut options.job_timing)?,
            "--job-workers" => {
                let n = value("--job-workers")?;
                options.job_timing.concurrency = match n.parse() {
                    Ok(n) if n > 0 => n,
                    _ => bail!("--job-workers {n}: expected a number of workers, at least 1"),
                };
            }
            "-h" | "--help" => bail!("{USAGE}"),
            other => bail!("unknown option `{other}`\n\n{USAGE}"),
        }
    }
    Ok(options)
}

/// Runs the command.
pub fn run(args: &[String]) -> Result<()> {
    if args.first().map(String::as_str) == Some("--launcher") {
        return launcher();
    }
    let options = parse(args)?;
    // Started first, while this process is still small (see the module docs).
    let launcher = Launcher::start()?;
    let floor = launcher.run(Path::new("true"), &[], Path::new("/dev/null"))?;
    eprintln!(
        "xtask: measurement floor (peak memory of `true` started by the launcher): {:.1} MB",
        floor.1.peak_rss_kib as f64 / 1024.0
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask lives in the workspace")?
        .to_path_buf();
    let binary = match &options.binary {
        Some(binary) => binary.clone(),
        None => build(&root)?,
    };
    if cfg!(debug_assertions) {
        eprintln!(
            "xtask: the simulators run in a debug build, which slows wall times (not the engine's CPU); `cargo run --release -p xtask -- bench` is faster"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let timing = options.job_timing;
    println!(
        "simulated Zendesk jobs: {:.2} s + {:.3} s per item (+/- {:.0}%), {} at once",
        timing.base.as_secs_f64(),
        timing.per_item.as_secs_f64(),
        timing.jitter * 100.0,
        timing.concurrency
    );
    let mut results = Vec::new();
    for &contacts in &options.contacts {
        let dir = root
            .join("target")
            .join("bench")
            .join(format!("contacts-{contacts}-seed-{}", options.seed));
        let result = runtime.block_on(bench(
            &launcher,
            &binary,
            &dir,
            contacts,
            options.seed,
            options.job_timing,
        ))?;
        result.print();
        results.push(result);
    }
    println!("\ntargets:");
    for result in &results {
        for (target, met) in result.targets() {
            println!("  [{}] {target}", if met { "met" } else { "MISSED" });
        }
    }
    Ok(())
}

/// Builds the release binary and returns its path.
fn build(root: &Path) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("xtask: cargo build --release --locked -p sfzd");
    let status = Command::new(&cargo)
        .args(["build", "--release", "--locked", "-p", "sfzd"])
        .current_dir(root)
        .status()
        .with_context(|| format!("could not start `{cargo}`"))?;
    if !status.success() {
        bail!("`cargo build --release --locked -p sfzd` failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    Ok(target.join("release").join("sfzd"))
}

/// The write counts of a run's report that bulk requests carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Writes {
    organizations_created: u64,
    organizations_updated: u64,
    users_created: u64,
    users_updated: u64,
    /// Users found unchanged: they were read to be compared.
    users_unchanged: u64,
    memberships_created: u64,
}

impl Writes {
    fn from_report(report: &Value) -> Result<Self> {
        let count = |object: &str, key: &str| {
            report[object][key]
                .as_u64()
                .with_context(|| format!("the report has no {object}.{key}"))
        };
        Ok(Self {
            organizations_created: count("organizations", "created")?,
            organizations_updated: count("organizations", "updated")?,
            users_created: count("users", "created")?,
            users_updated: count("users", "updated")?,
            users_unchanged: report["users"]["unchanged"].as_u64().unwrap_or(0),
            memberships_created: count("memberships", "created")?,
        })
    }

    /// The fewest Zendesk requests of an incremental run: its writes' bulk requests, plus
    /// one read per 100 existing users it compared (users are read at most 100 a call).
    /// Organization lookups, job polls and the token are not counted.
    fn lower_bound_with_reads(&self) -> u64 {
        self.lower_bound() + (self.users_updated + self.users_unchanged).div_ceil(BULK_SIZE)
    }

    /// The fewest Zendesk requests that can carry these writes: one bulk request per
    /// [`BULK_SIZE`] records of each kind (reads, job polls and the token not counted).
    fn lower_bound(&self) -> u64 {
        [
            self.organizations_created,
            self.organizations_updated,
            self.users_created,
            self.users_updated,
            self.memberships_created,
        ]
        .iter()
        .map(|n| n.div_ceil(BULK_SIZE))
        .sum()
    }
}

/// One measured run of the binary.
#[derive(Debug)]
struct Measured {
    wall: Duration,
    jobs: JobTotals,
    usage: Usage,
    report: Value,
    writes: Writes,
    zendesk: RequestCounts,
    salesforce: RequestCounts,
}

impl Measured {
    fn calls(&self, api: &str) -> u64 {
        self.report["api_calls"][api].as_u64().unwrap_or(0)
    }

    /// The job-time lower bound: the jobs' durations shared by the workers, after the
    /// reads before the first job.
    fn job_bound(&self) -> Duration {
        let workers = u32::try_from(self.jobs.concurrency.max(1)).unwrap_or(u32::MAX);
        self.jobs.busy / workers + self.jobs.first_submitted.unwrap_or_default()
    }

    fn ratio_to_job_bound(&self) -> Option<f64> {
        let bound = self.job_bound().as_secs_f64();
        (bound > 0.0).then(|| self.wall.as_secs_f64() / bound)
    }

    fn ratio_to_lower_bound(&self) -> Option<f64> {
        let bound = self.writes.lower_bound();
        (bound > 0).then(|| self.calls("zendesk") as f64 / bound as f64)
    }
}

/// Both runs of one data set size.
#[derive(Debug)]
struct BenchResult {
    contacts: usize,
    /// Accounts, contacts and relations: what a full run reads from Salesforce.
    salesforce_records: usize,
    changed: usize,
    full: Measured,
    incremental: Measured,
}

impl BenchResult {
    fn print(&self) {
        println!(
            "\n== {} contacts ({} Salesforce records; {} changed before the incremental run)",
            self.contacts, self.salesforce_records, self.changed
        );
        println!(
            "{:<12} {:>9} {:>11} {:>10} {:>9} {:>8} {:>8} {:>10} {:>10} {:>9} {:>10} {:>9} {:>8}",
            "run",
            "zd calls",
            "zd/contact",
            "zd/bound",
            "zd bound",
            "sf calls",
            "wall s",
            "job bnd s",
            "wall/bnd",
            "cpu s",
            "peak MB",
            "min@700",
            "writes"
        );
        for (name, run, per, bound) in [
            (
                "full",
                &self.full,
                self.contacts,
                self.full.writes.lower_bound(),
            ),
            (
                "incremental",
                &self.incremental,
                self.changed,
                self.incremental.writes.lower_bound_with_reads(),
            ),
        ] {
            let zendesk = run.calls("zendesk");
            println!(
                "{:<12} {:>9} {:>11.4} {:>10} {:>9} {:>8} {:>8.1} {:>10.1} {:>10} {:>9.2} {:>10.1} {:>9.2} {:>8}",
                name,
                zendesk,
                zendesk as f64 / per.max(1) as f64,
                if bound > 0 {
                    format!("{:.2}", zendesk as f64 / bound as f64)
                } else {
                    "-".to_owned()
                },
                bound,
                run.calls("salesforce"),
                run.wall.as_secs_f64(),
                run.job_bound().as_secs_f64(),
                run.ratio_to_job_bound()
                    .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}")),
                run.usage.cpu_seconds(),
                run.usage.peak_rss_kib as f64 / 1024.0,
                zendesk as f64 / BUDGET_PER_MINUTE,
                run.zendesk.writes,
            );
        }
        println!(
            "(zd/contact of the incremental run is per changed, deleted or re-addressed contact)"
        );
        for (name, run) in [("full", &self.full), ("incremental", &self.incremental)] {
            let w = &run.writes;
            println!(
                "{name}: {} jobs, {:.1} s of job time ({:.1} s before the first); organizations +{} ~{}, users +{} ~{}, memberships +{}; Zendesk saw {} reads, {} writes; Salesforce saw {} requests",
                run.jobs.jobs,
                run.jobs.busy.as_secs_f64(),
                run.jobs.first_submitted.unwrap_or_default().as_secs_f64(),
                w.organizations_created,
                w.organizations_updated,
                w.users_created,
                w.users_updated,
                w.memberships_created,
                run.zendesk.reads,
                run.zendesk.writes,
                run.salesforce.total(),
            );
            for (endpoint, n) in run
                .zendesk
                .by_endpoint
                .iter()
                .chain(&run.salesforce.by_endpoint)
            {
                println!("    {n:>7}  {endpoint}");
            }
        }
    }

    /// Each target of issue 6 that applies to this size, and whether it was met.
    fn targets(&self) -> Vec<(String, bool)> {
        let n = self.contacts;
        let mut targets = Vec::new();
        let full_per_contact = self.full.calls("zendesk") as f64 / n.max(1) as f64;
        let ratio = self.full.ratio_to_lower_bound().unwrap_or(f64::INFINITY);
        targets.push((
            format!("{n}: full run <= 0.05 Zendesk calls per contact ({full_per_contact:.4})"),
            full_per_contact <= 0.05,
        ));
        targets.push((
            format!("{n}: full run within 1.5x of the bulk-size lower bound ({ratio:.2}x)"),
            ratio <= 1.5,
        ));
        if let Some(wall) = self.full.ratio_to_job_bound() {
            targets.push((
                format!(
                    "{n}: full run wall time within 1.3x of the job-time lower bound ({wall:.2}x)"
                ),
                wall <= 1.3,
            ));
        }
        if n >= 1_000_000 {
            targets.push((
                format!("{n}: full run within 1.25x of the bulk-size lower bound ({ratio:.2}x)"),
                ratio <= 1.25,
            ));
        }
        let per_changed = self.incremental.calls("zendesk") as f64 / self.changed.max(1) as f64;
        targets.push((
            format!(
                "{n}: incremental run <= 0.1 Zendesk calls per changed contact ({per_changed:.3})"
            ),
            per_changed <= 0.1,
        ));
        let listings = self.incremental.zendesk.get(PER_USER_MEMBERSHIP_LISTING);
        targets.push((
            format!(
                "{n}: incremental run lists no user's memberships one by one ({listings} listings)"
            ),
            listings == 0,
        ));
        let whole: Vec<&str> = WHOLE_ACCOUNT_READS
            .iter()
            .copied()
            .filter(|e| self.incremental.zendesk.get(e) > 0)
            .collect();
        targets.push((
            format!("{n}: incremental run reads no whole Zendesk account ({whole:?})"),
            whole.is_empty(),
        ));
        let per_thousand =
            self.full.calls("salesforce") as f64 * 1000.0 / self.salesforce_records.max(1) as f64;
        targets.push((
            format!(
                "{n}: full run <= 1 Salesforce call per 1,000 records read ({per_thousand:.3})"
            ),
            per_thousand <= 1.0,
        ));
        // Memory and CPU: 250 MB and 20 s at 100,000 contacts; 300 MB and two minutes at a
        // million, where the run's memory must grow far slower than its data.
        let limits = match n {
            1_000_000.. => Some((300.0, 120.0)),
            100_000.. => Some((250.0, 20.0)),
            _ => None,
        };
        if let Some((max_mb, max_cpu)) = limits {
            let peak = self.full.usage.peak_rss_kib as f64 / 1024.0;
            let cpu = self.full.usage.cpu_seconds();
            targets.push((
                format!("{n}: full run peak memory <= {max_mb} MB ({peak:.1} MB)"),
                peak <= max_mb,
            ));
            targets.push((
                format!("{n}: full run engine CPU <= {max_cpu} s ({cpu:.2} s)"),
                cpu <= max_cpu,
            ));
        }
        targets
    }
}

/// Full then incremental run over one generated data set.
async fn bench(
    launcher: &Launcher,
    binary: &Path,
    dir: &Path,
    contacts: usize,
    seed: u64,
    job_timing: JobTiming,
) -> Result<BenchResult> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let state = dir.join("state.db");
    for stale in [
        state.clone(),
        dir.join("state.db-wal"),
        dir.join("state.db-shm"),
    ] {
        let _ = std::fs::remove_file(stale);
    }
    eprintln!("xtask: generating {contacts} contacts (seed {seed})");
    let dataset = generate(&GeneratorConfig::real_world(seed, contacts));
    let zendesk_config = ZendeskSimConfig {
        // Jobs finish when their time has passed, however often they are polled.
        job_polls_before_complete: 0,
        job_timing,
        ..ZendeskSimConfig::default()
    };
    let salesforce_config = SalesforceSimConfig::default();
    let (zendesk, _zendesk_server) = ZendeskSim::start(zendesk_config.clone()).await?;
    let (salesforce, _salesforce_server) = SalesforceSim::start(salesforce_config.clone()).await?;
    salesforce.load(&dataset);
    zendesk.load(&dataset)?;
    let config = dir.join("sfzd.toml");
    std::fs::write(
        &config,
        config_text(&salesforce.base_url(), &zendesk.base_url()),
    )
    .with_context(|| format!("cannot write {}", config.display()))?;
    let sims = (&zendesk, &salesforce);

    eprintln!("xtask: full run, {contacts} contacts");
    let full = measure(launcher, binary, dir, "full", &config, sims).await?;
    let updated = salesforce.change_fraction(CHANGED_FRACTION, seed).len();
    let churn = salesforce.delete_and_readdress(DELETED_FRACTION, READDRESSED_FRACTION, seed);
    let changed = updated + churn.deleted.len() + churn.readdressed.len();
    eprintln!(
        "xtask: incremental run after {updated} changed, {} deleted and {} re-addressed contacts",
        churn.deleted.len(),
        churn.readdressed.len()
    );
    let incremental = measure(launcher, binary, dir, "incremental", &config, sims).await?;
    if incremental.report["mode"] != "incremental" {
        bail!(
            "the second run was not incremental: {}",
            incremental.report["mode"]
        );
    }
    Ok(BenchResult {
        contacts,
        salesforce_records: dataset.accounts.len()
            + dataset.contacts.len()
            + dataset.relations.len(),
        changed,
        full,
        incremental,
    })
}

fn config_text(salesforce: &str, zendesk: &str) -> String {
    format!(
        r#"# Written by `cargo xtask bench`: profile P5 against the in-process simulators.
[salesforce]
login_url = "{salesforce}"
client_id = "{sf_client}"
api_version = "62.0"

[zendesk]
url = "{zendesk}"
client_id = "{zd_client}"
requests_per_minute = 100000

[sync]
accounts_to_organizations = true
contacts_to_users = true
object = "contact"
primary_relationship = true
secondary_relationships = true

[state]
path = "state.db"
"#,
        sf_client = SalesforceSimConfig::default().client_id,
        zd_client = ZendeskSimConfig::default().oauth_client_id,
    )
}

/// Runs `sfzd sync` once as a child of the launcher and measures it; logs go to
/// `DIR/NAME.log`.
async fn measure(
    launcher: &Launcher,
    binary: &Path,
    dir: &Path,
    name: &str,
    config: &Path,
    (zendesk, salesforce): (&ZendeskSim, &SalesforceSim),
) -> Result<Measured> {
    zendesk.reset_counts();
    salesforce.reset_counts();
    let report_path = dir.join(format!("{name}-report.json"));
    let log_path = dir.join(format!("{name}.log"));
    let args: Vec<String> = vec![
        "sync".into(),
        "--config".into(),
        config.display().to_string(),
        "--report".into(),
        report_path.display().to_string(),
    ];
    let started = Instant::now();
    let (status, usage) = {
        let launcher = launcher.clone();
        let binary = binary.to_path_buf();
        let log = log_path.clone();
        // The launcher blocks this thread; the simulators keep serving on the runtime.
        tokio::task::spawn_blocking(move || launcher.run(&binary, &args, &log))
            .await
            .context("the waiting thread failed")??
    };
    let wall = started.elapsed();
    let jobs = zendesk.job_totals();
    if status != 0 {
        bail!(
            "`sfzd sync` ({name} run) exited with status {status}; see {}",
            log_path.display()
        );
    }
    let text = std::fs::read_to_string(&report_path)
        .with_context(|| format!("cannot read {}", report_path.display()))?;
    let report: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", report_path.display()))?;
    Ok(Measured {
        wall,
        jobs,
        usage,
        writes: Writes::from_report(&report)?,
        report,
        zendesk: zendesk.counts(),
        salesforce: salesforce.counts(),
    })
}

/// The launcher process: one JSON request line in (program, args, log file), one JSON
/// answer line out (exit status, CPU microseconds, peak memory).
#[derive(Clone)]
struct Launcher {
    io: Arc<Mutex<(Child, ChildStdin, BufReader<ChildStdout>)>>,
}

impl Launcher {
    /// Starts `xtask bench --launcher` with the simulators' secrets in its environment.
    fn start() -> Result<Self> {
        let exe = std::env::current_exe().context("cannot find the xtask binary")?;
        let mut child = Command::new(exe)
            .args(["bench", "--launcher"])
            .env(
                "SFZD_SALESFORCE_CLIENT_SECRET",
                SalesforceSimConfig::default().client_secret,
            )
            .env(
                "SFZD_ZENDESK_CLIENT_SECRET",
                ZendeskSimConfig::default().oauth_client_secret,
            )
            .env_remove("SFZD_ZENDESK_API_TOKEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot start the launcher")?;
        let stdin = child.stdin.take().context("launcher stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("launcher stdout")?);
        Ok(Self {
            io: Arc::new(Mutex::new((child, stdin, stdout))),
        })
    }

    /// Runs `program args` with stdout and stderr to `log`; returns its status and usage.
    fn run(&self, program: &Path, args: &[String], log: &Path) -> Result<(i32, Usage)> {
        let mut io = self
            .io
            .lock()
            .map_err(|_| anyhow::anyhow!("the launcher lock is poisoned"))?;
        let (_, stdin, stdout) = &mut *io;
        let request = json!({"program": program, "args": args, "log": log});
        writeln!(stdin, "{request}").context("cannot write to the launcher")?;
        stdin.flush().context("cannot write to the launcher")?;
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .context("cannot read from the launcher")?;
        let answer: Value = serde_json::from_str(&line)
            .with_context(|| format!("the launcher answered `{}`", line.trim()))?;
        if let Some(error) = answer["error"].as_str() {
            bail!("the launcher could not run {}: {error}", program.display());
        }
        let number = |key: &str| {
            answer[key]
                .as_u64()
                .with_context(|| format!("the launcher's answer has no {key}: {answer}"))
        };
        let status = i32::try_from(answer["status"].as_i64().unwrap_or(-1)).unwrap_or(-1);
        Ok((
            status,
            Usage {
                user: Duration::from_micros(number("user_us")?),
                system: Duration::from_micros(number("system_us")?),
                peak_rss_kib: number("peak_rss_kib")?,
            },
        ))
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        // The last handle stops the idle launcher and reaps it, so no process is left.
        if Arc::strong_count(&self.io) == 1
            && let Ok(mut io) = self.io.lock()
        {
            let _ = io.0.kill();
            let _ = io.0.wait();
        }
    }
}

/// `bench --launcher`: runs each requested program and answers with its usage.
fn launcher() -> Result<()> {
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line.context("cannot read a request")?;
        let answer = match launch(&line) {
            Ok((status, usage)) => json!({
                "status": status,
                "user_us": u64::try_from(usage.user.as_micros()).unwrap_or(u64::MAX),
                "system_us": u64::try_from(usage.system.as_micros()).unwrap_or(u64::MAX),
                "peak_rss_kib": usage.peak_rss_kib,
            }),
            Err(err) => json!({ "error": format!("{err:#}") }),
        };
        writeln!(stdout, "{answer}").context("cannot answer")?;
        stdout.flush().context("cannot answer")?;
    }
    Ok(())
}

fn launch(request: &str) -> Result<(i32, Usage)> {
    let request: Value = serde_json::from_str(request).context("request is not JSON")?;
    let program = request["program"].as_str().context("no program")?;
    let args: Vec<&str> = request["args"]
        .as_array()
        .context("no args")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let log_path = request["log"].as_str().context("no log")?;
    let log = File::create(log_path).with_context(|| format!("cannot create {log_path}"))?;
    let child = Command::new(program)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {program}"))?;
    wait_with_usage(child)
}

/// CPU time and peak memory of a finished child process.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    user: Duration,
    system: Duration,
    peak_rss_kib: u64,
}

impl Usage {
    fn cpu_seconds(&self) -> f64 {
        (self.user + self.system).as_secs_f64()
    }
}

/// Waits for `child` with `wait4(2)`, which returns the resource usage of that child alone
/// (unlike `getrusage(RUSAGE_CHILDREN)`, which would mix in the cargo build). Returns the
/// exit status (or 128 + signal) and the usage.
#[allow(unsafe_code)]
fn wait_with_usage(child: Child) -> Result<(i32, Usage)> {
    let pid = libc::pid_t::try_from(child.id()).context("child pid out of range")?;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = loop {
        // SAFETY: `status` and `usage` are valid, exclusive pointers for the call; `pid` is
        // our own child, which `std` has not reaped (we never call `Child::wait`).
        let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if waited == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
        {
            continue;
        }
        break waited;
    };
    if waited != pid {
        return Err(std::io::Error::last_os_error()).context("wait4 failed");
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    Ok((
        code,
        Usage {
            user: time(usage.ru_utime),
            system: time(usage.ru_stime),
            // Linux reports ru_maxrss in KiB.
            peak_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lower_bound_is_one_bulk_request_per_hundred_records_of_each_kind() {
        let writes = Writes {
            organizations_created: 1900,
            organizations_updated: 1,
            users_created: 8800,
            users_updated: 100,
            users_unchanged: 5000,
            memberships_created: 101,
        };
        // 19 + 1 + 88 + 1 + 2
        assert_eq!(writes.lower_bound(), 111);
        assert_eq!(Writes::default().lower_bound(), 0);
    }

    #[test]
    fn the_lower_bound_reads_the_reports_counts() {
        let report = serde_json::json!({
            "organizations": {"created": 250, "updated": 0},
            "users": {"created": 99, "updated": 201},
            "memberships": {"created": 1},
        });
        let writes = Writes::from_report(&report).unwrap();
        assert_eq!(writes.lower_bound(), 3 + 1 + 3 + 1);
        // An incremental run also read the 201 users it updated, 100 a call.
        assert_eq!(writes.lower_bound_with_reads(), 8 + 3);
        assert!(Writes::from_report(&serde_json::json!({})).is_err());
    }

    #[test]
    fn options_default_to_ten_and_a_hundred_thousand_contacts() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            parse(&[]).unwrap(),
            Options {
                contacts: vec![10_000, 100_000],
                seed: 42,
                binary: None,
                job_timing: default_job_timing(),
            }
        );
        assert_eq!(
            parse(&args(&["--quick", "--seed", "7"])).unwrap(),
            Options {
                contacts: vec![1000],
                seed: 7,
                binary: None,
                job_timing: default_job_timing(),
            }
        );
        assert_eq!(
            parse(&args(&["--contacts", "500"])).unwrap().contacts,
            vec![500]
        );
        assert_eq!(
            parse(&args(&["--binary", "/tmp/sfzd"])).unwrap().binary,
            Some(PathBuf::from("/tmp/sfzd"))
        );
        assert!(parse(&args(&["--contacts"])).is_err());
        assert!(parse(&args(&["--fast"])).is_err());
        let timed = parse(&args(&["--job-time", "2,0.05", "--job-workers", "4"])).unwrap();
        assert_eq!(timed.job_timing.base, Duration::from_secs(2));
        assert_eq!(timed.job_timing.per_item, Duration::from_millis(50));
        assert_eq!(timed.job_timing.concurrency, 4);
        assert!(parse(&args(&["--job-time", "2"])).is_err());
        assert!(parse(&args(&["--job-time", "x,1"])).is_err());
        assert!(parse(&args(&["--job-time", "-1,1"])).is_err());
        assert!(parse(&args(&["--job-workers", "0"])).is_err());
    }

    #[test]
    fn the_job_bound_shares_job_time_among_the_workers_after_the_first_reads() {
        let run = Measured {
            wall: Duration::from_secs(30),
            jobs: JobTotals {
                jobs: 40,
                busy: Duration::from_secs(200),
                concurrency: 10,
                first_submitted: Some(Duration::from_secs(5)),
            },
            usage: Usage::default(),
            report: serde_json::json!({}),
            writes: Writes::default(),
            zendesk: RequestCounts::default(),
            salesforce: RequestCounts::default(),
        };
        assert_eq!(run.job_bound(), Duration::from_secs(25));
        assert_eq!(run.ratio_to_job_bound(), Some(1.2));
    }

    #[test]
    fn the_launcher_runs_a_request_and_logs_its_output() {
        let dir = std::env::temp_dir().join(format!("xtask-launch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("out.log");
        let request = json!({
            "program": "sh",
            "args": ["-c", "echo hello; exit 4"],
            "log": log,
        });
        let (status, usage) = launch(&request.to_string()).unwrap();
        assert_eq!(status, 4);
        assert!(usage.peak_rss_kib > 0);
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "hello\n");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(launch("{}").is_err());
    }

    #[test]
    fn wait4_measures_the_child() {
        let child = Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
        let (code, usage) = wait_with_usage(child).unwrap();
        assert_eq!(code, 3);
        assert!(usage.peak_rss_kib > 0, "{usage:?}");
    }
}
