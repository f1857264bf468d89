//! SOQL text: escaped literals, dateTime literals, a small `SELECT` builder and IN-list chunking.
//!
//! Values that come from data (emails, ids) must only ever enter a query through
//! [`quote`] (or the builders that use it), so that a value such as `o'brien@x.com`
//! or one containing a backslash can neither break nor extend the statement.
//! Field names and filters come from the operator's configuration and are inserted
//! verbatim; [`is_field_name`] lets the caller validate field names up front.

use chrono::{DateTime, Utc};

/// The longest SOQL statement Salesforce accepts by default, in characters.
pub const MAX_SOQL_CHARS: usize = 100_000;

/// Escapes `value` for use inside a SOQL string literal (without the surrounding quotes).
///
/// Escaped: backslash `\\`, single quote `\'`, double quote `\"`, newline `\n`,
/// carriage return `\r`, tab `\t`, backspace `\b` and form feed `\f`. The LIKE
/// wildcards `%` and `_` are left alone: they are only special in LIKE patterns, where
/// [`escape_like`] must be used instead.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        push_escaped(&mut out, c);
    }
    out
}

/// Like [`escape`], and also escapes the LIKE wildcards `%` and `_`, so that `value`
/// matches itself literally inside a LIKE pattern.
pub fn escape_like(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        match c {
            '%' => out.push_str("\\%"),
            '_' => out.push_str("\\_"),
            c => push_escaped(&mut out, c),
        }
    }
    out
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\'' => out.push_str("\\'"),
        '"' => out.push_str("\\\""),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        c => out.push(c),
    }
}

/// A complete SOQL string literal for `value`: `o'brien` becomes `'o\'brien'`.
///
/// Use it for `=`, `!=` and `IN` comparisons. For LIKE use [`quote_like`].
pub fn quote(value: &str) -> String {
    format!("'{}'", escape(value))
}

/// Where a LIKE pattern built by [`quote_like`] may match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LikeMatch {
    /// The whole value (still case-insensitive, as LIKE is).
    Exact,
    /// Values starting with the given text.
    StartsWith,
    /// Values ending with the given text.
    EndsWith,
    /// Values containing the given text.
    Contains,
}

/// A quoted LIKE pattern whose `value` matches literally (its `%` and `_` are escaped),
/// with wildcards added as `mode` says: `quote_like("50%", LikeMatch::StartsWith)` is `'50\%%'`.
pub fn quote_like(value: &str, mode: LikeMatch) -> String {
    let body = escape_like(value);
    match mode {
        LikeMatch::Exact => format!("'{body}'"),
        LikeMatch::StartsWith => format!("'{body}%'"),
        LikeMatch::EndsWith => format!("'%{body}'"),
        LikeMatch::Contains => format!("'%{body}%'"),
    }
}

