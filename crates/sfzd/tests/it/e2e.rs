//! Runs of the real `sfzd` binary against the sandbox simulators (issue 6): a generated,
//! mixed data set is synced over HTTP and the final Zendesk state is checked against
//! oracles computed here from the data set by docs/behavior.md's rules, independently of the
//! `domain` planner. Idempotence, `--full`, `--dry-run`, incremental runs, single-
//! organization mode and the E8 prerequisite error are covered too.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use sandbox::{
    Dataset, GeneratorConfig, RunningServer, SalesforceSim, SalesforceSimConfig, SfContact, ZdUser,
    ZendeskSim, ZendeskSimConfig, ZendeskSnapshot, generate,
};
use serde_json::Value;
use tempfile::TempDir;

/// Contacts in the generated data sets: enough for every kind of record in the mix.
const CONTACTS: usize = 400;

/// The four settings of the integration's own configuration (`contacts_to_users` is on).
#[derive(Debug, Clone, Copy)]
pub(super) struct Profile {
    pub(super) accounts_to_organizations: bool,
    pub(super) primary_relationship: bool,
    pub(super) secondary_relationships: bool,
}

/// P5: every setting on.
pub(super) const P5: Profile = Profile {
    accounts_to_organizations: true,
    primary_relationship: true,
    secondary_relationships: true,
};

/// P3: accounts and contacts, no relationships (single-organization mode).
pub(super) const P3: Profile = Profile {
    accounts_to_organizations: true,
    primary_relationship: false,
    secondary_relationships: false,
};

/// Both simulators serving a generated data set, and a configuration file for them.
struct Sandbox {
    dataset: Dataset,
    salesforce: SalesforceSim,
    zendesk: ZendeskSim,
    dir: TempDir,
    config: PathBuf,
    _servers: (RunningServer, RunningServer),
}

impl Sandbox {
    /// Starts both simulators with the data set of `seed`. Pre-existing Zendesk users get
    /// names no contact has, so a write of the mapped fields is visible afterwards.
    async fn start(seed: u64, zendesk_config: ZendeskSimConfig, profile: Profile) -> Self {
        let mut dataset = generate(&GeneratorConfig::new(seed, CONTACTS));
        for (i, user) in dataset.zendesk_users.iter_mut().enumerate() {
            user.name = format!("Legacy Name {i}");
        }
        let (zendesk, zendesk_server) = ZendeskSim::start(zendesk_config).await.unwrap();
        let (salesforce, salesforce_server) = SalesforceSim::start(SalesforceSimConfig::default())
            .await
            .unwrap();
        salesforce.load(&dataset);
        zendesk.load(&dataset).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(
            dir.path(),
            &salesforce.base_url(),
            &zendesk.base_url(),
            profile,
        );
        Self {
            dataset,
            salesforce,
            zendesk,
            dir,
            config,
            _servers: (zendesk_server, salesforce_server),
        }
    }

    /// Runs `sfzd sync --config F --report R` plus `extra`, with the secrets in the
    /// environment, after resetting both simulators' counters.
    async fn sync(&self, extra: &[&str]) -> Run {
        self.zendesk.reset_counts();
        self.salesforce.reset_counts();
        run_binary(&self.config, self.dir.path(), extra).await
    }
}

/// Runs `sfzd sync --config CONFIG --report DIR/report.json` plus `extra`, with the
/// simulators' secrets in the environment.
pub(super) async fn run_binary(config: &Path, dir: &Path, extra: &[&str]) -> Run {
    let report = dir.join("report.json");
    let _ = std::fs::remove_file(&report);
    let mut args: Vec<String> = vec![
        "sync".into(),
        "--config".into(),
        config.display().to_string(),
        "--report".into(),
        report.display().to_string(),
    ];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let defaults = SalesforceSimConfig::default();
    let zendesk_defaults = ZendeskSimConfig::default();
    let env = [
        ("SFZD_SALESFORCE_CLIENT_SECRET", defaults.client_secret),
        (
            "SFZD_ZENDESK_CLIENT_SECRET",
            zendesk_defaults.oauth_client_secret,
        ),
        ("RUST_LOG", "warn".to_owned()),
    ];
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_sfzd"))
            .args(&args)
            .env_remove("SFZD_ZENDESK_API_TOKEN")
            .envs(env)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let report = std::fs::read_to_string(&report)
        .ok()
        .map(|text| serde_json::from_str(&text).unwrap());
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        report,
    }
}

