//! Building `Authorization` headers and reading OAuth token answers.

use std::time::Duration;

use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use crate::error::ZendeskError;

/// A token read from `POST /oauth/tokens`. Deliberately not `Debug`-derived.
pub(crate) struct OAuthToken {
    pub(crate) access_token: SecretString,
    pub(crate) expires_in: Option<Duration>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<Value>,
    // Parsed so a changed answer shape is noticed; client credentials can simply be
    // exchanged again, so the refresh grant is not needed.
    #[serde(default)]
    #[allow(dead_code)]
    refresh_token: Option<String>,
}

/// Reads a token answer. `expires_in` may be a number or a numeric string; anything else
/// is treated as "no expiry given".
///
/// The body is never quoted in the error: it may hold a token.
pub(crate) fn parse_token_answer(status: u16, body: &[u8]) -> Result<OAuthToken, ZendeskError> {
    let answer: TokenAnswer =
        serde_json::from_slice(body).map_err(|source| ZendeskError::Decode {
            status,
            body: "<token answer withheld>".to_owned(),
            source,
        })?;
    if let Some(kind) = &answer.token_type
        && !kind.eq_ignore_ascii_case("bearer")
    {
        tracing::warn!(token_type = %kind, "unexpected oauth token type, using it as bearer");
    }
    let expires_in = match answer.expires_in {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .map(Duration::from_secs);
    Ok(OAuthToken {
        access_token: SecretString::from(answer.access_token),
        expires_in,
    })
}

/// `Bearer {token}`, marked sensitive so HTTP logging never prints it.
pub(crate) fn bearer_header(token: &SecretString) -> Result<HeaderValue, ZendeskError> {
    sensitive(format!("Bearer {}", token.expose_secret()))
}

/// `Basic base64("{email}/token:{token}")`.
pub(crate) fn api_token_header(
    email: &str,
    token: &SecretString,
) -> Result<HeaderValue, ZendeskError> {
    let credentials = format!("{email}/token:{}", token.expose_secret());
    sensitive(format!("Basic {}", base64(credentials.as_bytes())))
}

fn sensitive(value: String) -> Result<HeaderValue, ZendeskError> {
    let mut header = HeaderValue::from_str(&value).map_err(|_| {
        ZendeskError::InvalidConfig("credentials contain characters not allowed in a header".into())
    })?;
    header.set_sensitive(true);
    Ok(header)
}

/// Standard base64 with padding (RFC 4648), small enough not to warrant a dependency.
pub(crate) fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain}");
        }
    }

    #[test]
    fn api_token_header_shape() {
        let header = api_token_header(
            "jdoe@example.com",
            &SecretString::from("6wiIBWbGkBMo1mRDMuVwkw1EPsNkeUj95PIz2akv"),
        )
        .expect("header");
        assert!(header.is_sensitive());
        assert_eq!(
            header.to_str().expect("ascii"),
            "Basic amRvZUBleGFtcGxlLmNvbS90b2tlbjo2d2lJQldiR2tCTW8xbVJETXVWd2t3MUVQc05rZVVqOTVQSXoyYWt2"
        );
    }

    #[test]
    fn token_answer_is_read_defensively() {
        let token = parse_token_answer(200, br#"{"access_token":"abc","token_type":"bearer","expires_in":"3600","refresh_token":"r"}"#)
            .expect("token");
        assert_eq!(token.expires_in, Some(Duration::from_secs(3600)));
        let token =
            parse_token_answer(200, br#"{"access_token":"abc","scope":"read"}"#).expect("token");
        assert_eq!(token.expires_in, None);
    }

    #[test]
    fn undecodable_token_answer_does_not_quote_the_body() {
        let err = parse_token_answer(200, br#"{"token":"top-secret-value"}"#)
            .err()
            .expect("error");
        assert!(!format!("{err} {err:?}").contains("top-secret-value"));
    }
}
