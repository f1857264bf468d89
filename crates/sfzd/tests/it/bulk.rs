//! Zendesk accounts where bulk user import is off (the default on many): users are created
//! one call at a time, the report says so once, and the run still completes.

use std::collections::BTreeSet;
use std::process::Command;

use sandbox::{
    GeneratorConfig, SalesforceSim, SalesforceSimConfig, ZendeskSim, ZendeskSimConfig, generate,
};

fn run(config: &std::path::Path, report: &std::path::Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sfzd"))
        .args(["sync", "--config"])
        .arg(config)
        .arg("--report")
        .arg(report)
        .env("SFZD_SALESFORCE_CLIENT_SECRET", "sandbox-secret")
        .env("SFZD_ZENDESK_CLIENT_SECRET", "sandbox-secret")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_bulk_import_falls_back_to_single_creates_and_says_so_once() {
    let dataset = generate(&GeneratorConfig::new(11, 60));
    let zendesk_config = ZendeskSimConfig {
        bulk_user_import: false,
        ..ZendeskSimConfig::default()
    };
    let (zendesk, _zs) = ZendeskSim::start(zendesk_config).await.unwrap();
    let (salesforce, _ss) = SalesforceSim::start(SalesforceSimConfig::default())
        .await
        .unwrap();
    salesforce.load(&dataset);
    zendesk.load(&dataset).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sfzd.toml");
    std::fs::write(
        &config,
        format!(
            "[salesforce]\nlogin_url = \"{}\"\nclient_id = \"sfzd-sandbox\"\n[zendesk]\nurl = \"{}\"\nclient_id = \"sfzd-sandbox\"\nrequests_per_minute = 100000\n[sync]\nprimary_relationship = true\n",
            salesforce.base_url(),
            zendesk.base_url()
        ),
    )
    .unwrap();
    let report_path = dir.path().join("report.json");

    let (cfg, rep) = (config.clone(), report_path.clone());
    let (code, stderr) = tokio::task::spawn_blocking(move || run(&cfg, &rep))
        .await
        .unwrap();
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    let warnings = report["warnings"].as_array().cloned().unwrap_or_default();
    assert_eq!(warnings.len(), 1, "{report:#}");
    assert!(
        warnings[0].as_str().unwrap().contains("bulk user import"),
        "{report:#}"
    );
    let created = report["users"]["created"].as_u64().unwrap();
    assert!(created > 10, "{report:#}");

    let counts = zendesk.counts();
    // Bulk import was tried once, then every new user was created with its own call.
    assert_eq!(
        counts.get("POST /api/v2/users/create_many"),
        1,
        "{counts:?}"
    );
    assert_eq!(counts.get("POST /api/v2/users"), created, "{counts:?}");

    // Every contact with a valid email has its user.
    let snapshot = zendesk.snapshot();
    let users: BTreeSet<String> = snapshot
        .users
        .iter()
        .filter_map(|u| u.email.clone())
        .map(|e| e.to_lowercase())
        .collect();
    for contact in &dataset.contacts {
        let Some(email) = contact.email.as_deref() else {
            continue;
        };
        if let Ok(email) = domain::Email::parse(email) {
            assert!(users.contains(email.as_str()), "no user for {email}");
        }
    }

    // And the next run has nothing left to write.
    zendesk.reset_counts();
    let (code, stderr) = tokio::task::spawn_blocking(move || run(&config, &report_path))
        .await
        .unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(zendesk.counts().writes, 0);
}
