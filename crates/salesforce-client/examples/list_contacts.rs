//! Lists contacts changed in the last days, with the API calls it took.
//!
//! Configuration comes from the environment:
//!
//! - `SF_LOGIN_URL`: the org's My Domain URL, e.g. `https://acme.my.salesforce.com`
//! - `SF_CLIENT_ID` and `SF_CLIENT_SECRET`: client credentials of the connected app, or
//! - `SF_ACCESS_TOKEN` and `SF_INSTANCE_URL`: a ready session instead
//! - `SF_API_VERSION` (default `62.0`), `SF_DAYS` (default 7), `SF_FIELDS` (extra fields, comma-separated)
//!
//! ```text
//! SF_LOGIN_URL=https://acme.my.salesforce.com SF_CLIENT_ID=... SF_CLIENT_SECRET=... \
//!     cargo run -p salesforce-client --example list_contacts
//! ```

use std::env;
use std::error::Error;

use futures::TryStreamExt;
use salesforce_client::{
    HttpSalesforceClient, SalesforceApi, SalesforceAuth, SalesforceConfig, SecretString, Url, reads,
};

fn required(name: &str) -> Result<String, Box<dyn Error>> {
    env::var(name).map_err(|_| format!("set {name}").into())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let login_url = required("SF_LOGIN_URL")?;
    let api_version = env::var("SF_API_VERSION").unwrap_or_else(|_| "62.0".into());
    let auth = match env::var("SF_ACCESS_TOKEN") {
        Ok(token) => SalesforceAuth::AccessToken {
            access_token: SecretString::from(token),
            instance_url: Url::parse(&required("SF_INSTANCE_URL")?)?,
        },
        Err(_) => SalesforceAuth::ClientCredentials {
            client_id: required("SF_CLIENT_ID")?,
            client_secret: SecretString::from(required("SF_CLIENT_SECRET")?),
        },
    };
    let days: i64 = env::var("SF_DAYS")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(7);
    let extra = env::var("SF_FIELDS").unwrap_or_default();
    let fields: Vec<&str> = extra
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .collect();

    let client = HttpSalesforceClient::new(
        SalesforceConfig::new(&login_url, &api_version, auth)?.with_batch_size(500),
    )?;
    let since = chrono::Utc::now() - chrono::Duration::days(days);

    let mut pages = Box::pin(reads::changed_contacts(&client, &fields, None, Some(since)));
    let mut count = 0;
    while let Some(contacts) = pages.try_next().await? {
        for c in contacts {
            count += 1;
            let name = [c.first_name.as_deref(), c.last_name.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            println!(
                "{}  {:<40}  {:<30}  account={}  {:?}",
                c.id,
                c.email.as_deref().unwrap_or("-"),
                name,
                c.account_id.as_deref().unwrap_or("-"),
                c.fields
            );
        }
    }

    let acr = client.account_contact_relation_available().await?;
    println!("{count} contacts changed in the last {days} days");
    println!("AccountContactRelation available: {acr}");
    println!("API calls: {:?}", client.calls().by_endpoint());
    if let Some(usage) = client.api_usage() {
        println!("org API usage: {}/{}", usage.used, usage.max);
    }
    Ok(())
}
