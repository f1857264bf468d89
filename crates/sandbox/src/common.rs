//! Pieces shared by both simulators: request counting, fault injection, clocks and encodings.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration as StdDuration;

use axum::body::{Body, Bytes};
use axum::response::Response;

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// Deterministic fault injection, applied before a request is processed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultConfig {
    /// Seed of the random sequence that decides which requests fail.
    pub seed: u64,
    /// Fraction (0.0..=1.0) of write requests answered 500 or 503 without applying them.
    pub write_failure_rate: f64,
    /// Fraction (0.0..=1.0) of all API requests answered 503 before any processing.
    pub unavailable_rate: f64,
    /// Fraction (0.0..=1.0) of API requests whose connection is cut after the request was
    /// processed (a write is applied): the status line and headers go out, the body stops
    /// half-way and the connection closes. The client cannot know whether a write landed.
    pub drop_rate: f64,
    /// Fraction (0.0..=1.0) of API requests answered only after [`FaultConfig::slow_delay`]
    /// (processed first, so a write is applied even when the client gave up waiting).
    pub slow_rate: f64,
    /// How long a slow answer is held back.
    pub slow_delay: StdDuration,
    /// Fraction (0.0..=1.0) of the items of Zendesk bulk jobs (users, organizations,
    /// memberships) that the job reports failed, without applying them.
    pub item_failure_rate: f64,
    /// Fraction (0.0..=1.0) of accepted Zendesk bulk *create* submissions (users and
    /// organizations `create_many` / `create_or_update_many`, memberships `create_many`)
    /// whose answer is cut half-way: the job exists and runs, but the client never learns
    /// its id, so a client that resubmits sends the same records again.
    pub bulk_create_drop_rate: f64,
}

/// What the fault injector decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    None,
    Unavailable,
    WriteFailed(u16),
}

/// How an answer that was processed reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Sent whole, at once.
    Normal,
    /// Cut half-way through the body, then the connection closes.
    Drop,
    /// Sent whole after a delay.
    Slow(StdDuration),
}

impl Delivery {
    /// Applies the decision to a finished response.
    pub(crate) async fn apply(self, response: Response) -> Response {
        match self {
            Delivery::Normal => response,
            Delivery::Slow(delay) => {
                tokio::time::sleep(delay).await;
                response
            }
            Delivery::Drop => cut(response).await,
        }
    }
}

/// The response with its full `Content-Length` but only half its body, then an error that
/// makes the server abort the connection.
async fn cut(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let half = Bytes::copy_from_slice(&bytes[..bytes.len() / 2]);
    if let Ok(length) = axum::http::HeaderValue::from_str(&bytes.len().max(1).to_string()) {
        parts
            .headers
            .insert(axum::http::header::CONTENT_LENGTH, length);
    }
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(half),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "simulated dropped connection",
        )),
    ];
    Response::from_parts(parts, Body::from_stream(futures::stream::iter(chunks)))
}

/// Seeded fault decisions; one random draw per decision keeps the sequence reproducible.
#[derive(Debug)]
pub(crate) struct FaultInjector {
    config: FaultConfig,
    rng: StdRng,
}

impl FaultInjector {
    pub(crate) fn new(config: FaultConfig) -> Self {
        let rng = StdRng::seed_from_u64(config.seed);
        Self { config, rng }
    }

    pub(crate) fn decide(&mut self, is_write: bool) -> Fault {
        if self.config.unavailable_rate > 0.0
            && self.rng.random::<f64>() < self.config.unavailable_rate
        {
            return Fault::Unavailable;
        }
        if is_write
            && self.config.write_failure_rate > 0.0
            && self.rng.random::<f64>() < self.config.write_failure_rate
        {
            let status = if self.rng.random_bool(0.5) { 500 } else { 503 };
            return Fault::WriteFailed(status);
        }
        Fault::None
    }

    /// Whether one item of a bulk job fails.
    pub(crate) fn item_fails(&mut self) -> bool {
        self.config.item_failure_rate > 0.0
            && self.rng.random::<f64>() < self.config.item_failure_rate
    }

