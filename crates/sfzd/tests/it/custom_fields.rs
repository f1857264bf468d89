//! A mapping to a custom field the Zendesk account does not define: Zendesk answers the
//! writes with success, drops the key and names it in `X-Zendesk-API-Warn`. The run
//! completes, stores the defined fields, and says once which key was dropped.

use std::process::Command;

use sandbox::{
    GeneratorConfig, SalesforceSim, SalesforceSimConfig, ZendeskSim, ZendeskSimConfig, generate,
};

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_custom_field_is_reported_once_and_the_rest_is_stored() {
    let dataset = generate(&GeneratorConfig::new(7, 40));
    let zendesk_config = ZendeskSimConfig {
        user_fields: vec!["job_title".into()],
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
            "[salesforce]\nlogin_url = \"{}\"\nclient_id = \"sfzd-sandbox\"\n[zendesk]\nurl = \"{}\"\nclient_id = \"sfzd-sandbox\"\nrequests_per_minute = 100000\n[sync]\nprimary_relationship = true\n\n[mapping.user]\n\"user_fields.job_title\" = \"Title\"\n\"user_fields.no_such_field\" = \"Title\"\n",
            salesforce.base_url(),
            zendesk.base_url()
        ),
    )
    .unwrap();
    let report = dir.path().join("report.json");
    let report_arg = report.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_sfzd"))
            .args(["sync", "--config"])
            .arg(&config)
            .arg("--report")
            .arg(&report_arg)
            .env("SFZD_SALESFORCE_CLIENT_SECRET", "sandbox-secret")
            .env("SFZD_ZENDESK_CLIENT_SECRET", "sandbox-secret")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let dropped: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("Zendesk dropped a field"))
        .collect();
    assert_eq!(dropped.len(), 1, "once per run:\n{stderr}");
    assert!(
        dropped[0].contains("user_fields.no_such_field"),
        "{}",
        dropped[0]
    );

    // The report names the key once, with the mapping it came from.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let warnings: Vec<&str> = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w.as_str())
        .filter(|w| w.contains("no_such_field"))
        .collect();
    assert_eq!(warnings.len(), 1, "{report:#}");
    assert!(warnings[0].contains("Title"), "{}", warnings[0]);

    let snapshot = zendesk.snapshot();
    let with_title = snapshot
        .users
        .iter()
        .filter(|u| u.user_fields.contains_key("job_title"))
        .count();
    assert!(with_title > 0, "defined fields are stored");
    assert!(
        snapshot
            .users
            .iter()
            .all(|u| !u.user_fields.contains_key("no_such_field"))
    );
}
