//! The operator's TOML configuration: parsed, validated and resolved into [`Config`].
//!
//! The file format is the one of the operator contract (`docs/operator.md`). Every section rejects
//! unknown keys, every error names the file and the key, relative paths are resolved
//! against the file's directory, and secrets are read from the environment only (each
//! `SFZD_X` directly or from the file named by `SFZD_X_FILE`), into [`SecretString`]s
//! that never print.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use domain::PersonObject;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

/// The environment variable holding the Salesforce connected app's client secret.
pub const SALESFORCE_SECRET_ENV: &str = "SFZD_SALESFORCE_CLIENT_SECRET";
/// The environment variable holding the Zendesk OAuth client's secret.
pub const ZENDESK_SECRET_ENV: &str = "SFZD_ZENDESK_CLIENT_SECRET";
/// The environment variable holding the Zendesk API token (legacy authentication).
pub const ZENDESK_TOKEN_ENV: &str = "SFZD_ZENDESK_API_TOKEN";
/// The environment variable naming a file that holds the Salesforce client secret.
pub const SALESFORCE_SECRET_FILE_ENV: &str = "SFZD_SALESFORCE_CLIENT_SECRET_FILE";
/// The environment variable naming a file that holds the Zendesk OAuth client's secret.
pub const ZENDESK_SECRET_FILE_ENV: &str = "SFZD_ZENDESK_CLIENT_SECRET_FILE";
/// The environment variable naming a file that holds the Zendesk API token.
pub const ZENDESK_TOKEN_FILE_ENV: &str = "SFZD_ZENDESK_API_TOKEN_FILE";

/// Every secret the configuration reads: the variable holding it and the variable naming
/// a file holding it instead (container and Kubernetes secrets mounted as files).
pub const SECRET_VARIABLES: &[(&str, &str)] = &[
    (SALESFORCE_SECRET_ENV, SALESFORCE_SECRET_FILE_ENV),
    (ZENDESK_SECRET_ENV, ZENDESK_SECRET_FILE_ENV),
    (ZENDESK_TOKEN_ENV, ZENDESK_TOKEN_FILE_ENV),
];

/// The Salesforce API version used when the file names none.
pub const DEFAULT_API_VERSION: &str = "62.0";
/// The Zendesk request budget used when the file names none.
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 200;
/// The largest accepted `zendesk.requests_per_minute`.
pub const MAX_REQUESTS_PER_MINUTE: u32 = 100_000;
/// The state file used when the file names none, relative to the configuration file.
pub const DEFAULT_STATE_PATH: &str = "sfzd-state.db";

/// Standard Zendesk user fields a `[mapping.user]` entry may write.
///
/// `email`, `organization_id`, `external_id`, `role` and `id` are deliberately absent:
/// the sync rules own them.
pub const USER_STANDARD_FIELDS: &[&str] = &[
    "alias",
    "details",
    "locale",
    "name",
    "notes",
    "phone",
    "signature",
    "tags",
    "time_zone",
];

/// Standard Zendesk organization fields a `[mapping.organization]` entry may write.
///
/// `external_id` and `id` are deliberately absent: the link to the account owns them.
pub const ORGANIZATION_STANDARD_FIELDS: &[&str] = &[
    "details",
    "domain_names",
    "group_id",
    "name",
    "notes",
    "shared_comments",
    "shared_tickets",
    "tags",
];

/// The prefix of custom user field targets, e.g. `user_fields.job_title`.
const USER_CUSTOM_PREFIX: &str = "user_fields.";
/// The prefix of custom organization field targets, e.g. `organization_fields.tier`.
const ORGANIZATION_CUSTOM_PREFIX: &str = "organization_fields.";

/// Salesforce allows at most five relationship hops in a field path.
const MAX_RELATIONSHIP_HOPS: usize = 5;

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read (missing, unreadable, not UTF-8).
    #[error("cannot read config file {}", path.display())]
    Read {
        /// The configuration file.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, has a value of the wrong type or an unknown key.
    #[error("config file {}{}: {message}", path.display(), Location { line: *line, key: key.as_deref() })]
    Parse {
        /// The configuration file.
        path: PathBuf,
        /// The 1-based line of the problem, when known.
        line: Option<usize>,
        /// The dotted key of the problem (e.g. `zendesk.requests_per_minute`), when known.
        key: Option<String>,
        /// The TOML parser's description, naming unknown keys.
        message: String,
    },
    /// A required key is absent.
    #[error("config file {}: {key}: required key is missing", path.display())]
    Missing {
        /// The configuration file.
        path: PathBuf,
        /// The dotted key, e.g. `salesforce.client_id`.
        key: String,
    },
    /// A value is present but not acceptable.
    #[error("config file {}: {key}: {reason}", path.display())]
    Invalid {
        /// The configuration file.
        path: PathBuf,
        /// The dotted key, e.g. `zendesk.url`.
        key: String,
        /// Why the value is refused.
        reason: String,
    },
    /// A secret the configuration needs is not in the environment.
    #[error(
        "config file {}: {key}: environment variable {variable} is not set or empty, nor is {variable}_FILE; {reason}",
        path.display()
    )]
    MissingSecret {
        /// The configuration file.
        path: PathBuf,
        /// The key that makes the secret necessary, e.g. `salesforce.client_id`.
        key: String,
        /// The environment variable.
        variable: &'static str,
        /// What the secret is for.
        reason: &'static str,
    },
    /// A secret is given both directly and as a file; which one is meant is unclear.
    #[error(
        "config file {}: {key}: both {variable} and {file_variable} are set; set only one of them",
        path.display()
    )]
    SecretTwice {
        /// The configuration file.
        path: PathBuf,
        /// The key that makes the secret necessary.
        key: String,
        /// The variable holding the secret.
        variable: &'static str,
        /// The variable naming a file holding the secret.
        file_variable: &'static str,
    },
    /// The file named by a `SFZD_..._FILE` variable cannot be used. The file's content is
    /// never part of the message.
    #[error(
        "config file {}: {key}: {file_variable} names {}, which {problem}",
        path.display(),
        file.display()
    )]
    SecretFile {
        /// The configuration file.
        path: PathBuf,
        /// The key that makes the secret necessary.
        key: String,
        /// The variable naming the file.
        file_variable: &'static str,
        /// The file it names.
        file: PathBuf,
        /// What is wrong with it, e.g. `cannot be read: No such file or directory`.
        problem: String,
    },
}

impl ConfigError {
    /// The dotted key the error is about, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Parse { key, .. } => key.as_deref(),
            ConfigError::Missing { key, .. }
            | ConfigError::Invalid { key, .. }
            | ConfigError::MissingSecret { key, .. }
            | ConfigError::SecretTwice { key, .. }
            | ConfigError::SecretFile { key, .. } => Some(key),
        }
    }

    /// The configuration file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ConfigError::Read { path, .. }
            | ConfigError::Parse { path, .. }
            | ConfigError::Missing { path, .. }
            | ConfigError::Invalid { path, .. }
            | ConfigError::MissingSecret { path, .. }
            | ConfigError::SecretTwice { path, .. }
            | ConfigError::SecretFile { path, .. } => path,
        }
    }
}

/// Formats the optional `:line` and `: key` parts of a parse error.
struct Location<'a> {
    line: Option<usize>,
    key: Option<&'a str>,
}

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if let Some(key) = self.key {
            write!(f, ": {key}")?;
        }
        Ok(())
    }
}

/// The validated configuration of a run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub file: PathBuf,
    /// `[salesforce]`.
    pub salesforce: SalesforceConfig,
    /// `[zendesk]`.
    pub zendesk: ZendeskConfig,
    /// `[sync]`.
    pub sync: SyncConfig,
    /// `[state]`.
    pub state: StateConfig,
    /// `[mapping.*]` merged into the default mappings.
    pub mapping: MappingConfig,
    /// The environment variables the secrets were read from, e.g.
    /// `SFZD_SALESFORCE_CLIENT_SECRET_FILE` when the secret came from a file; for
    /// `sfzd check`, which says where each secret came from without showing it.
    pub secrets_read_from: Vec<&'static str>,
}

/// `[salesforce]`: OAuth 2.0 client credentials against the org's My Domain.
#[derive(Debug, Clone)]
pub struct SalesforceConfig {
    /// The org's My Domain URL, ending in `/`; the token endpoint lives under it.
    pub login_url: Url,
    /// The connected app's consumer key.
    pub client_id: String,
    /// The connected app's consumer secret, from [`SALESFORCE_SECRET_ENV`].
    pub client_secret: SecretString,
    /// The REST API version, e.g. `62.0`.
    pub api_version: String,
}

/// `[zendesk]`.
#[derive(Debug, Clone)]
pub struct ZendeskConfig {
    /// The account's URL, ending in `/`, e.g. `https://acme.zendesk.com/`.
    pub url: Url,
    /// How sfzd authenticates.
    pub auth: ZendeskAuth,
    /// The request budget the run keeps under.
    pub requests_per_minute: u32,
}