    /// Whether the answer of an accepted bulk create is cut; draws only when the fault is
    /// enabled, so seeds keep their sequences when it is off.
    pub(crate) fn bulk_create_dropped(&mut self) -> bool {
        self.config.bulk_create_drop_rate > 0.0
            && self.rng.random::<f64>() < self.config.bulk_create_drop_rate
    }

    /// Decides how a processed API answer is delivered; draws only for enabled faults, so
    /// seeds keep their sequences when these faults are off.
    pub(crate) fn delivery(&mut self) -> Delivery {
        if self.config.drop_rate > 0.0 && self.rng.random::<f64>() < self.config.drop_rate {
            return Delivery::Drop;
        }
        if self.config.slow_rate > 0.0 && self.rng.random::<f64>() < self.config.slow_rate {
            return Delivery::Slow(self.config.slow_delay);
        }
        Delivery::Normal
    }
}

/// Which answers a simulator holds back until the test calls `release_answers`: a way to
/// stop a client at an exact request (to kill it there, signal it, or start a rival run)
/// instead of at a moment in time. A held request is processed first, so a write is
/// applied even when the client never sees the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HoldAnswers {
    /// The n-th request from now (1-based, token requests included, as
    /// [`RequestCounts::total`] counts) and every request after it.
    From(u64),
    /// The first API write (any method but GET) from now and every request after it.
    FromFirstWrite,
    /// The n-th API write from now (1-based) and no other request. A held answer that is
    /// never released stands for an answer that never comes.
    NthWrite(u64),
}

/// Events scripted on one simulator's sequence of requests.
#[derive(Debug)]
pub(crate) struct Script {
    hold: Option<HoldAnswers>,
    /// `From` or `FromFirstWrite` has started holding.
    holding: bool,
    /// Requests and API writes since `hold` was armed.
    requests: u64,
    writes: u64,
    /// `true` once the held answers may go.
    gate: tokio::sync::watch::Sender<bool>,
    /// Answers held since `hold` was armed.
    held: tokio::sync::watch::Sender<u64>,
    expire_tokens_every: Option<u64>,
    answered: u64,
    spend_budget_every: Option<u64>,
    budget_requests: u64,
}

impl Script {
    pub(crate) fn new() -> Self {
        Self {
            hold: None,
            holding: false,
            requests: 0,
            writes: 0,
            gate: tokio::sync::watch::Sender::new(true),
            held: tokio::sync::watch::Sender::new(0),
            expire_tokens_every: None,
            answered: 0,
            spend_budget_every: None,
            budget_requests: 0,
        }
    }

    pub(crate) fn hold(&mut self, hold: HoldAnswers) {
        self.hold = Some(hold);
        self.holding = false;
        self.requests = 0;
        self.writes = 0;
        self.held.send_replace(0);
        self.gate.send_replace(false);
    }

    /// Holds no further answers; those held wait for `release`.
    pub(crate) fn stop_holding(&mut self) {
        self.hold = None;
        self.holding = false;
    }

    pub(crate) fn release(&mut self) {
        self.hold = None;
        self.holding = false;
        self.gate.send_replace(true);
    }

    /// Counts a processed request; `Some(gate)` when its answer must wait for the gate.
    pub(crate) fn on_request(&mut self, is_api: bool, is_write: bool) -> Option<Gate> {
        let hold = self.hold?;
        self.requests += 1;
        let write = is_api && is_write;
        if write {
            self.writes += 1;
        }
        let held = match hold {
            HoldAnswers::From(n) => self.requests >= n,
            HoldAnswers::FromFirstWrite => self.holding || write,
            HoldAnswers::NthWrite(n) => write && self.writes == n,
        };
        if !held {
            return None;
        }
        self.holding = !matches!(hold, HoldAnswers::NthWrite(_));
        self.held.send_modify(|count| *count += 1);
        Some(Gate(self.gate.subscribe()))
    }

