//! `X-Zendesk-API-Warn`: Zendesk answers a write with 200 and drops the keys it does not
//! accept, naming them in this header. [`ApiWarning`] is the parsed header and [`Written`]
//! carries it beside the record a write answered, so a caller can tell a mistyped or
//! missing custom field from a stored one.
//!
//! The header is a Ruby hash as Rails prints it, e.g. recorded on
//! `PUT /api/v2/organizations/{id}`:
//!
//! ```text
//! {:allowed_parameters=>{:controller=>"organizations", :action=>"update", :unpermitted_keys=>["organization.id"], :invalid_values=>[]}}
//! ```
//!
//! The parser reads that form and the newer `key: value` form, and ignores what it does not
//! know.

use std::ops::Deref;

use reqwest::header::HeaderMap;

/// The name of the header, lower case as `http` stores it.
pub const API_WARN_HEADER: &str = "x-zendesk-api-warn";

/// What Zendesk dropped from a write (`X-Zendesk-API-Warn`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ApiWarning {
    /// The Rails controller that answered, e.g. `organizations`.
    pub controller: Option<String>,
    /// The action, e.g. `update` or `create_many`.
    pub action: Option<String>,
    /// Keys Zendesk did not accept and did not store, as it names them, e.g.
    /// `organization.id` or `user.user_fields.tier`.
    pub unpermitted_keys: Vec<String>,
    /// Values Zendesk refused, as it names them.
    pub invalid_values: Vec<String>,
    /// The header as received (it never holds a credential: it names request keys).
    pub raw: String,
}

impl ApiWarning {
    /// Parses the header's value; `None` when it names nothing this crate can read.
    pub fn parse(value: &str) -> Option<Self> {
        let warning = Self {
            controller: scalar(value, "controller"),
            action: scalar(value, "action"),
            unpermitted_keys: list(value, "unpermitted_keys"),
            invalid_values: list(value, "invalid_values"),
            raw: value.to_owned(),
        };
        let empty = warning.unpermitted_keys.is_empty()
            && warning.invalid_values.is_empty()
            && warning.controller.is_none();
        (!empty).then_some(warning)
    }

    /// A warning naming `keys` as dropped (for tests and mocks), as if Zendesk had sent
    /// them in `unpermitted_keys`.
    pub fn unpermitted<K: Into<String>>(keys: impl IntoIterator<Item = K>) -> Self {
        let unpermitted_keys: Vec<String> = keys.into_iter().map(Into::into).collect();
        let quoted: Vec<String> = unpermitted_keys.iter().map(|k| format!("{k:?}")).collect();
        Self {
            raw: format!(
                "{{:allowed_parameters=>{{:unpermitted_keys=>[{}], :invalid_values=>[]}}}}",
                quoted.join(", ")
            ),
            unpermitted_keys,
            ..Self::default()
        }
    }

    /// The warning of an answer's headers, if it has one.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        headers
            .get(API_WARN_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(Self::parse)
    }

    /// The dropped keys with the record wrapper (`user.`, `users.`, `organization.`,
    /// `organizations.`) taken off, e.g. `user_fields.tier` or `id`: the names a field
    /// mapping uses.
    pub fn dropped_fields(&self) -> Vec<String> {
        const WRAPPERS: [&str; 6] = [
            "users.",
            "user.",
            "organizations.",
            "organization.",
            "organization_memberships.",
            "organization_membership.",
        ];
        self.unpermitted_keys
            .iter()
            .map(|key| {
                WRAPPERS
                    .iter()
                    .find_map(|w| key.strip_prefix(w))
                    .unwrap_or(key)
                    .to_owned()
            })
            .collect()
    }
}

/// Where `name` starts as a key in either hash form: `:name=>` or `name:`.
fn value_after<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let rocket = format!(":{name}=>");
    if let Some(at) = text.find(&rocket) {
        return Some(text[at + rocket.len()..].trim_start());
    }
    let colon = format!("{name}:");
    let mut from = 0;
    while let Some(found) = text[from..].find(&colon) {
        let at = from + found;
        // A whole key only: not the tail of a longer name.
        let before = text[..at].chars().next_back();
        if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_')) {
            return Some(text[at + colon.len()..].trim_start());
        }
        from = at + colon.len();
    }
    None
}

