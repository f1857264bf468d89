//! `sfzd`: syncs Salesforce accounts, contacts (or leads) and account-contact relations
//! into Zendesk organizations, users and organization memberships. See `sfzd --help`.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(sfzd::main_entry() as u8)
}