/// How one run of the binary ended.
#[derive(Debug)]
pub(super) struct Run {
    pub(super) code: i32,
    pub(super) stdout: String,
    pub(super) stderr: String,
    pub(super) report: Option<Value>,
}

impl Run {
    pub(super) fn report(&self) -> &Value {
        self.report
            .as_ref()
            .unwrap_or_else(|| panic!("no report written; {self:?}"))
    }

    pub(super) fn count(&self, object: &str, key: &str) -> u64 {
        self.report()[object][key]
            .as_u64()
            .unwrap_or_else(|| panic!("report has no {object}.{key}"))
    }

    pub(super) fn assert_ok(&self) {
        assert_eq!(self.code, 0, "exit status; {self:#?}");
    }
}

pub(super) fn write_config(
    dir: &Path,
    salesforce: &str,
    zendesk: &str,
    profile: Profile,
) -> PathBuf {
    let text = format!(
        r#"[salesforce]
login_url = "{salesforce}"
client_id = "{sf_client}"
api_version = "62.0"

[zendesk]
url = "{zendesk}"
client_id = "{zd_client}"
requests_per_minute = 100000

[sync]
accounts_to_organizations = {a2o}
contacts_to_users = true
object = "contact"
primary_relationship = {primary}
secondary_relationships = {secondary}

[state]
path = "state.db"
"#,
        sf_client = SalesforceSimConfig::default().client_id,
        zd_client = ZendeskSimConfig::default().oauth_client_id,
        a2o = profile.accounts_to_organizations,
        primary = profile.primary_relationship,
        secondary = profile.secondary_relationships,
    );
    let path = dir.join("sfzd.toml");
    std::fs::write(&path, text).unwrap();
    path
}

// ------------------------------------------------------------------ oracles

/// The normalized email of a contact when Zendesk would accept it (docs/behavior.md 4: trimmed,
/// case-insensitive; no email or an invalid one is not synced).
fn valid_email(email: Option<&str>) -> Option<String> {
    let email = email?.trim();
    let (local, domain) = email.split_once('@')?;
    let forbidden = |c: char| c.is_whitespace() || "()<>,;:\\\"[]@".contains(c);
    let valid = !local.is_empty()
        && !local.contains(forbidden)
        && !domain.contains(forbidden)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.');
    valid.then(|| email.to_lowercase())
}

/// One email group and what the rules expect of it.
struct Group<'d> {
    contacts: Vec<&'d SfContact>,
    /// The first contact linked to an account (earliest CreatedDate, then lowest Id), or
    /// the earliest-created contact when none has an account.
    syncing: &'d SfContact,
}

impl Group<'_> {
    /// The user name the syncing record's mapped fields write.
    fn name(&self) -> String {
        full_name(self.syncing)
    }
}

fn full_name(c: &SfContact) -> String {
    match c.first_name.as_deref() {
        Some(first) if !first.is_empty() => format!("{first} {}", c.last_name),
        _ => c.last_name.clone(),
    }
}

