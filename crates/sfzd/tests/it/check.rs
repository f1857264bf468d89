//! `sfzd check`: the effective settings, what both systems report, and every failed
//! prerequisite, without a single write.

use std::process::Command;

use sandbox::{SalesforceSim, SalesforceSimConfig, ZendeskSim, ZendeskSimConfig};

fn config(
    dir: &std::path::Path,
    salesforce: &str,
    zendesk: &str,
    secondary: bool,
) -> std::path::PathBuf {
    let path = dir.join("sfzd.toml");
    let text = format!(
        r#"[salesforce]
login_url = "{salesforce}"
client_id = "sfzd-sandbox"

[zendesk]
url = "{zendesk}"
client_id = "sfzd-sandbox"

[sync]
primary_relationship = true
secondary_relationships = {secondary}
"#
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn check(config: &std::path::Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sfzd"))
        .args(["check", "--config"])
        .arg(config)
        .env("SFZD_SALESFORCE_CLIENT_SECRET", "sandbox-secret")
        .env("SFZD_ZENDESK_CLIENT_SECRET", "sandbox-secret")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn check_reports_capabilities_and_every_failed_prerequisite_without_writing() {
    let zendesk_config = ZendeskSimConfig {
        multiple_organizations: false,
        ..ZendeskSimConfig::default()
    };
    let (zendesk, _zs) = ZendeskSim::start(zendesk_config).await.unwrap();
    let salesforce_config = SalesforceSimConfig {
        contacts_to_multiple_accounts: false,
        ..SalesforceSimConfig::default()
    };
    let (salesforce, _ss) = SalesforceSim::start(salesforce_config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = config(
        dir.path(),
        &salesforce.base_url(),
        &zendesk.base_url(),
        true,
    );

    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || check(&path))
        .await
        .unwrap();
    assert_eq!(code, 2, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("sync.secondary_relationships: on"),
        "{stdout}"
    );
    assert!(stdout.contains("multiple organizations: off"), "{stdout}");
    assert!(
        stdout.contains("AccountContactRelation (Contacts to Multiple Accounts): not available"),
        "{stdout}"
    );
    let failed: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("failed prerequisite:"))
        .collect();
    assert_eq!(
        failed.len(),
        3,
        "secondary needs multi-orgs and ACR, primary needs multi-orgs:\n{stdout}"
    );
    assert!(
        failed
            .iter()
            .any(|l| l.contains("Contacts to Multiple Accounts")),
        "{stdout}"
    );
    assert!(!stdout.contains("sandbox-secret") && !stderr.contains("sandbox-secret"));
    assert_eq!(zendesk.counts().writes, 0);
    assert_eq!(salesforce.counts().writes, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_passes_when_every_prerequisite_holds() {
    let (zendesk, _zs) = ZendeskSim::start(ZendeskSimConfig::default())
        .await
        .unwrap();
    let (salesforce, _ss) = SalesforceSim::start(SalesforceSimConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = config(
        dir.path(),
        &salesforce.base_url(),
        &zendesk.base_url(),
        true,
    );
    let (code, stdout, stderr) = tokio::task::spawn_blocking(move || check(&path))
        .await
        .unwrap();
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("multiple organizations: on"), "{stdout}");
    assert!(stdout.contains("every prerequisite holds"), "{stdout}");
    // The mode in words an operator reads, not a Rust enum's `Debug` name.
    assert!(
        stdout.contains(
            "effective mode: multiple organizations (memberships added for primary and secondary account relationships"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("MultiOrganization"), "{stdout}");
    assert_eq!(zendesk.counts().writes, 0);
}

#[test]
fn a_bad_configuration_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sfzd.toml");
    std::fs::write(&path, "[salesforce]\nlogin_url = \"https://a.my.salesforce.com\"\nclient_id = \"x\"\n[zendesk]\nurl = \"http://example.com\"\nclient_id = \"y\"\n").unwrap();
    let (code, _stdout, stderr) = check(&path);
    assert_eq!(code, 2);
    assert!(stderr.contains("zendesk.url"), "{stderr}");
}

/// Issue 11: Zendesk drops a custom field key it does not define and still answers 200, so
/// `sfzd check` lists the account's fields and refuses a mapping to a missing key.
#[tokio::test(flavor = "multi_thread")]
async fn check_refuses_a_mapping_to_a_custom_field_zendesk_does_not_define() {
    let zendesk_config = ZendeskSimConfig {
        user_fields: vec!["job_title".into()],
        organization_fields: vec!["tier".into()],
        ..ZendeskSimConfig::default()
    };
    let (zendesk, _zs) = ZendeskSim::start(zendesk_config).await.unwrap();
    let (salesforce, _ss) = SalesforceSim::start(SalesforceSimConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = config(
        dir.path(),
        &salesforce.base_url(),
        &zendesk.base_url(),
        false,
    );
    let base = std::fs::read_to_string(&path).unwrap();

    let mapped = |user: &str, organization: &str| {
        let path = path.clone();
        std::fs::write(
            &path,
            format!(
                "{base}\n[mapping.user]\n\"{user}\" = \"Title\"\n\n[mapping.organization]\n\"{organization}\" = \"Type\"\n"
            ),
        )
        .unwrap();
        tokio::task::spawn_blocking(move || check(&path))
    };

    let (code, stdout, stderr) = mapped("user_fields.no_such_field", "organization_fields.tier")
        .await
        .unwrap();
    assert_eq!(code, 2, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("zendesk: user fields: job_title"),
        "{stdout}"
    );
    assert!(
        stdout.contains("zendesk: organization fields: tier"),
        "{stdout}"
    );
    let failed: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("failed prerequisite:"))
        .collect();
    assert_eq!(failed.len(), 1, "{stdout}");
    assert!(failed[0].contains("user_fields.no_such_field"), "{stdout}");
    assert!(failed[0].contains("`no_such_field`"), "{stdout}");

    let (code, stdout, stderr) = mapped("user_fields.job_title", "organization_fields.segment")
        .await
        .unwrap();
    assert_eq!(code, 2, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("organization_fields.segment"), "{stdout}");

    let (code, stdout, stderr) = mapped("user_fields.job_title", "organization_fields.tier")
        .await
        .unwrap();
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("every prerequisite holds"), "{stdout}");
    assert_eq!(zendesk.counts().writes, 0);
    assert_eq!(salesforce.counts().writes, 0);
}
