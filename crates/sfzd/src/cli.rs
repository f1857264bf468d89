//! The command line (docs/operator.md) and what each command does.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, Parser, Subcommand, ValueEnum};
use salesforce_client::{HttpSalesforceClient, SalesforceApi, SalesforceAuth};
use sync::{Engine, StateStore, SyncError, SyncOptions};
use zendesk_client::{Auth, HttpZendeskClient, ZendeskRead};

use crate::Exit;
use crate::config::{Config, ConfigError, ZendeskAuth};
use crate::output;

/// Syncs Salesforce accounts and contacts into Zendesk organizations, users and memberships.
///
/// Exit status: 0 every record synced; 1 the run could not finish (network, authentication,
/// API limits; the last committed watermark stands); 2 usage or configuration error, nothing
/// written; 3 the run finished but some records failed (they are in the report and retried
/// next run).
#[derive(Debug, Parser)]
#[command(name = "sfzd", version = crate::VERSION, about, long_about)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
    /// Log format on stderr: human (default on a terminal) or json (one object per line).
    #[arg(long, value_enum, global = true, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
    /// More log detail (-v: debug, -vv: trace). RUST_LOG overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Readable lines.
    Human,
    /// JSON lines, for log collectors.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// One sync run: accounts to organizations, then contacts/leads to users and
    /// memberships; incremental after the first run.
    Sync(SyncArgs),
    /// Validates the configuration, authenticates to both systems and prints the effective
    /// settings and any failed prerequisite; writes nothing.
    Check(CheckArgs),
    /// Starts the built-in Salesforce and Zendesk simulators on loopback, runs a real sync
    /// against them over HTTP and prints the report; needs no credentials.
    Demo(crate::demo::DemoArgs),
    /// The run history kept in the state file, newest first: start, mode, dry run,
    /// duration, outcome and exit status, counts and API calls.
    Runs(crate::runs::RunsArgs),
    /// Why a person is (or is not) where they are: the Salesforce records with the email,
    /// the syncing record and why, the Zendesk user and its organizations, and what the next
    /// run would do, each with its rule. Reads only.
    Explain(crate::explain::ExplainArgs),
}

/// `sfzd sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The configuration file (TOML).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Computes and prints the plan, each action with the rule behind it; no write request
    /// reaches Zendesk and the state file is not advanced.
    #[arg(long)]
    pub dry_run: bool,
    /// Ignores the stored watermark and considers every record.
    #[arg(long)]
    pub full: bool,
    /// Also writes the run's report as JSON to this file (with --every: after each run).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Continuous mode: an incremental run every INTERVAL (e.g. 30s, 5m, 1h) until SIGINT
    /// or SIGTERM, holding the state file for the whole process. Failed runs are retried
    /// with backoff; a configuration error stops with exit status 2; a stop signal lets
    /// the run in flight finish its chunk, then exits 0.
    #[arg(long, value_name = "INTERVAL", value_parser = crate::continuous::parse_interval, conflicts_with_all = ["dry_run", "full"])]
    pub every: Option<std::time::Duration>,
    /// With --every: serves GET /metrics (Prometheus text format) and GET /healthz (503
    /// with the reason when the last run failed or no run finished for three intervals
    /// plus five minutes) on this address, e.g. 127.0.0.1:9184.
    #[arg(long, value_name = "ADDR", requires = "every")]
    pub listen: Option<std::net::SocketAddr>,
    /// Writes the metrics after each run to this file, atomically (for node_exporter's
    /// textfile collector; name it *.prom).
    #[arg(long, value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,
}

/// `sfzd check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The configuration file (TOML).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
}

fn load_config(path: &Path) -> Result<Config, Exit> {
    Config::load(path).map_err(|err: ConfigError| {
        output::error(&err);
        Exit::Config
    })
}

