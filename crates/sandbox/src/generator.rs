//! Deterministic, seeded datasets with the mix of records the sync must handle.
//!
//! The same [`GeneratorConfig`] always yields the same [`Dataset`] (rand's `StdRng` from a
//! seed, no clock, no hash-order dependence), so benchmarks and end-to-end tests can compare
//! runs. The mix mirrors what a real org looks like to the sync: shared emails in different
//! letter case, contacts without account or usable email, indirect relations, accounts
//! already linked to Zendesk organizations, unlinked organizations carrying an account's
//! name, and Zendesk users that already exist. [`GeneratorConfig::real_world`] adds what a
//! real org holds on day one: internationalized emails (`jörg.müller@müller-bau.de`) and
//! Zendesk users whose secondary email identity is a contact's address;
//! [`SalesforceSim::delete_and_readdress`] deletes and re-addresses contacts between runs.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::salesforce::{SalesforceSim, SfAccount, SfContact, SfLead, SfRelation, sf_id};

/// Knobs of the generator; fractions are of contacts unless stated otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratorConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Number of contacts.
    pub contacts: usize,
    /// Accounts per contact (0.2 = one account per five contacts).
    pub accounts_per_contact: f64,
    /// Contacts whose email is shared with 1-2 contacts of other accounts (other letter case).
    pub shared_email_fraction: f64,
    /// Contacts without an account.
    pub no_account_fraction: f64,
    /// Contacts with no email or an invalid one.
    pub bad_email_fraction: f64,
    /// Contacts (with an account) that get 1-2 indirect AccountContactRelations.
    pub indirect_relation_fraction: f64,
    /// Share of indirect relations that are active.
    pub active_relation_fraction: f64,
    /// Accounts with an existing Zendesk organization carrying their Id as external_id.
    pub linked_org_fraction: f64,
    /// Accounts with an unlinked Zendesk organization of the same name (case E9).
    pub same_name_org_fraction: f64,
    /// Distinct contact emails that already exist as Zendesk users.
    pub existing_user_fraction: f64,
    /// Accounts whose `Type` is `Customer`.
    pub customer_type_fraction: f64,
    /// Number of leads.
    pub leads: usize,
    /// Leads that are converted (pointing at a contact with the same email).
    pub converted_lead_fraction: f64,
    /// Contacts (with a usable email) whose address is internationalized: non-ASCII
    /// letters in the name and the domain, e.g. `jörg.müller.7@müller-bau.de`.
    #[serde(default)]
    pub international_email_fraction: f64,
    /// Contacts whose email is not any Zendesk user's primary email but a secondary email
    /// identity of an existing Zendesk user (added through the identities API).
    #[serde(default)]
    pub secondary_identity_fraction: f64,
    /// `CreatedDate` of the first record; later records are spread after it.
    pub base_time: DateTime<Utc>,
}

impl GeneratorConfig {
    /// The default mix for `contacts` contacts and a seed.
    pub fn new(seed: u64, contacts: usize) -> Self {
        Self {
            seed,
            contacts,
            leads: contacts / 10,
            ..Self::default()
        }
    }

    /// [`GeneratorConfig::new`] plus what a real org holds: 3% internationalized emails
    /// and 2% contacts whose address is a Zendesk user's secondary identity. Used by
    /// `cargo xtask bench` (and meant for `sfzd demo`).
    pub fn real_world(seed: u64, contacts: usize) -> Self {
        Self {
            international_email_fraction: 0.03,
            secondary_identity_fraction: 0.02,
            ..Self::new(seed, contacts)
        }
    }
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            contacts: 1000,
            accounts_per_contact: 0.2,
            shared_email_fraction: 0.12,
            no_account_fraction: 0.05,
            bad_email_fraction: 0.02,
            indirect_relation_fraction: 0.20,
            active_relation_fraction: 0.8,
            linked_org_fraction: 0.10,
            same_name_org_fraction: 0.01,
            existing_user_fraction: 0.10,
            customer_type_fraction: 0.8,
            leads: 100,
            converted_lead_fraction: 0.2,
            international_email_fraction: 0.0,
            secondary_identity_fraction: 0.0,
            base_time: Utc
                .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
                .single()
                .unwrap_or(DateTime::UNIX_EPOCH),
        }
    }
}

