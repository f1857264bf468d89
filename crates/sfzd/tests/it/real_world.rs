//! What a real org holds on day one, through the `sfzd` binary against the sandbox:
//! deleted and re-addressed contacts, internationalized and refused emails, secondary email
//! identities, organizations linked by name, a user at Zendesk's organization limit, bulk
//! answers lost after Zendesk accepted the job, and changes committed late (issues 10, 15;
//! docs/behavior.md sections 4 and 5, E11-E13).
//!
//! Each test builds a small explicit world, so what it asserts can be read off the setup.

use std::path::PathBuf;

use sandbox::{
    RunningServer, SalesforceSim, SalesforceSimConfig, SfAccount, SfContact, ZendeskSim,
    ZendeskSimConfig,
};
use serde_json::{Value, json};
use tempfile::TempDir;

use super::e2e::{P3, P5, Profile, Run, run_binary, write_config};

/// P4: accounts, contacts and primary relationships, multiple organizations on.
pub(super) const P4: Profile = Profile {
    accounts_to_organizations: true,
    primary_relationship: true,
    secondary_relationships: false,
};

/// Both simulators, empty but for what a test adds, and a configuration for them.
pub(super) struct World {
    pub(super) salesforce: SalesforceSim,
    pub(super) zendesk: ZendeskSim,
    pub(super) dir: TempDir,
    pub(super) config: PathBuf,
    _servers: (RunningServer, RunningServer),
}

impl World {
    pub(super) async fn start(profile: Profile, zendesk: ZendeskSimConfig) -> Self {
        let (zendesk, zendesk_server) = ZendeskSim::start(zendesk).await.unwrap();
        let (salesforce, salesforce_server) = SalesforceSim::start(SalesforceSimConfig::default())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(
            dir.path(),
            &salesforce.base_url(),
            &zendesk.base_url(),
            profile,
        );
        Self {
            salesforce,
            zendesk,
            dir,
            config,
            _servers: (zendesk_server, salesforce_server),
        }
    }

    pub(super) fn account(&self, name: &str) -> String {
        self.salesforce.add_account(SfAccount::new(name))
    }

    pub(super) fn contact(&self, first: &str, email: &str, account: Option<&str>) -> String {
        self.salesforce
            .add_contact(SfContact::new(first, "Tester", Some(email), account))
    }

    pub(super) async fn sync(&self, extra: &[&str]) -> Run {
        self.zendesk.reset_counts();
        self.salesforce.reset_counts();
        run_binary(&self.config, self.dir.path(), extra).await
    }

    pub(super) fn user(&self, email: &str) -> sandbox::ZdUser {
        self.zendesk
            .user_by_email(email)
            .unwrap_or_else(|| panic!("no Zendesk user has {email}"))
    }

    pub(super) fn organization_of(&self, account: &str) -> u64 {
        self.zendesk
            .organization_by_external_id(account)
            .unwrap_or_else(|| panic!("no organization for account {account}"))
            .id
    }

    /// Zendesk write requests of the last run, as `METHOD path` (OAuth token requests
    /// are not writes).
    pub(super) fn zendesk_writes(&self) -> Vec<String> {
        self.zendesk
            .request_log()
            .into_iter()
            .filter(|r| r.method != "GET" && !r.path.starts_with("/oauth"))
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }
}

/// Zendesk with "users can belong to multiple organizations" off, as P3 means.
pub(super) fn single_organization() -> ZendeskSimConfig {
    ZendeskSimConfig {
        multiple_organizations: false,
        ..ZendeskSimConfig::default()
    }
}