    /// Answers held since `hold` was armed, to wait on.
    pub(crate) fn held(&self) -> tokio::sync::watch::Receiver<u64> {
        self.held.subscribe()
    }

    pub(crate) fn expire_tokens_every(&mut self, answered: u64) {
        self.expire_tokens_every = Some(answered.max(1));
        self.answered = 0;
    }

    /// Counts an answered API request; `true` when the tokens must be forgotten now.
    pub(crate) fn expire_tokens_now(&mut self, is_api: bool, status: u16) -> bool {
        let Some(every) = self.expire_tokens_every else {
            return false;
        };
        if !is_api || status != 200 {
            return false;
        }
        self.answered += 1;
        self.answered.is_multiple_of(every)
    }

    pub(crate) fn spend_budget_every(&mut self, requests: u64) {
        self.spend_budget_every = Some(requests.max(1));
        self.budget_requests = 0;
    }

    /// Counts an API request before its rate-limit check; `true` when another client has
    /// just spent the budget.
    pub(crate) fn budget_spent_now(&mut self) -> bool {
        let Some(every) = self.spend_budget_every else {
            return false;
        };
        self.budget_requests += 1;
        self.budget_requests.is_multiple_of(every)
    }
}

/// What a held answer waits for.
pub(crate) struct Gate(tokio::sync::watch::Receiver<bool>);

impl Gate {
    /// Returns once the answers are released (or the simulator is gone).
    pub(crate) async fn opened(mut self) {
        let _ = self.0.wait_for(|open| *open).await;
    }
}

/// Waits until `count` answers have been held since the hold was armed.
pub(crate) async fn wait_for_held(mut held: tokio::sync::watch::Receiver<u64>, count: u64) {
    let _ = held.wait_for(|held| *held >= count).await;
}

/// Request counters of one simulator.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RequestCounts {
    /// Requests per endpoint key, e.g. `"POST /api/v2/users/create_many"`.
    pub by_endpoint: BTreeMap<String, u64>,
    /// API requests with method GET (token requests excluded).
    pub reads: u64,
    /// API requests with another method (token requests excluded).
    pub writes: u64,
}

impl RequestCounts {
    /// Requests counted for one endpoint key (0 when never called).
    pub fn get(&self, key: &str) -> u64 {
        self.by_endpoint.get(key).copied().unwrap_or(0)
    }

    /// All counted requests, token requests included.
    pub fn total(&self) -> u64 {
        self.by_endpoint.values().sum()
    }

    pub(crate) fn record(&mut self, key: &str, is_api: bool, is_write: bool) {
        *self.by_endpoint.entry(key.to_owned()).or_insert(0) += 1;
        if is_api {
            if is_write {
                self.writes += 1;
            } else {
                self.reads += 1;
            }
        }
    }
}

/// One request as the simulator saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoggedRequest {
    /// HTTP method.
    pub method: String,
    /// Path as sent (with `.json` and ids).
    pub path: String,
    /// Raw query string, empty when absent.
    pub query: String,
    /// Endpoint key used by the counters.
    pub endpoint: String,
    /// Status the simulator answered.
    pub status: u16,
}

/// Endpoint key: method plus the path without `.json`, numeric or long hex segments as `{id}`.
pub(crate) fn endpoint_key(method: &str, path: &str) -> String {
    let path = path.strip_suffix(".json").unwrap_or(path);
    let mut out = String::with_capacity(path.len() + method.len() + 1);
    out.push_str(method);
    out.push(' ');
    let mut first = true;
    for segment in path.split('/') {
        if !first {
            out.push('/');
        }
        first = false;
        if is_id_segment(segment) {
            out.push_str("{id}");
        } else {
            out.push_str(segment);
        }
    }
    out
}

