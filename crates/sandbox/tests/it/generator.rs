//! Data generator: determinism, the configured mix, and loading into both simulators.

use std::collections::{HashMap, HashSet};

use sandbox::{
    GeneratorConfig, SalesforceSim, SalesforceSimConfig, ZendeskSim, ZendeskSimConfig, generate,
};

#[test]
fn same_seed_gives_the_same_dataset_and_another_seed_does_not() {
    let a = generate(&GeneratorConfig::new(7, 500));
    let b = generate(&GeneratorConfig::new(7, 500));
    let c = generate(&GeneratorConfig::new(8, 500));
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(
        serde_json::to_string(&a).expect("json"),
        serde_json::to_string(&b).expect("json")
    );
}

fn within(actual: f64, expected: f64, tolerance: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: {actual:.3} not within {tolerance} of {expected}"
    );
}

#[test]
fn the_mix_follows_the_configuration() {
    let config = GeneratorConfig::new(42, 5000);
    let d = generate(&config);
    let n = d.contacts.len() as f64;
    assert_eq!(d.contacts.len(), 5000);
    within(
        d.accounts.len() as f64 / n,
        0.2,
        0.001,
        "accounts per contact",
    );

    let names: HashSet<String> = d
        .accounts
        .iter()
        .map(|a| a.name.trim().to_lowercase())
        .collect();
    assert_eq!(names.len(), d.accounts.len(), "account names are unique");

    let no_account = d.contacts.iter().filter(|c| c.account_id.is_none()).count() as f64;
    within(no_account / n, 0.05, 0.015, "no account");

    let valid = |e: &str| {
        e.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
            && !e.contains(' ')
    };
    let bad = d
        .contacts
        .iter()
        .filter(|c| c.email.as_deref().is_none_or(|e| !valid(e)))
        .count() as f64;
    within(bad / n, 0.02, 0.005, "bad email");

    let mut by_email: HashMap<String, Vec<&sandbox::SfContact>> = HashMap::new();
    for c in &d.contacts {
        if let Some(e) = c.email.as_deref().filter(|e| valid(e)) {
            by_email.entry(e.to_lowercase()).or_default().push(c);
        }
    }
    let shared: Vec<&Vec<&sandbox::SfContact>> =
        by_email.values().filter(|g| g.len() > 1).collect();
    let shared_contacts = shared.iter().map(|g| g.len()).sum::<usize>() as f64;
    within(shared_contacts / n, 0.12, 0.01, "shared emails");
    for group in &shared {
        assert!(group.len() <= 3);
        let accounts: HashSet<_> = group.iter().map(|c| &c.account_id).collect();
        assert_eq!(
            accounts.len(),
            group.len(),
            "shared emails are in different accounts"
        );
        let spellings: HashSet<_> = group.iter().map(|c| c.email.clone()).collect();
        assert_eq!(
            spellings.len(),
            group.len(),
            "shared emails differ in letter case"
        );
    }

    let with_account = d.contacts.iter().filter(|c| c.account_id.is_some()).count();
    let direct = d.relations.iter().filter(|r| r.is_direct).count();
    assert_eq!(
        direct, with_account,
        "a direct relation per contact with an account"
    );
    let indirect: Vec<_> = d.relations.iter().filter(|r| !r.is_direct).collect();
    let contacts_with_indirect: HashSet<_> = indirect.iter().map(|r| &r.contact_id).collect();
    within(
        contacts_with_indirect.len() as f64 / with_account as f64,
        0.2,
        0.03,
        "indirect relations",
    );
    let active = indirect.iter().filter(|r| r.is_active).count() as f64;
    within(
        active / indirect.len() as f64,
        0.8,
        0.05,
        "active relations",
    );

    let linked = d
        .zendesk_organizations
        .iter()
        .filter(|o| o.external_id.is_some())
        .count() as f64;
    within(
        linked / d.accounts.len() as f64,
        0.10,
        0.005,
        "linked organizations",
    );
    let account_names: HashSet<&str> = d.accounts.iter().map(|a| a.name.as_str()).collect();
    let same_name = d
        .zendesk_organizations
        .iter()
        .filter(|o| o.external_id.is_none() && account_names.contains(o.name.as_str()))
        .count();
    assert_eq!(
        same_name, 10,
        "1% of 1000 accounts have an unlinked same-name organization"
    );

    within(
        d.zendesk_users.len() as f64 / by_email.len() as f64,
        0.10,
        0.005,
        "existing users",
    );
    assert!(d.zendesk_users.iter().any(|u| u.organization.is_some()));
    assert!(d.zendesk_users.iter().any(|u| u.organization.is_none()));
    let customers = d
        .accounts
        .iter()
        .filter(|a| a.account_type.as_deref() == Some("Customer"))
        .count() as f64;
    within(
        customers / d.accounts.len() as f64,
        0.8,
        0.05,
        "customer accounts",
    );
    assert!(d.accounts.iter().all(|a| a.tier.is_some()));
    assert!(
        d.contacts
            .iter()
            .all(|c| c.title.is_some() && c.phone.is_some())
    );
    assert!(
        d.leads
            .iter()
            .any(|l| l.is_converted && l.converted_contact_id.is_some())
    );
}