/// How sfzd authenticates to Zendesk.
#[derive(Debug, Clone)]
pub enum ZendeskAuth {
    /// OAuth client credentials (`POST /oauth/tokens`), the recommended way.
    OAuth {
        /// The OAuth client's unique identifier.
        client_id: String,
        /// The OAuth client's secret, from [`ZENDESK_SECRET_ENV`].
        client_secret: SecretString,
    },
    /// Legacy API token authentication; Zendesk retires API tokens on 2027-04-30.
    ApiToken {
        /// The agent's email.
        email: String,
        /// The API token, from [`ZENDESK_TOKEN_ENV`].
        token: SecretString,
    },
}

impl ZendeskAuth {
    /// The environment variable the secret came from.
    pub fn secret_env(&self) -> &'static str {
        match self {
            ZendeskAuth::OAuth { .. } => ZENDESK_SECRET_ENV,
            ZendeskAuth::ApiToken { .. } => ZENDESK_TOKEN_ENV,
        }
    }
}

/// `[sync]`: which parts of the sync run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncConfig {
    /// Accounts are synced to organizations and account-organization links are used.
    pub accounts_to_organizations: bool,
    /// Contacts (or leads) are synced to users.
    pub contacts_to_users: bool,
    /// Which Salesforce object is synced to users.
    pub object: PersonObject,
    /// A contact's direct account becomes an organization membership.
    pub primary_relationship: bool,
    /// Indirect AccountContactRelations become organization memberships.
    pub secondary_relationships: bool,
    /// A SOQL condition on Account, without `WHERE`.
    pub accounts_filter: Option<String>,
    /// A SOQL condition on Contact or Lead, without `WHERE`.
    pub contacts_filter: Option<String>,
    /// How far before the last watermark incremental runs read again, for changes that
    /// Salesforce committed after a run read past their stamp.
    pub look_back: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            accounts_to_organizations: true,
            contacts_to_users: true,
            object: PersonObject::Contact,
            primary_relationship: false,
            secondary_relationships: false,
            accounts_filter: None,
            contacts_filter: None,
            look_back: sync::run::DEFAULT_LOOK_BACK,
        }
    }
}

/// `[state]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateConfig {
    /// The state file, resolved against the configuration file's directory.
    pub path: PathBuf,
}

/// The field mappings in effect: the defaults, extended and overridden by `[mapping.*]`.
///
/// Each list is sorted by Zendesk field, one entry per Zendesk field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingConfig {
    /// Zendesk user fields and the Contact/Lead fields they come from.
    pub user: Vec<FieldMapping>,
    /// Zendesk organization fields and the Account fields they come from.
    pub organization: Vec<FieldMapping>,
}

impl Default for MappingConfig {
    /// The default mappings: user `name` from `FirstName` and `LastName`, `phone` from
    /// `Phone`; organization `name` from `Name`.
    fn default() -> Self {
        MappingConfig {
            user: vec![
                FieldMapping::new("name", &["FirstName", "LastName"]),
                FieldMapping::new("phone", &["Phone"]),
            ],
            organization: vec![FieldMapping::new("name", &["Name"])],
        }
    }
}

impl MappingConfig {
    /// Every Salesforce field the user mappings read, once each, in order.
    pub fn user_salesforce_fields(&self) -> Vec<&str> {
        salesforce_fields(&self.user)
    }

    /// Every Salesforce field the organization mappings read, once each, in order.
    pub fn organization_salesforce_fields(&self) -> Vec<&str> {
        salesforce_fields(&self.organization)
    }
}

fn salesforce_fields(mappings: &[FieldMapping]) -> Vec<&str> {
    let mut fields: Vec<&str> = Vec::new();
    for field in mappings.iter().flat_map(|m| &m.salesforce) {
        if !fields.contains(&field.as_str()) {
            fields.push(field);
        }
    }
    fields
}

/// One Zendesk field and the Salesforce field(s) it is written from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMapping {
    /// The Zendesk field: a standard field (`notes`) or a custom one
    /// (`user_fields.job_title`, `organization_fields.tier`).
    pub zendesk: String,
    /// The Salesforce field API names (relationship paths such as `Owner.Name` allowed).
    /// With several, the non-empty values are joined with a space, as the default user
    /// name is made of `FirstName` and `LastName`.
    pub salesforce: Vec<String>,
}

impl FieldMapping {
    fn new(zendesk: &str, salesforce: &[&str]) -> Self {
        FieldMapping {
            zendesk: zendesk.to_owned(),
            salesforce: salesforce.iter().map(|&s| s.to_owned()).collect(),
        }
    }
}

impl Config {
    /// Reads and validates the configuration file at `path`, with secrets from the
    /// process environment.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the file and, where there is one, the key.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with_env(path, &|name| std::env::var(name).ok())
    }

    /// The state file named by the configuration file at `path`, for commands that call
    /// no API (`sfzd runs`): every key is validated as for a run, but no secret is needed.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the file and, where there is one, the key.
    pub fn load_state_path(path: &Path) -> Result<PathBuf, ConfigError> {
        // Stand-ins for the secrets, which this command never uses; the `Config` holding
        // them does not leave this function.
        let no_secrets = |name: &str| {
            SECRET_VARIABLES
                .iter()
                .any(|(variable, _)| *variable == name)
                .then(|| "not used".to_owned())
        };
        Config::load_with_env(path, &no_secrets).map(|config| config.state.path)
    }

    /// Like [`Config::load`], with environment variables looked up through `env`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the file and, where there is one, the key.
    pub fn load_with_env(
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_str_with_env(&text, path, env)
    }

    /// Parses and validates `text` as if read from `file` (which relative paths are
    /// resolved against), with environment variables looked up through `env`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `file` and, where there is one, the key.
    pub fn from_str_with_env(
        text: &str,
        file: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let raw: RawConfig =
            toml::from_str(text).map_err(|error| parse_error(file, text, &error))?;
        let v = Validator { file };

        let raw_salesforce = raw.salesforce.ok_or_else(|| v.missing("salesforce"))?;
        let raw_zendesk = raw.zendesk.ok_or_else(|| v.missing("zendesk"))?;

        let login_url = v.url("salesforce.login_url", raw_salesforce.login_url.as_deref())?;
        let salesforce_client_id =
            v.non_empty("salesforce.client_id", raw_salesforce.client_id.as_deref())?;
        let api_version = v.api_version(raw_salesforce.api_version.as_deref())?;

        let zendesk_url = v.url("zendesk.url", raw_zendesk.url.as_deref())?;
        let requests_per_minute = v.requests_per_minute(raw_zendesk.requests_per_minute)?;
        let zendesk_login = v.zendesk_login(
            raw_zendesk.client_id.as_deref(),
            raw_zendesk.email.as_deref(),
        )?;

        let sync = v.sync(raw.sync)?;
        let state = StateConfig {
            path: v.state_path(raw.state.path.as_deref())?,
        };
        let mapping = MappingConfig {
            user: v.mappings("user", raw.mapping.user, MappingTarget::User)?,
            organization: v.mappings(
                "organization",
                raw.mapping.organization,
                MappingTarget::Organization,
            )?,
        };

        // Secrets last, so a structural mistake is reported before a missing variable.
        let mut secrets_read_from = Vec::new();
        let (client_secret, from) = v.secret(
            env,
            "salesforce.client_id",
            SALESFORCE_SECRET_ENV,
            "it holds the client secret of the Salesforce connected app named by salesforce.client_id",
        )?;
        secrets_read_from.push(from);
        let auth = match zendesk_login {
            ZendeskLogin::OAuth(client_id) => {
                let (client_secret, from) = v.secret(
                    env,
                    "zendesk.client_id",
                    ZENDESK_SECRET_ENV,
                    "it holds the secret of the Zendesk OAuth client named by zendesk.client_id",
                )?;
                secrets_read_from.push(from);
                ZendeskAuth::OAuth {
                    client_id,
                    client_secret,
                }
            }
            ZendeskLogin::ApiToken(email) => {
                let (token, from) = v.secret(
                    env,
                    "zendesk.email",
                    ZENDESK_TOKEN_ENV,
                    "it holds the Zendesk API token of the agent named by zendesk.email",
                )?;
                secrets_read_from.push(from);
                ZendeskAuth::ApiToken { email, token }
            }
        };

        Ok(Config {
            file: file.to_path_buf(),
            salesforce: SalesforceConfig {
                login_url,
                client_id: salesforce_client_id,
                client_secret,
                api_version,
            },
            zendesk: ZendeskConfig {
                url: zendesk_url,
                auth,
                requests_per_minute,
            },
            sync,
            state,
            mapping,
            secrets_read_from,
        })
    }

    /// The variable the secret of `variable` was read from: `variable` itself, or its
    /// `_FILE` variant.
    fn secret_origin(&self, variable: &'static str) -> &'static str {
        self.secrets_read_from
            .iter()
            .copied()
            .find(|from| from.strip_suffix("_FILE").unwrap_or(from) == variable)
            .unwrap_or(variable)
    }

    /// Human-readable lines describing the effective settings, for `sfzd check`.
    ///
    /// Secrets are never shown, only the environment variables they were read from.
    pub fn effective_settings_lines(&self) -> Vec<String> {
        let mut lines = vec![format!("config file: {}", self.file.display())];

        let sf = &self.salesforce;
        lines.push(format!("salesforce.login_url: {}", sf.login_url));
        lines.push(format!("salesforce.client_id: {}", sf.client_id));
        lines.push(format!(
            "salesforce client secret: read from {} (set)",
            self.secret_origin(SALESFORCE_SECRET_ENV)
        ));
        lines.push(format!("salesforce.api_version: {}", sf.api_version));

        let zd = &self.zendesk;
        lines.push(format!("zendesk.url: {}", zd.url));
        match &zd.auth {
            ZendeskAuth::OAuth { client_id, .. } => {
                lines.push(format!(
                    "zendesk authentication: OAuth client credentials, zendesk.client_id {client_id}, secret read from {} (set)",
                    self.secret_origin(ZENDESK_SECRET_ENV)
                ));
            }
            ZendeskAuth::ApiToken { email, .. } => {
                lines.push(format!(
                    "zendesk authentication: API token of zendesk.email {email}, token read from {} (set); Zendesk retires API tokens on 2027-04-30, prefer zendesk.client_id",
                    self.secret_origin(ZENDESK_TOKEN_ENV)
                ));
            }
        }
        lines.push(format!(
            "zendesk.requests_per_minute: {}",
            zd.requests_per_minute
        ));

        let sync = &self.sync;
        let on_off = |on: bool| if on { "on" } else { "off" };
        lines.push(format!(
            "sync.accounts_to_organizations: {}",
            on_off(sync.accounts_to_organizations)
        ));
        lines.push(format!(
            "sync.contacts_to_users: {}",
            on_off(sync.contacts_to_users)
        ));
        lines.push(format!(
            "sync.object: {} (Salesforce {})",
            sync.object,
            sync::mapping::client_object(sync.object).api_name()
        ));
        lines.push(format!(
            "sync.primary_relationship: {}",
            on_off(sync.primary_relationship)
        ));
        lines.push(format!(
            "sync.secondary_relationships: {}",
            on_off(sync.secondary_relationships)
        ));
        lines.push(format!(
            "sync.accounts_filter: {}",
            sync.accounts_filter.as_deref().unwrap_or("(none)")
        ));
        lines.push(format!(
            "sync.contacts_filter: {}",
            sync.contacts_filter.as_deref().unwrap_or("(none)")
        ));
        lines.push(format!(
            "sync.look_back_seconds: {}",
            sync.look_back.as_secs()
        ));

        lines.push(format!("state.path: {}", self.state.path.display()));

        let defaults = MappingConfig::default();
        for (section, mappings, default) in [
            ("user", &self.mapping.user, &defaults.user),
            (
                "organization",
                &self.mapping.organization,
                &defaults.organization,
            ),
        ] {
            for mapping in mappings {
                let origin = if default.contains(mapping) {
                    " (default)"
                } else {
                    ""
                };
                lines.push(format!(
                    "mapping.{section}.{}: {}{origin}",
                    toml_key(&mapping.zendesk),
                    mapping.salesforce.join(" + ")
                ));
            }
        }
        lines
    }
}