/// Contacts grouped by normalized valid email, with their syncing records.
fn groups(contacts: &[SfContact]) -> BTreeMap<String, Group<'_>> {
    let mut by_email: BTreeMap<String, Vec<&SfContact>> = BTreeMap::new();
    for c in contacts.iter().filter(|c| !c.is_deleted) {
        if let Some(email) = valid_email(c.email.as_deref()) {
            by_email.entry(email).or_default().push(c);
        }
    }
    by_email
        .into_iter()
        .map(|(email, contacts)| {
            let key = |c: &&&SfContact| (c.created_date, c.id.clone());
            let syncing = contacts
                .iter()
                .filter(|c| c.account_id.is_some())
                .min_by_key(key)
                .or_else(|| contacts.iter().min_by_key(key))
                .copied()
                .unwrap();
            (email, Group { contacts, syncing })
        })
        .collect()
}

/// Account Ids whose organization a group's user must be a member of in multi-organization
/// mode with primary (and, with `secondary`, secondary) relationships: every contact's
/// direct account and every active indirect relation. Also returns the accounts reached
/// only through inactive relations.
fn membership_accounts(
    dataset: &Dataset,
    group: &Group<'_>,
    secondary: bool,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let ids: BTreeSet<&str> = group.contacts.iter().map(|c| c.id.as_str()).collect();
    let mut expected: BTreeSet<String> = group
        .contacts
        .iter()
        .filter_map(|c| c.account_id.clone())
        .collect();
    let mut inactive = BTreeSet::new();
    for r in dataset
        .relations
        .iter()
        .filter(|r| ids.contains(r.contact_id.as_str()) && !r.is_direct && !r.is_deleted)
    {
        if r.is_active && secondary {
            expected.insert(r.account_id.clone());
        } else if !r.is_active {
            inactive.insert(r.account_id.clone());
        }
    }
    let inactive_only = inactive.difference(&expected).cloned().collect();
    (expected, inactive_only)
}

/// Organization id of each account after the run; panics when one has none.
fn organization_of_accounts(dataset: &Dataset, after: &ZendeskSnapshot) -> HashMap<String, u64> {
    dataset
        .accounts
        .iter()
        .map(|a| {
            let org = after
                .organization_by_external_id(&a.id)
                .unwrap_or_else(|| panic!("account {} has no organization", a.id));
            (a.id.clone(), org.id)
        })
        .collect()
}

fn memberships(snapshot: &ZendeskSnapshot, user: u64) -> BTreeSet<u64> {
    snapshot
        .memberships_of(user)
        .iter()
        .map(|m| m.organization_id)
        .collect()
}

fn user_in<'s>(snapshot: &'s ZendeskSnapshot, email: &str) -> Option<&'s ZdUser> {
    snapshot.user_by_email(email)
}

/// The organizations: one per account, linked by external_id; existing links kept;
/// same-name unlinked ones linked, not duplicated (E9); nothing else created.
fn check_organizations(dataset: &Dataset, before: &ZendeskSnapshot, after: &ZendeskSnapshot) {
    let org_of = organization_of_accounts(dataset, after);
    let mut created = 0;
    let mut linked_by_name = 0;
    for a in &dataset.accounts {
        let org = after
            .organizations
            .iter()
            .find(|o| o.id == org_of[&a.id])
            .unwrap();
        assert_eq!(org.name, a.name, "organization name of account {}", a.id);
        if let Some(old) = before.organization_by_external_id(&a.id) {
            assert_eq!(old.id, org.id, "a linked organization is kept for {}", a.id);
        } else if let Some(old) = before
            .organization_by_name(&a.name)
            .filter(|o| o.external_id.is_none())
        {
            assert_eq!(
                old.id, org.id,
                "E9: {} linked by name, not duplicated",
                a.id
            );
            linked_by_name += 1;
        } else {
            assert!(
                before.organizations.iter().all(|o| o.id != org.id),
                "account {} reuses an unrelated organization",
                a.id
            );
            created += 1;
        }
    }
    assert!(
        linked_by_name > 0,
        "the data set must exercise E9 (same-name organizations)"
    );
    assert_eq!(
        after.organizations.len(),
        before.organizations.len() + created,
        "organizations: one created per account without a linked or same-name organization"
    );
    let mut names = BTreeSet::new();
    let mut external_ids = BTreeSet::new();
    for o in &after.organizations {
        assert!(
            names.insert(o.name.trim().to_lowercase()),
            "duplicate organization name {}",
            o.name
        );
        if let Some(e) = &o.external_id {
            assert!(
                external_ids.insert(e.to_lowercase()),
                "duplicate external_id {e}"
            );
        }
    }
}

