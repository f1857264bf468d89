//! `cargo xtask soak`: long fault-injection and crash/resume runs against the sandbox.
//!
//! Each round starts two sandboxes from one generated data set: a clean one, synced once
//! as the reference, and a faulty one (429 storms, failed writes, failed bulk items,
//! dropped connections, expiring sessions) in which runs of the release binary are killed
//! at random points, contacts change between runs, and runs repeat until one exits 0. The
//! faulty sandbox must then hold exactly the reference's state (compared by email and
//! external id) and a further run must write nothing. The CI suite proves the same on
//! small data sets (`crates/sfzd/tests/it/reliability.rs`); this runs it longer.
//!
//! `cargo xtask soak [--contacts N] [--rounds R] [--seed S]` (defaults 2000, 3, 1).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sandbox::{
    FaultConfig, GeneratorConfig, SalesforceSim, SalesforceSimConfig, ZendeskSim, ZendeskSimConfig,
    ZendeskSnapshot, generate,
};

/// Runs the command.
pub fn run(args: &[String]) -> Result<()> {
    let options = Options::parse(args)?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask lives in the workspace")?
        .to_path_buf();
    let binary = build(&root)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        for round in 0..options.rounds {
            let seed = options.seed + round;
            soak_round(&binary, seed, options.contacts).await?;
        }
        Ok(())
    })
}

#[derive(Debug)]
struct Options {
    contacts: usize,
    rounds: u64,
    seed: u64,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self {
            contacts: 2000,
            rounds: 3,
            seed: 1,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || -> Result<u64> {
                args.next()
                    .with_context(|| format!("{arg} needs a value"))?
                    .parse()
                    .with_context(|| format!("{arg} needs a number"))
            };
            match arg.as_str() {
                "--contacts" => options.contacts = usize::try_from(value()?)?,
                "--rounds" => options.rounds = value()?,
                "--seed" => options.seed = value()?,
                other => bail!("unknown soak option `{other}`"),
            }
        }
        Ok(options)
    }
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

/// A small deterministic generator for kill points (no dependency for one number a run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below.max(1)
    }
}

/// One sandbox pair member: both simulators, their servers and a configuration file.
struct Side {
    salesforce: SalesforceSim,
    zendesk: ZendeskSim,
    dir: PathBuf,
    config: PathBuf,
    _servers: (sandbox::RunningServer, sandbox::RunningServer),
}

impl Side {
    async fn start(
        dataset: &sandbox::Dataset,
        zendesk: ZendeskSimConfig,
        salesforce: SalesforceSimConfig,
        dir: PathBuf,
    ) -> Result<Self> {
        let (zd, zd_server) = ZendeskSim::start(zendesk.clone()).await?;
        let (sf, sf_server) = SalesforceSim::start(salesforce.clone()).await?;
        sf.load(dataset);
        zd.load(dataset)?;
        std::fs::create_dir_all(&dir)?;
        let config = dir.join("sfzd.toml");
        std::fs::write(
            &config,
            format!(
                "[salesforce]\nlogin_url = \"{}\"\nclient_id = \"{}\"\n\n[zendesk]\nurl = \"{}\"\nclient_id = \"{}\"\nrequests_per_minute = 100000\n\n[sync]\naccounts_to_organizations = true\ncontacts_to_users = true\nprimary_relationship = true\nsecondary_relationships = true\n\n[state]\npath = \"state.db\"\n",
                sf.base_url(),
                salesforce.client_id,
                zd.base_url(),
                zendesk.oauth_client_id,
            ),
        )?;
        Ok(Self {
            salesforce: sf,
            zendesk: zd,
            dir,
            config,
            _servers: (zd_server, sf_server),
        })
    }

    fn command(&self, binary: &Path) -> Command {
        let mut command = Command::new(binary);
        command
            .args(["sync", "--config"])
            .arg(&self.config)
            .env("SFZD_SALESFORCE_CLIENT_SECRET", "sandbox-secret")
            .env("SFZD_ZENDESK_CLIENT_SECRET", "sandbox-secret")
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command
    }

    /// Runs to the end; returns the exit status and stderr.
    async fn sync(&self, binary: &Path) -> Result<(i32, String)> {
        let mut command = self.command(binary);
        let output = tokio::task::spawn_blocking(move || command.output()).await??;
        Ok((
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ))
    }

