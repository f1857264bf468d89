//! Finds Zendesk users by email address.
//!
//! ```sh
//! ZENDESK_BASE_URL=https://acme.zendesk.com \
//! ZENDESK_CLIENT_ID=sync-client ZENDESK_CLIENT_SECRET=... \
//!   cargo run -p zendesk-client --example find_user -- ann@example.com
//! ```
//!
//! Authentication, first match wins: `ZENDESK_CLIENT_ID` + `ZENDESK_CLIENT_SECRET` (OAuth
//! client credentials), `ZENDESK_BEARER_TOKEN`, or `ZENDESK_EMAIL` + `ZENDESK_API_TOKEN`
//! (legacy API token, retired by Zendesk on 2027-04-30).

use std::env;
use std::error::Error;

use zendesk_client::{Auth, HttpZendeskClient, ZendeskConfig, ZendeskRead};

fn auth_from_env() -> Result<Auth, Box<dyn Error>> {
    let var = |name: &str| env::var(name).ok().filter(|v| !v.is_empty());
    if let (Some(id), Some(secret)) = (var("ZENDESK_CLIENT_ID"), var("ZENDESK_CLIENT_SECRET")) {
        return Ok(Auth::oauth_client_credentials(id, secret));
    }
    if let Some(token) = var("ZENDESK_BEARER_TOKEN") {
        return Ok(Auth::bearer(token));
    }
    if let (Some(email), Some(token)) = (var("ZENDESK_EMAIL"), var("ZENDESK_API_TOKEN")) {
        return Ok(Auth::api_token(email, token));
    }
    Err("set ZENDESK_CLIENT_ID and ZENDESK_CLIENT_SECRET (or ZENDESK_BEARER_TOKEN)".into())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let email = env::args().nth(1).ok_or("usage: find_user <email>")?;
    let base_url = env::var("ZENDESK_BASE_URL").map_err(|_| "set ZENDESK_BASE_URL")?;
    let config = ZendeskConfig::new(&base_url, auth_from_env()?)?;
    let client = HttpZendeskClient::new(config)?;

    let users = client.search_users_by_email(&email).await?;
    if users.is_empty() {
        println!("no user has {email}");
    }
    for user in &users {
        let emails: Vec<&str> = user.emails().collect();
        println!(
            "{}\t{}\torganization={:?}\texternal_id={:?}\temails={}",
            user.id,
            user.name,
            user.organization_id,
            user.external_id,
            emails.join(",")
        );
    }
    println!("{} request(s) sent", client.calls().total());
    Ok(())
}