/// Coverage of the data set, so the checks below are not vacuous.
#[derive(Debug, Default)]
struct Coverage {
    new_users: usize,
    shared_groups: usize,
    kept_name_default_mismatch: usize,
    fields_written_existing: usize,
    secondary_memberships: usize,
    inactive_only: usize,
}

/// Users, defaults, names and memberships in multi-organization mode (P5).
fn check_people_p5(
    dataset: &Dataset,
    before: &ZendeskSnapshot,
    after: &ZendeskSnapshot,
) -> Coverage {
    let org_of = organization_of_accounts(dataset, after);
    let groups = groups(&dataset.contacts);
    let mut coverage = Coverage::default();
    let mut new_users = 0;
    for (email, group) in &groups {
        let user = user_in(after, email)
            .unwrap_or_else(|| panic!("no Zendesk user for the email group {email}"));
        let (expected_accounts, inactive_only) = membership_accounts(dataset, group, true);
        let expected: BTreeSet<u64> = expected_accounts.iter().map(|a| org_of[a]).collect();
        let syncing_org = group.syncing.account_id.as_ref().map(|a| org_of[a]);
        if group.contacts.len() > 1 {
            coverage.shared_groups += 1;
        }
        let old = user_in(before, email);
        let had = old.map(|u| memberships(before, u.id)).unwrap_or_default();
        let now = memberships(after, user.id);
        match old {
            None => {
                new_users += 1;
                coverage.new_users += 1;
                assert_eq!(
                    user.organization_id, syncing_org,
                    "new user {email}: default organization is the syncing record's ({}) account organization",
                    group.syncing.id
                );
                assert_eq!(
                    user.name,
                    group.name(),
                    "new user {email}: name from the syncing record {}",
                    group.syncing.id
                );
                assert_eq!(
                    user.phone, group.syncing.phone,
                    "new user {email}: phone from the syncing record {}",
                    group.syncing.id
                );
            }
            Some(old) => {
                assert_eq!(user.id, old.id);
                match old.organization_id {
                    Some(default) => assert_eq!(
                        user.organization_id,
                        Some(default),
                        "existing user {email}: the default organization is never changed"
                    ),
                    // Zendesk makes a user's first membership its default; rule 1 treats
                    // the syncing record's organization as that default.
                    None => assert_eq!(
                        user.organization_id, syncing_org,
                        "existing user {email} without organization: the syncing record's organization becomes the default"
                    ),
                }
                let mismatch =
                    matches!((old.organization_id, syncing_org), (Some(d), Some(o)) if d != o);
                if mismatch {
                    coverage.kept_name_default_mismatch += 1;
                    assert_eq!(
                        user.name, old.name,
                        "existing user {email}: default organization differs from the syncing record's, so its fields are not written (default org doesn't match)"
                    );
                } else {
                    coverage.fields_written_existing += 1;
                    assert_eq!(
                        user.name,
                        group.name(),
                        "existing user {email}: fields written from the syncing record {}",
                        group.syncing.id
                    );
                }
            }
        }
        assert!(
            now.is_superset(&had),
            "user {email}: memberships are only added; before {had:?}, after {now:?}"
        );
        let wanted: BTreeSet<u64> = had.union(&expected).copied().collect();
        assert_eq!(
            now, wanted,
            "user {email}: memberships = before + every contact's direct account + active indirect relations"
        );
        coverage.secondary_memberships += expected_accounts
            .iter()
            .filter(|a| {
                !group
                    .contacts
                    .iter()
                    .any(|c| c.account_id.as_ref() == Some(a))
            })
            .count();
        for account in &inactive_only {
            coverage.inactive_only += 1;
            let org = org_of[account];
            assert!(
                !now.contains(&org) || had.contains(&org),
                "user {email}: an inactive-only relation to {account} made a membership"
            );
        }
    }
    assert_eq!(
        after.users.len(),
        before.users.len() + new_users,
        "one user per valid email group, no other user created"
    );
    // Every membership held before is still there.
    let before_pairs: BTreeSet<(u64, u64)> = before
        .memberships
        .iter()
        .map(|m| (m.user_id, m.organization_id))
        .collect();
    let after_pairs: BTreeSet<(u64, u64)> = after
        .memberships
        .iter()
        .map(|m| (m.user_id, m.organization_id))
        .collect();
    assert!(
        after_pairs.is_superset(&before_pairs),
        "a membership was removed"
    );
    coverage
}