/// The two API clients a configuration describes.
pub struct Clients {
    /// Salesforce.
    pub salesforce: HttpSalesforceClient,
    /// Zendesk.
    pub zendesk: HttpZendeskClient,
}

/// Builds both clients.
///
/// # Errors
/// A configuration the clients refuse.
pub fn clients(config: &Config) -> anyhow::Result<Clients> {
    let sf = &config.salesforce;
    let salesforce = HttpSalesforceClient::new(salesforce_client::SalesforceConfig::new(
        sf.login_url.as_str(),
        &sf.api_version,
        SalesforceAuth::ClientCredentials {
            client_id: sf.client_id.clone(),
            client_secret: sf.client_secret.clone(),
        },
    )?)?;
    let zd = &config.zendesk;
    let auth = match &zd.auth {
        ZendeskAuth::OAuth {
            client_id,
            client_secret,
        } => Auth::OAuthClientCredentials {
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
            scope: "read write".to_owned(),
        },
        ZendeskAuth::ApiToken { email, token } => Auth::ApiToken {
            email: email.clone(),
            token: token.clone(),
        },
    };
    let mut zendesk_config = zendesk_client::ZendeskConfig::new(zd.url.as_str(), auth)?;
    zendesk_config.requests_per_minute = zd.requests_per_minute;
    let zendesk = HttpZendeskClient::new(zendesk_config)?;
    Ok(Clients {
        salesforce,
        zendesk,
    })
}

/// The engine's options from a configuration.
pub fn options(config: &Config, full: bool) -> SyncOptions {
    let s = &config.sync;
    let settings = domain::Settings {
        accounts_to_organizations: s.accounts_to_organizations,
        contacts_to_users: s.contacts_to_users,
        object: s.object,
        primary_relationship: s.primary_relationship,
        secondary_relationships: s.secondary_relationships,
    };
    let mapping = |m: &[crate::config::FieldMapping]| {
        m.iter()
            .map(|f| (f.zendesk.clone(), f.salesforce.clone()))
            .collect()
    };
    let mut options = SyncOptions::new(settings);
    options.mapping = sync::FieldMapping {
        user: mapping(&config.mapping.user),
        organization: mapping(&config.mapping.organization),
    };
    options.accounts_filter = s.accounts_filter.clone();
    options.contacts_filter = s.contacts_filter.clone();
    options.full = full;
    options.look_back = s.look_back;
    options
}

/// Maps how a run ended to its exit status: the one place that does.
pub fn exit_status(outcome: &sync::RunOutcome) -> Exit {
    match &outcome.error {
        Some(err) if err.is_configuration() => Exit::Config,
        Some(_) => Exit::RunFailed,
        None if outcome.report.has_failures() => Exit::RecordsFailed,
        None => Exit::Ok,
    }
}

/// Calls `on_first` on the first SIGINT or SIGTERM (the caller sets its cancel flag, so the
/// engine finishes its chunk and stops); a second signal exits at once (the state file is
/// transactional, so nothing committed is lost, and the next run redoes the unconfirmed
/// chunk). `message` is logged on the first signal.
pub(crate) fn stop_on_signals(on_first: impl Fn() + Send + 'static, message: &'static str) {
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        for count in 0.. {
            #[cfg(unix)]
            let term = async {
                match terminate.as_mut() {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let term = std::future::pending::<()>();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = term => {}
            }
            if count == 0 {
                tracing::warn!("{message}");
                on_first();
            } else {
                eprintln!(
                    "error: stopped at once on a second signal; the next run redoes the unconfirmed chunk"
                );
                std::process::exit(Exit::RunFailed as i32);
            }
        }
    });
}

