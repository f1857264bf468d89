//! Measures the resident memory of `sfzd sync --every 1s` over many runs against the
//! sandbox simulators, to check that continuous mode's memory stays flat.
//!
//! ```sh
//! cargo build --release --locked -p sfzd
//! cargo run --release --locked -p sfzd --example continuous_rss -- --binary target/release/sfzd --runs 100
//! ```
//!
//! Between runs 1% of the contacts change, so every incremental run reads and writes.
//! Prints the process's RSS (Linux `/proc/PID/status`) after selected runs. It measures;
//! it asserts nothing.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use sandbox::{
    GeneratorConfig, SalesforceSim, SalesforceSimConfig, ZendeskSim, ZendeskSimConfig, generate,
};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::main]
async fn main() {
    let runs: usize = arg("--runs").map_or(100, |r| r.parse().unwrap());
    let contacts: usize = arg("--contacts").map_or(2000, |c| c.parse().unwrap());
    let binary = arg("--binary").map_or_else(
        || {
            let exe = std::env::current_exe().unwrap();
            exe.parent().unwrap().parent().unwrap().join("sfzd")
        },
        PathBuf::from,
    );
    assert!(
        binary.exists(),
        "no sfzd binary at {}; build it or pass --binary",
        binary.display()
    );

    let dataset = generate(&GeneratorConfig::new(7, contacts));
    let zendesk_config = ZendeskSimConfig {
        job_polls_before_complete: 0,
        ..ZendeskSimConfig::default()
    };
    let (zendesk, _zendesk_server) = ZendeskSim::start(zendesk_config.clone()).await.unwrap();
    let (salesforce, _salesforce_server) = SalesforceSim::start(SalesforceSimConfig::default())
        .await
        .unwrap();
    salesforce.load(&dataset);
    zendesk.load(&dataset).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sfzd.toml");
    std::fs::write(
        &config,
        format!(
            "[salesforce]\nlogin_url = \"{}\"\nclient_id = \"{}\"\n\n[zendesk]\nurl = \"{}\"\nclient_id = \"{}\"\nrequests_per_minute = 100000\n\n[sync]\nprimary_relationship = true\nsecondary_relationships = true\n",
            salesforce.base_url(),
            SalesforceSimConfig::default().client_id,
            zendesk.base_url(),
            zendesk_config.oauth_client_id,
        ),
    )
    .unwrap();
    let metrics_file = dir.path().join("sfzd.prom");
    let mut child = Command::new(&binary)
        .args(["sync", "--config"])
        .arg(&config)
        .args(["--every", "1s", "--metrics-file"])
        .arg(&metrics_file)
        .env(
            "SFZD_SALESFORCE_CLIENT_SECRET",
            SalesforceSimConfig::default().client_secret,
        )
        .env(
            "SFZD_ZENDESK_CLIENT_SECRET",
            &zendesk_config.oauth_client_secret,
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id();

    let finished = || -> usize {
        let text = std::fs::read_to_string(&metrics_file).unwrap_or_default();
        text.lines()
            .filter(|l| l.starts_with("sfzd_runs_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as usize
    };
    let report_at = [1, 2, 5, 10, 25, 50, 75, 100, 150, 200, 300, 500, 1000];
    println!("{contacts} contacts, sfzd {} (pid {pid})", binary.display());
    println!("{:>5}  {:>9}", "run", "RSS (KiB)");
    let mut seen = 0;
    let mut seed = 1;
    while seen < runs {
        let now = finished();
        if now > seen {
            seen = now;
            // A change for the next run to pick up.
            salesforce.change_fraction(0.01, seed);
            seed += 1;
            if report_at.contains(&seen) || seen >= runs {
                println!("{seen:>5}  {:>9}", rss_kib(pid).unwrap_or(0));
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("sfzd exited early: {status}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    println!("stopped with {status}");
}