/// Contacts with no or an invalid email are reported as skipped with their Id (E7).
fn check_skipped(dataset: &Dataset, run: &Run) {
    let skipped: BTreeSet<&str> = run.report()["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["salesforce_id"].as_str())
        .collect();
    let bad: Vec<&SfContact> = dataset
        .contacts
        .iter()
        .filter(|c| valid_email(c.email.as_deref()).is_none())
        .collect();
    assert!(!bad.is_empty(), "the data set must hold invalid emails");
    for c in bad {
        assert!(
            skipped.contains(c.id.as_str()),
            "contact {} with email {:?} is not reported as skipped",
            c.id,
            c.email
        );
    }
}

/// The report has every key of docs/operator.md.
fn check_report_shape(report: &Value) {
    for key in [
        "mode",
        "dry_run",
        "organizations",
        "users",
        "memberships",
        "skipped",
        "errors",
        "api_calls",
        "duration_ms",
    ] {
        assert!(report.get(key).is_some(), "report lacks `{key}`: {report}");
    }
    for key in ["created", "updated", "unchanged", "failed"] {
        assert!(report["organizations"][key].is_u64(), "organizations.{key}");
    }
    for key in [
        "created",
        "updated",
        "unchanged",
        "fields_skipped_default_org_mismatch",
        "failed",
    ] {
        assert!(report["users"][key].is_u64(), "users.{key}");
    }
    for key in ["created", "already_present", "failed"] {
        assert!(report["memberships"][key].is_u64(), "memberships.{key}");
    }
    for key in ["salesforce", "zendesk"] {
        assert!(report["api_calls"][key].is_u64(), "api_calls.{key}");
    }
    assert!(report["duration_ms"].is_u64());
}

// -------------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread")]
async fn p5_full_run_meets_the_rules_and_a_second_run_writes_nothing() {
    let sandbox = Sandbox::start(6, ZendeskSimConfig::default(), P5).await;
    let before = sandbox.zendesk.snapshot();

    let first = sandbox.sync(&[]).await;
    first.assert_ok();
    let report = first.report();
    check_report_shape(report);
    assert_eq!(report["mode"], "full");
    assert_eq!(report["dry_run"], false);
    assert_eq!(report["errors"].as_array().unwrap().len(), 0, "{report}");
    assert!(
        !first
            .stdout
            .contains(&ZendeskSimConfig::default().oauth_client_secret)
            && !first
                .stderr
                .contains(&ZendeskSimConfig::default().oauth_client_secret),
        "a secret reached the output"
    );
    let writes = sandbox.zendesk.counts().writes;
    assert!(writes > 0, "the first run wrote nothing");
    let report_calls = first.report()["api_calls"]["zendesk"].as_u64().unwrap();
    assert!(
        report_calls >= sandbox.zendesk.counts().reads + writes,
        "api_calls.zendesk ({report_calls}) counts fewer calls than Zendesk saw"
    );

    let after = sandbox.zendesk.snapshot();
    check_organizations(&sandbox.dataset, &before, &after);
    let coverage = check_people_p5(&sandbox.dataset, &before, &after);
    check_skipped(&sandbox.dataset, &first);
    // Without these, the checks above would prove little.
    assert!(coverage.new_users > 100, "{coverage:?}");
    assert!(coverage.shared_groups > 5, "{coverage:?}");
    assert!(coverage.kept_name_default_mismatch > 0, "{coverage:?}");
    assert!(coverage.fields_written_existing > 0, "{coverage:?}");
    assert!(coverage.secondary_memberships > 5, "{coverage:?}");
    assert!(coverage.inactive_only > 0, "{coverage:?}");
    assert_eq!(
        first.count("users", "fields_skipped_default_org_mismatch"),
        coverage.kept_name_default_mismatch as u64,
        "report counts the users whose fields were kept (default org doesn't match)"
    );

    // Idempotence: an incremental run, then a full run, over unchanged data.
    let second = sandbox.sync(&[]).await;
    second.assert_ok();
    assert_eq!(second.report()["mode"], "incremental");
    assert_eq!(
        sandbox.zendesk.counts().writes,
        0,
        "incremental run over unchanged data wrote: {:?}",
        sandbox.zendesk.counts().by_endpoint
    );
    let full = sandbox.sync(&["--full"]).await;
    full.assert_ok();
    assert_eq!(full.report()["mode"], "full");
    assert_eq!(
        sandbox.zendesk.counts().writes,
        0,
        "--full over unchanged data wrote: {:?}",
        sandbox.zendesk.counts().by_endpoint
    );
    assert_eq!(full.count("users", "created"), 0);
    assert_eq!(full.count("memberships", "created"), 0);
    assert_eq!(sandbox.zendesk.snapshot(), after, "Zendesk changed");
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_on_a_fresh_zendesk_writes_nothing_and_prints_the_plan_with_rules() {
    let sandbox = Sandbox::start(7, ZendeskSimConfig::default(), P5).await;
    let before = sandbox.zendesk.snapshot();

    let dry = sandbox.sync(&["--dry-run"]).await;
    dry.assert_ok();
    assert_eq!(
        sandbox.zendesk.counts().writes,
        0,
        "a dry run wrote: {:?}",
        sandbox.zendesk.counts().by_endpoint
    );
    assert_eq!(sandbox.zendesk.snapshot(), before);
    assert_eq!(dry.report()["dry_run"], true);
    assert!(dry.stdout.contains("dry run"), "{}", dry.stdout);
    for rule in [
        "accounts-to-organizations",
        "link-by-name",
        "new-user",
        "new-user-organization",
        "primary-relationship",
        "secondary-relationship",
    ] {
        assert!(
            dry.stdout.contains(rule),
            "the plan names no `{rule}` action:\n{}",
            dry.stdout
        );
    }
    assert!(dry.count("users", "created") > 100, "{:?}", dry.report());

    // The dry run did not advance the state: the next real run is a full one.
    let real = sandbox.sync(&[]).await;
    real.assert_ok();
    assert_eq!(real.report()["mode"], "full");
    assert_eq!(
        real.count("users", "created"),
        dry.count("users", "created"),
        "the dry run's plan and the real run disagree on users created"
    );
    assert_eq!(
        real.count("organizations", "created"),
        dry.count("organizations", "created")
    );
    // The dry run plans with the organizations it would create or link, as the real run does.
    assert_eq!(
        real.count("users", "fields_skipped_default_org_mismatch"),
        dry.count("users", "fields_skipped_default_org_mismatch"),
        "the dry run's plan and the real run disagree on users whose fields are kept"
    );
    assert_eq!(
        real.count("memberships", "created"),
        dry.count("memberships", "created"),
        "the dry run's plan and the real run disagree on memberships created"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn single_organization_mode_sets_the_users_organization_to_the_syncing_account() {
    let zendesk_config = ZendeskSimConfig {
        multiple_organizations: false,
        ..ZendeskSimConfig::default()
    };
    let sandbox = Sandbox::start(8, zendesk_config, P3).await;
    let before = sandbox.zendesk.snapshot();

    let run = sandbox.sync(&[]).await;
    run.assert_ok();
    let after = sandbox.zendesk.snapshot();
    check_organizations(&sandbox.dataset, &before, &after);
    let org_of = organization_of_accounts(&sandbox.dataset, &after);
    let mut moved = 0;
    for (email, group) in groups(&sandbox.dataset.contacts) {
        let user = user_in(&after, &email)
            .unwrap_or_else(|| panic!("no Zendesk user for the email group {email}"));
        let old = user_in(&before, &email);
        match &group.syncing.account_id {
            Some(account) => {
                assert_eq!(
                    user.organization_id,
                    Some(org_of[account]),
                    "E6: {email}'s organization becomes its syncing record's account organization"
                );
                if old.is_some_and(|o| o.organization_id != Some(org_of[account])) {
                    moved += 1;
                }
            }
            None => assert_eq!(
                user.organization_id,
                old.and_then(|o| o.organization_id),
                "{email}: no account, organization unchanged"
            ),
        }
        assert!(
            after.memberships_of(user.id).len() <= 1,
            "{email}: several memberships in single-organization mode"
        );
        // Single-organization mode: the syncing record's fields are always written.
        assert_eq!(
            user.name,
            group.name(),
            "{email}: name from the syncing record"
        );
    }
    assert!(moved > 0, "the data set must move existing users (E6)");

    let again = sandbox.sync(&[]).await;
    again.assert_ok();
    assert_eq!(sandbox.zendesk.counts().writes, 0, "second run wrote");
}

#[tokio::test(flavor = "multi_thread")]
async fn secondary_relationships_without_multiple_organizations_fails_before_any_write() {
    let zendesk_config = ZendeskSimConfig {
        multiple_organizations: false,
        ..ZendeskSimConfig::default()
    };
    let sandbox = Sandbox::start(9, zendesk_config, P5).await;
    let before = sandbox.zendesk.snapshot();

    let run = sandbox.sync(&[]).await;
    assert_eq!(run.code, 2, "E8 is a configuration error; {run:#?}");
    assert_eq!(sandbox.zendesk.counts().writes, 0);
    assert_eq!(sandbox.zendesk.snapshot(), before);
    assert!(
        run.stderr.contains("secondary_relationships")
            && run.stderr.contains("multiple organizations"),
        "the error names the setting and its missing prerequisite: {}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn incremental_run_reads_and_writes_only_what_the_changed_contacts_need() {
    let sandbox = Sandbox::start(10, ZendeskSimConfig::default(), P5).await;
    let before = sandbox.zendesk.snapshot();
    sandbox.sync(&[]).await.assert_ok();
    let after_first = sandbox.zendesk.snapshot();

    // Five changes: four singleton groups whose users this run created get a new phone
    // (their fields are written), one of them moves to another account; plus one contact
    // of a shared group gets a new title (nothing mapped changes for it).
    let all_groups = groups(&sandbox.dataset.contacts);
    let singles: Vec<&Group<'_>> = all_groups
        .iter()
        .filter(|(email, g)| {
            g.contacts.len() == 1
                && g.syncing.account_id.is_some()
                && user_in(&before, email).is_none()
        })
        .map(|(_, g)| g)
        .take(4)
        .collect();
    let shared = all_groups.values().find(|g| g.contacts.len() > 1).unwrap();
    let mut changed = Vec::new();
    for (i, group) in singles.iter().take(3).enumerate() {
        let id = group.syncing.id.clone();
        sandbox
            .salesforce
            .update_contact(&id, |c| c.phone = Some(format!("+1 555 99{i:02}")))
            .unwrap();
        changed.push(id);
    }
    let mover = singles[3].syncing;
    let from = mover.account_id.clone().unwrap();
    let to = sandbox
        .dataset
        .accounts
        .iter()
        .map(|a| a.id.clone())
        .find(|a| *a != from)
        .unwrap();
    sandbox
        .salesforce
        .update_contact(&mover.id, |c| c.account_id = Some(to.clone()))
        .unwrap();
    changed.push(mover.id.clone());
    let titled = shared.contacts[0].id.clone();
    sandbox
        .salesforce
        .update_contact(&titled, |c| c.title = Some("Chief Changer".into()))
        .unwrap();
    changed.push(titled);
    let n = changed.len() as u64;

    let run = sandbox.sync(&[]).await;
    run.assert_ok();
    let zendesk = sandbox.zendesk.counts();
    let salesforce = sandbox.salesforce.counts();
    let report_zendesk = run.report()["api_calls"]["zendesk"].as_u64().unwrap();
    let report_salesforce = run.report()["api_calls"]["salesforce"].as_u64().unwrap();
    eprintln!(
        "incremental run after {n} changes: report api_calls zendesk {report_zendesk}, salesforce {report_salesforce}; Zendesk saw {zendesk:?}; Salesforce saw {salesforce:?}"
    );
    assert_eq!(run.report()["mode"], "incremental");

    // The changes reached Zendesk.
    let after = sandbox.zendesk.snapshot();
    let org_of = organization_of_accounts(&sandbox.dataset, &after);
    for (i, group) in singles.iter().take(3).enumerate() {
        let email = valid_email(group.syncing.email.as_deref()).unwrap();
        let user = user_in(&after, &email).unwrap();
        assert_eq!(
            user.phone.as_deref(),
            Some(format!("+1 555 99{i:02}").as_str())
        );
    }
    let mover_email = valid_email(mover.email.as_deref()).unwrap();
    let user = user_in(&after, &mover_email).unwrap();
    let old_user = user_in(&after_first, &mover_email).unwrap();
    let now = memberships(&after, user.id);
    assert!(
        now.contains(&org_of[&to]),
        "E5: membership in the new account's organization"
    );
    assert!(now.contains(&org_of[&from]), "E5: the old membership stays");
    assert_eq!(
        user.organization_id, old_user.organization_id,
        "E5: the default stays"
    );

    // Zendesk: at most 3 calls per changed contact plus a small constant (token, account
    // settings, job polls), and no read of the whole account.
    let zendesk_api = zendesk.reads + zendesk.writes;
    assert!(
        zendesk_api <= 3 * n + 6,
        "{zendesk_api} Zendesk calls for {n} changed contacts: {:?}",
        zendesk.by_endpoint
    );
    assert!(report_zendesk <= 3 * n + 7, "report: {report_zendesk}");
    for whole_account in [
        "GET /api/v2/incremental/users/cursor",
        "GET /api/v2/incremental/organizations",
        "GET /api/v2/organization_memberships",
        "GET /api/v2/users",
        "GET /api/v2/organizations",
    ] {
        assert_eq!(
            zendesk.get(whole_account),
            0,
            "incremental run read the whole account via {whole_account}: {:?}",
            zendesk.by_endpoint
        );
    }
    // Salesforce: a handful of queries (changed records, their email groups, relations),
    // not a page per 2,000 records of the whole org.
    assert!(
        salesforce.total() <= 12,
        "{} Salesforce calls: {:?}",
        salesforce.total(),
        salesforce.by_endpoint
    );

    // And the run after that is quiet again.
    let quiet = sandbox.sync(&[]).await;
    quiet.assert_ok();
    assert_eq!(sandbox.zendesk.counts().writes, 0);
}