// ---------------------------------------------------------------------------------------
// The file's shape. Every field is optional here so that a missing required key is
// reported by name (`Config::from_str_with_env`) rather than by serde's generic message.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    salesforce: Option<RawSalesforce>,
    zendesk: Option<RawZendesk>,
    #[serde(default)]
    sync: RawSync,
    #[serde(default)]
    state: RawState,
    #[serde(default)]
    mapping: RawMapping,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSalesforce {
    login_url: Option<String>,
    client_id: Option<String>,
    api_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawZendesk {
    url: Option<String>,
    client_id: Option<String>,
    email: Option<String>,
    // Wider than the result so that a negative value gets our range message.
    requests_per_minute: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSync {
    accounts_to_organizations: Option<bool>,
    contacts_to_users: Option<bool>,
    object: Option<String>,
    primary_relationship: Option<bool>,
    secondary_relationships: Option<bool>,
    accounts_filter: Option<String>,
    contacts_filter: Option<String>,
    look_back_seconds: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawState {
    path: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    #[serde(default)]
    user: BTreeMap<String, RawSource>,
    #[serde(default)]
    organization: BTreeMap<String, RawSource>,
}

/// The right-hand side of a mapping: one Salesforce field or an array of them.
struct RawSource(Vec<String>);

impl<'de> Deserialize<'de> for RawSource {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SourceVisitor;

        impl<'de> serde::de::Visitor<'de> for SourceVisitor {
            type Value = RawSource;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Salesforce field name or an array of field names")
            }

            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<RawSource, E> {
                Ok(RawSource(vec![value.to_owned()]))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RawSource, A::Error> {
                let mut fields = Vec::new();
                while let Some(field) = seq.next_element::<String>()? {
                    fields.push(field);
                }
                Ok(RawSource(fields))
            }
        }

        deserializer.deserialize_any(SourceVisitor)
    }
}

// ---------------------------------------------------------------------------------------
// Validation.

enum ZendeskLogin {
    OAuth(String),
    ApiToken(String),
}

#[derive(Clone, Copy)]
enum MappingTarget {
    User,
    Organization,
}

/// Builds values and errors for one file.
struct Validator<'a> {
    file: &'a Path,
}

impl Validator<'_> {
    fn missing(&self, key: &str) -> ConfigError {
        ConfigError::Missing {
            path: self.file.to_path_buf(),
            key: key.to_owned(),
        }
    }

    fn invalid(&self, key: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.file.to_path_buf(),
            key: key.to_owned(),
            reason: reason.into(),
        }
    }

    fn required<'v>(&self, key: &str, value: Option<&'v str>) -> Result<&'v str, ConfigError> {
        value.ok_or_else(|| self.missing(key))
    }

    fn non_empty(&self, key: &str, value: Option<&str>) -> Result<String, ConfigError> {
        let value = self.required(key, value)?.trim();
        if value.is_empty() {
            return Err(self.invalid(key, "must not be empty"));
        }
        Ok(value.to_owned())
    }

    fn url(&self, key: &str, value: Option<&str>) -> Result<Url, ConfigError> {
        let raw = self.required(key, value)?.trim();
        let mut url = Url::parse(raw)
            .map_err(|error| self.invalid(key, format!("not a valid URL ({error}): {raw:?}")))?;
        // Checked before anything echoes the URL, so a password in it is never printed.
        if !url.username().is_empty() || url.password().is_some() {
            return Err(self.invalid(
                key,
                "must not contain credentials; secrets come from the environment",
            ));
        }
        if url.host().is_none() {
            return Err(self.invalid(key, format!("must have a host, got {url}")));
        }
        // The clients' own transport rule, checked here too so the error names the key.
        match url.scheme() {
            _ if zendesk_client::is_secure_url(&url) => {}
            "http" => {
                return Err(self.invalid(
                    key,
                    format!("plain http is only allowed for loopback hosts, got {url}"),
                ));
            }
            other => {
                return Err(self.invalid(
                    key,
                    format!("must be an https URL, got scheme {other:?} in {url}"),
                ));
            }
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(self.invalid(key, format!("must not have a query or fragment, got {url}")));
        }
        // A trailing slash makes `Url::join` append API paths instead of replacing the
        // last path segment.
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(url)
    }

    fn api_version(&self, value: Option<&str>) -> Result<String, ConfigError> {
        let key = "salesforce.api_version";
        let Some(value) = value else {
            return Ok(DEFAULT_API_VERSION.to_owned());
        };
        let value = value.trim();
        let looks_right = value.split_once('.').is_some_and(|(major, minor)| {
            (2..=3).contains(&major.len())
                && major.bytes().all(|b| b.is_ascii_digit())
                && minor.len() == 1
                && minor.bytes().all(|b| b.is_ascii_digit())
        });
        if !looks_right {
            return Err(self.invalid(
                key,
                format!("must look like {DEFAULT_API_VERSION} (major.minor), got {value:?}"),
            ));
        }
        Ok(value.to_owned())
    }

    fn requests_per_minute(&self, value: Option<i64>) -> Result<u32, ConfigError> {
        let Some(value) = value else {
            return Ok(DEFAULT_REQUESTS_PER_MINUTE);
        };
        u32::try_from(value)
            .ok()
            .filter(|v| (1..=MAX_REQUESTS_PER_MINUTE).contains(v))
            .ok_or_else(|| {
                self.invalid(
                    "zendesk.requests_per_minute",
                    format!("must be between 1 and {MAX_REQUESTS_PER_MINUTE}, got {value}"),
                )
            })
    }

    fn zendesk_login(
        &self,
        client_id: Option<&str>,
        email: Option<&str>,
    ) -> Result<ZendeskLogin, ConfigError> {
        match (client_id, email) {
            (Some(_), Some(_)) => Err(self.invalid(
                "zendesk",
                "set exactly one of zendesk.client_id (OAuth, recommended) and zendesk.email (API token), not both",
            )),
            (None, None) => Err(self.invalid(
                "zendesk",
                "set exactly one of zendesk.client_id (OAuth, recommended) and zendesk.email (API token); neither is set",
            )),
            (Some(client_id), None) => Ok(ZendeskLogin::OAuth(
                self.non_empty("zendesk.client_id", Some(client_id))?,
            )),
            (None, Some(email)) => {
                let email = email.trim();
                let well_formed = email.split_once('@').is_some_and(|(local, domain)| {
                    !local.is_empty() && !domain.is_empty() && !domain.contains('@')
                }) && !email.chars().any(char::is_whitespace);
                if !well_formed {
                    return Err(self.invalid(
                        "zendesk.email",
                        format!("must be an email address, got {email:?}"),
                    ));
                }
                Ok(ZendeskLogin::ApiToken(email.to_owned()))
            }
        }
    }

    fn sync(&self, raw: RawSync) -> Result<SyncConfig, ConfigError> {
        let defaults = SyncConfig::default();
        let object = match raw.object.as_deref().map(str::trim) {
            None => defaults.object,
            Some("contact") => PersonObject::Contact,
            Some("lead") => PersonObject::Lead,
            Some(other) => {
                return Err(self.invalid(
                    "sync.object",
                    format!("must be \"contact\" or \"lead\", got {other:?}"),
                ));
            }
        };
        Ok(SyncConfig {
            accounts_to_organizations: raw
                .accounts_to_organizations
                .unwrap_or(defaults.accounts_to_organizations),
            contacts_to_users: raw.contacts_to_users.unwrap_or(defaults.contacts_to_users),
            object,
            primary_relationship: raw
                .primary_relationship
                .unwrap_or(defaults.primary_relationship),
            secondary_relationships: raw
                .secondary_relationships
                .unwrap_or(defaults.secondary_relationships),
            accounts_filter: self.filter("sync.accounts_filter", raw.accounts_filter)?,
            contacts_filter: self.filter("sync.contacts_filter", raw.contacts_filter)?,
            look_back: match raw.look_back_seconds {
                None => defaults.look_back,
                Some(seconds @ 0..=86_400) => Duration::from_secs(seconds.unsigned_abs()),
                Some(other) => {
                    return Err(self.invalid(
                        "sync.look_back_seconds",
                        format!("must be between 0 and 86400 (a day), got {other}"),
                    ));
                }
            },
        })
    }

    fn filter(&self, key: &str, value: Option<String>) -> Result<Option<String>, ConfigError> {
        let Some(value) = value else { return Ok(None) };
        let value = value.trim();
        if value.is_empty() {
            return Ok(None);
        }
        // The engine adds WHERE itself; a second one is a SOQL syntax error that would
        // only surface at the first query.
        let starts_with_where = value
            .get(..6)
            .is_some_and(|head| head.eq_ignore_ascii_case("where "));
        if starts_with_where {
            return Err(self.invalid(key, "write the condition without the WHERE keyword"));
        }
        Ok(Some(value.to_owned()))
    }

    fn state_path(&self, value: Option<&str>) -> Result<PathBuf, ConfigError> {
        let value = value.unwrap_or(DEFAULT_STATE_PATH);
        if value.trim().is_empty() {
            return Err(self.invalid("state.path", "must not be empty"));
        }
        let path = Path::new(value);
        if path.is_absolute() {
            return Ok(path.to_path_buf());
        }
        // Relative to the file, not to the working directory cron happens to use.
        let dir = self.file.parent().unwrap_or(Path::new(""));
        Ok(dir.join(path))
    }

    fn mappings(
        &self,
        section: &str,
        raw: BTreeMap<String, RawSource>,
        target: MappingTarget,
    ) -> Result<Vec<FieldMapping>, ConfigError> {
        let defaults = MappingConfig::default();
        let default = match target {
            MappingTarget::User => defaults.user,
            MappingTarget::Organization => defaults.organization,
        };
        let mut merged: BTreeMap<String, Vec<String>> = default
            .into_iter()
            .map(|m| (m.zendesk, m.salesforce))
            .collect();
        for (zendesk, RawSource(sources)) in raw {
            let key = format!("mapping.{section}.{}", toml_key(&zendesk));
            self.mapping_target(&key, &zendesk, target)?;
            let sources: Vec<String> = sources.iter().map(|s| s.trim().to_owned()).collect();
            // An empty value removes a default mapping.
            if sources.iter().all(String::is_empty) {
                if zendesk == "name" {
                    return Err(self.invalid(
                        &key,
                        "cannot be removed: Zendesk needs a name to create the record",
                    ));
                }
                merged.remove(&zendesk);
                continue;
            }
            for source in &sources {
                if !is_salesforce_field_path(source) {
                    return Err(self.invalid(
                        &key,
                        format!(
                            "{source:?} is not a Salesforce field API name (letters, digits and underscores, starting with a letter, e.g. Title, Tier__c or Owner.Name)"
                        ),
                    ));
                }
            }
            merged.insert(zendesk, sources);
        }
        Ok(merged
            .into_iter()
            .map(|(zendesk, salesforce)| FieldMapping {
                zendesk,
                salesforce,
            })
            .collect())
    }

    fn mapping_target(
        &self,
        key: &str,
        zendesk: &str,
        target: MappingTarget,
    ) -> Result<(), ConfigError> {
        let (standard, prefix, forbidden): (&[&str], &str, &[(&str, &str)]) = match target {
            MappingTarget::User => (
                USER_STANDARD_FIELDS,
                USER_CUSTOM_PREFIX,
                &[
                    (
                        "email",
                        "users are matched by email; sfzd never rewrites it",
                    ),
                    (
                        "organization_id",
                        "the user's organization is decided by the sync rules",
                    ),
                    (
                        "external_id",
                        "sfzd matches users by email and leaves external_id alone",
                    ),
                    ("role", "sfzd never changes a user's role"),
                    ("id", "Zendesk assigns ids"),
                ],
            ),
            MappingTarget::Organization => (
                ORGANIZATION_STANDARD_FIELDS,
                ORGANIZATION_CUSTOM_PREFIX,
                &[
                    (
                        "external_id",
                        "it links the organization to its account and is set by sfzd",
                    ),
                    ("id", "Zendesk assigns ids"),
                ],
            ),
        };
        if let Some((_, why)) = forbidden.iter().find(|(name, _)| *name == zendesk) {
            return Err(self.invalid(key, format!("cannot be mapped: {why}")));
        }
        if standard.contains(&zendesk) {
            return Ok(());
        }
        if let Some(custom) = zendesk.strip_prefix(prefix) {
            let valid = !custom.is_empty()
                && custom
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if valid {
                return Ok(());
            }
            return Err(self.invalid(
                key,
                format!("{custom:?} is not a valid custom field key (letters, digits, _ and -)"),
            ));
        }
        Err(self.invalid(
            key,
            format!(
                "not a Zendesk field sfzd can write; use one of {} or {prefix}<key>",
                standard.join(", ")
            ),
        ))
    }

    /// Reads the secret of `variable` from the environment, or from the file named by its
    /// `_FILE` variant.
    fn secret(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        key: &str,
        variable: &'static str,
        reason: &'static str,
    ) -> Result<(SecretString, &'static str), ConfigError> {
        let file_variable = SECRET_VARIABLES
            .iter()
            .find(|(v, _)| *v == variable)
            .map_or("", |(_, f)| *f);
        // An empty variable counts as unset, as it does for the secret itself.
        let set = |name: &str| env(name).filter(|value| !value.trim().is_empty());
        // Surrounding whitespace (a newline from `$(cat secret-file)`, or the one editors
        // end a file with) is never part of a secret and would only make authentication
        // fail obscurely.
        let value = match (set(variable), set(file_variable)) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::SecretTwice {
                    path: self.file.to_path_buf(),
                    key: key.to_owned(),
                    variable,
                    file_variable,
                });
            }
            (Some(value), None) => (value, variable),
            (None, Some(file)) => {
                let file = PathBuf::from(file.trim());
                let problem = |problem: String| ConfigError::SecretFile {
                    path: self.file.to_path_buf(),
                    key: key.to_owned(),
                    file_variable,
                    file: file.clone(),
                    problem,
                };
                // The I/O error names only the failure, never the content.
                let value = std::fs::read_to_string(&file)
                    .map_err(|err| problem(format!("cannot be read: {err}")))?;
                if value.trim().is_empty() {
                    return Err(problem("is empty".to_owned()));
                }
                (value, file_variable)
            }
            (None, None) => {
                return Err(ConfigError::MissingSecret {
                    path: self.file.to_path_buf(),
                    key: key.to_owned(),
                    variable,
                    reason,
                });
            }
        };
        let (value, from) = value;
        Ok((SecretString::from(value.trim()), from))
    }
}