#[test]
fn twenty_thousand_contacts_load_into_both_simulators() {
    let d = generate(&GeneratorConfig::new(1, 20_000));
    let sf = SalesforceSim::new(SalesforceSimConfig::default());
    sf.load(&d);
    let zd = ZendeskSim::new(ZendeskSimConfig::default());
    zd.load(&d).expect("zendesk load");
    let sf_snapshot = sf.snapshot();
    assert_eq!(sf_snapshot.contacts.len(), 20_000);
    assert_eq!(sf_snapshot.relations.len(), d.relations.len());
    let zd_snapshot = zd.snapshot();
    assert_eq!(zd_snapshot.users.len(), d.zendesk_users.len());
    assert_eq!(
        zd_snapshot.organizations.len(),
        d.zendesk_organizations.len()
    );

    // Single-organization accounts load too (extra memberships are skipped).
    let single = ZendeskSim::new(ZendeskSimConfig {
        multiple_organizations: false,
        ..ZendeskSimConfig::default()
    });
    single.load(&d).expect("single-org load");
    let snapshot = single.snapshot();
    let mut per_user: HashMap<u64, usize> = HashMap::new();
    for m in &snapshot.memberships {
        *per_user.entry(m.user_id).or_default() += 1;
    }
    assert!(per_user.values().all(|n| *n == 1));
}

#[test]
fn the_benchmarks_real_world_data_set_loads_and_churns() {
    // `cargo xtask bench`'s data set (seed 42): secondary identities must pass Zendesk's
    // rules when loaded, and the churn must leave the Salesforce side queryable.
    let d = generate(&GeneratorConfig::real_world(42, 10_000));
    let zd = ZendeskSim::new(ZendeskSimConfig::default());
    zd.load(&d).expect("zendesk load");
    let identities: usize = zd.snapshot().users.iter().map(|u| u.identities.len()).sum();
    assert_eq!(identities, d.zendesk_users.len() + 200);
    let sf = SalesforceSim::new(SalesforceSimConfig::default());
    sf.load(&d);
    let churn = sf.delete_and_readdress(0.005, 0.005, 42);
    assert_eq!((churn.deleted.len(), churn.readdressed.len()), (50, 50));
}

#[test]
fn change_fraction_changes_that_share_of_contacts_and_bumps_modstamps() {
    let d = generate(&GeneratorConfig::new(3, 2000));
    let sf = SalesforceSim::new(SalesforceSimConfig::default());
    sf.load(&d);
    let before: HashMap<String, sandbox::SfContact> = sf
        .snapshot()
        .contacts
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect();
    let changed = d.change_fraction(&sf, 0.05, 9);
    assert_eq!(changed.len(), 100);
    let latest = before
        .values()
        .map(|c| c.system_modstamp)
        .max()
        .expect("max");
    for id in &changed {
        let now = sf.contact(id).expect("contact");
        let old = &before[id];
        assert!(now.system_modstamp > latest);
        assert!(
            now.title != old.title || now.phone != old.phone || now.account_id != old.account_id
        );
    }
    let again = SalesforceSim::new(SalesforceSimConfig::default());
    again.load(&d);
    assert_eq!(
        again.change_fraction(0.05, 9),
        changed,
        "deterministic for a seed"
    );
}

#[tokio::test]
async fn sandbox_starts_both_simulators_with_a_dataset() {
    let d = generate(&GeneratorConfig::new(5, 200));
    let sandbox = sandbox::Sandbox::start(
        &d,
        SalesforceSimConfig::default(),
        ZendeskSimConfig::default(),
    )
    .await
    .expect("start");
    assert!(
        sandbox
            .salesforce_server
            .url
            .starts_with("http://127.0.0.1:")
    );
    assert_eq!(sandbox.salesforce.base_url(), sandbox.salesforce_server.url);
    assert_eq!(sandbox.zendesk.base_url(), sandbox.zendesk_server.url);
    assert_eq!(sandbox.salesforce.snapshot().contacts.len(), 200);
    assert_eq!(
        sandbox.zendesk.snapshot().users.len(),
        d.zendesk_users.len()
    );
    let url = sandbox.zendesk_server.url.clone();
    // A pooled keep-alive connection must not hold the shutdown up.
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{url}/api/v2/users/count"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    tokio::time::timeout(std::time::Duration::from_secs(10), sandbox.shutdown())
        .await
        .expect("shutdown finishes");
    assert!(
        reqwest::get(format!("{url}/api/v2/users/count"))
            .await
            .is_err(),
        "server stopped"
    );
}

