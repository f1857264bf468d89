//! `sfzd explain --config FILE EMAIL`: the question operators ask most ("why is this person
//! in that organization, or not updated?") answered from live data with read calls only:
//! the Salesforce records with that email, the syncing record and why, the matched Zendesk
//! user with its organizations, and what the next run would do, each step with its rule.

use std::path::PathBuf;

use clap::Args;
use sync::StateStore;
use sync::explain::{Explanation, explain as explain_email};

use crate::Exit;
use crate::cli;
use crate::output;

/// `sfzd explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The configuration file (TOML).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Prints the answer as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// The email to explain (any spelling: it is trimmed and compared case-insensitively).
    #[arg(value_name = "EMAIL")]
    pub email: String,
}

/// Runs `sfzd explain`: exit 0 with an answer (also when nothing has the email), 2 for a
/// bad configuration or a value that is not an email, 1 when an API cannot be read.
pub async fn explain(args: ExplainArgs) -> Exit {
    let email = match domain::Email::parse(&args.email) {
        Ok(email) => email,
        Err(err) => {
            eprintln!("error: {:?} is not an email address: {err}", args.email);
            return Exit::Config;
        }
    };
    let config = match crate::config::Config::load(&args.config) {
        Ok(config) => config,
        Err(err) => {
            output::error(&err);
            return Exit::Config;
        }
    };
    let clients = match cli::clients(&config) {
        Ok(clients) => clients,
        Err(err) => {
            output::error_chain(&*err);
            return Exit::Config;
        }
    };
    // The remembered syncing record, read without the lock: a run may hold the file.
    let state = if config.state.path.exists() {
        match StateStore::open_read_only(&config.state.path) {
            Ok(state) => state,
            Err(err) => {
                output::error(&err);
                return Exit::RunFailed;
            }
        }
    } else {
        None
    };
    let options = cli::options(&config, false);
    match explain_email(
        &clients.salesforce,
        &clients.zendesk,
        &options,
        state.as_ref(),
        &email,
    )
    .await
    {
        Ok(explanation) => {
            if args.json {
                match serde_json::to_string_pretty(&explanation) {
                    Ok(json) => println!("{json}"),
                    Err(err) => {
                        eprintln!("error: could not encode the answer: {err}");
                        return Exit::RunFailed;
                    }
                }
            } else {
                print!("{}", render(&explanation));
            }
            Exit::Ok
        }
        Err(err) => {
            output::error_chain(&err);
            if err.is_configuration() {
                Exit::Config
            } else {
                Exit::RunFailed
            }
        }
    }
}

/// The answer as text for a terminal.
pub fn render(e: &Explanation) -> String {
    let mut out = format!("{}\n", e.email);
    if e.records.is_empty() {
        out.push_str("  Salesforce: no contact or lead has this email (nothing to sync)\n");
    } else {
        out.push_str("  Salesforce records:\n");
        for r in &e.records {
            let account = match (&r.account_id, r.organization_id) {
                (Some(a), Some(o)) => format!("account {a} (organization {o})"),
                (Some(a), None) => format!("account {a} (no organization in Zendesk)"),
                (None, _) => "no account".to_owned(),
            };
            let created = r.created_date.as_deref().unwrap_or("unknown");
            out.push_str(&format!(
                "    {} {} {account}, created {created}",
                r.object, r.salesforce_id
            ));
            if let Some(why) = &r.skipped {
                out.push_str(&format!(", not synced: {why}"));
            }
            out.push('\n');
        }
    }
    if let Some((id, why)) = &e.syncing_record {
        out.push_str(&format!("  syncing record: {id}: {why}\n"));
    }
    match &e.user {
        Some(user) => {
            let default = user
                .default_organization
                .map_or_else(|| "none".to_owned(), |o| o.to_string());
            let orgs: Vec<String> = user.organizations.iter().map(u64::to_string).collect();
            out.push_str(&format!(
                "  Zendesk: user {} (default organization {default}; member of {})\n",
                user.id,
                if orgs.is_empty() {
                    "no organization".to_owned()
                } else {
                    orgs.join(", ")
                }
            ));
        }
        None => out.push_str("  Zendesk: no user has this email (any identity)\n"),
    }
    if !e.next_run.is_empty() {
        out.push_str("  next run:\n");
        for step in &e.next_run {
            if step.rules.is_empty() {
                out.push_str(&format!("    {}\n", step.action));
            } else {
                out.push_str(&format!(
                    "    {}  [{}]\n",
                    step.action,
                    step.rules.join(", ")
                ));
            }
        }
    }
    out
}
