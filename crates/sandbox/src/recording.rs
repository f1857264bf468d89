//! Recording the simulators' HTTP traffic, and the request normalization that recorded
//! traffic and its replay share.
//!
//! `cargo xtask fixtures --record` serves both simulators through [`ZendeskSim::serve_recorded`]
//! and [`SalesforceSim::serve_recorded`], runs the real `sfzd` binary against them and writes
//! what it exchanged as a scenario fixture; the replay test in `crates/sfzd` matches requests
//! against that fixture with [`normalize_query`], so both sides agree on what "the same
//! request" means even when watermarks and timestamps differ from run to run.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;

use crate::common::{lock, parse_pairs};
use crate::server::RunningServer;
use crate::{SalesforceSim, SandboxError, ZendeskSim};

/// The largest body a recorded exchange keeps (requests and answers of the scenario worlds
/// are a few kilobytes).
const MAX_RECORDED_BODY: usize = 16 * 1024 * 1024;

/// What stands for a run-specific point in time in a normalized query value.
pub const TIME_PLACEHOLDER: &str = "{time}";

/// One request a simulator answered, with its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// HTTP method, e.g. `GET`.
    pub method: String,
    /// Path as sent.
    pub path: String,
    /// Query parameters in order, URL-decoded.
    pub query: Vec<(String, String)>,
    /// Request body as sent.
    pub request_body: Vec<u8>,
    /// Status of the answer.
    pub status: u16,
    /// Body of the answer.
    pub response_body: Vec<u8>,
}

/// Collects the exchanges of the servers it is attached to, in the order they finished.
/// Clones share the same log.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    exchanges: Arc<Mutex<Vec<Exchange>>>,
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes every exchange recorded so far, leaving the log empty.
    pub fn take(&self) -> Vec<Exchange> {
        std::mem::take(&mut *lock(&self.exchanges))
    }
}

impl ZendeskSim {
    /// Serves this simulator on `127.0.0.1:0` like [`ZendeskSim::serve`], logging every
    /// exchange in `recorder`.
    ///
    /// # Errors
    /// [`SandboxError::Bind`] when no local port can be bound.
    pub async fn serve_recorded(&self, recorder: &Recorder) -> Result<RunningServer, SandboxError> {
        let recorder = recorder.clone();
        self.serve_wrapped(move |router| wrap(router, recorder))
            .await
    }
}

impl SalesforceSim {
    /// Serves this simulator on `127.0.0.1:0` like [`SalesforceSim::serve`], logging every
    /// exchange in `recorder`.
    ///
    /// # Errors
    /// [`SandboxError::Bind`] when no local port can be bound.
    pub async fn serve_recorded(&self, recorder: &Recorder) -> Result<RunningServer, SandboxError> {
        let recorder = recorder.clone();
        self.serve_wrapped(move |router| wrap(router, recorder))
            .await
    }
}

fn wrap(router: Router, recorder: Recorder) -> Router {
    router.layer(middleware::from_fn_with_state(recorder, record))
}

/// Buffers both bodies (the simulators answer in one piece when no fault is injected) and
/// logs the exchange.
async fn record(State(recorder): State<Recorder>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let request_body = to_bytes(body, MAX_RECORDED_BODY).await.unwrap_or_default();
    let method = parts.method.to_string();
    let path = parts.uri.path().to_owned();
    let query = parse_pairs(parts.uri.query().unwrap_or(""));
    let request = Request::from_parts(parts, Body::from(request_body.clone()));
    let response = next.run(request).await;
    let (parts, body) = response.into_parts();
    let response_body = to_bytes(body, MAX_RECORDED_BODY).await.unwrap_or_default();
    lock(&recorder.exchanges).push(Exchange {
        method,
        path,
        query,
        request_body: request_body.to_vec(),
        status: parts.status.as_u16(),
        response_body: response_body.to_vec(),
    });
    Response::from_parts(parts, Body::from(response_body))
}