/// `sfzd sync`.
pub async fn sync(args: SyncArgs) -> Exit {
    if let Some(interval) = args.every {
        return crate::continuous::sync_every(args, interval).await;
    }
    let config = match load_config(&args.config) {
        Ok(config) => config,
        Err(exit) => return exit,
    };
    let clients = match clients(&config) {
        Ok(clients) => clients,
        Err(err) => {
            output::error_chain(&*err);
            return Exit::Config;
        }
    };
    let mut state = match StateStore::open(&config.state.path) {
        Ok(state) => state,
        Err(err) => {
            output::error(&err);
            return Exit::RunFailed;
        }
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    stop_on_signals(
        move || flag.store(true, Ordering::SeqCst),
        "stop requested: finishing the chunk in flight, then stopping (signal again to stop at once)",
    );
    let writer: Option<&dyn zendesk_client::ZendeskWrite> = if args.dry_run {
        None
    } else {
        Some(&clients.zendesk)
    };
    let engine = Engine::new(
        &clients.salesforce,
        &clients.zendesk,
        writer,
        options(&config, args.full),
    )
    .with_progress(output::progress())
    .with_cancel(cancel)
    .with_call_counter(call_counter(&clients.salesforce, &clients.zendesk));
    let outcome = engine.run(&mut state).await;
    if let Some(usage) = clients.salesforce.api_usage() {
        tracing::info!(
            used = usage.used,
            max = usage.max,
            "Salesforce daily API usage after the run"
        );
    }
    let exit = finish(&outcome, args.report.as_deref());
    match &args.metrics_file {
        Some(path) => crate::continuous::write_one_shot_metrics(
            path,
            &state,
            &outcome,
            exit,
            clients
                .salesforce
                .api_usage()
                .map(|usage| usage.remaining()),
        ),
        None => exit,
    }
}

/// Counts the calls both clients make, for the run's report and history.
pub fn call_counter(
    salesforce: &salesforce_client::HttpSalesforceClient,
    zendesk: &zendesk_client::HttpZendeskClient,
) -> sync::CallCounter {
    let (salesforce, zendesk) = (salesforce.clone(), zendesk.clone());
    Arc::new(move || sync::report::ApiCalls {
        salesforce: salesforce.calls().total(),
        zendesk: zendesk.calls().total(),
    })
}

/// Prints and writes the report of a run and returns its exit status.
pub fn finish(outcome: &sync::RunOutcome, report_file: Option<&Path>) -> Exit {
    output::print_report(&outcome.report);
    let mut exit = exit_status(outcome);
    if let Some(err) = &outcome.error {
        output::error_chain(err);
        if let SyncError::Prerequisites(_) = err {
            eprintln!("hint: run `sfzd check --config FILE` to see the effective settings");
        }
    }
    if let Some(path) = report_file {
        let json = serde_json::to_string_pretty(&outcome.report).unwrap_or_default();
        if let Err(err) = std::fs::write(path, json + "\n") {
            eprintln!(
                "error: could not write the report to {}: {err}",
                path.display()
            );
            exit = Exit::RunFailed;
        }
    }
    exit
}

/// `sfzd check`.
pub async fn check(args: CheckArgs) -> Exit {
    let config = match load_config(&args.config) {
        Ok(config) => config,
        Err(exit) => return exit,
    };
    println!("configuration {} is valid", config.file.display());
    for line in config.effective_settings_lines() {
        println!("  {line}");
    }
    let clients = match clients(&config) {
        Ok(clients) => clients,
        Err(err) => {
            output::error_chain(&*err);
            return Exit::Config;
        }
    };
    let mut exit = Exit::Ok;
    let multiple_organizations = match clients.zendesk.account_settings().await {
        Ok(settings) => {
            println!(
                "zendesk: authenticated; multiple organizations: {}",
                on_off(settings.multiple_organizations)
            );
            Some(settings.multiple_organizations)
        }
        Err(err) => {
            output::error_chain(&err);
            exit = Exit::RunFailed;
            None
        }
    };
    if multiple_organizations.is_some() {
        // Zendesk drops a custom field key it does not define and answers the write with
        // success: refuse such a mapping here instead of losing the value on every run.
        let mapping = options(&config, false).mapping;
        match check_custom_fields(&clients.zendesk, &mapping).await {
            Exit::Ok => {}
            failed => exit = failed,
        }
    }
    let relation = match clients
        .salesforce
        .account_contact_relation_available()
        .await
    {
        Ok(available) => {
            println!(
                "salesforce: authenticated; AccountContactRelation (Contacts to Multiple Accounts): {}",
                if available {
                    "available"
                } else {
                    "not available"
                }
            );
            Some(available)
        }
        Err(err) => {
            output::error_chain(&err);
            exit = Exit::RunFailed;
            None
        }
    };
    // Prerequisites are judged only on what both systems answered: an unknown capability
    // is not a missing one.
    if let (Some(multiple_organizations), Some(_)) = (multiple_organizations, relation) {
        let options = options(&config, false);
        let capabilities = domain::Capabilities {
            multiple_organizations,
            account_contact_relation: relation,
        };
        match options.settings.validate(capabilities) {
            Ok(effective) => println!(
                "effective mode: {}; every prerequisite holds",
                describe_mode(&effective)
            ),
            Err(err) => {
                for missing in &err.missing {
                    println!("failed prerequisite: {missing}");
                }
                exit = Exit::Config;
            }
        }
    }
    exit
}

/// The effective mode in an operator's words: what the run will do with users'
/// organizations and memberships.
fn describe_mode(effective: &domain::EffectiveSettings) -> &'static str {
    match effective.mode() {
        domain::OrganizationMode::Unlinked => {
            "organizations not linked (no account is linked to an organization; users get no organization)"
        }
        domain::OrganizationMode::SingleOrganization => {
            "single organization (each user has one organization, set from its syncing contact's account)"
        }
        domain::OrganizationMode::MultiOrganization
            if effective.syncs_secondary_relationships() =>
        {
            "multiple organizations (memberships added for primary and secondary account relationships; default organizations never moved)"
        }
        domain::OrganizationMode::MultiOrganization if effective.creates_memberships() => {
            "multiple organizations (memberships added for primary account relationships; default organizations never moved)"
        }
        domain::OrganizationMode::MultiOrganization => {
            "multiple organizations (new users get their account's organization; no membership is added and default organizations are never moved)"
        }
    }
}