/// Whether `path` is a Salesforce field API name or a relationship path to one.
fn is_salesforce_field_path(path: &str) -> bool {
    let segments: Vec<&str> = path.split('.').collect();
    segments.len() <= MAX_RELATIONSHIP_HOPS + 1
        && segments.iter().all(|segment| {
            let bytes = segment.as_bytes();
            bytes.first().is_some_and(u8::is_ascii_alphabetic)
                && bytes.last().is_some_and(|&b| b != b'_')
                && bytes
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'_')
        })
}

/// `key` as written in TOML: bare when it can be, quoted otherwise.
fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

// ---------------------------------------------------------------------------------------
// Locating TOML errors. toml reports a byte span; the operator wants the key.

fn parse_error(file: &Path, text: &str, error: &toml::de::Error) -> ConfigError {
    let start = error.span().map(|span| span.start.min(text.len()));
    let line = start.map(|start| text[..start].matches('\n').count() + 1);
    let key = start.and_then(|start| key_at(text, start));
    let mut message = error
        .message()
        .trim()
        .lines()
        .collect::<Vec<_>>()
        .join("; ")
        // Integers are read wide to range-check them ourselves; say what the operator
        // should write rather than the Rust type.
        .replace("expected i64", "expected an integer");
    let secret_key = ["client_secret", "secret", "api_token", "token", "password"]
        .iter()
        .any(|name| message.starts_with(&format!("unknown field `{name}`")));
    if secret_key {
        message.push_str(&format!(
            "; secrets come from the environment only ({SALESFORCE_SECRET_ENV}, {ZENDESK_SECRET_ENV} or {ZENDESK_TOKEN_ENV})"
        ));
    }
    ConfigError::Parse {
        path: file.to_path_buf(),
        line,
        key,
        message,
    }
}

