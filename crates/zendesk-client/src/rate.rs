//! Client-side rate limiting: a requests-per-minute budget shared by all clones of a client,
//! pacing from Zendesk's rate-limit headers, and the cap on in-flight bulk jobs.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::HeaderMap;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::clock::{Clock, lock};

const WINDOW: Duration = Duration::from_secs(60);

/// A parsed `zendesk-ratelimit-*` header: `total=N; remaining=N; resets=S`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitHeader {
    /// Requests allowed in the window.
    pub total: Option<u64>,
    /// Requests left in the window.
    pub remaining: u64,
    /// Seconds until the window resets.
    pub resets: Option<u64>,
}

/// Parses `total=N; remaining=N; resets=S` (any order, `remaining` required).
pub fn parse_zendesk_ratelimit(value: &str) -> Option<RateLimitHeader> {
    let mut total = None;
    let mut remaining = None;
    let mut resets = None;
    for part in value.split([';', ',']) {
        let Some((key, val)) = part.split_once('=') else {
            continue;
        };
        let val: Option<u64> = val.trim().parse().ok();
        match key.trim().to_ascii_lowercase().as_str() {
            "total" => total = val,
            "remaining" => remaining = val,
            "resets" => resets = val,
            _ => {}
        }
    }
    Some(RateLimitHeader {
        total,
        remaining: remaining?,
        resets,
    })
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn header_secs(headers: &HeaderMap, name: &str) -> Option<Duration> {
    let value = header_str(headers, name)?;
    let secs: f64 = value.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// Every spelling of the account's "requests left in this window" header: Zendesk's
/// reference documents `x-rate-limit-remaining` and `ratelimit-remaining`; recorded traffic
/// also carries `rate-limit-remaining`.
pub const REMAINING_HEADERS: [&str; 3] = [
    "x-rate-limit-remaining",
    "ratelimit-remaining",
    "rate-limit-remaining",
];

/// Every spelling of the account's "seconds until the window resets" header: the reference
/// documents `ratelimit-reset`; recorded traffic mostly sends `rate-limit-reset`.
pub const RESET_HEADERS: [&str; 3] = ["ratelimit-reset", "rate-limit-reset", "x-rate-limit-reset"];

/// Prefixes of the per-endpoint headers (`total=N; remaining=N; resets=S`), in the
/// documented spelling and the one recorded traffic also shows.
pub const ENDPOINT_HEADER_PREFIXES: [&str; 2] = ["zendesk-ratelimit-", "zendesk-rate-limit-"];

/// The endpoint-header suffix that reports the account's in-flight job capacity.
const INFLIGHT_JOBS: &str = "inflight-jobs";

/// The first of `names` the answer carries, as a number of requests.
fn first_count(headers: &HeaderMap, names: &[&str]) -> Option<u64> {
    names
        .iter()
        .find_map(|name| header_str(headers, name)?.parse::<u64>().ok())
}

/// The first of `names` the answer carries, as a duration in seconds.
fn first_secs(headers: &HeaderMap, names: &[&str]) -> Option<Duration> {
    names.iter().find_map(|name| header_secs(headers, name))
}

/// Requests left in the account's window, in whichever spelling the answer used.
pub fn account_remaining(headers: &HeaderMap) -> Option<u64> {
    first_count(headers, &REMAINING_HEADERS)
}

/// Seconds until the account's window resets, in whichever spelling the answer used.
pub fn account_reset(headers: &HeaderMap) -> Option<Duration> {
    first_secs(headers, &RESET_HEADERS)
}

/// The per-endpoint limit name of a header (`zendesk-ratelimit-NAME` or
/// `zendesk-rate-limit-NAME`), if it is one.
pub fn endpoint_limit_name(header: &str) -> Option<&str> {
    ENDPOINT_HEADER_PREFIXES
        .iter()
        .find_map(|prefix| header.strip_prefix(prefix))
}

/// How long the server asked to wait: `Retry-After` (seconds), else the account window's
/// reset in any spelling.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    header_secs(headers, "retry-after").or_else(|| account_reset(headers))
}

/// The `Retry-After` header alone (seconds): the wait a server asks for after a failure
/// other than a rate limit, e.g. a 503.
pub fn explicit_retry_after(headers: &HeaderMap) -> Option<Duration> {
    header_secs(headers, "retry-after")
}

/// What a 429 holds back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitScope {
    /// The account's limit: every call waits.
    Account,
    /// One endpoint's limit (e.g. `PUT /api/v2/users/{id}`): calls to that endpoint wait.
    Endpoint(String),
    /// A limit on one record (e.g. "updating a single unique user"): calls to that
    /// method and path wait.
    Record(String),
}