#[test]
fn the_real_world_mix_has_international_emails_and_secondary_identities() {
    let plain = generate(&GeneratorConfig::new(42, 2000));
    assert!(
        plain
            .contacts
            .iter()
            .all(|c| c.email.as_deref().is_none_or(str::is_ascii)),
        "the default mix is unchanged"
    );
    assert!(
        plain
            .zendesk_users
            .iter()
            .all(|u| u.secondary_emails.is_empty())
    );

    let config = GeneratorConfig::real_world(42, 2000);
    let d = generate(&config);
    assert_eq!(d, generate(&config), "deterministic");
    let intl = d
        .contacts
        .iter()
        .filter(|c| c.email.as_deref().is_some_and(|e| !e.is_ascii()))
        .count();
    within(
        intl as f64 / 2000.0,
        0.03,
        0.005,
        "internationalized emails",
    );

    let primaries: HashSet<String> = d
        .zendesk_users
        .iter()
        .map(|u| u.email.to_lowercase())
        .collect();
    let secondaries: Vec<&String> = d
        .zendesk_users
        .iter()
        .flat_map(|u| &u.secondary_emails)
        .collect();
    assert_eq!(secondaries.len(), 40, "2% of 2000 contacts");
    let contact_emails: HashSet<String> = d
        .contacts
        .iter()
        .filter_map(|c| c.email.as_ref().map(|e| e.to_lowercase()))
        .collect();
    for email in &secondaries {
        assert!(
            contact_emails.contains(&email.to_lowercase()),
            "{email} is a contact's"
        );
        assert!(
            !primaries.contains(&email.to_lowercase()),
            "{email} is no primary"
        );
    }

    // Loaded, each secondary address belongs to its user but is not its primary email.
    let zendesk = ZendeskSim::new(ZendeskSimConfig::default());
    zendesk.load(&d).expect("loads");
    for email in secondaries {
        let user = zendesk.user_by_email(email).expect("found by secondary");
        assert_ne!(user.email.as_deref(), Some(email.as_str()));
        assert!(
            user.identities
                .iter()
                .any(|i| &i.value == email && !i.primary)
        );
    }
}

#[test]
fn delete_and_readdress_is_deterministic_and_hands_over_syncing_records() {
    let d = generate(&GeneratorConfig::new(42, 1000));
    let run = || {
        let sim = SalesforceSim::new(SalesforceSimConfig::default());
        sim.load(&d);
        let churn = sim.delete_and_readdress(0.02, 0.01, 9);
        (sim, churn)
    };
    let (sim, churn) = run();
    assert_eq!(churn, run().1, "same seed, same choice");
    assert_eq!(churn.deleted.len(), 20);
    assert_eq!(churn.readdressed.len(), 10);
    assert!(
        churn
            .deleted
            .iter()
            .all(|id| !churn.readdressed.contains(id))
    );

    let snapshot = sim.snapshot();
    let by_id: HashMap<&str, &sandbox::SfContact> = snapshot
        .contacts
        .iter()
        .map(|c| (c.id.as_str(), c))
        .collect();
    assert!(churn.deleted.iter().all(|id| by_id[id.as_str()].is_deleted));
    // At least the first-created member of some shared group is gone, with others left.
    let mut first_of_group: HashMap<String, (chrono::DateTime<chrono::Utc>, &str)> = HashMap::new();
    let mut size: HashMap<String, usize> = HashMap::new();
    for c in &d.contacts {
        if let Some(email) = c.email.as_ref().map(|e| e.to_lowercase()) {
            *size.entry(email.clone()).or_default() += 1;
            let entry = first_of_group
                .entry(email)
                .or_insert((c.created_date, &c.id));
            if c.created_date < entry.0 {
                *entry = (c.created_date, &c.id);
            }
        }
    }
    let handed_over = first_of_group
        .iter()
        .filter(|(email, (_, id))| size[*email] > 1 && churn.deleted.iter().any(|d| d == id))
        .count();
    assert!(handed_over >= 5, "{handed_over} syncing records deleted");
    for id in &churn.readdressed {
        let before = d.contacts.iter().find(|c| &c.id == id).expect("contact");
        assert_ne!(by_id[id.as_str()].email, before.email, "{id} re-addressed");
    }
}