/// The dotted key of the line holding byte `offset`: the enclosing table header joined
/// with the key before `=`, or the header itself when the offset is on one.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = text[line_start..line_end].trim();
    if line.starts_with('[') {
        return header_key(line);
    }
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .and_then(header_key);
    // Inside a multi-line value there is no key on the line; the table is what we know.
    let Some((key, _)) = split_outside_quotes(line, '=') else {
        return table;
    };
    let key = dotted(key);
    if key.is_empty() {
        return table;
    }
    Some(match table {
        Some(table) => format!("{table}.{key}"),
        None => key,
    })
}

/// The dotted name of a `[table]` or `[[array]]` header line.
fn header_key(line: &str) -> Option<String> {
    let inner = line.trim_start_matches('[');
    let (name, _) = split_outside_quotes(inner, ']')?;
    let name = dotted(name);
    (!name.is_empty()).then_some(name)
}

/// Normalizes a dotted key (`a . "b.c"` becomes `a."b.c"`).
fn dotted(key: &str) -> String {
    let mut parts = Vec::new();
    let mut rest = key;
    while let Some((part, tail)) = split_outside_quotes(rest, '.') {
        parts.push(part.trim());
        rest = tail;
    }
    parts.push(rest.trim());
    parts.join(".")
}

/// Splits `text` at the first `delimiter` outside TOML quotes.
fn split_outside_quotes(text: &str, delimiter: char) -> Option<(&str, &str)> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' => return None,
            None if c == delimiter => return Some((&text[..i], &text[i + c.len_utf8()..])),
            None => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    const SF_SECRET: &str = "sf-s3cr3t-value-Zq9";
    const ZD_SECRET: &str = "zd-s3cr3t-value-Xw7";
    const ZD_TOKEN: &str = "zd-t0ken-value-Pp4";

    const FULL_EXAMPLE: &str = r#"
[salesforce]
login_url = "https://acme.my.salesforce.com"  # OAuth client credentials; token endpoint under it
client_id = "3MVG9-consumer-key"
api_version = "62.0"
# secret: environment variable SFZD_SALESFORCE_CLIENT_SECRET

[zendesk]
url = "https://acme.zendesk.com"
client_id = "sfzd"
# email = "integration@acme.com"
requests_per_minute = 400

[sync]
accounts_to_organizations = true
contacts_to_users = true
object = "contact"
primary_relationship = true
secondary_relationships = false
accounts_filter = "Type = 'Customer'"
contacts_filter = ""

[state]
path = "sfzd-state.db"

[mapping.user]
"user_fields.job_title" = "Title"
notes = "Description"

[mapping.organization]
"organization_fields.tier" = "Tier__c"
"#;

    const MINIMAL: &str = r#"
[salesforce]
login_url = "https://acme.my.salesforce.com"
client_id = "key"