/// A SOQL dateTime literal, unquoted UTC with whole seconds: `2024-01-31T23:01:01Z`.
///
/// Fractions of a second are dropped, so `SystemModstamp > datetime(t)` errs on the side
/// of returning a record again rather than missing it. The `Z` form avoids `+`, which a
/// careless URL encoding would turn into a space.
pub fn datetime(ts: DateTime<Utc>) -> String {
    ts.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Whether `name` looks like a SOQL field name or relationship path (`Email`,
/// `Tier__c`, `Account.Name`): ASCII letters, digits and `_`, dot-separated segments
/// each starting with a letter.
pub fn is_field_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|segment| {
            segment
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// Limits for splitting a long `IN (...)` list over several queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkLimits {
    /// At most this many values per query.
    pub max_items: usize,
    /// At most this many characters per SOQL statement (Salesforce: 100,000).
    pub max_soql_chars: usize,
    /// At most this many characters of the URL-encoded statement. Queries travel in
    /// the URL of a GET, and Salesforce caps URL plus headers at 16,384 bytes, so
    /// this — not the statement length — is usually what binds.
    pub max_encoded_chars: usize,
}

impl Default for ChunkLimits {
    fn default() -> Self {
        Self {
            max_items: 500,
            max_soql_chars: MAX_SOQL_CHARS,
            // Leaves about 2 KiB of the 16,384 bytes for the path, the bearer token and other headers.
            max_encoded_chars: 14_000,
        }
    }
}

fn encoded_len(s: &str) -> usize {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .map(str::len)
        .sum()
}

/// Splits `values` into conditions `field IN ('a','b',...)`, each within `limits`
/// (counting the condition alone). Exact duplicates are dropped; an empty `values`
/// gives no conditions. A single value too long for the limits still gets its own
/// condition, so that Salesforce reports the problem instead of the value vanishing.
pub fn in_list_chunks(field: &str, values: &[String], limits: &ChunkLimits) -> Vec<String> {
    let prefix = format!("{field} IN (");
    chunk_with_overhead(&prefix, ")", values, limits)
}

fn chunk_with_overhead(
    prefix: &str,
    suffix: &str,
    values: &[String],
    limits: &ChunkLimits,
) -> Vec<String> {
    let fixed_chars = prefix.len() + suffix.len();
    let fixed_encoded = encoded_len(prefix) + encoded_len(suffix);
    let mut seen = std::collections::HashSet::new();
    let mut chunks = Vec::new();
    let mut current = String::new();
    let (mut items, mut chars, mut encoded) = (0usize, fixed_chars, fixed_encoded);
    for value in values {
        if !seen.insert(value.as_str()) {
            continue;
        }
        let literal = quote(value);
        let sep = usize::from(items > 0);
        let add_chars = literal.len() + sep;
        let add_encoded = encoded_len(&literal) + sep * encoded_len(",");
        let fits = items < limits.max_items.max(1)
            && chars + add_chars <= limits.max_soql_chars
            && encoded + add_encoded <= limits.max_encoded_chars;
        if items > 0 && !fits {
            chunks.push(format!("{prefix}{current}{suffix}"));
            current.clear();
            (items, chars, encoded) = (0, fixed_chars, fixed_encoded);
        }
        let sep = usize::from(items > 0);
        if sep == 1 {
            current.push(',');
        }
        current.push_str(&literal);
        items += 1;
        chars += literal.len() + sep;
        encoded += encoded_len(&literal) + sep * encoded_len(",");
    }
    if items > 0 {
        chunks.push(format!("{prefix}{current}{suffix}"));
    }
    chunks
}

/// A `SELECT` statement under construction.
///
/// ```
/// use salesforce_client::soql::{quote, Select};
/// let q = Select::new("Contact")
///     .fields(["Id", "Email"])
///     .condition(format!("Email = {}", quote("o'brien@x.com")))
///     .filter(Some("Region__c = 'EU' OR Region__c = 'UK'"))
///     .order_by("SystemModstamp, Id")
///     .build();
/// assert_eq!(
///     q,
///     "SELECT Id, Email FROM Contact WHERE Email = 'o\\'brien@x.com' \
///      AND (Region__c = 'EU' OR Region__c = 'UK') ORDER BY SystemModstamp, Id"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Select {
    object: String,
    fields: Vec<String>,
    conditions: Vec<String>,
    order_by: Option<String>,
    limit: Option<u32>,
}

impl Select {
    /// Starts `SELECT ... FROM object`.
    pub fn new(object: &str) -> Self {
        Self {
            object: object.to_owned(),
            fields: Vec::new(),
            conditions: Vec::new(),
            order_by: None,
            limit: None,
        }
    }

    /// Adds fields to select, skipping ones already present (compared case-insensitively,
    /// as Salesforce does) and blank ones.
    #[must_use]
    pub fn fields<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for field in fields {
            let field = field.as_ref().trim();
            if !field.is_empty() && !self.fields.iter().any(|f| f.eq_ignore_ascii_case(field)) {
                self.fields.push(field.to_owned());
            }
        }
        self
    }

    /// Adds a condition built by the caller (ANDed with the others, inserted as is).
    /// Literals in it must come from [`quote`], [`quote_like`] or [`datetime`].
    #[must_use]
    pub fn condition(mut self, condition: impl Into<String>) -> Self {
        self.conditions.push(condition.into());
        self
    }

    /// Adds an operator-supplied raw SOQL condition, wrapped in parentheses so that an
    /// `OR` inside it cannot escape the other conditions. `None` or blank adds nothing.
    #[must_use]
    pub fn filter(mut self, filter: Option<&str>) -> Self {
        if let Some(f) = filter.map(str::trim).filter(|f| !f.is_empty()) {
            self.conditions.push(format!("({f})"));
        }
        self
    }

    /// Sets `ORDER BY` (e.g. `"SystemModstamp, Id"`).
    #[must_use]
    pub fn order_by(mut self, order_by: &str) -> Self {
        self.order_by = Some(order_by.to_owned());
        self
    }

    /// Sets `LIMIT`.
    #[must_use]
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The SOQL text.
    pub fn build(&self) -> String {
        self.render(None)
    }

    /// One statement per chunk of `values`, each with `field IN (...)` ANDed to the
    /// other conditions and the whole statement within `limits`. No values, no statements.
    pub fn build_in_chunks(
        &self,
        field: &str,
        values: &[String],
        limits: &ChunkLimits,
    ) -> Vec<String> {
        let marker = "\u{0}";
        let template = self.render(Some(marker));
        let Some((head, tail)) = template.split_once(marker) else {
            return Vec::new();
        };
        let prefix = format!("{head}{field} IN (");
        let suffix = format!("){tail}");
        chunk_with_overhead(&prefix, &suffix, values, limits)
    }

    fn render(&self, extra_condition: Option<&str>) -> String {
        let fields = if self.fields.is_empty() {
            "Id".to_owned()
        } else {
            self.fields.join(", ")
        };
        let mut q = format!("SELECT {fields} FROM {}", self.object);
        let mut conditions: Vec<&str> = Vec::new();
        if let Some(extra) = extra_condition {
            conditions.push(extra);
        }
        conditions.extend(self.conditions.iter().map(String::as_str));
        if !conditions.is_empty() {
            q.push_str(" WHERE ");
            q.push_str(&conditions.join(" AND "));
        }
        if let Some(order) = &self.order_by {
            q.push_str(" ORDER BY ");
            q.push_str(order);
        }
        if let Some(limit) = self.limit {
            q.push_str(&format!(" LIMIT {limit}"));
        }
        q
    }
}

