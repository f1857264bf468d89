//! The recorded bodies themselves: valid JSON, and no credential-shaped text.

use std::path::Path;

/// Salesforce session ids look like `00D` + org id characters + `!` + token.
fn looks_like_session_id(text: &str) -> bool {
    text.match_indices("00D").any(|(i, _)| {
        let rest = &text[i + 3..];
        let id_len = rest.chars().take_while(char::is_ascii_alphanumeric).count();
        (12..=15).contains(&id_len) && rest[id_len..].starts_with('!')
    })
}

#[test]
fn fixtures_are_json_without_credentials() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fixtures");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let name = path.display();
        serde_json::from_str::<serde_json::Value>(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            !text.contains("Bearer "),
            "{name} holds an Authorization value"
        );
        assert!(
            !looks_like_session_id(&text),
            "{name} holds a session-id-shaped token"
        );
        if text.contains("access_token") {
            assert!(
                text.contains("fake-access-token"),
                "{name}: tokens in fixtures must be obviously fake"
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 10,
        "only {checked} fixtures found in {}",
        dir.display()
    );
}

#[test]
fn the_session_id_detector_detects() {
    assert!(looks_like_session_id("x 00D5e000000AbCd!AQ4AQ.rest"));
    assert!(!looks_like_session_id("001RO000003ZbPgYAK"));
}