/// Lists the account's custom user and organization fields and names every mapping to a
/// `user_fields.KEY` or `organization_fields.KEY` whose key Zendesk does not define:
/// [`Exit::Config`] if there is one, [`Exit::RunFailed`] if the lists cannot be read.
async fn check_custom_fields(
    zendesk: &HttpZendeskClient,
    mapping: &sync::mapping::FieldMapping,
) -> Exit {
    use zendesk_client::ZendeskRead;
    let mut exit = Exit::Ok;
    for (table, prefix, mapped) in [
        ("user", "user_fields.", &mapping.user),
        (
            "organization",
            "organization_fields.",
            &mapping.organization,
        ),
    ] {
        let listed = if table == "user" {
            zendesk.list_user_fields().await
        } else {
            zendesk.list_organization_fields().await
        };
        let fields = match listed {
            Ok(fields) => fields,
            Err(err) => {
                output::error_chain(&err);
                exit = Exit::RunFailed;
                continue;
            }
        };
        let keys: Vec<&str> = fields.iter().map(|f| f.key.as_str()).collect();
        println!(
            "zendesk: {table} fields: {}",
            if keys.is_empty() {
                "none".to_owned()
            } else {
                keys.join(", ")
            }
        );
        for field in mapped.keys() {
            let Some(key) = field.strip_prefix(prefix) else {
                continue;
            };
            if !keys.contains(&key) {
                println!(
                    "failed prerequisite: mapping.{table} \"{field}\": Zendesk has no {table} field with key `{key}`; it would drop the value on every write (fix the key or create the field in Zendesk)"
                );
                exit = Exit::Config;
            }
        }
    }
    exit
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}