fn ids_in(report: &Value, list: &str) -> Vec<String> {
    report[list]
        .as_array()
        .unwrap_or_else(|| panic!("report has no {list}"))
        .iter()
        .map(|e| e["salesforce_id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn message_of(report: &Value, list: &str, id: &str) -> String {
    report[list]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["salesforce_id"] == id)
        .map(|e| {
            e.get("message")
                .or_else(|| e.get("reason"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        })
        .unwrap_or_else(|| panic!("{id} is not in {list}: {report:#}"))
}

#[tokio::test]
async fn e11_a_deleted_syncing_record_hands_over_in_the_next_incremental_run() {
    let world = World::start(P3, single_organization()).await;
    let a = world.account("Alpha");
    let b = world.account("Beta");
    let first = world.contact("First", "shared@example.com", Some(&a));
    world.contact("Second", "Shared@Example.com", Some(&b));
    world.sync(&[]).await.assert_ok();
    let user = world.user("shared@example.com");
    assert_eq!(user.name, "First Tester");
    assert_eq!(user.organization_id, Some(world.organization_of(&a)));

    world.salesforce.delete_contact(&first).unwrap();
    let run = world.sync(&[]).await;
    run.assert_ok();
    assert_eq!(run.report()["mode"], "incremental");
    let user = world.user("shared@example.com");
    assert_eq!(user.name, "Second Tester", "the next contact took over");
    assert_eq!(
        user.organization_id,
        Some(world.organization_of(&b)),
        "single-organization mode: the organization follows the syncing record"
    );
    // Deletions cost one queryAll page here; nothing is deleted in Zendesk.
    let query_all = world
        .salesforce
        .request_log()
        .iter()
        .filter(|r| r.path.contains("/queryAll"))
        .count();
    assert_eq!(query_all, 1, "{:#?}", world.salesforce.request_log());
    assert!(
        world
            .zendesk_writes()
            .iter()
            .all(|request| !request.starts_with("DELETE")),
        "{:?}",
        world.zendesk_writes()
    );
    // A second run over unchanged data writes nothing.
    world.sync(&[]).await.assert_ok();
    assert_eq!(world.zendesk_writes(), Vec::<String>::new());
}

#[tokio::test]
async fn a_contact_whose_email_changes_hands_its_old_group_over_in_the_same_run() {
    let world = World::start(P3, single_organization()).await;
    let a = world.account("Alpha");
    let mover = world.contact("Mover", "team@example.com", Some(&a));
    world.contact("Stayer", "team@example.com", Some(&a));
    world.sync(&[]).await.assert_ok();
    assert_eq!(world.user("team@example.com").name, "Mover Tester");

    world
        .salesforce
        .set_contact_email(&mover, Some("mover@example.com"))
        .unwrap();
    world.sync(&[]).await.assert_ok();
    assert_eq!(
        world.user("team@example.com").name,
        "Stayer Tester",
        "the old group was decided again in the same run"
    );
    assert_eq!(world.user("mover@example.com").name, "Mover Tester");
}

#[tokio::test]
async fn e12_internationalized_emails_are_sent_and_a_refused_one_is_reported_once_then_skipped() {
    let zendesk = ZendeskSimConfig {
        refused_emails: vec!["zoë@example.com".to_owned()],
        ..single_organization()
    };
    let world = World::start(P3, zendesk).await;
    let a = world.account("Alpha");
    world.contact("Jörg", "Jörg@Müller.de", Some(&a));
    let refused = world.contact("Zoë", "zoë@example.com", Some(&a));

    let first = world.sync(&[]).await;
    assert_eq!(
        first.code, 3,
        "a refused record is a failed record once; {first:#?}"
    );
    assert_eq!(world.user("jörg@müller.de").name, "Jörg Tester");
    assert_eq!(ids_in(first.report(), "errors"), vec![refused.clone()]);
    let message = message_of(first.report(), "errors", &refused);

    // Unchanged, it is not sent again: listed in skipped with Zendesk's message.
    let second = world.sync(&[]).await;
    second.assert_ok();
    assert!(ids_in(second.report(), "errors").is_empty());
    let reason = message_of(second.report(), "skipped", &refused);
    assert!(reason.contains(&message), "{reason} should carry {message}");
    assert_eq!(
        world.zendesk_writes(),
        Vec::<String>::new(),
        "the refused record was sent again"
    );

    // Changed in Salesforce, it is sent again (and refused again).
    world
        .salesforce
        .update_contact(&refused, |c| c.first_name = Some("Zoé".to_owned()))
        .unwrap();
    let third = world.sync(&[]).await;
    assert_eq!(third.code, 3, "{third:#?}");
    assert_eq!(ids_in(third.report(), "errors"), vec![refused]);
}

#[tokio::test]
async fn e13_a_contact_whose_email_is_a_secondary_identity_updates_that_user() {
    let world = World::start(P4, ZendeskSimConfig::default()).await;
    let a = world.account("Alpha");
    world.contact("Other", "other@example.test", Some(&a));
    let vic = world
        .zendesk
        .add_user(json!({"name": "Vic Legacy", "email": "vic@example.test"}))
        .unwrap();
    world
        .zendesk
        .add_identity(vic, "vic.work@example.test")
        .unwrap();
    world.sync(&[]).await.assert_ok();

    // After the first run, a contact with the secondary address appears.
    world.contact("Vic", "Vic.Work@example.test", Some(&a));
    let run = world.sync(&[]).await;
    run.assert_ok();
    assert_eq!(run.report()["mode"], "incremental");
    assert_eq!(
        run.count("users", "created"),
        0,
        "no user may be created for a secondary identity"
    );
    assert_eq!(world.zendesk.snapshot().users.len(), 2);
    let user = world.user("vic@example.test");
    assert_eq!(user.id, vic);
    let organization = world.organization_of(&a);
    assert!(
        world
            .zendesk
            .memberships_of(vic)
            .iter()
            .any(|m| m.organization_id == organization),
        "the user joined the contact's organization"
    );
}

#[tokio::test]
async fn bulk_creates_answered_after_a_dropped_connection_end_without_failures_or_duplicates() {
    let world = World::start(P5, ZendeskSimConfig::default()).await;
    let mut accounts = Vec::new();
    for i in 0..3 {
        accounts.push(world.account(&format!("Account {i}")));
    }
    for i in 0..6 {
        world.contact(
            &format!("Person{i}"),
            &format!("person{i}@example.com"),
            Some(&accounts[i % 3]),
        );
    }
    // The answers of the organization job and of the user job are lost after Zendesk
    // accepted them; the client submits each batch again.
    world.zendesk.drop_next_bulk_create_answers(2);
    let run = world.sync(&[]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(
        ids_in(run.report(), "errors").is_empty(),
        "{:#}",
        run.report()
    );
    let snapshot = world.zendesk.snapshot();
    assert_eq!(snapshot.organizations.len(), 3, "no duplicate organization");
    assert_eq!(snapshot.users.len(), 6, "no duplicate user");
    for account in &accounts {
        world.organization_of(account);
    }
    // And the next run has nothing left to do.
    world.sync(&[]).await.assert_ok();
    assert_eq!(world.zendesk_writes(), Vec::<String>::new());
}

#[tokio::test]
async fn a_change_committed_late_is_synced_by_the_next_incremental_run() {
    let world = World::start(P3, single_organization()).await;
    let a = world.account("Alpha");
    let late = world.contact("Early", "late@example.com", Some(&a));
    for i in 0..3 {
        world.contact(&format!("P{i}"), &format!("p{i}@example.com"), Some(&a));
    }
    world.sync(&[]).await.assert_ok();
    // A transaction that started 30 s before the newest record the run saw commits now.
    let newest = world.salesforce.latest_modstamp().unwrap();
    world
        .salesforce
        .update_contact_at(&late, newest - chrono::Duration::seconds(30), |c| {
            c.first_name = Some("Late".to_owned());
        })
        .unwrap();
    world.sync(&[]).await.assert_ok();
    assert_eq!(world.user("late@example.com").name, "Late Tester");
    // The look-back overlap is free of writes.
    world.sync(&[]).await.assert_ok();
    assert_eq!(world.zendesk_writes(), Vec::<String>::new());
}

#[tokio::test]
async fn linking_by_name_writes_the_exact_spelling_and_the_next_run_writes_nothing() {
    let world = World::start(P3, single_organization()).await;
    let organization = world
        .zendesk
        .add_organization(json!({"name": "UMBRELLA CORP"}))
        .unwrap();
    let account = world.account("Umbrella Corp");
    let first = world.sync(&[]).await;
    first.assert_ok();
    let linked = world.zendesk.organization_by_external_id(&account).unwrap();
    assert_eq!(linked.id, organization, "linked, not duplicated");
    assert_eq!(
        linked.name, "Umbrella Corp",
        "the account's spelling is written"
    );
    world.sync(&[]).await.assert_ok();
    assert_eq!(world.zendesk_writes(), Vec::<String>::new());
    world.sync(&["--full"]).await.assert_ok();
    assert_eq!(world.zendesk_writes(), Vec::<String>::new());
}

#[tokio::test]
async fn a_user_at_zendesks_organization_limit_is_a_per_record_error_not_a_stopped_run() {
    let zendesk = ZendeskSimConfig {
        max_organizations_per_user: 1,
        ..ZendeskSimConfig::default()
    };
    let world = World::start(P4, zendesk).await;
    let a = world.account("Alpha");
    let b = world.account("Beta");
    world.contact("Multi", "multi@example.com", Some(&a));
    let second = world.contact("Multi", "multi@example.com", Some(&b));
    world.contact("Single", "single@example.com", Some(&b));
    let run = world.sync(&[]).await;
    assert_eq!(run.code, 3, "{run:#?}");
    assert_eq!(ids_in(run.report(), "errors"), vec![second.clone()]);
    assert_eq!(world.user("single@example.com").name, "Single Tester");
    // Refused once: held back (listed, not sent) until the record changes.
    let again = world.sync(&[]).await;
    again.assert_ok();
    message_of(again.report(), "skipped", &second);
    assert_eq!(world.zendesk_writes(), Vec::<String>::new());
}
