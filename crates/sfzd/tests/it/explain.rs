//! `sfzd explain EMAIL` through the binary against the sandbox: it answers from live data,
//! names the syncing record and why, the user's organizations and what the next run would
//! do with each rule, and sends no write request (issue 13).

use std::process::Command;

use sandbox::{SalesforceSimConfig, ZendeskSimConfig};
use serde_json::{Value, json};

use super::e2e::P3;
use super::real_world::{P4, World, single_organization};

/// Runs `sfzd explain --config F --json EMAIL`; returns the exit status and the answer.
async fn explain(world: &World, email: &str) -> (i32, Value) {
    world.zendesk.reset_counts();
    let args = vec![
        "explain".to_owned(),
        "--config".to_owned(),
        world.config.display().to_string(),
        "--json".to_owned(),
        email.to_owned(),
    ];
    let env = [
        (
            "SFZD_SALESFORCE_CLIENT_SECRET",
            SalesforceSimConfig::default().client_secret,
        ),
        (
            "SFZD_ZENDESK_CLIENT_SECRET",
            ZendeskSimConfig::default().oauth_client_secret,
        ),
    ];
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_sfzd"))
            .args(&args)
            .env_remove("SFZD_ZENDESK_API_TOKEN")
            .envs(env)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let code = output.status.code().unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let answer = serde_json::from_str(&stdout).unwrap_or_else(|_| {
        panic!(
            "explain printed no JSON (exit {code}): {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    // Read calls only.
    assert_eq!(
        world.zendesk_writes(),
        Vec::<String>::new(),
        "explain wrote"
    );
    (code, answer)
}

fn steps(answer: &Value) -> Vec<(String, Vec<String>)> {
    answer["next_run"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["action"].as_str().unwrap().to_owned(),
                s["rules"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_shared_email_names_its_syncing_record_and_why() {
    let world = World::start(P4, ZendeskSimConfig::default()).await;
    let a = world.account("Alpha");
    let b = world.account("Beta");
    let first = world.contact("First", "pair@example.com", Some(&a));
    world.contact("Second", "PAIR@example.com", Some(&b));
    world.sync(&[]).await.assert_ok();

    let (code, answer) = explain(&world, " Pair@Example.com ").await;
    assert_eq!(code, 0);
    assert_eq!(answer["email"], "pair@example.com");
    assert_eq!(answer["records"].as_array().unwrap().len(), 2);
    assert_eq!(answer["syncing_record"][0], first.as_str());
    assert!(
        answer["syncing_record"][1]
            .as_str()
            .unwrap()
            .contains("remembered"),
        "{answer:#}"
    );
    let user = world.user("pair@example.com");
    assert_eq!(answer["user"]["id"], user.id);
    assert_eq!(answer["user"]["organizations"].as_array().unwrap().len(), 2);
    assert!(
        steps(&answer)[0].0.starts_with("nothing to write"),
        "{answer:#}"
    );
}

#[tokio::test]
async fn a_deleted_syncing_record_is_shown_handed_over() {
    let world = World::start(P3, single_organization()).await;
    let a = world.account("Alpha");
    let b = world.account("Beta");
    let first = world.contact("First", "gone@example.com", Some(&a));
    let second = world.contact("Second", "gone@example.com", Some(&b));
    world.sync(&[]).await.assert_ok();
    world.salesforce.delete_contact(&first).unwrap();

    let (code, answer) = explain(&world, "gone@example.com").await;
    assert_eq!(code, 0);
    assert_eq!(answer["records"].as_array().unwrap().len(), 1);
    assert_eq!(answer["syncing_record"][0], second.as_str());
    let steps = steps(&answer);
    assert!(
        steps
            .iter()
            .any(|(action, rules)| action.contains("update user")
                && rules.contains(&"single-organization".to_owned())),
        "the next run writes the new syncing record's fields and organization: {steps:?}"
    );
}

#[tokio::test]
async fn a_default_organization_mismatch_says_the_fields_are_not_written_and_why() {
    let world = World::start(P4, ZendeskSimConfig::default()).await;
    let other = world
        .zendesk
        .add_organization(json!({"name": "Elsewhere"}))
        .unwrap();
    world
        .zendesk
        .add_user(
            json!({"name": "Old Name", "email": "mismatch@example.com", "organization_id": other}),
        )
        .unwrap();
    let a = world.account("Alpha");
    world.contact("New", "mismatch@example.com", Some(&a));
    // Accounts exist in Zendesk after a first run; the user keeps its default.
    world.sync(&[]).await.assert_ok();

    let (code, answer) = explain(&world, "mismatch@example.com").await;
    assert_eq!(code, 0);
    let steps = steps(&answer);
    assert!(
        steps
            .iter()
            .any(|(action, rules)| action.contains("not synced")
                && rules.contains(&"default-org-mismatch".to_owned())),
        "{steps:?}"
    );
    assert_eq!(world.user("mismatch@example.com").name, "Old Name");
}

#[tokio::test]
async fn an_email_no_record_has_says_so_and_exits_0() {
    let world = World::start(P4, ZendeskSimConfig::default()).await;
    world.contact("Somebody", "somebody@example.com", None);
    let (code, answer) = explain(&world, "nobody@example.com").await;
    assert_eq!(code, 0);
    assert_eq!(answer["records"], json!([]));
    assert_eq!(answer["user"], Value::Null);
    assert_eq!(answer["syncing_record"], Value::Null);
}