impl std::fmt::Display for Select {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn quotes_hostile_values() {
        let cases = [
            ("o'brien@x.com", r"'o\'brien@x.com'"),
            (r"back\slash", r"'back\\slash'"),
            ("x' OR Email != '", r"'x\' OR Email != \''"),
            ("say \"hi\"", r#"'say \"hi\"'"#),
            ("a\nb\rc\td\u{8}e\u{c}f", r"'a\nb\rc\td\be\ff'"),
            ("100%_done", "'100%_done'"),
            (r"\'", r"'\\\''"),
        ];
        for (value, expected) in cases {
            assert_eq!(quote(value), expected, "{value:?}");
        }
    }

    #[test]
    fn like_escapes_wildcards_only_in_like() {
        assert_eq!(quote_like("50%_off", LikeMatch::Exact), r"'50\%\_off'");
        assert_eq!(quote_like("a'b", LikeMatch::StartsWith), r"'a\'b%'");
        assert_eq!(quote_like("x", LikeMatch::EndsWith), "'%x'");
        assert_eq!(quote_like("x", LikeMatch::Contains), "'%x%'");
    }

    #[test]
    fn datetime_literal_is_unquoted_utc_whole_seconds() {
        let ts = Utc
            .with_ymd_and_hms(2024, 1, 31, 23, 1, 1)
            .single()
            .expect("ts")
            + chrono::Duration::milliseconds(789);
        assert_eq!(datetime(ts), "2024-01-31T23:01:01Z");
    }

    #[test]
    fn field_names() {
        for ok in ["Id", "Tier__c", "Account.Name", "ns__Field__c"] {
            assert!(is_field_name(ok), "{ok}");
        }
        for bad in [
            "",
            "Id, Name",
            "Id FROM User --",
            "1abc",
            "Account.",
            "a b",
            "Id)",
        ] {
            assert!(!is_field_name(bad), "{bad}");
        }
    }

    #[test]
    fn chunks_respect_item_limit_and_drop_duplicates() {
        let values: Vec<String> = (0..7)
            .map(|i| format!("v{i}"))
            .chain(["v0".to_owned()])
            .collect();
        let limits = ChunkLimits {
            max_items: 3,
            ..ChunkLimits::default()
        };
        let chunks = in_list_chunks("Id", &values, &limits);
        assert_eq!(
            chunks,
            vec![
                "Id IN ('v0','v1','v2')",
                "Id IN ('v3','v4','v5')",
                "Id IN ('v6')"
            ]
        );
        assert!(in_list_chunks("Id", &[], &limits).is_empty());
    }

    #[test]
    fn whole_statements_stay_within_char_limits() {
        let values: Vec<String> = (0..300)
            .map(|i| format!("person{i}+tag@example.com"))
            .collect();
        let limits = ChunkLimits {
            max_items: 10_000,
            max_soql_chars: 2_000,
            max_encoded_chars: 2_500,
        };
        let select = Select::new("Contact")
            .fields(["Id", "Email"])
            .filter(Some("Active__c = true"));
        let queries = select.build_in_chunks("Email", &values, &limits);
        assert!(queries.len() > 3);
        let mut seen = 0;
        for q in &queries {
            assert!(q.len() <= limits.max_soql_chars, "{}", q.len());
            assert!(
                encoded_len(q) <= limits.max_encoded_chars,
                "{}",
                encoded_len(q)
            );
            assert!(q.starts_with("SELECT Id, Email FROM Contact WHERE Email IN ('"));
            assert!(q.ends_with("') AND (Active__c = true)"));
            seen += q.matches("@example.com").count();
        }
        assert_eq!(seen, values.len(), "every value lands in exactly one chunk");
    }

    #[test]
    fn oversized_single_value_still_gets_a_chunk() {
        let long = "x".repeat(50);
        let limits = ChunkLimits {
            max_items: 10,
            max_soql_chars: 20,
            max_encoded_chars: 20,
        };
        assert_eq!(
            in_list_chunks("Id", &[long.clone(), "y".into()], &limits).len(),
            2
        );
    }

    #[test]
    fn select_dedups_fields_case_insensitively_and_renders_limit() {
        let q = Select::new("Account")
            .fields(["Id", "Name"])
            .fields(["id", "Tier__c", " "])
            .limit(1)
            .build();
        assert_eq!(q, "SELECT Id, Name, Tier__c FROM Account LIMIT 1");
    }
}