/// A double-quoted string at the start of `text`, unescaped, and the rest after it.
fn quoted(text: &str) -> Option<(String, &str)> {
    let mut chars = text.char_indices();
    if chars.next()?.1 != '"' {
        return None;
    }
    let mut out = String::new();
    let mut escaped = false;
    for (i, c) in chars {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            return Some((out, &text[i + 1..]));
        } else {
            out.push(c);
        }
    }
    None
}

fn scalar(text: &str, name: &str) -> Option<String> {
    quoted(value_after(text, name)?).map(|(s, _)| s)
}

fn list(text: &str, name: &str) -> Vec<String> {
    let Some(rest) = value_after(text, name).and_then(|v| v.strip_prefix('[')) else {
        return Vec::new();
    };
    let mut items = Vec::new();
    let mut rest = rest.trim_start();
    while let Some((item, after)) = quoted(rest) {
        items.push(item);
        rest = after.trim_start();
        match rest.strip_prefix(',') {
            Some(next) => rest = next.trim_start(),
            None => break,
        }
    }
    items
}

/// The answer of a write: the record Zendesk answered, and what it dropped from the
/// request, if anything. Dereferences to the record.
#[derive(Debug, Clone, PartialEq)]
pub struct Written<T> {
    /// The record (or job status) Zendesk answered.
    pub value: T,
    /// Keys Zendesk dropped from the request, when it said so.
    pub warning: Option<ApiWarning>,
}

impl<T> Written<T> {
    /// An answer without a warning (for tests and mocks).
    pub fn new(value: T) -> Self {
        Self {
            value,
            warning: None,
        }
    }

    /// The same answer with a warning (for tests and mocks).
    pub fn with_warning(mut self, warning: ApiWarning) -> Self {
        self.warning = Some(warning);
        self
    }

    /// The record, without the warning.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> Deref for Written<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_recorded_rails_hash() {
        let raw = r#"{:allowed_parameters=>{:controller=>"organizations", :action=>"update", :unpermitted_keys=>["organization.id"], :invalid_values=>[]}}"#;
        let w = ApiWarning::parse(raw).expect("parsed");
        assert_eq!(w.controller.as_deref(), Some("organizations"));
        assert_eq!(w.action.as_deref(), Some("update"));
        assert_eq!(w.unpermitted_keys, vec!["organization.id"]);
        assert!(w.invalid_values.is_empty());
        assert_eq!(w.dropped_fields(), vec!["id"]);
        assert_eq!(w.raw, raw);
    }

    #[test]
    fn parses_the_newer_hash_form_and_several_keys() {
        let raw = r#"{allowed_parameters: {controller: "users", action: "update_many", unpermitted_keys: ["users.user_fields.tier", "users.user_fields.a\"b"], invalid_values: ["x"]}}"#;
        let w = ApiWarning::parse(raw).expect("parsed");
        assert_eq!(w.controller.as_deref(), Some("users"));
        assert_eq!(
            w.dropped_fields(),
            vec!["user_fields.tier", "user_fields.a\"b"]
        );
        assert_eq!(w.invalid_values, vec!["x"]);
    }

    #[test]
    fn a_made_up_warning_reads_back_the_same() {
        let made = ApiWarning::unpermitted(["user.user_fields.tier"]);
        assert_eq!(made.dropped_fields(), vec!["user_fields.tier"]);
        assert_eq!(ApiWarning::parse(&made.raw), Some(made));
    }

    #[test]
    fn garbage_is_no_warning() {
        assert_eq!(ApiWarning::parse(""), None);
        assert_eq!(ApiWarning::parse("something odd"), None);
        assert_eq!(ApiWarning::parse(r#"{:unpermitted_keys=>["open"#), None);
    }
}