/// An organization that exists in Zendesk before the first sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZendeskOrgSeed {
    /// Organization name.
    pub name: String,
    /// External id (an Account Id when linked).
    pub external_id: Option<String>,
}

/// A user that exists in Zendesk before the first sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZendeskUserSeed {
    /// User name.
    pub name: String,
    /// Primary email.
    pub email: String,
    /// Default organization: index into [`Dataset::zendesk_organizations`].
    pub organization: Option<usize>,
    /// Further memberships (indexes); skipped when loading into a single-organization account.
    pub extra_organizations: Vec<usize>,
    /// Secondary email identities, added after the user is created (as through
    /// `POST /api/v2/users/{id}/identities`).
    #[serde(default)]
    pub secondary_emails: Vec<String>,
}

/// Records for both simulators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// Salesforce accounts.
    pub accounts: Vec<SfAccount>,
    /// Salesforce contacts.
    pub contacts: Vec<SfContact>,
    /// Salesforce leads.
    pub leads: Vec<SfLead>,
    /// AccountContactRelations, the direct one of every contact with an account included.
    pub relations: Vec<SfRelation>,
    /// Zendesk organizations present before the sync.
    pub zendesk_organizations: Vec<ZendeskOrgSeed>,
    /// Zendesk users present before the sync.
    pub zendesk_users: Vec<ZendeskUserSeed>,
}

impl Dataset {
    /// Changes `fraction` of the contacts in `sim` (see [`SalesforceSim::change_fraction`]).
    pub fn change_fraction(&self, sim: &SalesforceSim, fraction: f64, seed: u64) -> Vec<String> {
        sim.change_fraction(fraction, seed)
    }
}

const FIRST: &[&str] = &[
    "Ada", "Ben", "Chloe", "Dmitri", "Elena", "Farah", "Gustav", "Hana", "Ivan", "Julia", "Kofi",
    "Lena", "Marco", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera",
    "Wei", "Ximena", "Yusuf", "Zoe",
];
const LAST: &[&str] = &[
    "Anders", "Brown", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hughes", "Ito",
    "Jensen", "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Petrov", "Quispe", "Rossi",
    "Schmidt", "Tanaka", "Usman", "Varga", "Weber", "Xu", "Yilmaz", "Zhang",
];
const ADJ: &[&str] = &[
    "Blue", "Bright", "Cedar", "Delta", "Eastern", "First", "Golden", "Harbor", "Iron", "Jade",
    "Keystone", "Lunar", "Maple", "North", "Open", "Pioneer", "Quantum", "Red", "Silver", "True",
    "Union", "Vertex", "West", "Young",
];
const NOUN: &[&str] = &[
    "Analytics",
    "Bakery",
    "Capital",
    "Dynamics",
    "Energy",
    "Foods",
    "Graphics",
    "Health",
    "Industries",
    "Journeys",
    "Kitchens",
    "Logistics",
    "Media",
    "Networks",
    "Optics",
    "Pharma",
    "Robotics",
    "Systems",
    "Textiles",
    "Utilities",
    "Ventures",
    "Works",
];
const SUFFIX: &[&str] = &["Inc", "Ltd", "GmbH", "LLC", "SA", "Group", "Co"];
/// First names, last names and domains of internationalized addresses: Latin letters with
/// diacritics, which Zendesk stores as given and compares case-insensitively.
const INTL_FIRST: &[&str] = &[
    "jörg",
    "zoë",
    "josé",
    "åsa",
    "søren",
    "françois",
    "renée",
    "łukasz",
    "çağla",
    "núria",
];
const INTL_LAST: &[&str] = &[
    "müller",
    "gómez",
    "ångström",
    "dvořák",
    "özdemir",
    "brontë",
    "nuñez",
    "kühn",
];
const INTL_DOMAINS: &[&str] = &[
    "müller-bau.de",
    "café.example",
    "señor.example",
    "bücher.example",
    "example.com",
];
/// Contact titles, also used when the benchmark changes contacts.
pub(crate) const TITLES: &[&str] = &[
    "CEO",
    "CTO",
    "VP Sales",
    "Support Lead",
    "Buyer",
    "Engineer",
    "Office Manager",
    "Analyst",
    "Account Manager",
    "Director of Operations",
];
const TYPES: &[&str] = &["Prospect", "Partner", "Reseller", "Other"];
const TIERS: &[&str] = &["Platinum", "Gold", "Silver", "Bronze"];
const REGIONS: &[&str] = &["EMEA", "AMER", "APAC"];
const ROLES: &[&str] = &[
    "Decision Maker",
    "Technical Buyer",
    "Billing Contact",
    "Influencer",
];

