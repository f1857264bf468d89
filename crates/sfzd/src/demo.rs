//! `sfzd demo`: the embedded default. Starts the Salesforce and Zendesk simulators on
//! loopback with a generated data set, runs a real sync over HTTP with every setting on
//! (profile P5), prints the report and a summary, then runs again to show that a second
//! run over unchanged data writes nothing.
//!
//! The simulators (the `sandbox` crate, with its HTTP server) are linked only with the
//! `demo` cargo feature, on by default. An operations build leaves them out with
//! `--no-default-features`; there `sfzd demo` still parses and says how to get it.

use clap::Args;

use crate::Exit;
#[cfg(feature = "demo")]
use crate::output;

/// `sfzd demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Number of Salesforce contacts to generate.
    #[arg(long, default_value_t = 2000)]
    pub contacts: usize,
    /// Seed of the data generator (same seed, same data).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Also writes the first run's report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<std::path::PathBuf>,
}

/// Runs the demo.
#[cfg(feature = "demo")]
pub async fn demo(args: DemoArgs) -> Exit {
    match run(&args).await {
        Ok(exit) => exit,
        Err(err) => {
            output::error_chain(&*err);
            Exit::RunFailed
        }
    }
}

/// Without the simulators there is no demo: says how to build a binary that has it.
#[cfg(not(feature = "demo"))]
pub async fn demo(_args: DemoArgs) -> Exit {
    eprintln!(
        "error: this sfzd was built without the demo (cargo feature `demo`, on by default); build one with `cargo build --release --locked -p sfzd --features demo`, or run `cargo run --release --locked -p sfzd -- demo`"
    );
    Exit::Config
}

#[cfg(feature = "demo")]
async fn run(args: &DemoArgs) -> anyhow::Result<Exit> {
    use std::collections::HashMap;
    use std::time::Duration;

    use anyhow::Context;
    use salesforce_client::{HttpSalesforceClient, SalesforceAuth, SalesforceConfig};
    use sandbox::{
        GeneratorConfig, SalesforceSim, SalesforceSimConfig, ZendeskSim, ZendeskSimConfig, generate,
    };
    use sync::{Engine, StateStore, SyncOptions};
    use zendesk_client::{Auth, HttpZendeskClient, PollConfig, ZendeskConfig};

    let zendesk_config = ZendeskSimConfig::default();
    let salesforce_config = SalesforceSimConfig::default();
    let (zendesk_sim, zendesk_server) = ZendeskSim::start(zendesk_config.clone()).await?;
    let (salesforce_sim, salesforce_server) =
        SalesforceSim::start(salesforce_config.clone()).await?;
    // The real-world mix: internationalized emails and secondary identities included.
    let dataset = generate(&GeneratorConfig::real_world(args.seed, args.contacts));
    salesforce_sim.load(&dataset);
    zendesk_sim.load(&dataset)?;
    let before = zendesk_sim.snapshot();
    println!(
        "simulators: Salesforce at {} ({} accounts, {} contacts, {} account-contact relations), Zendesk at {} ({} users, {} organizations)",
        salesforce_sim.base_url(),
        dataset.accounts.len(),
        dataset.contacts.len(),
        dataset.relations.len(),
        zendesk_sim.base_url(),
        before.users.len(),
        before.organizations.len(),
    );

    let salesforce = HttpSalesforceClient::new(SalesforceConfig::new(
        &salesforce_sim.base_url(),
        "62.0",
        SalesforceAuth::ClientCredentials {
            client_id: salesforce_config.client_id.clone(),
            client_secret: salesforce_config.client_secret.clone().into(),
        },
    )?)?;
    let mut zd_config = ZendeskConfig::new(
        &zendesk_sim.base_url(),
        Auth::oauth_client_credentials(
            &zendesk_config.oauth_client_id,
            &zendesk_config.oauth_client_secret,
        ),
    )?;
    // The simulator has no rate limit; a real account's budget comes from the configuration.
    zd_config.requests_per_minute = 100_000;
    let zendesk = HttpZendeskClient::new(zd_config)?;

    let dir =
        tempfile::tempdir().context("cannot create a temporary directory for the state file")?;
    let mut state = StateStore::open(&dir.path().join("sfzd-demo-state.db"))?;
    let mut options = SyncOptions::new(domain::Settings {
        accounts_to_organizations: true,
        contacts_to_users: true,
        object: domain::PersonObject::Contact,
        primary_relationship: true,
        secondary_relationships: true,
    });
    // The simulator finishes jobs at once: poll quickly.
    options.poll = PollConfig {
        initial_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        ..PollConfig::default()
    };

    println!("\nfirst run (profile P5: accounts, contacts, primary and secondary relationships):");
    let engine = Engine::new(&salesforce, &zendesk, Some(&zendesk), options.clone())
        .with_progress(output::progress())
        .with_call_counter(crate::cli::call_counter(&salesforce, &zendesk));
    let first = engine.run(&mut state).await;
    let exit = crate::cli::finish(&first, args.report.as_deref());
    if first.error.is_some() {
        return Ok(exit);
    }

    let after = zendesk_sim.snapshot();
    let mut per_user: HashMap<u64, usize> = HashMap::new();
    for membership in &after.memberships {
        *per_user.entry(membership.user_id).or_default() += 1;
    }
    let multi = per_user.values().filter(|n| **n > 1).count();
    let contacts = dataset.contacts.len().max(1) as f64;
    println!(
        "\nZendesk now: {} users, {} organizations, {} memberships; {multi} users belong to several organizations",
        after.users.len(),
        after.organizations.len(),
        after.memberships.len()
    );
    println!(
        "API calls per contact: Zendesk {:.4}, Salesforce {:.4}",
        first.report.api_calls.zendesk as f64 / contacts,
        first.report.api_calls.salesforce as f64 / contacts
    );

    println!("\nsecond run over unchanged data:");
    zendesk_sim.reset_counts();
    let engine = Engine::new(&salesforce, &zendesk, Some(&zendesk), options.clone());
    let second = engine.run(&mut state).await;
    let writes = zendesk_sim.counts().writes;
    println!(
        "  {} run: {} users created, {} updated, {} memberships created; {writes} write requests reached Zendesk",
        second.report.mode.as_str(),
        second.report.users.created,
        second.report.users.updated,
        second.report.memberships.created
    );
    if let Some(err) = second.error {
        output::error_chain(&err);
        return Ok(Exit::RunFailed);
    }

    // What a real org does between two runs: contacts deleted (syncing records among
    // them, whose groups another contact takes over) and contacts given a new address.
    let churn = salesforce_sim.delete_and_readdress(0.01, 0.01, args.seed);
    println!(
        "\nthird run after {} contacts were deleted and {} re-addressed in Salesforce:",
        churn.deleted.len(),
        churn.readdressed.len()
    );
    zendesk_sim.reset_counts();
    let engine = Engine::new(&salesforce, &zendesk, Some(&zendesk), options)
        .with_call_counter(crate::cli::call_counter(&salesforce, &zendesk));
    let third = engine.run(&mut state).await;
    println!(
        "  {} run: {} users created, {} updated (syncing records handed over), {} memberships created; {} Zendesk calls",
        third.report.mode.as_str(),
        third.report.users.created,
        third.report.users.updated,
        third.report.memberships.created,
        third.report.api_calls.zendesk
    );
    drop(zendesk_server);
    drop(salesforce_server);
    if let Some(err) = third.error {
        output::error_chain(&err);
        return Ok(Exit::RunFailed);
    }
    Ok(exit)
}