    /// Runs, killing the process once Zendesk has seen `kill_at` more requests.
    async fn sync_killed(&self, binary: &Path, kill_at: u64) -> Result<Option<i32>> {
        let start = self.zendesk.counts().total();
        let mut child = self.command(binary).stderr(Stdio::null()).spawn()?;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(Some(status.code().unwrap_or(-1)));
            }
            if self.zendesk.counts().total() >= start + kill_at {
                child.kill()?;
                child.wait()?;
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// New phone numbers for every seventh contact; the final values do not depend on
    /// when users were created, so the reference can take all changes at once.
    fn change_phones(&self, dataset: &sandbox::Dataset, step: u64) -> Result<()> {
        for (i, contact) in dataset.contacts.iter().enumerate() {
            if (i as u64 + step).is_multiple_of(7) {
                self.salesforce.update_contact(&contact.id, |c| {
                    c.phone = Some(format!("+1 555 {step} {i}"));
                })?;
            }
        }
        Ok(())
    }
}

async fn soak_round(binary: &Path, seed: u64, contacts: usize) -> Result<()> {
    let started = Instant::now();
    let dataset = generate(&GeneratorConfig::new(seed, contacts));
    let base = std::env::temp_dir().join(format!("sfzd-soak-{}-{seed}", std::process::id()));
    let quick_jobs = ZendeskSimConfig {
        job_polls_before_complete: 0,
        ..ZendeskSimConfig::default()
    };
    let clean = Side::start(
        &dataset,
        quick_jobs.clone(),
        SalesforceSimConfig::default(),
        base.join("clean"),
    )
    .await?;
    let faulty = Side::start(
        &dataset,
        ZendeskSimConfig {
            rate_limit_per_minute: Some(40),
            rate_limit_window: Duration::from_secs(1),
            token_lifetime: Duration::from_secs(2),
            faults: FaultConfig {
                seed,
                write_failure_rate: 0.1,
                drop_rate: 0.05,
                item_failure_rate: 0.05,
                ..FaultConfig::default()
            },
            ..quick_jobs
        },
        SalesforceSimConfig {
            token_lifetime: Duration::from_secs(2),
            faults: FaultConfig {
                seed: seed + 1000,
                drop_rate: 0.05,
                ..FaultConfig::default()
            },
            ..SalesforceSimConfig::default()
        },
        base.join("faulty"),
    )
    .await?;

    let (code, stderr) = clean.sync(binary).await?;
    if code != 0 {
        bail!("the clean reference run exited {code}: {stderr}");
    }
    let requests = clean.zendesk.counts().total();

    let mut rng = Lcg(seed);
    let mut codes: BTreeMap<String, u32> = BTreeMap::new();
    let mut step = 0;
    let mut finished = false;
    for attempt in 0..40 {
        let outcome = if attempt % 2 == 0 && attempt < 20 {
            let kill_at = 1 + rng.next(requests);
            match faulty.sync_killed(binary, kill_at).await? {
                Some(code) => code,
                None => {
                    *codes.entry("killed".into()).or_insert(0) += 1;
                    step += 1;
                    faulty.change_phones(&dataset, step)?;
                    continue;
                }
            }
        } else {
            let (code, stderr) = faulty.sync(binary).await?;
            if stderr.contains("panicked at") {
                bail!("the binary panicked: {stderr}");
            }
            code
        };
        *codes.entry(format!("exit {outcome}")).or_insert(0) += 1;
        if outcome == 2 {
            bail!("a faulty run exited 2 (configuration)");
        }
        if outcome == 0 && attempt >= 20 {
            finished = true;
            break;
        }
        step += 1;
        faulty.change_phones(&dataset, step)?;
    }
    if !finished {
        bail!("round {seed}: no run completed after 40 attempts ({codes:?})");
    }
    for s in 1..=step {
        clean.change_phones(&dataset, s)?;
    }
    let (code, stderr) = clean.sync(binary).await?;
    if code != 0 {
        bail!("the clean reference's second run exited {code}: {stderr}");
    }
    let expected = normalize(&clean.zendesk.snapshot());
    let actual = normalize(&faulty.zendesk.snapshot());
    let differences: Vec<String> = expected
        .keys()
        .chain(actual.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|k| expected.get(*k) != actual.get(*k))
        .take(5)
        .map(|k| {
            format!(
                "{k}\n  expected {:?}\n  got      {:?}",
                expected.get(k),
                actual.get(k)
            )
        })
        .collect();
    if !differences.is_empty() {
        bail!(
            "round {seed}: the faulty sandbox differs from the reference:\n{}",
            differences.join("\n")
        );
    }
    faulty.zendesk.reset_counts();
    let (code, _) = faulty.sync(binary).await?;
    let writes = faulty.zendesk.counts().writes;
    if code != 0 || writes != 0 {
        bail!("round {seed}: the run after convergence exited {code} with {writes} writes");
    }
    println!(
        "round seed {seed}: {contacts} contacts, {codes:?}, converged to the reference in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&clean.dir);
    let _ = std::fs::remove_dir_all(&faulty.dir);
    let _ = std::fs::remove_dir_all(&base);
    Ok(())
}

/// Organizations by external id (or name) and users by email, with their fields and
/// memberships by organization key: record ids differ between sandboxes.
fn normalize(snapshot: &ZendeskSnapshot) -> BTreeMap<String, String> {
    let org_key = |id: u64| {
        snapshot
            .organizations
            .iter()
            .find(|o| o.id == id)
            .map_or_else(
                || format!("missing {id}"),
                |o| match &o.external_id {
                    Some(ext) => format!("ext:{}", ext.to_lowercase()),
                    None => format!("name:{}", o.name),
                },
            )
    };
    let mut out = BTreeMap::new();
    for o in &snapshot.organizations {
        out.insert(
            format!("organization {}", org_key(o.id)),
            format!("{}|{:?}", o.name, o.organization_fields),
        );
    }
    for u in &snapshot.users {
        let memberships: BTreeSet<(String, bool)> = snapshot
            .memberships
            .iter()
            .filter(|m| m.user_id == u.id)
            .map(|m| (org_key(m.organization_id), m.default))
            .collect();
        out.insert(
            format!(
                "user {}",
                u.email.as_deref().unwrap_or(&u.name).to_lowercase()
            ),
            format!(
                "{:?}|{:?}|{:?}|{:?}|{memberships:?}",
                u.name,
                u.phone,
                u.user_fields,
                u.organization_id.map(org_key)
            ),
        );
    }
    out.insert(
        "membership count".into(),
        snapshot.memberships.len().to_string(),
    );
    out
}