/// Which limit a 429 names. Zendesk answers 429 for narrower limits too: a text naming a
/// single record's limit holds back that record only; a 429 while the account still has
/// requests left (its remaining header above zero) is an endpoint's limit; anything else
/// is taken for the account's limit, the safe reading.
pub fn limit_scope(headers: &HeaderMap, body: &[u8], endpoint: &str, target: &str) -> LimitScope {
    let text = String::from_utf8_lossy(body).to_ascii_lowercase();
    if text.contains("single unique") || text.contains("for updating a single") {
        return LimitScope::Record(target.to_owned());
    }
    match account_remaining(headers) {
        Some(remaining) if remaining > 0 => LimitScope::Endpoint(endpoint.to_owned()),
        _ => LimitScope::Account,
    }
}

/// The pause before the next request when `remaining` requests are left until the window
/// resets in `reset`: none while above `low_watermark`, the whole reset at zero, and the
/// reset spread over the remaining requests in between.
pub fn pacing_delay(remaining: u64, reset: Duration, low_watermark: u64) -> Option<Duration> {
    if remaining == 0 {
        Some(reset)
    } else if remaining <= low_watermark {
        let spread = u32::try_from(remaining.saturating_add(1)).unwrap_or(u32::MAX);
        Some(reset / spread)
    } else {
        None
    }
}

#[derive(Debug, Default)]
struct RateState {
    sent: VecDeque<Instant>,
    not_before: Option<Instant>,
    /// Holds on one endpoint or one record, keyed by `METHOD /path` (template or concrete).
    scoped_not_before: HashMap<String, Instant>,
}

/// The shared request budget.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_minute: usize,
    low_watermark: u64,
    clock: Arc<dyn Clock>,
    state: Mutex<RateState>,
}

impl RateLimiter {
    pub(crate) fn new(per_minute: u32, low_watermark: u64, clock: Arc<dyn Clock>) -> Self {
        Self {
            per_minute: usize::try_from(per_minute.max(1)).unwrap_or(usize::MAX),
            low_watermark,
            clock,
            state: Mutex::new(RateState::default()),
        }
    }

    /// Waits until a request fits the budget and none of the limits it falls under
    /// (`scopes`: its endpoint, its method and path, ...) holds it back, then books it.
    pub(crate) async fn acquire(&self, scopes: &[&str]) {
        let endpoint = scopes.first().copied().unwrap_or_default();
        loop {
            let wait = {
                let now = self.clock.now();
                let mut state = lock(&self.state);
                while state
                    .sent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= WINDOW)
                {
                    state.sent.pop_front();
                }
                let mut ready_at = now;
                if let Some(t) = state.not_before {
                    ready_at = ready_at.max(t);
                }
                for scope in scopes {
                    if let Some(t) = state.scoped_not_before.get(*scope) {
                        ready_at = ready_at.max(*t);
                    }
                }
                if state.sent.len() >= self.per_minute
                    && let Some(oldest) = state.sent.front()
                {
                    ready_at = ready_at.max(*oldest + WINDOW);
                }
                if ready_at <= now {
                    state.sent.push_back(now);
                    return;
                }
                ready_at - now
            };
            tracing::debug!(
                endpoint,
                wait_ms = wait.as_millis() as u64,
                "waiting for rate budget"
            );
            self.clock.sleep(wait).await;
        }
    }

    /// Holds every request back for `duration` (after an account-wide 429).
    pub(crate) fn pause(&self, duration: Duration) {
        let until = self.clock.now() + duration;
        let mut state = lock(&self.state);
        state.not_before = Some(state.not_before.map_or(until, |t| t.max(until)));
    }

    /// Holds back only the requests under `scope` for `duration`: one endpoint, one
    /// record, or (for [`LimitScope::Account`]) everything.
    pub(crate) fn pause_scope(&self, scope: &LimitScope, duration: Duration) {
        let key = match scope {
            LimitScope::Account => return self.pause(duration),
            LimitScope::Endpoint(key) | LimitScope::Record(key) => key,
        };
        let until = self.clock.now() + duration;
        let mut state = lock(&self.state);
        let entry = state.scoped_not_before.entry(key.clone()).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// Learns from an answer's rate-limit headers.
    pub(crate) fn observe(&self, endpoint: &str, headers: &HeaderMap) {
        let now = self.clock.now();
        let account_remaining = account_remaining(headers);
        let account_reset = account_reset(headers).unwrap_or(WINDOW);
        let mut state = lock(&self.state);
        if let Some(remaining) = account_remaining
            && let Some(delay) = pacing_delay(remaining, account_reset, self.low_watermark)
        {
            let until = now + delay;
            state.not_before = Some(state.not_before.map_or(until, |t| t.max(until)));
        }
        for (name, value) in headers {
            match endpoint_limit_name(name.as_str()) {
                Some(limit) if !limit.eq_ignore_ascii_case(INFLIGHT_JOBS) => {}
                _ => continue,
            }
            let Some(parsed) = value.to_str().ok().and_then(parse_zendesk_ratelimit) else {
                continue;
            };
            let reset = parsed.resets.map_or(WINDOW, Duration::from_secs);
            if let Some(delay) = pacing_delay(parsed.remaining, reset, self.low_watermark) {
                let until = now + delay;
                let entry = state
                    .scoped_not_before
                    .entry(endpoint.to_owned())
                    .or_insert(until);
                *entry = (*entry).max(until);
            }
        }
    }
}