[zendesk]
url = "https://acme.zendesk.com"
client_id = "sfzd"
"#;

    fn all_secrets(name: &str) -> Option<String> {
        match name {
            SALESFORCE_SECRET_ENV => Some(SF_SECRET.to_owned()),
            ZENDESK_SECRET_ENV => Some(ZD_SECRET.to_owned()),
            ZENDESK_TOKEN_ENV => Some(ZD_TOKEN.to_owned()),
            _ => None,
        }
    }

    fn file() -> PathBuf {
        PathBuf::from("/etc/sfzd/sfzd.toml")
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_str_with_env(text, &file(), &all_secrets)
    }

    fn parse_err(text: &str) -> ConfigError {
        let error = parse(text).expect_err("the configuration should be refused");
        let message = error.to_string();
        assert!(
            message.contains("/etc/sfzd/sfzd.toml"),
            "every error names the file: {message}"
        );
        for secret in [SF_SECRET, ZD_SECRET, ZD_TOKEN] {
            assert!(!message.contains(secret), "secret leaked: {message}");
        }
        error
    }

    fn mapping(zendesk: &str, salesforce: &[&str]) -> FieldMapping {
        FieldMapping::new(zendesk, salesforce)
    }

    #[test]
    fn full_example_parses_with_its_values() {
        let config = parse(FULL_EXAMPLE).unwrap();
        assert_eq!(config.file, file());
        assert_eq!(
            config.salesforce.login_url.as_str(),
            "https://acme.my.salesforce.com/"
        );
        assert_eq!(config.salesforce.client_id, "3MVG9-consumer-key");
        assert_eq!(config.salesforce.client_secret.expose_secret(), SF_SECRET);
        assert_eq!(config.salesforce.api_version, "62.0");
        assert_eq!(config.zendesk.url.as_str(), "https://acme.zendesk.com/");
        assert_eq!(config.zendesk.requests_per_minute, 400);
        match &config.zendesk.auth {
            ZendeskAuth::OAuth {
                client_id,
                client_secret,
            } => {
                assert_eq!(client_id, "sfzd");
                assert_eq!(client_secret.expose_secret(), ZD_SECRET);
            }
            other => panic!("expected OAuth, got {other:?}"),
        }
        assert_eq!(
            config.sync,
            SyncConfig {
                accounts_to_organizations: true,
                contacts_to_users: true,
                object: PersonObject::Contact,
                primary_relationship: true,
                secondary_relationships: false,
                accounts_filter: Some("Type = 'Customer'".to_owned()),
                contacts_filter: None,
                look_back: Duration::from_secs(300),
            }
        );
        assert_eq!(config.state.path, Path::new("/etc/sfzd/sfzd-state.db"));
        assert_eq!(
            config.mapping.user,
            [
                mapping("name", &["FirstName", "LastName"]),
                mapping("notes", &["Description"]),
                mapping("phone", &["Phone"]),
                mapping("user_fields.job_title", &["Title"]),
            ]
        );
        assert_eq!(
            config.mapping.organization,
            [
                mapping("name", &["Name"]),
                mapping("organization_fields.tier", &["Tier__c"]),
            ]
        );
        assert_eq!(
            config.mapping.user_salesforce_fields(),
            ["FirstName", "LastName", "Description", "Phone", "Title"]
        );
        assert_eq!(
            config.mapping.organization_salesforce_fields(),
            ["Name", "Tier__c"]
        );
    }

    #[test]
    fn minimal_file_gets_the_defaults() {
        let config = parse(MINIMAL).unwrap();
        assert_eq!(config.salesforce.api_version, DEFAULT_API_VERSION);
        assert_eq!(
            config.zendesk.requests_per_minute,
            DEFAULT_REQUESTS_PER_MINUTE
        );
        assert_eq!(config.zendesk.requests_per_minute, 200);
        assert_eq!(config.sync, SyncConfig::default());
        assert!(config.sync.accounts_to_organizations);
        assert!(config.sync.contacts_to_users);
        assert_eq!(config.sync.object, PersonObject::Contact);
        assert!(!config.sync.primary_relationship);
        assert!(!config.sync.secondary_relationships);
        assert_eq!(config.state.path, Path::new("/etc/sfzd/sfzd-state.db"));
        assert_eq!(config.mapping, MappingConfig::default());
        assert_eq!(
            config.mapping.user,
            [
                mapping("name", &["FirstName", "LastName"]),
                mapping("phone", &["Phone"])
            ]
        );
        assert_eq!(config.mapping.organization, [mapping("name", &["Name"])]);
    }

    #[test]
    fn unknown_key_in_every_section_is_named() {
        let cases = [
            ("salesforce", "[salesforce]\n", "salesforce.colour"),
            ("zendesk", "[zendesk]\n", "zendesk.colour"),
            ("sync", "[sync]\n", "sync.colour"),
            ("state", "[state]\n", "state.colour"),
            ("mapping", "[mapping]\n", "mapping.colour"),
        ];
        for (section, header, key) in cases {
            let text = if MINIMAL.contains(header) {
                // Keep the required keys: put the stray key into the existing table.
                MINIMAL.replace(header, &format!("{header}colour = \"blue\"\n"))
            } else {
                format!("{MINIMAL}\n{header}colour = \"blue\"\n")
            };
            let error = parse_err(&text);
            assert_eq!(error.key(), Some(key), "{section}: {error}");
            let message = error.to_string();
            assert!(message.contains("unknown field `colour`"), "{message}");
        }
        // Unknown tables too.
        let error = parse_err(&format!("{MINIMAL}\n[extra]\nx = 1\n"));
        assert_eq!(error.key(), Some("extra"));
        assert!(error.to_string().contains("unknown field `extra`"));
        let error = parse_err(&format!("{MINIMAL}\n[mapping.users]\nnotes = \"Title\"\n"));
        assert_eq!(error.key(), Some("mapping.users"));
        assert!(error.to_string().contains("unknown field `users`"));
    }

    #[test]
    fn wrong_type_names_the_key_and_line() {
        let text = MINIMAL.replace(
            "client_id = \"sfzd\"",
            "client_id = \"sfzd\"\nrequests_per_minute = \"many\"",
        );
        let error = parse_err(&text);
        assert_eq!(error.key(), Some("zendesk.requests_per_minute"));
        let message = error.to_string();
        assert!(message.contains("line 9"), "{message}");
        assert!(
            message.contains("invalid type: string \"many\", expected an integer"),
            "{message}"
        );

        let error = parse_err(&format!(
            "{MINIMAL}\n[sync]\nprimary_relationship = \"yes\"\n"
        ));
        assert_eq!(error.key(), Some("sync.primary_relationship"));

        let error = parse_err(&format!("{MINIMAL}\n[mapping.user]\nnotes = 5\n"));
        assert_eq!(error.key(), Some("mapping.user.notes"));
        assert!(error.to_string().contains("Salesforce field name"));
    }

    #[test]
    fn syntax_error_names_the_line() {
        let error = parse_err("[salesforce\nlogin_url = 1\n");
        assert!(
            matches!(error, ConfigError::Parse { line: Some(1), .. }),
            "{error:?}"
        );
    }

    #[test]
    fn missing_required_keys_are_named() {
        let error = parse_err(&MINIMAL.replace("client_id = \"key\"\n", ""));
        assert!(matches!(error, ConfigError::Missing { .. }));
        assert_eq!(error.key(), Some("salesforce.client_id"));
        assert!(
            error
                .to_string()
                .contains("salesforce.client_id: required key is missing")
        );

        let error = parse_err(&MINIMAL.replace("url = \"https://acme.zendesk.com\"\n", ""));
        assert_eq!(error.key(), Some("zendesk.url"));

        let error = parse_err("[zendesk]\nurl = \"https://a.zendesk.com\"\nclient_id = \"x\"\n");
        assert_eq!(error.key(), Some("salesforce"));
    }

    #[test]
    fn missing_file_is_a_read_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.toml");
        let error = Config::load_with_env(&path, &all_secrets).unwrap_err();
        match &error {
            ConfigError::Read { source, .. } => {
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            }
            other => panic!("expected Read, got {other:?}"),
        }
        assert!(error.to_string().contains(&path.display().to_string()));
        assert_eq!(error.path(), path);
        assert_eq!(error.key(), None);
    }

    #[test]
    fn load_reads_the_file_and_resolves_the_state_path_against_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sfzd.toml");
        let text = format!("{MINIMAL}\n[state]\npath = \"data/state.db\"\n");
        std::fs::write(&path, text).unwrap();
        let config = Config::load_with_env(&path, &all_secrets).unwrap();
        assert_eq!(config.file, path);
        assert_eq!(config.state.path, dir.path().join("data").join("state.db"));
    }

    #[test]
    fn state_path_absolute_or_relative_to_a_relative_file() {
        let absolute = format!("{MINIMAL}\n[state]\npath = \"/var/lib/sfzd/state.db\"\n");
        assert_eq!(
            parse(&absolute).unwrap().state.path,
            Path::new("/var/lib/sfzd/state.db")
        );
        let config =
            Config::from_str_with_env(MINIMAL, Path::new("conf/sfzd.toml"), &all_secrets).unwrap();
        assert_eq!(config.state.path, Path::new("conf/sfzd-state.db"));
        let config =
            Config::from_str_with_env(MINIMAL, Path::new("sfzd.toml"), &all_secrets).unwrap();
        assert_eq!(config.state.path, Path::new("sfzd-state.db"));
        let error = parse_err(&format!("{MINIMAL}\n[state]\npath = \"\"\n"));
        assert_eq!(error.key(), Some("state.path"));
    }

    #[test]
    fn zendesk_needs_exactly_one_of_client_id_and_email() {
        let both = MINIMAL.replace(
            "client_id = \"sfzd\"",
            "client_id = \"sfzd\"\nemail = \"integration@acme.com\"",
        );
        let error = parse_err(&both);
        let message = error.to_string();
        assert!(message.contains("zendesk.client_id"), "{message}");
        assert!(message.contains("zendesk.email"), "{message}");
        assert!(message.contains("not both"), "{message}");

        let neither = MINIMAL.replace("client_id = \"sfzd\"\n", "");
        let message = parse_err(&neither).to_string();
        assert!(message.contains("zendesk.client_id"), "{message}");
        assert!(message.contains("zendesk.email"), "{message}");
        assert!(message.contains("neither"), "{message}");
    }

    #[test]
    fn api_token_auth_reads_the_token() {
        let text = MINIMAL.replace("client_id = \"sfzd\"", "email = \" integration@acme.com \"");
        let config = parse(&text).unwrap();
        match &config.zendesk.auth {
            ZendeskAuth::ApiToken { email, token } => {
                assert_eq!(email, "integration@acme.com");
                assert_eq!(token.expose_secret(), ZD_TOKEN);
            }
            other => panic!("expected ApiToken, got {other:?}"),
        }
        assert_eq!(config.zendesk.auth.secret_env(), ZENDESK_TOKEN_ENV);

        let bad = MINIMAL.replace("client_id = \"sfzd\"", "email = \"not an email\"");
        assert_eq!(parse_err(&bad).key(), Some("zendesk.email"));
    }

    #[test]
    fn non_https_urls_are_refused_unless_loopback() {
        let with_url = |url: &str| MINIMAL.replace("https://acme.zendesk.com", url);

        let error = parse_err(&with_url("http://example.com"));
        assert_eq!(error.key(), Some("zendesk.url"));
        assert_eq!(
            error.to_string(),
            "config file /etc/sfzd/sfzd.toml: zendesk.url: plain http is only allowed for loopback hosts, got http://example.com/"
        );

        for (url, normalized) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/"),
            ("http://127.1.2.3", "http://127.1.2.3/"),
            ("http://localhost", "http://localhost/"),
            ("http://[::1]:9000/", "http://[::1]:9000/"),
            (
                "https://acme.zendesk.com/sub",
                "https://acme.zendesk.com/sub/",
            ),
        ] {
            let config = parse(&with_url(url)).unwrap();
            assert_eq!(config.zendesk.url.as_str(), normalized, "{url}");
        }

        for url in [
            "ftp://acme.zendesk.com",
            "not a url",
            "https://acme.zendesk.com/?x=1",
            "http://10.0.0.1",
        ] {
            let error = parse_err(&with_url(url));
            assert_eq!(error.key(), Some("zendesk.url"), "{url}");
        }

        let error = parse_err(&MINIMAL.replace(
            "https://acme.my.salesforce.com",
            "http://acme.my.salesforce.com",
        ));
        assert_eq!(error.key(), Some("salesforce.login_url"));
    }

    #[test]
    fn credentials_in_a_url_are_refused_without_echoing_them() {
        let error = parse_err(&MINIMAL.replace(
            "https://acme.zendesk.com",
            "https://agent:hunter2@acme.zendesk.com",
        ));
        assert_eq!(error.key(), Some("zendesk.url"));
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn missing_secrets_name_the_variable() {
        let cases: [(&str, &str, &str); 3] = [
            (MINIMAL, SALESFORCE_SECRET_ENV, "salesforce.client_id"),
            (MINIMAL, ZENDESK_SECRET_ENV, "zendesk.client_id"),
            (
                &MINIMAL.replace("client_id = \"sfzd\"", "email = \"a@acme.com\""),
                ZENDESK_TOKEN_ENV,
                "zendesk.email",
            ),
        ];
        for (text, variable, key) in cases {
            for absent in [None, Some(String::new()), Some("  \n".to_owned())] {
                let env = |name: &str| {
                    if name == variable {
                        absent.clone()
                    } else {
                        all_secrets(name)
                    }
                };
                let error = Config::from_str_with_env(text, &file(), &env).unwrap_err();
                assert!(
                    matches!(&error, ConfigError::MissingSecret { variable: v, .. } if *v == variable),
                    "{error:?}"
                );
                assert_eq!(error.key(), Some(key));
                let message = error.to_string();
                assert!(message.contains(variable), "{message}");
                assert!(message.contains("not set or empty"), "{message}");
            }
        }
    }

    #[test]
    fn secrets_are_trimmed() {
        let env = |name: &str| all_secrets(name).map(|s| format!("{s}\n"));
        let config = Config::from_str_with_env(MINIMAL, &file(), &env).unwrap();
        assert_eq!(config.salesforce.client_secret.expose_secret(), SF_SECRET);
    }

    #[test]
    fn secrets_in_the_file_are_refused_with_a_hint_and_not_echoed() {
        let text = MINIMAL.replace(
            "client_id = \"key\"",
            "client_id = \"key\"\nclient_secret = \"in-file-s3cr3t\"",
        );
        let error = parse_err(&text);
        assert_eq!(error.key(), Some("salesforce.client_secret"));
        let message = error.to_string();
        assert!(message.contains(SALESFORCE_SECRET_ENV), "{message}");
        assert!(!message.contains("in-file-s3cr3t"), "{message}");
    }

    #[test]
    fn invalid_values_are_named() {
        let cases = [
            (
                MINIMAL.replace(
                    "client_id = \"key\"",
                    "client_id = \"key\"\napi_version = \"v62\"",
                ),
                "salesforce.api_version",
            ),
            (
                MINIMAL.replace("client_id = \"key\"", "client_id = \"  \""),
                "salesforce.client_id",
            ),
            (
                MINIMAL.replace(
                    "client_id = \"sfzd\"",
                    "client_id = \"sfzd\"\nrequests_per_minute = 0",
                ),
                "zendesk.requests_per_minute",
            ),
            (
                MINIMAL.replace(
                    "client_id = \"sfzd\"",
                    "client_id = \"sfzd\"\nrequests_per_minute = 100001",
                ),
                "zendesk.requests_per_minute",
            ),
            (
                MINIMAL.replace(
                    "client_id = \"sfzd\"",
                    "client_id = \"sfzd\"\nrequests_per_minute = -5",
                ),
                "zendesk.requests_per_minute",
            ),
            (
                format!("{MINIMAL}\n[sync]\nobject = \"opportunity\"\n"),
                "sync.object",
            ),
            (
                format!("{MINIMAL}\n[sync]\naccounts_filter = \"WHERE Type = 'x'\"\n"),
                "sync.accounts_filter",
            ),
            (
                format!("{MINIMAL}\n[sync]\nlook_back_seconds = -1\n"),
                "sync.look_back_seconds",
            ),
        ];
        for (text, key) in cases {
            let error = parse_err(&text);
            assert!(matches!(error, ConfigError::Invalid { .. }), "{error:?}");
            assert_eq!(error.key(), Some(key), "{error}");
        }
        let lead = parse(&format!(
            "{MINIMAL}\n[sync]\nobject = \"lead\"\ncontacts_filter = \" IsConverted = false \"\n"
        ))
        .unwrap();
        assert_eq!(lead.sync.object, PersonObject::Lead);
        let shorter = parse(&format!("{MINIMAL}\n[sync]\nlook_back_seconds = 30\n")).unwrap();
        assert_eq!(shorter.sync.look_back, Duration::from_secs(30));
        assert_eq!(lead.sync.object, PersonObject::Lead);
        let shorter = parse(&format!("{MINIMAL}\n[sync]\nlook_back_seconds = 30\n")).unwrap();
        assert_eq!(shorter.sync.look_back, Duration::from_secs(30));
        assert_eq!(
            lead.sync.contacts_filter.as_deref(),
            Some("IsConverted = false")
        );
        let limits = parse(&MINIMAL.replace(
            "client_id = \"sfzd\"",
            "client_id = \"sfzd\"\nrequests_per_minute = 100000",
        ))
        .unwrap();
        assert_eq!(limits.zendesk.requests_per_minute, MAX_REQUESTS_PER_MINUTE);
    }

    #[test]
    fn invalid_mapping_targets_and_sources_are_refused() {
        let cases = [
            (
                "[mapping.user]\nemail = \"Email\"\n",
                "mapping.user.email",
                "cannot be mapped",
            ),
            (
                "[mapping.user]\norganization_id = \"AccountId\"\n",
                "mapping.user.organization_id",
                "cannot be mapped",
            ),
            (
                "[mapping.user]\nrole = \"Title\"\n",
                "mapping.user.role",
                "cannot be mapped",
            ),
            (
                "[mapping.user]\nexternal_id = \"Id\"\n",
                "mapping.user.external_id",
                "cannot be mapped",
            ),
            (
                "[mapping.user]\nfavourite = \"Title\"\n",
                "mapping.user.favourite",
                "not a Zendesk field",
            ),
            (
                "[mapping.user]\n\"organization_fields.x\" = \"Title\"\n",
                "mapping.user.\"organization_fields.x\"",
                "not a Zendesk field",
            ),
            (
                "[mapping.user]\n\"user_fields.\" = \"Title\"\n",
                "mapping.user.\"user_fields.\"",
                "custom field key",
            ),
            (
                "[mapping.user]\nnotes = \"Description; DROP\"\n",
                "mapping.user.notes",
                "not a Salesforce field",
            ),
            (
                "[mapping.user]\nnotes = \"1Title\"\n",
                "mapping.user.notes",
                "not a Salesforce field",
            ),
            (
                "[mapping.user]\nnotes = \"Title_\"\n",
                "mapping.user.notes",
                "not a Salesforce field",
            ),
            (
                "[mapping.user]\nname = \"\"\n",
                "mapping.user.name",
                "cannot be removed",
            ),
            (
                "[mapping.organization]\nexternal_id = \"Id\"\n",
                "mapping.organization.external_id",
                "cannot be mapped",
            ),
            (
                "[mapping.organization]\nphone = \"Phone\"\n",
                "mapping.organization.phone",
                "not a Zendesk field",
            ),
        ];
        for (table, key, reason) in cases {
            let error = parse_err(&format!("{MINIMAL}\n{table}"));
            assert_eq!(error.key(), Some(key), "{error}");
            assert!(error.to_string().contains(reason), "{error}");
        }
    }

    #[test]
    fn mappings_override_extend_and_remove_defaults() {
        let text = format!(
            "{MINIMAL}\n[mapping.user]\nname = \"Name\"\nphone = \"\"\ntags = [\"Tags__c\", \"Owner.Alias\"]\n\"user_fields.region\" = \"Account.Region__c\"\n\n[mapping.organization]\nname = \"Legal_Name__c\"\ndomain_names = \"Website\"\n"
        );
        let config = parse(&text).unwrap();
        assert_eq!(
            config.mapping.user,
            [
                mapping("name", &["Name"]),
                mapping("tags", &["Tags__c", "Owner.Alias"]),
                mapping("user_fields.region", &["Account.Region__c"]),
            ]
        );
        assert_eq!(
            config.mapping.organization,
            [
                mapping("domain_names", &["Website"]),
                mapping("name", &["Legal_Name__c"]),
            ]
        );
    }

    #[test]
    fn debug_and_effective_settings_never_show_secrets() {
        let oauth = parse(FULL_EXAMPLE).unwrap();
        let token =
            parse(&MINIMAL.replace("client_id = \"sfzd\"", "email = \"a@acme.com\"")).unwrap();
        for config in [&oauth, &token] {
            let debug = format!("{config:?}");
            let pretty = format!("{config:#?}");
            let lines = config.effective_settings_lines().join("\n");
            for secret in [SF_SECRET, ZD_SECRET, ZD_TOKEN] {
                assert!(!debug.contains(secret), "secret in Debug: {debug}");
                assert!(!pretty.contains(secret), "secret in Debug: {pretty}");
                assert!(!lines.contains(secret), "secret in settings: {lines}");
            }
            assert!(debug.contains("REDACTED"), "{debug}");
        }
    }

    #[test]
    fn effective_settings_describe_the_configuration() {
        let lines = parse(FULL_EXAMPLE).unwrap().effective_settings_lines();
        let has = |needle: &str| lines.iter().any(|line| line == needle);
        assert!(has("config file: /etc/sfzd/sfzd.toml"), "{lines:#?}");
        assert!(
            has("salesforce.login_url: https://acme.my.salesforce.com/"),
            "{lines:#?}"
        );
        assert!(
            has("salesforce client secret: read from SFZD_SALESFORCE_CLIENT_SECRET (set)"),
            "{lines:#?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("zendesk authentication: OAuth")
                    && l.contains(ZENDESK_SECRET_ENV)),
            "{lines:#?}"
        );
        assert!(has("zendesk.requests_per_minute: 400"), "{lines:#?}");
        assert!(has("sync.primary_relationship: on"), "{lines:#?}");
        assert!(has("sync.secondary_relationships: off"), "{lines:#?}");
        assert!(has("sync.accounts_filter: Type = 'Customer'"), "{lines:#?}");
        assert!(has("sync.contacts_filter: (none)"), "{lines:#?}");
        assert!(has("state.path: /etc/sfzd/sfzd-state.db"), "{lines:#?}");
        assert!(
            has("mapping.user.name: FirstName + LastName (default)"),
            "{lines:#?}"
        );
        assert!(
            has("mapping.user.\"user_fields.job_title\": Title"),
            "{lines:#?}"
        );
        assert!(
            has("mapping.organization.\"organization_fields.tier\": Tier__c"),
            "{lines:#?}"
        );

        let token = parse(&MINIMAL.replace("client_id = \"sfzd\"", "email = \"a@acme.com\""))
            .unwrap()
            .effective_settings_lines();
        assert!(
            token
                .iter()
                .any(|l| l.contains(ZENDESK_TOKEN_ENV) && l.contains("2027-04-30")),
            "{token:#?}"
        );
    }

    #[test]
    fn key_at_locates_keys_headers_and_quoted_keys() {
        let text = "top = 1\n[a.b]\nx = 1\n\"q.k\" = 2 # c\n[[arr]]\ny = [\n  1,\n]\n";
        let offset = |needle: &str| text.find(needle).unwrap();
        assert_eq!(key_at(text, offset("1")).as_deref(), Some("top"));
        assert_eq!(key_at(text, offset("a.b")).as_deref(), Some("a.b"));
        assert_eq!(key_at(text, offset("x =")).as_deref(), Some("a.b.x"));
        assert_eq!(key_at(text, offset("2 #")).as_deref(), Some("a.b.\"q.k\""));
        assert_eq!(key_at(text, offset("y =")).as_deref(), Some("arr.y"));
        assert_eq!(key_at(text, offset("  1,")).as_deref(), Some("arr"));
    }

    /// An environment of the given variables only.
    fn env_of(vars: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
        move |name: &str| {
            vars.iter()
                .find(|(variable, _)| *variable == name)
                .map(|(_, value)| value.clone())
        }
    }

    const TOKEN_LOGIN: (&str, &str) = ("client_id = \"sfzd\"", "email = \"a@acme.com\"");

    #[test]
    fn every_secret_can_come_from_a_file_with_its_trailing_newline_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, content: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            path.display().to_string()
        };
        let sf = write("sf", &format!("{SF_SECRET}\n"));
        let zd = write("zd", &format!("{ZD_SECRET}\r\n"));
        let token = write("token", &format!("{ZD_TOKEN}\n"));

        let env = env_of(vec![
            (SALESFORCE_SECRET_FILE_ENV, sf.clone()),
            (ZENDESK_SECRET_FILE_ENV, zd),
        ]);
        let config = Config::from_str_with_env(MINIMAL, &file(), &env).unwrap();
        assert_eq!(config.salesforce.client_secret.expose_secret(), SF_SECRET);
        let ZendeskAuth::OAuth { client_secret, .. } = &config.zendesk.auth else {
            panic!("OAuth expected: {config:?}");
        };
        assert_eq!(client_secret.expose_secret(), ZD_SECRET);
        let lines = config.effective_settings_lines().join("\n");
        assert!(
            lines.contains("read from SFZD_SALESFORCE_CLIENT_SECRET_FILE (set)")
                && lines.contains("secret read from SFZD_ZENDESK_CLIENT_SECRET_FILE (set)"),
            "{lines}"
        );

        let text = MINIMAL.replace(TOKEN_LOGIN.0, TOKEN_LOGIN.1);
        let env = env_of(vec![
            (SALESFORCE_SECRET_FILE_ENV, sf),
            (ZENDESK_TOKEN_FILE_ENV, token),
        ]);
        let config = Config::from_str_with_env(&text, &file(), &env).unwrap();
        let ZendeskAuth::ApiToken { token, .. } = &config.zendesk.auth else {
            panic!("API token expected: {config:?}");
        };
        assert_eq!(token.expose_secret(), ZD_TOKEN);
        assert!(
            config
                .effective_settings_lines()
                .iter()
                .any(|l| l.contains("token read from SFZD_ZENDESK_API_TOKEN_FILE (set)")),
        );
        // From the environment, the lines name the variable itself.
        let lines = parse(MINIMAL)
            .unwrap()
            .effective_settings_lines()
            .join("\n");
        assert!(
            lines.contains("secret read from SFZD_ZENDESK_CLIENT_SECRET (set)"),
            "{lines}"
        );
    }

    #[test]
    fn a_secret_given_both_ways_is_refused_naming_both_variables() {
        let dir = tempfile::tempdir().unwrap();
        let secret_file = dir.path().join("secret");
        std::fs::write(&secret_file, "from-the-file-s3cr3t\n").unwrap();
        let token_text = MINIMAL.replace(TOKEN_LOGIN.0, TOKEN_LOGIN.1);
        for (text, variable, file_variable) in [
            (MINIMAL, SALESFORCE_SECRET_ENV, SALESFORCE_SECRET_FILE_ENV),
            (MINIMAL, ZENDESK_SECRET_ENV, ZENDESK_SECRET_FILE_ENV),
            (
                token_text.as_str(),
                ZENDESK_TOKEN_ENV,
                ZENDESK_TOKEN_FILE_ENV,
            ),
        ] {
            let path = secret_file.display().to_string();
            let env = move |name: &str| {
                if name == file_variable {
                    Some(path.clone())
                } else {
                    all_secrets(name)
                }
            };
            let error = Config::from_str_with_env(text, &file(), &env).unwrap_err();
            assert!(
                matches!(&error, ConfigError::SecretTwice { variable: v, file_variable: f, .. }
                    if *v == variable && *f == file_variable),
                "{error:?}"
            );
            let message = error.to_string();
            assert!(
                message.contains(variable) && message.contains(file_variable),
                "{message}"
            );
            for secret in [SF_SECRET, ZD_SECRET, ZD_TOKEN, "from-the-file-s3cr3t"] {
                assert!(!message.contains(secret), "secret leaked: {message}");
                assert!(
                    !format!("{error:?}").contains(secret),
                    "secret leaked: {error:?}"
                );
            }
        }
    }

    #[test]
    fn an_unusable_secret_file_is_named_without_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("absent");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        for (file_path, problem) in [(&missing, "cannot be read"), (&empty, "is empty")] {
            let path = file_path.display().to_string();
            let env = |name: &str| match name {
                SALESFORCE_SECRET_ENV => None,
                SALESFORCE_SECRET_FILE_ENV => Some(path.clone()),
                other => all_secrets(other),
            };
            let error = Config::from_str_with_env(MINIMAL, &file(), &env).unwrap_err();
            assert_eq!(error.key(), Some("salesforce.client_id"));
            let message = error.to_string();
            assert!(
                message.contains(SALESFORCE_SECRET_FILE_ENV)
                    && message.contains(&path)
                    && message.contains(problem),
                "{message}"
            );
        }
        // Neither way given: the message names both.
        let env = |name: &str| match name {
            SALESFORCE_SECRET_ENV => None,
            other => all_secrets(other),
        };
        let message = Config::from_str_with_env(MINIMAL, &file(), &env)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("SFZD_SALESFORCE_CLIENT_SECRET is not set or empty, nor is SFZD_SALESFORCE_CLIENT_SECRET_FILE"),
            "{message}"
        );
    }
}