fn pick<'a>(rng: &mut StdRng, list: &[&'a str]) -> &'a str {
    list[rng.random_range(0..list.len())]
}

fn slug(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_lowercase()
}

/// Letter-case variant `n` of an email: 0 as is, 1 capitalized parts, 2 upper case.
fn case_variant(email: &str, n: usize) -> String {
    match n {
        0 => email.to_owned(),
        1 => email
            .split('.')
            .map(|part| {
                let mut c = part.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect::<String>())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("."),
        _ => email.to_uppercase(),
    }
}

/// Generates a dataset; identical configs give identical datasets.
pub fn generate(config: &GeneratorConfig) -> Dataset {
    let mut rng = StdRng::seed_from_u64(config.seed);
    let n = config.contacts;
    let base = config.base_time;
    let n_accounts = ((n as f64 * config.accounts_per_contact).round() as usize).max(1);

    // Accounts with names unique after trimming and case folding, as Zendesk requires.
    let mut names = HashSet::new();
    let mut accounts = Vec::with_capacity(n_accounts);
    for i in 0..n_accounts {
        let mut name = format!(
            "{} {} {}",
            pick(&mut rng, ADJ),
            pick(&mut rng, NOUN),
            pick(&mut rng, SUFFIX)
        );
        let mut k = 2;
        while !names.insert(name.to_lowercase()) {
            name = format!(
                "{} {} {} {k}",
                pick(&mut rng, ADJ),
                pick(&mut rng, NOUN),
                pick(&mut rng, SUFFIX)
            );
            k += 1;
        }
        let created =
            base + Duration::minutes(i as i64 * 7) + Duration::seconds(rng.random_range(0..60));
        let modstamp = created + Duration::minutes(rng.random_range(0..60 * 24 * 30));
        accounts.push(SfAccount {
            id: sf_id("001", i as u64 + 1),
            account_type: Some(
                if rng.random_bool(config.customer_type_fraction.clamp(0.0, 1.0)) {
                    "Customer".to_owned()
                } else {
                    pick(&mut rng, TYPES).to_owned()
                },
            ),
            tier: Some(pick(&mut rng, TIERS).to_owned()),
            phone: Some(format!("+1 555 {:04}", rng.random_range(0..10_000))),
            website: Some(format!("https://{}.example.com", slug(&name))),
            industry: None,
            name,
            created_date: created,
            system_modstamp: modstamp,
            is_deleted: false,
            other_fields: BTreeMap::from([
                ("Region__c".to_owned(), pick(&mut rng, REGIONS).to_owned()),
                (
                    "NumberOfEmployees".to_owned(),
                    rng.random_range(1..5000u32).to_string(),
                ),
            ]),
        });
    }

    // Contacts: every one gets a unique email first; bad and shared emails are applied after.
    let mut contacts = Vec::with_capacity(n);
    for i in 0..n {
        let first = pick(&mut rng, FIRST);
        let last = pick(&mut rng, LAST);
        let account = (!rng.random_bool(config.no_account_fraction.clamp(0.0, 1.0)))
            .then(|| rng.random_range(0..n_accounts));
        let domain = account.map_or_else(
            || "mail.example.org".to_owned(),
            |a| format!("{}.example.com", slug(&accounts[a].name)),
        );
        let created =
            base + Duration::minutes(i as i64 * 3) + Duration::seconds(rng.random_range(0..60));
        let modstamp = created + Duration::minutes(rng.random_range(0..60 * 24 * 60));
        contacts.push(SfContact {
            id: sf_id("003", i as u64 + 1),
            first_name: Some(first.to_owned()),
            last_name: last.to_owned(),
            email: Some(format!(
                "{}.{}.{i}@{domain}",
                first.to_lowercase(),
                last.to_lowercase()
            )),
            phone: Some(format!("+1 555 {:04}", rng.random_range(0..10_000))),
            title: Some(pick(&mut rng, TITLES).to_owned()),
            description: None,
            account_id: account.map(|a| accounts[a].id.clone()),
            created_date: created,
            system_modstamp: modstamp,
            is_deleted: false,
            other_fields: BTreeMap::new(),
        });
    }
    let mut order: Vec<usize> = (0..n).collect();
    shuffle(&mut rng, &mut order);
    let n_bad = (n as f64 * config.bad_email_fraction).round() as usize;
    let mut bad = HashSet::new();
    for &i in order.iter().take(n_bad) {
        bad.insert(i);
        let c = &mut contacts[i];
        c.email = match rng.random_range(0..4) {
            0 => None,
            1 => Some(format!("{}.{}(at)example.com", c.last_name, i)),
            2 => Some(format!("{} {}@example.com", c.last_name, i)),
            _ => Some(format!("{}{}.example.com", c.last_name.to_lowercase(), i)),
        };
    }
    // Internationalized emails, before the shared groups so a group can hold them too.
    let n_intl = (n as f64 * config.international_email_fraction.clamp(0.0, 1.0)).round() as usize;
    for &i in order.iter().skip(n_bad).take(n_intl) {
        let first = pick(&mut rng, INTL_FIRST);
        let last = pick(&mut rng, INTL_LAST);
        let domain = pick(&mut rng, INTL_DOMAINS);
        contacts[i].email = Some(format!("{first}.{last}.{i}@{domain}"));
    }

    // Shared emails: groups of 2-3 contacts of different accounts, in different letter case.
    let target_shared = (n as f64 * config.shared_email_fraction).round() as usize;
    let mut grouped = HashSet::new();
    let mut shared = 0;
    let candidates: Vec<usize> = order
        .iter()
        .skip(n_bad)
        .copied()
        .filter(|i| contacts[*i].account_id.is_some())
        .collect();
    let mut cursor = 0;
    while shared + 2 <= target_shared && cursor < candidates.len() {
        let size = if target_shared - shared >= 3 && rng.random_bool(0.3) {
            3
        } else {
            2
        };
        let leader = candidates[cursor];
        cursor += 1;
        let mut group = vec![leader];
        let mut used_accounts = vec![contacts[leader].account_id.clone()];
        while group.len() < size && cursor < candidates.len() {
            let c = candidates[cursor];
            cursor += 1;
            if used_accounts.contains(&contacts[c].account_id) {
                continue;
            }
            used_accounts.push(contacts[c].account_id.clone());
            group.push(c);
        }
        if group.len() < 2 {
            break;
        }
        let email = contacts[leader].email.clone().unwrap_or_default();
        for (k, &member) in group.iter().enumerate() {
            contacts[member].email = Some(case_variant(&email, k));
            grouped.insert(member);
        }
        shared += group.len();
    }

    // Relations: the direct one of each contact with an account, then indirect ones.
    let mut relations = Vec::new();
    let mut next_rel = 1u64;
    for c in &contacts {
        if let Some(account) = &c.account_id {
            relations.push(SfRelation {
                id: sf_id("07k", next_rel),
                account_id: account.clone(),
                contact_id: c.id.clone(),
                is_direct: true,
                is_active: true,
                roles: None,
                created_date: c.created_date,
                system_modstamp: c.created_date,
                is_deleted: false,
            });
            next_rel += 1;
        }
    }
    for c in &contacts {
        let Some(direct) = &c.account_id else {
            continue;
        };
        if n_accounts < 2 || !rng.random_bool(config.indirect_relation_fraction.clamp(0.0, 1.0)) {
            continue;
        }
        let count = rng.random_range(1..=2usize.min(n_accounts - 1));
        let mut used = vec![direct.clone()];
        for _ in 0..count {
            let account = &accounts[rng.random_range(0..n_accounts)].id;
            if used.contains(account) {
                continue;
            }
            used.push(account.clone());
            let created = c.created_date + Duration::days(rng.random_range(1..90));
            relations.push(SfRelation {
                id: sf_id("07k", next_rel),
                account_id: account.clone(),
                contact_id: c.id.clone(),
                is_direct: false,
                is_active: rng.random_bool(config.active_relation_fraction.clamp(0.0, 1.0)),
                roles: Some(pick(&mut rng, ROLES).to_owned()),
                created_date: created,
                system_modstamp: created,
                is_deleted: false,
            });
            next_rel += 1;
        }
    }

    // Leads: open ones with their own emails, converted ones pointing at a contact.
    let mut leads = Vec::with_capacity(config.leads);
    for i in 0..config.leads {
        let created =
            base + Duration::minutes(i as i64 * 11) + Duration::seconds(rng.random_range(0..60));
        let first = pick(&mut rng, FIRST);
        let last = pick(&mut rng, LAST);
        let mut lead = SfLead {
            id: sf_id("00Q", i as u64 + 1),
            first_name: Some(first.to_owned()),
            last_name: last.to_owned(),
            email: Some(format!(
                "{}.{}.lead{i}@prospects.example.net",
                first.to_lowercase(),
                last.to_lowercase()
            )),
            phone: Some(format!("+1 555 {:04}", rng.random_range(0..10_000))),
            title: Some(pick(&mut rng, TITLES).to_owned()),
            company: format!("{} {}", pick(&mut rng, ADJ), pick(&mut rng, NOUN)),
            status: "Open - Not Contacted".into(),
            is_converted: false,
            converted_contact_id: None,
            converted_account_id: None,
            created_date: created,
            system_modstamp: created + Duration::minutes(rng.random_range(0..60 * 24 * 30)),
            is_deleted: false,
            other_fields: BTreeMap::new(),
        };
        if n > 0 && rng.random_bool(config.converted_lead_fraction.clamp(0.0, 1.0)) {
            let c = &contacts[rng.random_range(0..n)];
            lead.is_converted = true;
            lead.status = "Closed - Converted".into();
            lead.email.clone_from(&c.email);
            lead.converted_contact_id = Some(c.id.clone());
            lead.converted_account_id.clone_from(&c.account_id);
        }
        leads.push(lead);
    }

    // Zendesk organizations: linked ones, unlinked same-name ones (E9), a few unrelated ones.
    let mut zendesk_organizations = Vec::new();
    let mut org_of_account: HashMap<String, usize> = HashMap::new();
    let mut account_order: Vec<usize> = (0..n_accounts).collect();
    shuffle(&mut rng, &mut account_order);
    let n_linked = (n_accounts as f64 * config.linked_org_fraction).round() as usize;
    let n_same_name = (n_accounts as f64 * config.same_name_org_fraction).round() as usize;
    for (k, &a) in account_order
        .iter()
        .enumerate()
        .take(n_linked + n_same_name)
    {
        let account = &accounts[a];
        let linked = k < n_linked;
        if linked {
            org_of_account.insert(account.id.clone(), zendesk_organizations.len());
        }
        zendesk_organizations.push(ZendeskOrgSeed {
            name: account.name.clone(),
            external_id: linked.then(|| account.id.clone()),
        });
    }
    for k in 0..(n_accounts / 100).max(1) {
        zendesk_organizations.push(ZendeskOrgSeed {
            name: format!("Legacy Zendesk Org {}", k + 1),
            external_id: None,
        });
    }

    // Zendesk users for a share of the distinct valid emails, keyed by the group's first contact.
    let mut first_of_email: Vec<usize> = Vec::new();
    let mut seen = HashSet::new();
    for (i, c) in contacts.iter().enumerate() {
        if bad.contains(&i) {
            continue;
        }
        if let Some(email) = &c.email
            && seen.insert(email.to_lowercase())
        {
            first_of_email.push(i);
        }
    }
    let n_users = (first_of_email.len() as f64 * config.existing_user_fraction).round() as usize;
    let chosen = rand::seq::index::sample(
        &mut rng,
        first_of_email.len(),
        n_users.min(first_of_email.len()),
    );
    let mut chosen: Vec<usize> = chosen.into_iter().map(|k| first_of_email[k]).collect();
    chosen.sort_unstable();
    let n_orgs = zendesk_organizations.len();
    let mut zendesk_users = Vec::with_capacity(chosen.len());
    for i in chosen {
        let c = &contacts[i];
        let own_org = c
            .account_id
            .as_ref()
            .and_then(|a| org_of_account.get(a))
            .copied();
        let roll = rng.random::<f64>();
        let organization = match own_org {
            Some(org) if roll < 0.5 => Some(org),
            _ if roll < 0.8 && n_orgs > 0 => Some(rng.random_range(0..n_orgs)),
            _ => None,
        };
        let mut extra_organizations = Vec::new();
        if organization.is_some() && n_orgs > 1 && rng.random_bool(0.05) {
            let extra = rng.random_range(0..n_orgs);
            if Some(extra) != organization {
                extra_organizations.push(extra);
            }
        }
        zendesk_users.push(ZendeskUserSeed {
            name: format!(
                "{} {}",
                c.first_name.as_deref().unwrap_or_default(),
                c.last_name
            ),
            email: c.email.clone().unwrap_or_default().to_lowercase(),
            organization,
            extra_organizations,
            secondary_emails: Vec::new(),
        });
    }

    // Secondary identities: addresses of contacts that have no Zendesk user become a
    // secondary email of an existing user, so the sync must find that user by it.
    let n_secondary =
        (n as f64 * config.secondary_identity_fraction.clamp(0.0, 1.0)).round() as usize;
    if !zendesk_users.is_empty() && n_secondary > 0 {
        let primaries: HashSet<String> = zendesk_users
            .iter()
            .map(|u| u.email.to_lowercase())
            .collect();
        let free: Vec<usize> = first_of_email
            .iter()
            .copied()
            .filter(|i| {
                contacts[*i]
                    .email
                    .as_ref()
                    .is_some_and(|e| !primaries.contains(&e.to_lowercase()))
            })
            .collect();
        let picked = rand::seq::index::sample(&mut rng, free.len(), n_secondary.min(free.len()));
        let mut picked: Vec<usize> = picked.into_iter().map(|k| free[k]).collect();
        picked.sort_unstable();
        for i in picked {
            let owner = rng.random_range(0..zendesk_users.len());
            // Zendesk keeps the address as the user typed it; the contact may differ in case.
            let email = case_variant(&contacts[i].email.clone().unwrap_or_default(), 0);
            zendesk_users[owner].secondary_emails.push(email);
        }
    }

    Dataset {
        accounts,
        contacts,
        leads,
        relations,
        zendesk_organizations,
        zendesk_users,
    }
}

fn shuffle(rng: &mut StdRng, items: &mut [usize]) {
    // Fisher-Yates with the crate's own RNG keeps the order stable for a seed.
    for i in (1..items.len()).rev() {
        let j = rng.random_range(0..=i);
        items.swap(i, j);
    }
}
