//! What the binary shows: logs on stderr (human or JSON), a progress bar on a terminal,
//! the plan of a dry run and the run's summary on stdout.

use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sync::{Progress, Report};
use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Sets up logging on stderr. `RUST_LOG` overrides the level given by `-v`.
pub fn init_logging(format: LogFormat, verbose: u8) {
    let level = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Human => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

/// Prints an error with its chain of causes, once, at the top.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) {
    let mut message = format!("error: {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    eprintln!("{message}");
}

/// Prints an error.
pub fn error(err: &(dyn std::error::Error + 'static)) {
    error_chain(err);
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn phase(&self, name: &str, total: Option<u64>) {
        self.0.reset();
        self.0.set_length(total.unwrap_or(0));
        self.0.set_message(name.to_owned());
    }

    fn advance(&self, done: u64) {
        self.0.inc(done);
    }
}

/// A progress bar on a terminal; nothing otherwise, so logs stay clean.
pub fn progress() -> Arc<dyn Progress> {
    if !std::io::stderr().is_terminal() {
        return Arc::new(sync::NoProgress);
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{msg:>14} [{bar:30}] {pos}/{len} {elapsed}") {
        bar.set_style(style.progress_chars("=> "));
    }
    Arc::new(Bar(bar))
}

/// Prints the plan of a dry run and the run's summary.
pub fn print_report(report: &Report) {
    if report.dry_run {
        println!("plan (dry run: nothing was written):");
        if report.plan.is_empty() {
            println!("  nothing to do");
        }
        for action in &report.plan {
            println!(
                "  {}  [{}]  ({})",
                action.action,
                action.rules.join(", "),
                action.salesforce_ids.join(", ")
            );
        }
    }
    let o = &report.organizations;
    let u = &report.users;
    let m = &report.memberships;
    let verb = if report.dry_run { "would be " } else { "" };
    println!(
        "{} run{}:",
        report.mode.as_str(),
        if report.dry_run { " (dry run)" } else { "" }
    );
    println!(
        "  organizations: {} {verb}created, {} {verb}updated, {} unchanged, {} failed",
        o.created, o.updated, o.unchanged, o.failed
    );
    println!(
        "  users: {} {verb}created, {} {verb}updated, {} unchanged, {} fields skipped (default org doesn't match), {} failed",
        u.created, u.updated, u.unchanged, u.fields_skipped_default_org_mismatch, u.failed
    );
    println!(
        "  memberships: {} {verb}created, {} already present, {} failed",
        m.created, m.already_present, m.failed
    );
    println!(
        "  skipped records: {}, failed records: {}",
        report.skipped.len(),
        report.errors.len()
    );
    println!(
        "  api calls: salesforce {}, zendesk {}; {} ms",
        report.api_calls.salesforce, report.api_calls.zendesk, report.duration_ms
    );
    for warning in &report.warnings {
        println!("  warning: {warning}");
    }
}