fn is_id_segment(segment: &str) -> bool {
    if segment.is_empty() {
        return false;
    }
    let all_digits = segment.bytes().all(|b| b.is_ascii_digit());
    let long_hex = segment.len() >= 16 && segment.bytes().all(|b| b.is_ascii_hexdigit());
    let sf_id = (segment.len() == 15 || segment.len() == 18)
        && segment.bytes().all(|b| b.is_ascii_alphanumeric())
        && segment.bytes().any(|b| b.is_ascii_digit());
    all_digits || long_hex || sf_id
}

/// Locks a mutex, recovering the data if a panicking holder poisoned it (state stays usable).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A clock that never goes backwards and never repeats, so modification stamps order writes.
#[derive(Debug, Clone)]
pub(crate) struct MonotonicClock {
    last: DateTime<Utc>,
    step: Duration,
}

impl MonotonicClock {
    /// `step` is the resolution of the stamps (1 ms for Salesforce, 1 s for Zendesk).
    pub(crate) fn new(step: Duration) -> Self {
        Self {
            last: DateTime::<Utc>::MIN_UTC,
            step,
        }
    }

    pub(crate) fn now(&mut self) -> DateTime<Utc> {
        let wall = truncate(Utc::now(), self.step);
        self.last = if wall > self.last {
            wall
        } else {
            self.last + self.step
        };
        self.last
    }

    /// Like `now`, but several stamps may share a value: Zendesk timestamps have second
    /// resolution and many writes land in the same second.
    pub(crate) fn now_shared(&mut self) -> DateTime<Utc> {
        let wall = truncate(Utc::now(), self.step);
        if wall > self.last {
            self.last = wall;
        }
        self.last
    }

    /// The latest stamp handed out, or the wall clock when that is later: "now" as the
    /// records see it (stamps can run a little ahead of the wall clock under load).
    pub(crate) fn latest(&self) -> DateTime<Utc> {
        self.last.max(Utc::now())
    }

    /// Makes later stamps come after `t` (used when loading data with given stamps).
    pub(crate) fn observe(&mut self, t: DateTime<Utc>) {
        if t > self.last {
            self.last = t;
        }
    }
}

fn truncate(t: DateTime<Utc>, step: Duration) -> DateTime<Utc> {
    let step_ms = step.num_milliseconds().max(1);
    let ms = t.timestamp_millis();
    DateTime::<Utc>::from_timestamp_millis(ms - ms.rem_euclid(step_ms)).unwrap_or(t)
}

/// Decodes standard base64 (with or without padding); `None` on invalid input.
pub(crate) fn base64_decode(input: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for c in input.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// Parses a query or form string (`a=1&b=x+y`) into decoded pairs.
pub(crate) fn parse_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Percent-decodes one form component; `+` means space.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a query component (unreserved characters kept).
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_keys_strip_json_and_ids() {
        assert_eq!(
            endpoint_key(
                "PUT",
                "/api/v2/users/123/organization_memberships/9/make_default.json"
            ),
            "PUT /api/v2/users/{id}/organization_memberships/{id}/make_default"
        );
        assert_eq!(
            endpoint_key("GET", "/api/v2/job_statuses/0123456789abcdef0123"),
            "GET /api/v2/job_statuses/{id}"
        );
        assert_eq!(
            endpoint_key("POST", "/api/v2/users/create_many.json"),
            "POST /api/v2/users/create_many"
        );
    }

    #[test]
    fn base64_roundtrip_of_known_value() {
        assert_eq!(
            base64_decode("YWdlbnRAeC5jb20vdG9rZW46c2VjcmV0").as_deref(),
            Some(&b"agent@x.com/token:secret"[..])
        );
        assert_eq!(base64_decode("!!"), None);
    }

    #[test]
    fn pairs_are_decoded() {
        assert_eq!(
            parse_pairs("q=SELECT+Id%2C+Name&x=%2B1"),
            vec![
                ("q".into(), "SELECT Id, Name".into()),
                ("x".into(), "+1".into())
            ]
        );
    }

    #[test]
    fn monotonic_clock_never_repeats() {
        let mut clock = MonotonicClock::new(Duration::milliseconds(1));
        let a = clock.now();
        let b = clock.now();
        assert!(b > a);
    }
}