#[derive(Debug, Default)]
struct SlotState {
    reserved: usize,
    jobs: HashMap<String, Instant>,
    server_cap: Option<(usize, Instant)>,
}

/// In-flight bulk jobs of this client (and its clones).
#[derive(Debug)]
pub(crate) struct JobSlots {
    cap: usize,
    ttl: Duration,
    clock: Arc<dyn Clock>,
    state: Mutex<SlotState>,
    freed: Notify,
}

/// A slot taken for a bulk submission; freed on drop unless committed to a job id.
pub(crate) struct Reservation<'a> {
    slots: &'a JobSlots,
    active: bool,
}

impl Reservation<'_> {
    /// The submission created job `id`: the slot now belongs to it until it is terminal.
    pub(crate) fn commit(mut self, id: &str) {
        let now = self.slots.clock.now();
        let mut state = lock(&self.slots.state);
        state.reserved = state.reserved.saturating_sub(1);
        state.jobs.insert(id.to_owned(), now);
        self.active = false;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.active {
            let mut state = lock(&self.slots.state);
            state.reserved = state.reserved.saturating_sub(1);
            drop(state);
            self.slots.freed.notify_waiters();
        }
    }
}

impl JobSlots {
    pub(crate) fn new(cap: usize, ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            cap: cap.max(1),
            ttl,
            clock,
            state: Mutex::new(SlotState::default()),
            freed: Notify::new(),
        }
    }

    fn try_reserve(&self) -> bool {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        let ttl = self.ttl;
        state
            .jobs
            .retain(|_, since| now.duration_since(*since) < ttl);
        let mut cap = self.cap;
        if let Some((server_cap, until)) = state.server_cap {
            if now < until {
                cap = cap.min(server_cap);
            } else {
                state.server_cap = None;
            }
        }
        if state.jobs.len() + state.reserved < cap {
            state.reserved += 1;
            true
        } else {
            false
        }
    }

    /// Waits for a free slot.
    pub(crate) async fn reserve(&self) -> Reservation<'_> {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if self.try_reserve() {
                return Reservation {
                    slots: self,
                    active: true,
                };
            }
            tracing::debug!("waiting for an in-flight job slot");
            // Re-check now and then: slots also free up when their TTL or the server's
            // reset passes, which nobody notifies.
            tokio::select! {
                () = &mut freed => {}
                () = self.clock.sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// A job was seen terminal: its slot is free.
    pub(crate) fn release(&self, id: &str) {
        let removed = lock(&self.state).jobs.remove(id).is_some();
        if removed {
            self.freed.notify_waiters();
        }
    }

    /// Learns the account's remaining job capacity from `zendesk-ratelimit-inflight-jobs`.
    pub(crate) fn observe(&self, headers: &HeaderMap) {
        let inflight = headers.iter().find_map(|(name, value)| {
            endpoint_limit_name(name.as_str())
                .filter(|limit| limit.eq_ignore_ascii_case(INFLIGHT_JOBS))
                .and_then(|_| value.to_str().ok())
        });
        let Some(parsed) = inflight.and_then(parse_zendesk_ratelimit) else {
            return;
        };
        let now = self.clock.now();
        let reset = parsed.resets.map_or(WINDOW, Duration::from_secs);
        let mut state = lock(&self.state);
        let held = state.jobs.len() + state.reserved;
        let remaining = usize::try_from(parsed.remaining).unwrap_or(usize::MAX);
        state.server_cap = Some((held.saturating_add(remaining), now + reset));
    }

    /// Jobs currently holding a slot.
    pub(crate) fn in_flight(&self) -> usize {
        let state = lock(&self.state);
        state.jobs.len() + state.reserved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use reqwest::header::HeaderValue;

    #[test]
    fn parses_zendesk_ratelimit_headers() {
        assert_eq!(
            parse_zendesk_ratelimit("total=30; remaining=29; resets=60"),
            Some(RateLimitHeader {
                total: Some(30),
                remaining: 29,
                resets: Some(60)
            })
        );
        assert_eq!(
            parse_zendesk_ratelimit("remaining=0;resets=12"),
            Some(RateLimitHeader {
                total: None,
                remaining: 0,
                resets: Some(12)
            })
        );
        assert_eq!(parse_zendesk_ratelimit("total=30"), None);
        assert_eq!(parse_zendesk_ratelimit("garbage"), None);
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn account_headers_in_every_spelling() {
        for (remaining, reset) in [
            ("x-rate-limit-remaining", "ratelimit-reset"),
            ("ratelimit-remaining", "rate-limit-reset"),
            ("rate-limit-remaining", "x-rate-limit-reset"),
        ] {
            let h = headers(&[(remaining, "5"), (reset, "44")]);
            assert_eq!(account_remaining(&h), Some(5), "{remaining}");
            assert_eq!(account_reset(&h), Some(Duration::from_secs(44)), "{reset}");
            assert_eq!(retry_after(&h), Some(Duration::from_secs(44)), "{reset}");
        }
        assert_eq!(account_remaining(&HeaderMap::new()), None);
        assert_eq!(
            endpoint_limit_name("zendesk-rate-limit-create-update-user"),
            Some("create-update-user")
        );
        assert_eq!(
            endpoint_limit_name("zendesk-ratelimit-inflight-jobs"),
            Some("inflight-jobs")
        );
        assert_eq!(endpoint_limit_name("x-rate-limit"), None);
    }

    /// A name, the answer's headers and body, and the scope expected.
    type Case = (
        &'static str,
        &'static [(&'static str, &'static str)],
        &'static [u8],
        LimitScope,
    );

    #[test]
    fn a_429_holds_back_what_it_names() {
        let endpoint = "PUT /api/v2/users/{id}";
        let target = "PUT /api/v2/users/421941820731";
        #[rustfmt::skip]
        let cases: [Case; 5] = [
            ("recorded single-user 429", &[("x-rate-limit-remaining", "668"), ("retry-after", "27")],
                b"You have exceeded the rate limit for updating a single unique user. user email:  id:  external_id: ",
                LimitScope::Record(target.into())),
            ("single-user text even with the account exhausted", &[("x-rate-limit-remaining", "0")],
                b"You have exceeded the rate limit for updating a single unique user.",
                LimitScope::Record(target.into())),
            ("account still has room: the endpoint's limit", &[("rate-limit-remaining", "300")],
                b"Too Many Requests", LimitScope::Endpoint(endpoint.into())),
            ("account exhausted", &[("x-rate-limit-remaining", "0")],
                b"Rate limit exceeded", LimitScope::Account),
            ("nothing said: the safe reading", &[], b"", LimitScope::Account),
        ];
        for (name, pairs, body, expected) in cases {
            assert_eq!(
                limit_scope(&headers(pairs), body, endpoint, target),
                expected,
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn a_scoped_pause_holds_back_only_its_scope() {
        let clock = ManualClock::new();
        let limiter = RateLimiter::new(1000, 0, Arc::new(clock.clone()));
        limiter.pause_scope(
            &LimitScope::Record("PUT /api/v2/users/1".into()),
            Duration::from_secs(27),
        );
        limiter
            .acquire(&["PUT /api/v2/users/{id}", "PUT /api/v2/users/2"])
            .await;
        assert!(clock.sleeps().is_empty());
        limiter
            .acquire(&["PUT /api/v2/users/{id}", "PUT /api/v2/users/1"])
            .await;
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(27)]);
        limiter.pause_scope(&LimitScope::Account, Duration::from_secs(5));
        limiter.acquire(&["GET /other"]).await;
        assert_eq!(
            clock.sleeps(),
            vec![Duration::from_secs(27), Duration::from_secs(5)]
        );
    }

    #[test]
    fn pacing_table() {
        let reset = Duration::from_secs(60);
        assert_eq!(pacing_delay(100, reset, 10), None);
        assert_eq!(pacing_delay(11, reset, 10), None);
        assert_eq!(
            pacing_delay(10, reset, 10),
            Some(Duration::from_nanos(5_454_545_454))
        );
        assert_eq!(pacing_delay(1, reset, 10), Some(Duration::from_secs(30)));
        assert_eq!(pacing_delay(0, reset, 10), Some(reset));
    }

    #[test]
    fn retry_after_prefers_retry_after_then_ratelimit_reset() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("ratelimit-reset", HeaderValue::from_static("9"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(9)));
        headers.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(9)));
    }

    #[tokio::test]
    async fn budget_waits_for_the_window_to_slide() {
        let clock = ManualClock::new();
        let limiter = RateLimiter::new(2, 0, Arc::new(clock.clone()));
        limiter.acquire(&["GET /a"]).await;
        clock.advance(Duration::from_secs(10));
        limiter.acquire(&["GET /a"]).await;
        assert!(clock.sleeps().is_empty());
        limiter.acquire(&["GET /b"]).await;
        // The first request leaves the window 60 s after it was sent.
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(50)]);
    }

    #[tokio::test]
    async fn low_remaining_header_slows_down_and_zero_waits_for_reset() {
        let clock = ManualClock::new();
        let limiter = RateLimiter::new(1000, 10, Arc::new(clock.clone()));
        let mut headers = HeaderMap::new();
        headers.insert("x-rate-limit-remaining", HeaderValue::from_static("500"));
        limiter.observe("GET /a", &headers);
        limiter.acquire(&["GET /a"]).await;
        assert!(clock.sleeps().is_empty());

        headers.insert("x-rate-limit-remaining", HeaderValue::from_static("0"));
        headers.insert("ratelimit-reset", HeaderValue::from_static("20"));
        limiter.observe("GET /a", &headers);
        limiter.acquire(&["GET /b"]).await;
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(20)]);
    }

    #[tokio::test]
    async fn endpoint_header_paces_only_that_endpoint() {
        let clock = ManualClock::new();
        let limiter = RateLimiter::new(1000, 2, Arc::new(clock.clone()));
        let mut headers = HeaderMap::new();
        headers.insert(
            "zendesk-ratelimit-incremental-exports",
            HeaderValue::from_static("total=10; remaining=1; resets=30"),
        );
        limiter.observe("GET /export", &headers);
        limiter.acquire(&["GET /other"]).await;
        assert!(clock.sleeps().is_empty());
        limiter.acquire(&["GET /export"]).await;
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(15)]);
    }

    #[tokio::test]
    async fn job_slots_block_at_cap_until_released() {
        let clock = ManualClock::new();
        let slots = Arc::new(JobSlots::new(
            2,
            Duration::from_secs(3600),
            Arc::new(clock.clone()),
        ));
        slots.reserve().await.commit("a");
        slots.reserve().await.commit("b");
        assert_eq!(slots.in_flight(), 2);
        assert!(!slots.try_reserve());
        slots.release("a");
        let r = slots.reserve().await;
        assert_eq!(slots.in_flight(), 2);
        drop(r);
        assert_eq!(slots.in_flight(), 1);
    }

    #[tokio::test]
    async fn inflight_header_lowers_the_cap_until_reset() {
        let clock = ManualClock::new();
        let slots = JobSlots::new(30, Duration::from_secs(3600), Arc::new(clock.clone()));
        let r = slots.reserve().await;
        let mut headers = HeaderMap::new();
        headers.insert(
            "zendesk-ratelimit-inflight-jobs",
            HeaderValue::from_static("total=30; remaining=0; resets=5"),
        );
        slots.observe(&headers);
        r.commit("j1");
        assert!(!slots.try_reserve(), "server says no room left");
        // Waiting in `reserve` lets the manual clock pass the 5 s reset.
        let _slot = slots.reserve().await;
        assert!(clock.elapsed() >= Duration::from_secs(5));
    }

    #[tokio::test]
    async fn forgotten_jobs_expire_after_ttl() {
        let clock = ManualClock::new();
        let slots = JobSlots::new(1, Duration::from_secs(10), Arc::new(clock.clone()));
        slots.reserve().await.commit("lost");
        let _slot = slots.reserve().await;
        assert_eq!(clock.elapsed(), Duration::from_secs(10));
    }
}
