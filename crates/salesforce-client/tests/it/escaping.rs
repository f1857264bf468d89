//! Property tests: any string quoted with `soql::quote` reads back as itself.

use proptest::prelude::*;
use salesforce_client::soql::{escape_like, quote};

/// Decodes a SOQL string literal the way Salesforce does, failing on anything that would
/// end the literal early or leave it open.
fn parse_literal(literal: &str, like: bool) -> Result<String, String> {
    let inner = literal
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .ok_or("not wrapped in single quotes")?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(match chars.next().ok_or("dangling backslash")? {
                '\\' => '\\',
                '\'' => '\'',
                '"' => '"',
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                'b' => '\u{8}',
                'f' => '\u{c}',
                '%' if like => '%',
                '_' if like => '_',
                other => return Err(format!("unknown escape \\{other}")),
            }),
            '\'' => return Err("unescaped quote ends the literal early".into()),
            '%' | '_' if like => return Err(format!("unescaped wildcard {c}")),
            c => out.push(c),
        }
    }
    Ok(out)
}

proptest! {
    #[test]
    fn quote_round_trips(value in any::<String>()) {
        prop_assert_eq!(parse_literal(&quote(&value), false), Ok(value));
    }

    #[test]
    fn quote_round_trips_quote_heavy_strings(value in "[\\\\'\"\n\r\t\u{8}\u{c}a%_ ]{0,40}") {
        prop_assert_eq!(parse_literal(&quote(&value), false), Ok(value));
    }

    #[test]
    fn like_escape_round_trips_without_live_wildcards(value in "[\\\\'\"%_a-z\n]{0,40}") {
        let literal = format!("'{}'", escape_like(&value));
        prop_assert_eq!(parse_literal(&literal, true), Ok(value));
    }
}

#[test]
fn the_parser_rejects_what_quote_must_never_produce() {
    assert!(parse_literal("'o'brien'", false).is_err());
    assert!(parse_literal(r"'trailing\'", false).is_err());
    assert!(parse_literal("'50%'", true).is_err());
}