/// A request's query parameters with run-specific values replaced by [`TIME_PLACEHOLDER`]:
/// date-times anywhere in a value (SOQL `SystemModstamp > 2024-02-01T00:00:00Z`) and the
/// Unix time of Zendesk's `start_time`. Every other value is kept as sent. A parameter sent
/// twice keeps its values joined by `&`, in order.
pub fn normalize_query<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> BTreeMap<String, String>
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in pairs {
        let (key, value) = (key.as_ref(), value.as_ref());
        let value = if key == "start_time" && value.bytes().all(|b| b.is_ascii_digit()) {
            TIME_PLACEHOLDER.to_owned()
        } else {
            replace_date_times(value, TIME_PLACEHOLDER)
        };
        out.entry(key.to_owned())
            .and_modify(|v| {
                v.push('&');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    out
}

/// `text` with every ISO 8601 date-time (`2024-02-01T00:00:00`, optionally with fractional
/// seconds and a `Z` or `±hh[:]mm` offset) replaced by `with`.
pub fn replace_date_times(text: &str, with: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        match date_time_len(&bytes[i..]) {
            Some(len) => {
                out.push_str(&text[copied..i]);
                out.push_str(with);
                i += len;
                copied = i;
            }
            None => i += 1,
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// The length of the date-time at the start of `s`, if one is there.
pub fn date_time_len(s: &[u8]) -> Option<usize> {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:dd";
    if s.len() < SHAPE.len() {
        return None;
    }
    for (c, shape) in s.iter().zip(SHAPE) {
        let fits = match shape {
            b'd' => c.is_ascii_digit(),
            other => c == other,
        };
        if !fits {
            return None;
        }
    }
    let mut len = SHAPE.len();
    if s.get(len) == Some(&b'.') {
        let digits = s[len + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits > 0 {
            len += 1 + digits;
        }
    }
    match s.get(len) {
        Some(b'Z') => len += 1,
        Some(b'+' | b'-') => {
            let rest = &s[len + 1..];
            let digit = |i: usize| rest.get(i).is_some_and(u8::is_ascii_digit);
            if digit(0) && digit(1) && rest.get(2) == Some(&b':') && digit(3) && digit(4) {
                len += 6;
            } else if digit(0) && digit(1) && digit(2) && digit(3) {
                len += 5;
            }
        }
        _ => {}
    }
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_times_in_soql_are_replaced_whatever_their_form() {
        for literal in [
            "2024-02-01T00:00:00Z",
            "2026-11-29T23:41:20.123Z",
            "2024-02-01T00:00:00.000+0000",
            "2024-02-01T00:00:00+01:00",
        ] {
            let soql =
                format!("SELECT Id FROM Contact WHERE SystemModstamp > {literal} ORDER BY Id");
            assert_eq!(
                replace_date_times(&soql, "{time}"),
                "SELECT Id FROM Contact WHERE SystemModstamp > {time} ORDER BY Id",
                "{literal}"
            );
        }
        assert_eq!(
            replace_date_times("Name = '2024-02-01'", "{time}"),
            "Name = '2024-02-01'"
        );
    }

    #[test]
    fn start_time_is_a_placeholder_and_other_values_stay() {
        let query = normalize_query([
            ("start_time", "1764459680"),
            ("ids", "7,8"),
            ("ids", "9"),
            ("per_page", "100"),
        ]);
        assert_eq!(query["start_time"], "{time}");
        assert_eq!(query["ids"], "7,8&9");
        assert_eq!(query["per_page"], "100");
    }

    #[tokio::test]
    async fn a_recorded_server_logs_each_exchange() {
        let sim = ZendeskSim::new(crate::ZendeskSimConfig::default());
        let recorder = Recorder::new();
        let server = sim.serve_recorded(&recorder).await.expect("bind");
        let response = reqwest::Client::new()
            .post(format!("{}/oauth/tokens", server.url))
            .json(&serde_json::json!({"grant_type": "client_credentials"}))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let body = response.bytes().await.expect("body");
        let exchanges = recorder.take();
        assert_eq!(exchanges.len(), 1);
        assert_eq!(exchanges[0].method, "POST");
        assert_eq!(exchanges[0].path, "/oauth/tokens");
        assert_eq!(exchanges[0].status, status);
        assert_eq!(exchanges[0].response_body, body.to_vec());
        assert!(String::from_utf8_lossy(&exchanges[0].request_body).contains("client_credentials"));
        assert!(recorder.take().is_empty(), "take empties the log");
        server.shutdown().await;
    }
}
