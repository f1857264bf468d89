//! HTTP layer of the Zendesk simulator: auth, limits, faults, routing and JSON envelopes.

use std::time::{Duration, Instant};

use rand::Rng;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::model::{identity_json, membership_json, org_json, ts, user_json};
use super::state::ItemError;
use super::{Inner, Job, MAX_INFLIGHT_JOBS, ZendeskSim};
use crate::common::{
    Delivery, Fault, LoggedRequest, base64_decode, endpoint_key, lock, parse_pairs, percent_encode,
};

/// Largest accepted request body; bulk payloads of 100 records fit easily.
const MAX_BODY: usize = 32 * 1024 * 1024;

pub(crate) enum ReplyBody {
    Json(Value),
    Text(String),
}

pub(crate) struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: ReplyBody,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: ReplyBody::Json(body),
        }
    }

    fn ok(body: Value) -> Self {
        Self::json(200, body)
    }

    fn text(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: ReplyBody::Text(body.to_owned()),
        }
    }

    fn error(status: u16, error: &str, description: &str) -> Self {
        Self::json(
            status,
            json!({ "error": error, "description": description }),
        )
    }

    fn item(e: &ItemError) -> Self {
        Self::json(e.status, e.body())
    }

    fn not_found() -> Self {
        Self::error(404, "RecordNotFound", "Not found")
    }

    fn invalid_endpoint() -> Self {
        Self::error(404, "InvalidEndpoint", "Not found")
    }
}

/// Query parameters in order; lookups are by exact key.
struct Query(Vec<(String, String)>);

impl Query {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn list(&self, key: &str) -> Option<Vec<String>> {
        self.get(key).map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
    }

    fn includes(&self, what: &str) -> bool {
        self.get("include")
            .is_some_and(|v| v.split(',').any(|i| i.trim() == what))
    }
}

pub(crate) async fn handle(State(sim): State<ZendeskSim>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let raw_query = req.uri().query().unwrap_or("").to_owned();
    let headers = req.headers().clone();
    let body = match to_bytes(req.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return respond(Reply::error(400, "BadRequest", "unreadable body")),
    };
    let is_api = path.starts_with("/api/v2/");
    let (reply, delivery, gate) = {
        let mut inner = lock(&sim.inner);
        inner.bulk_create_accepted = false;
        let reply = inner.process(&method, &path, &raw_query, &headers, &body);
        let delivery = if is_api {
            inner.delivery_after_processing()
        } else {
            Delivery::Normal
        };
        if inner.script.expire_tokens_now(is_api, reply.status) {
            inner.tokens.clear();
        }
        let gate = inner
            .script
            .on_request(is_api, is_api && method != Method::GET);
        (reply, delivery, gate)
    };
    let response = delivery.apply(respond(reply)).await;
    if let Some(gate) = gate {
        gate.opened().await;
    }
    response
}

fn respond(reply: Reply) -> Response {
    let (content_type, bytes) = match reply.body {
        ReplyBody::Json(v) => ("application/json; charset=utf-8", v.to_string()),
        ReplyBody::Text(t) => ("text/plain; charset=utf-8", t),
    };
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    for (name, value) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    response
}

fn json_body(body: &[u8]) -> Result<Value, Reply> {
    if body.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    serde_json::from_slice(body)
        .map_err(|e| Reply::error(400, "InvalidJson", &format!("body is not valid JSON: {e}")))
}

impl Inner {
    /// How the answer of the request just processed is delivered: an accepted bulk create
    /// may be cut on purpose (the job exists), then the general delivery faults apply.
    fn delivery_after_processing(&mut self) -> Delivery {
        if std::mem::take(&mut self.bulk_create_accepted) {
            if self.drop_bulk_create_answers > 0 {
                self.drop_bulk_create_answers -= 1;
                return Delivery::Drop;
            }
            if self.faults.bulk_create_dropped() {
                return Delivery::Drop;
            }
        }
        self.faults.delivery()
    }

    fn process(
        &mut self,
        method: &Method,
        path: &str,
        raw_query: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Reply {
        let endpoint = endpoint_key(method.as_str(), path);
        let request_id = format!("zdsim-{:08x}", self.next_request);
        self.next_request += 1;
        let clean = path.strip_suffix(".json").unwrap_or(path);
        let mut reply = if clean == "/oauth/tokens" && method == Method::POST {
            self.counts.record(&endpoint, false, true);
            self.oauth(body)
        } else {
            let is_write = method != Method::GET;
            self.counts.record(&endpoint, true, is_write);
            self.api(method, clean, raw_query, headers, body, is_write)
        };
        let limit = self.config.rate_limit_per_minute.unwrap_or(700);
        let used = u32::try_from(self.window.len()).unwrap_or(u32::MAX);
        reply.headers.push(("x-rate-limit", limit.to_string()));
        reply.headers.push((
            "x-rate-limit-remaining",
            limit.saturating_sub(used).to_string(),
        ));
        if self.config.rate_limit_per_minute.is_some() {
            // Seconds until the oldest request leaves the window, so a client pacing itself
            // on the remaining budget spreads it over the real window.
            let reset = self.window.front().map_or(0, |oldest| {
                let left = self
                    .config
                    .rate_limit_window
                    .saturating_sub(oldest.elapsed());
                left.as_secs() + u64::from(left.subsec_nanos() > 0)
            });
            reply
                .headers
                .push(("ratelimit-reset", reset.max(1).to_string()));
        }
        reply.headers.push(("x-zendesk-request-id", request_id));
        tracing::debug!(method = %method, path, status = reply.status, "zendesk simulator request");
        self.log.push(LoggedRequest {
            method: method.to_string(),
            path: path.to_owned(),
            query: raw_query.to_owned(),
            endpoint,
            status: reply.status,
        });
        reply
    }

    fn oauth(&mut self, body: &[u8]) -> Reply {
        let v = match json_body(body) {
            Ok(v) => v,
            Err(r) => return r,
        };
        let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default();
        if field("grant_type") != "client_credentials" {
            return Reply::json(
                400,
                json!({"error":"unsupported_grant_type","error_description":"The authorization grant type is not supported by the authorization server."}),
            );
        }
        if field("client_id") != self.config.oauth_client_id
            || field("client_secret") != self.config.oauth_client_secret
        {
            return Reply::json(
                401,
                json!({"error":"invalid_client","error_description":"Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method."}),
            );
        }
        // A client may ask for a shorter lifetime, never a longer one than configured.
        let lifetime = v
            .get("expires_in")
            .and_then(Value::as_u64)
            .map_or(self.config.token_lifetime, |s| {
                Duration::from_secs(s).min(self.config.token_lifetime)
            });
        let token = format!(
            "zdsim{:016x}{:08x}",
            self.next_token.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            self.next_token
        );
        self.next_token += 1;
        self.tokens.insert(token.clone(), Instant::now() + lifetime);
        let scope = match field("scope") {
            "" => "read write",
            s => s,
        };
        Reply::ok(json!({
            "access_token": token,
            "token_type": "bearer",
            "scope": scope,
            "expires_in": lifetime.as_secs(),
        }))
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        if let Some(token) = value.strip_prefix("Bearer ") {
            return self
                .tokens
                .get(token.trim())
                .is_some_and(|expiry| Instant::now() < *expiry);
        }
        if let (Some(encoded), Some((email, token))) =
            (value.strip_prefix("Basic "), &self.config.api_token)
        {
            let expected = format!("{email}/token:{token}");
            return base64_decode(encoded.trim()).is_some_and(|d| d == expected.as_bytes());
        }
        false
    }

    /// Sliding window of `rate_limit_window`; `Some(retry_after_secs)` when the request is over the limit.
    fn rate_limited(&mut self) -> Option<u64> {
        let limit = self.config.rate_limit_per_minute? as usize;
        let now = Instant::now();
        let window = self.config.rate_limit_window;
        while self
            .window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            self.window.pop_front();
        }
        if self.script.budget_spent_now() {
            // Another client's requests, made just now, fill the window (after the old
            // ones left it, so the budget is spent whatever came before).
            while self.window.len() < limit {
                self.window.push_back(now);
            }
        }
        if self.window.len() >= limit {
            let oldest = self.window.front().copied().unwrap_or(now);
            let wait = window.saturating_sub(now.duration_since(oldest));
            let ceil = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Some(ceil.max(1));
        }
        self.window.push_back(now);
        None
    }

    fn api(
        &mut self,
        method: &Method,
        path: &str,
        raw_query: &str,
        headers: &HeaderMap,
        body: &[u8],
        is_write: bool,
    ) -> Reply {
        let Some(rest) = path.strip_prefix("/api/v2/") else {
            return Reply::invalid_endpoint();
        };
        if let Some(wait) = self.rate_limited() {
            let mut r = Reply::text(
                429,
                "Too Many Requests: the account's API rate limit was exceeded. Try again later.",
            );
            r.headers.push(("retry-after", wait.to_string()));
            return r;
        }
        if !self.authorized(headers) {
            return Reply::json(
                401,
                json!({"error":"invalid_token","error_description":"The access token provided is expired, revoked, malformed or invalid for other reasons."}),
            );
        }
        match self.faults.decide(is_write) {
            Fault::None => {}
            Fault::Unavailable => return Reply::text(503, "Service Unavailable"),
            Fault::WriteFailed(status) => {
                return Reply::text(status, "Internal error: the request was not applied");
            }
        }
        let query = Query(parse_pairs(raw_query));
        let mut body = match json_body(body) {
            Ok(v) => v,
            Err(r) => return r,
        };
        let segments: Vec<&str> = rest.split('/').collect();
        let warning = self.drop_undefined_fields(method, &segments, &mut body);
        let mut reply = self.route(method, &segments, &query, &body);
        if let Some(warning) = warning
            && reply.status < 300
        {
            reply.headers.push(("x-zendesk-api-warn", warning));
        }
        reply
    }

    /// Drops custom field keys the account does not define from a user or organization
    /// write and describes them the way Zendesk's `X-Zendesk-API-Warn` does (recorded on
    /// `PUT /api/v2/organizations/{id}`): a Rails hash naming the controller, the action and
    /// the `unpermitted_keys`. Zendesk still answers the write with success.
    fn drop_undefined_fields(
        &self,
        method: &Method,
        seg: &[&str],
        body: &mut Value,
    ) -> Option<String> {
        let (controller, defined, fields) = match seg.first().copied() {
            Some("users") => ("users", &self.config.user_fields, "user_fields"),
            Some("organizations") => (
                "organizations",
                &self.config.organization_fields,
                "organization_fields",
            ),
            _ => return None,
        };
        let action = match (method.as_str(), &seg[1..]) {
            ("POST", []) => "create",
            ("PUT", [id]) if id.parse::<u64>().is_ok() => "update",
            ("POST", [action @ ("create_many" | "create_or_update" | "create_or_update_many")])
            | ("PUT", [action @ "update_many"]) => action,
            _ => return None,
        };
        let singular = &controller[..controller.len() - 1];
        let mut dropped = Vec::new();
        let mut strip = |record: &mut Value, prefix: &str| {
            if let Some(map) = record.get_mut(fields).and_then(Value::as_object_mut) {
                let undefined: Vec<String> = map
                    .keys()
                    .filter(|k| !defined.contains(k))
                    .cloned()
                    .collect();
                for key in undefined {
                    map.remove(&key);
                    dropped.push(format!("{prefix}.{fields}.{key}"));
                }
            }
        };
        if let Some(record) = body.get_mut(singular) {
            strip(record, singular);
        }
        if let Some(records) = body.get_mut(controller).and_then(Value::as_array_mut) {
            for record in records {
                strip(record, controller);
            }
        }
        if dropped.is_empty() {
            return None;
        }
        dropped.dedup();
        let keys: Vec<String> = dropped.iter().map(|k| format!("{k:?}")).collect();
        Some(format!(
            "{{:allowed_parameters=>{{:controller=>\"{controller}\", :action=>\"{action}\", :unpermitted_keys=>[{}], :invalid_values=>[]}}}}",
            keys.join(", ")
        ))
    }

    /// `GET /api/v2/user_fields` and `/organization_fields`: the fields the account
    /// defines, one page (an account has far fewer than a page of them).
    fn custom_fields(&self, list: &str, keys: &[String]) -> Reply {
        let fields: Vec<Value> = keys
            .iter()
            .enumerate()
            .map(|(position, key)| {
                let id = 1000 + position as u64;
                json!({
                    "id": id,
                    "url": format!("{}/api/v2/{list}/{id}.json", self.base_url),
                    "key": key,
                    "type": "text",
                    "title": key,
                    "raw_title": key,
                    "position": position,
                    "active": true,
                    "system": false,
                })
            })
            .collect();
        Reply::ok(json!({
            list: fields,
            "meta": {"has_more": false, "after_cursor": null, "before_cursor": null},
            "links": {"next": null, "prev": null},
        }))
    }

    fn route(&mut self, method: &Method, seg: &[&str], q: &Query, body: &Value) -> Reply {
        let id = |s: &str| s.parse::<u64>().ok();
        match (method.as_str(), seg) {
            ("GET", ["account", "settings"]) => self.account_settings(),
            ("GET", ["user_fields"]) => self.custom_fields("user_fields", &self.config.user_fields),
            ("GET", ["organization_fields"]) => {
                self.custom_fields("organization_fields", &self.config.organization_fields)
            }
            ("GET", ["users", "show_many"]) => self.users_show_many(q),
            ("GET", ["users", "search"]) => self.users_search(q),
            ("GET", ["users", "count"]) => self.users_count(),
            ("POST", ["users"]) => self.users_create(body),
            ("GET", ["users"]) => self.users_list(q),
            ("POST", ["users", "create_or_update"]) => self.users_create_or_update(body),
            ("POST", ["users", "create_many"]) => self.users_bulk(body, false),
            ("POST", ["users", "create_or_update_many"]) => self.users_bulk(body, true),
            ("PUT", ["users", "update_many"]) => self.users_update_many(q, body),
            ("GET", ["users", uid]) => match id(uid) {
                Some(uid) => self.users_show(uid, q),
                None => Reply::not_found(),
            },
            ("PUT", ["users", uid]) => match id(uid) {
                Some(uid) => self.users_update(uid, body),
                None => Reply::not_found(),
            },
            ("GET", ["users", uid, "identities"]) => match id(uid) {
                Some(uid) => self.users_identities(uid, q),
                None => Reply::not_found(),
            },
            ("POST", ["users", uid, "identities"]) => match id(uid) {
                Some(uid) => self.identity_create(uid, body),
                None => Reply::not_found(),
            },
            ("GET", ["users", uid, "organization_memberships"]) => match id(uid) {
                Some(uid) => self.memberships_of_user(uid, q),
                None => Reply::not_found(),
            },
            ("POST", ["users", uid, "organization_memberships"]) => match id(uid) {
                Some(uid) => self.membership_create(body, Some(uid)),
                None => Reply::not_found(),
            },
            (
                "PUT",
                [
                    "users",
                    uid,
                    "organization_memberships",
                    mid,
                    "make_default",
                ],
            ) => match (id(uid), id(mid)) {
                (Some(uid), Some(mid)) => self.make_default(uid, mid),
                _ => Reply::not_found(),
            },
            ("GET", ["incremental", "users", "cursor"]) => self.incremental_users(q),
            ("GET", ["incremental", "organizations"]) => self.incremental_orgs(q),
            ("GET", ["organizations", "show_many"]) => self.orgs_show_many(q),
            ("GET", ["organizations", "search"]) => self.orgs_search(q),
            ("POST", ["organizations"]) => self.orgs_create(body),
            ("POST", ["organizations", "create_or_update"]) => self.orgs_create_or_update(body),
            ("POST", ["organizations", "create_many"]) => self.orgs_bulk(body, false),
            ("POST", ["organizations", "create_or_update_many"]) => self.orgs_bulk(body, true),
            ("PUT", ["organizations", "update_many"]) => self.orgs_update_many(q, body),
            ("GET", ["organizations", oid]) => match id(oid).and_then(|o| self.data.orgs.get(&o)) {
                Some(o) => Reply::ok(json!({ "organization": org_json(&self.base_url, o) })),
                None => Reply::not_found(),
            },
            ("PUT", ["organizations", oid]) => match id(oid) {
                Some(oid) => self.orgs_update(oid, body),
                None => Reply::not_found(),
            },
            ("GET", ["organizations", oid, "organization_memberships"]) => match id(oid) {
                Some(oid) => self.memberships_of_org(oid, q),
                None => Reply::not_found(),
            },
            ("GET", ["organization_memberships"]) => self.memberships_all(q),
            ("POST", ["organization_memberships"]) => self.membership_create(body, None),
            ("POST", ["organization_memberships", "create_many"]) => self.memberships_bulk(body),
            ("GET", ["organization_memberships", mid]) => {
                match id(mid).and_then(|m| self.data.memberships.get(&m)) {
                    Some(m) => Reply::ok(json!({
                        "organization_membership":
                            membership_json(&self.base_url, m, self.data.org_name(m.organization_id))
                    })),
                    None => Reply::not_found(),
                }
            }
            ("DELETE", ["organization_memberships", mid]) => match id(mid) {
                Some(mid) => match self.data.delete_membership(mid) {
                    Ok(()) => Reply::text(204, ""),
                    Err(e) => Reply::item(&e),
                },
                None => Reply::not_found(),
            },
            ("GET", ["job_statuses", "show_many"]) => self.jobs_show_many(q),
            ("GET", ["job_statuses", jid]) => match self.poll_job(jid) {
                Some(v) => Reply::ok(json!({ "job_status": v })),
                None => Reply::not_found(),
            },
            _ => Reply::invalid_endpoint(),
        }
    }

    // ----- account -----

    fn account_settings(&self) -> Reply {
        Reply::ok(json!({
            "settings": {
                "user": {
                    "multiple_organizations": self.config.multiple_organizations,
                    "tagging": true,
                    "time_zone_selection": true,
                    "language_selection": true,
                },
                "tickets": { "assign_default_organization": true },
                "api": { "accepted_api_agreement": true },
            }
        }))
    }

    // ----- users -----

    fn users_payload(
        &self,
        users: impl Iterator<Item = u64>,
        q: &Query,
    ) -> (Vec<Value>, Option<Vec<Value>>) {
        let with_identities = q.includes("identities");
        let mut out = Vec::new();
        let mut identities = Vec::new();
        for id in users {
            if let Some(u) = self.data.users.get(&id) {
                out.push(user_json(&self.base_url, u));
                if with_identities {
                    identities.extend(
                        u.identities
                            .iter()
                            .map(|i| identity_json(&self.base_url, u, i)),
                    );
                }
            }
        }
        (out, with_identities.then_some(identities))
    }

    fn users_show(&self, id: u64, q: &Query) -> Reply {
        if !self.data.users.contains_key(&id) {
            return Reply::not_found();
        }
        let (mut users, identities) = self.users_payload(std::iter::once(id), q);
        let mut body = json!({ "user": users.pop() });
        if let (Some(ids), Some(obj)) = (identities, body.as_object_mut()) {
            obj.insert("identities".into(), Value::Array(ids));
        }
        Reply::ok(body)
    }

    /// `GET /users/{id}/identities`: every identity in one page, in the offset form or,
    /// when `page[size]` is given, the cursor form (a user has few identities).
    fn users_identities(&self, id: u64, q: &Query) -> Reply {
        let Some(u) = self.data.users.get(&id) else {
            return Reply::not_found();
        };
        let identities: Vec<Value> = u
            .identities
            .iter()
            .map(|i| identity_json(&self.base_url, u, i))
            .collect();
        match page_mode(q) {
            Ok(PageMode::Cursor { .. }) => Reply::ok(json!({
                "identities": identities,
                "meta": {"has_more": false, "after_cursor": null, "before_cursor": null},
                "links": {"next": null, "prev": null},
            })),
            Ok(PageMode::Offset { .. }) => Reply::ok(json!({
                "count": identities.len(),
                "identities": identities,
                "next_page": null, "previous_page": null,
            })),
            Err(r) => r,
        }
    }

    /// `POST /users/{id}/identities` with `{"identity": {"type": "email", "value": ..}}`.
    fn identity_create(&mut self, user_id: u64, body: &Value) -> Reply {
        let Some(obj) = body.get("identity").and_then(Value::as_object) else {
            return missing("identity");
        };
        if obj.get("type").and_then(Value::as_str) != Some("email") {
            return Reply::item(&ItemError::invalid(
                "type",
                "InvalidValue",
                "Type: is invalid (the simulator models email identities only)".into(),
            ));
        }
        let value = obj.get("value").and_then(Value::as_str).unwrap_or_default();
        let verified = obj
            .get("verified")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        match self.data.add_identity(user_id, value, verified) {
            Ok(identity_id) => {
                let found = self.data.users.get(&user_id).and_then(|u| {
                    u.identities
                        .iter()
                        .find(|i| i.id == identity_id)
                        .map(|i| identity_json(&self.base_url, u, i))
                });
                match found {
                    Some(identity) => Reply::json(201, json!({ "identity": identity })),
                    None => Reply::not_found(),
                }
            }
            Err(e) => Reply::item(&e),
        }
    }

    fn users_show_many(&self, q: &Query) -> Reply {
        let ids: Vec<u64> = if let Some(list) = q.list("ids") {
            if list.len() > 100 {
                return too_many("ids");
            }
            list.iter().filter_map(|s| s.parse().ok()).collect()
        } else if let Some(list) = q.list("external_ids") {
            if list.len() > 100 {
                return too_many("external_ids");
            }
            list.iter()
                .filter_map(|e| self.data.user_by_external_id(e))
                .collect()
        } else {
            return Reply::error(400, "InvalidParameter", "ids or external_ids is required");
        };
        self.users_list_reply(ids, q, false)
    }

    fn users_list_reply(&self, ids: Vec<u64>, q: &Query, with_count: bool) -> Reply {
        let count = ids.len();
        let (users, identities) = self.users_payload(ids.into_iter(), q);
        let mut body = Map::new();
        body.insert("users".into(), Value::Array(users));
        if let Some(ids) = identities {
            body.insert("identities".into(), Value::Array(ids));
        }
        if with_count {
            body.insert("count".into(), json!(count));
            body.insert("next_page".into(), Value::Null);
            body.insert("previous_page".into(), Value::Null);
        }
        Reply::ok(Value::Object(body))
    }

    fn users_search(&self, q: &Query) -> Reply {
        let mut ids = Vec::new();
        if let Some(ext) = q.get("external_id") {
            ids.extend(self.data.user_by_external_id(ext));
        } else if let Some(query) = q.get("query") {
            for term in query.split_whitespace() {
                let (key, value) = term.split_once(':').unwrap_or(("", term));
                let value = value.trim_matches('"').to_lowercase();
                match key {
                    "email" | "" => ids.extend(self.data.emails.get(&value).copied()),
                    "external_id" => ids.extend(self.data.user_by_external_id(&value)),
                    _ => {}
                }
            }
            ids.sort_unstable();
            ids.dedup();
        } else {
            return Reply::error(400, "InvalidParameter", "query is required");
        }
        self.users_list_reply(ids, q, true)
    }

    fn users_count(&self) -> Reply {
        let value = self.data.users.values().filter(|u| u.active).count();
        Reply::ok(json!({ "count": { "value": value, "refreshed_at": ts(chrono::Utc::now()) } }))
    }

    fn users_create(&mut self, body: &Value) -> Reply {
        let Some(obj) = body.get("user").and_then(Value::as_object) else {
            return missing("user");
        };
        match self.data.create_user(obj) {
            Ok(id) => self.user_reply(201, id),
            Err(e) => Reply::item(&e),
        }
    }

    /// Single upsert (the documented fallback when bulk import is off): 201 created, 200 updated.
    fn users_create_or_update(&mut self, body: &Value) -> Reply {
        let Some(obj) = body.get("user").and_then(Value::as_object) else {
            return missing("user");
        };
        match self.data.match_user(obj) {
            Some(id) => {
                if let Some(r) = self.user_write_limited(id) {
                    return r;
                }
                match self.data.update_user(id, obj) {
                    Ok(()) => self.user_reply(200, id),
                    Err(e) => Reply::item(&e),
                }
            }
            None => match self.data.create_user(obj) {
                Ok(id) => self.user_reply(201, id),
                Err(e) => Reply::item(&e),
            },
        }
    }

    /// `GET /users`: filtered by `external_id`, else all users by id in offset pages.
    fn users_list(&self, q: &Query) -> Reply {
        if let Some(ext) = q.get("external_id") {
            let ids: Vec<u64> = self.data.user_by_external_id(ext).into_iter().collect();
            return self.users_list_reply(ids, q, true);
        }
        let (page, per_page) = match page_mode(q) {
            Ok(PageMode::Offset { page, per_page }) => (page, per_page),
            Ok(PageMode::Cursor { .. }) => {
                return Reply::error(
                    400,
                    "InvalidPaginationParameter",
                    "use page and per_page on this endpoint",
                );
            }
            Err(r) => return r,
        };
        let skip = (page - 1) * per_page;
        if skip >= 10_000 {
            return Reply::error(
                400,
                "InvalidPaginationParameter",
                "offset pagination is limited to the first 10,000 records",
            );
        }
        let ids: Vec<u64> = self
            .data
            .users
            .keys()
            .skip(skip)
            .take(per_page)
            .copied()
            .collect();
        let total = self.data.users.len();
        let (users, _) = self.users_payload(ids.iter().copied(), q);
        let url = |p: usize| {
            format!(
                "{}/api/v2/users.json?page={p}&per_page={per_page}",
                self.base_url
            )
        };
        Reply::ok(json!({
            "users": users,
            "count": total,
            "next_page": (skip + ids.len() < total).then(|| url(page + 1)),
            "previous_page": (page > 1).then(|| url(page - 1)),
        }))
    }

    /// The per-user limit of single-user writes (sliding 60 s window); a 429 when over it.
    fn user_write_limited(&mut self, user_id: u64) -> Option<Reply> {
        let limit = self.config.user_write_limit_per_minute? as usize;
        let now = Instant::now();
        let window = Duration::from_secs(60);
        let writes = self.user_writes.entry(user_id).or_default();
        while writes
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            writes.pop_front();
        }
        if writes.len() < limit {
            writes.push_back(now);
            return None;
        }
        let oldest = writes.front().copied().unwrap_or(now);
        let wait = window.saturating_sub(now.duration_since(oldest));
        let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
        // Zendesk's wording, as recorded: the text names the single-user limit, which is
        // how a client tells it from the account's limit.
        let mut r = Reply::text(
            429,
            &format!(
                "You have exceeded the rate limit for updating a single unique user. user email:  id: {user_id} external_id: "
            ),
        );
        r.headers.push(("retry-after", secs.to_string()));
        r.headers.push((
            "zendesk-ratelimit-create-update-user",
            format!("total={limit}; remaining=0; resets={secs}"),
        ));
        Some(r)
    }

    fn users_update(&mut self, id: u64, body: &Value) -> Reply {
        let Some(obj) = body.get("user").and_then(Value::as_object) else {
            return missing("user");
        };
        if let Some(r) = self.user_write_limited(id) {
            return r;
        }
        match self.data.update_user(id, obj) {
            Ok(()) => self.user_reply(200, id),
            Err(e) => Reply::item(&e),
        }
    }

    fn user_reply(&self, status: u16, id: u64) -> Reply {
        match self.data.users.get(&id) {
            Some(u) => Reply::json(status, json!({ "user": user_json(&self.base_url, u) })),
            None => Reply::not_found(),
        }
    }

    fn users_bulk(&mut self, body: &Value, upsert: bool) -> Reply {
        if !self.config.bulk_user_import {
            return Reply::error(
                403,
                "Forbidden",
                "bulk user import is not enabled for this account",
            );
        }
        let items = match bulk_items(body, "users") {
            Ok(items) => items,
            Err(r) => return r,
        };
        if let Some(r) = self.job_capacity() {
            return r;
        }
        let mut results = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            if self.faults.item_fails() {
                results.push(injected_item_failure(index));
                continue;
            }
            let Some(obj) = item.as_object() else {
                results.push(
                    ItemError::invalid("user", "InvalidValue", "not an object".into())
                        .job_result(index, None),
                );
                continue;
            };
            let existing = if upsert {
                self.data.match_user(obj)
            } else {
                None
            };
            let result = match existing {
                Some(id) => self.data.update_user(id, obj).map(|()| (id, false)),
                None => self.data.create_user(obj).map(|id| (id, true)),
            };
            results.push(item_result(index, result, existing));
        }
        let job_type = if upsert {
            "Bulk Create or Update Users"
        } else {
            "Bulk Create Users"
        };
        self.bulk_create_accepted = true;
        self.submit_job(job_type, results)
    }

    fn users_update_many(&mut self, q: &Query, body: &Value) -> Reply {
        let targets: Vec<(Option<u64>, Map<String, Value>)> =
            if let Some(change) = body.get("user").and_then(Value::as_object) {
                let ids = match (q.list("ids"), q.list("external_ids")) {
                    (Some(ids), _) => ids.iter().map(|s| s.parse().ok()).collect::<Vec<_>>(),
                    (None, Some(ext)) => ext
                        .iter()
                        .map(|e| self.data.user_by_external_id(e))
                        .collect(),
                    (None, None) => return missing("ids"),
                };
                if ids.len() > 100 {
                    return too_many("ids");
                }
                ids.into_iter().map(|id| (id, change.clone())).collect()
            } else {
                let items = match bulk_items(body, "users") {
                    Ok(items) => items,
                    Err(r) => return r,
                };
                items
                    .iter()
                    .map(|item| {
                        let obj = item.as_object().cloned().unwrap_or_default();
                        let id = obj.get("id").and_then(Value::as_u64).or_else(|| {
                            obj.get("external_id")
                                .and_then(Value::as_str)
                                .and_then(|e| self.data.user_by_external_id(e))
                        });
                        (id, obj)
                    })
                    .collect()
            };
        if let Some(r) = self.job_capacity() {
            return r;
        }
        let mut results = Vec::with_capacity(targets.len());
        for (index, (id, mut obj)) in targets.into_iter().enumerate() {
            obj.remove("id");
            let result = match id {
                Some(id) => self.data.update_user(id, &obj).map(|()| (id, false)),
                None => Err(ItemError::not_found()),
            };
            results.push(item_result(index, result, id));
        }
        self.submit_job("Bulk Update Users", results)
    }

    // ----- incremental exports -----

    fn incremental_users(&self, q: &Query) -> Reply {
        let per_page = q
            .get("per_page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(1000)
            .clamp(1, 1000);
        let after_seq = if let Some(cursor) = q.get("cursor") {
            match decode_cursor(cursor, 'u') {
                Some(seq) => seq,
                None => return Reply::error(400, "InvalidCursor", "cursor is not valid"),
            }
        } else if let Some(start) = q.get("start_time") {
            let Ok(start) = start.parse::<i64>() else {
                return Reply::error(400, "InvalidValue", "start_time must be a unix timestamp");
            };
            // Stamps never decrease along the sequence, so the first match bounds the range.
            let first = self.data.users_by_seq.iter().find(|(_, uid)| {
                self.data
                    .users
                    .get(uid)
                    .is_some_and(|u| u.updated_at.timestamp() >= start)
            });
            match first {
                Some((seq, _)) => seq.saturating_sub(1),
                None => self
                    .data
                    .users_by_seq
                    .keys()
                    .next_back()
                    .copied()
                    .unwrap_or(0),
            }
        } else {
            return Reply::error(400, "InvalidValue", "start_time or cursor is required");
        };
        let mut page: Vec<(u64, u64)> = self
            .data
            .users_by_seq
            .range(after_seq + 1..)
            .take(per_page + 1)
            .map(|(s, u)| (*s, *u))
            .collect();
        let end_of_stream = page.len() <= per_page;
        page.truncate(per_page);
        let last_seq = page.last().map_or(after_seq, |(s, _)| *s);
        let first_seq = page.first().map(|(s, _)| *s);
        let (users, identities) = self.users_payload(page.iter().map(|(_, u)| *u), q);
        let after_cursor = encode_cursor(last_seq, 'u');
        let mut extra = String::new();
        if let Some(include) = q.get("include") {
            extra.push_str(&format!("&include={}", percent_encode(include)));
        }
        if q.get("per_page").is_some() {
            extra.push_str(&format!("&per_page={per_page}"));
        }
        let base = format!("{}/api/v2/incremental/users/cursor.json", self.base_url);
        let mut body = json!({
            "users": users,
            "after_cursor": after_cursor,
            "after_url": format!("{base}?cursor={after_cursor}{extra}"),
            "before_cursor": first_seq.map(|s| encode_cursor(s.saturating_sub(1), 'u')),
            "before_url": first_seq.map(|s| format!("{base}?cursor={}{extra}", encode_cursor(s.saturating_sub(1), 'u'))),
            "end_of_stream": end_of_stream,
        });
        if let (Some(ids), Some(obj)) = (identities, body.as_object_mut()) {
            obj.insert("identities".into(), Value::Array(ids));
        }
        Reply::ok(body)
    }

    fn incremental_orgs(&self, q: &Query) -> Reply {
        let Some(start) = q.get("start_time").and_then(|s| s.parse::<i64>().ok()) else {
            return Reply::error(400, "InvalidValue", "start_time must be a unix timestamp");
        };
        let mut page: Vec<&super::ZdOrganization> = Vec::new();
        let mut more = false;
        for oid in self.data.orgs_by_seq.values() {
            let Some(org) = self.data.orgs.get(oid) else {
                continue;
            };
            let stamp = org.updated_at.timestamp();
            if stamp < start {
                continue;
            }
            // A page ends after 1000 records, but never between records sharing a second,
            // so `end_time` can move past that second without losing or looping.
            if page.len() >= 1000
                && page
                    .last()
                    .is_some_and(|l| l.updated_at.timestamp() != stamp)
            {
                more = true;
                break;
            }
            page.push(org);
        }
        let end_time = match page.last() {
            Some(last) if more => last.updated_at.timestamp() + 1,
            Some(last) => last.updated_at.timestamp(),
            None => start,
        };
        Reply::ok(json!({
            "organizations": page.iter().map(|o| org_json(&self.base_url, o)).collect::<Vec<_>>(),
            "next_page": format!("{}/api/v2/incremental/organizations.json?start_time={end_time}", self.base_url),
            "end_time": end_time,
            "count": page.len(),
            "end_of_stream": !more,
        }))
    }

    // ----- organizations -----

    fn orgs_show_many(&self, q: &Query) -> Reply {
        let ids: Vec<u64> = if let Some(list) = q.list("ids") {
            if list.len() > 100 {
                return too_many("ids");
            }
            list.iter().filter_map(|s| s.parse().ok()).collect()
        } else if let Some(list) = q.list("external_ids") {
            if list.len() > 100 {
                return too_many("external_ids");
            }
            list.iter()
                .filter_map(|e| self.data.org_by_external_id(e))
                .collect()
        } else {
            return Reply::error(400, "InvalidParameter", "ids or external_ids is required");
        };
        let orgs: Vec<Value> = ids
            .iter()
            .filter_map(|id| self.data.orgs.get(id))
            .map(|o| org_json(&self.base_url, o))
            .collect();
        Reply::ok(json!({ "organizations": orgs }))
    }

    fn orgs_search(&self, q: &Query) -> Reply {
        let found = match (q.get("name"), q.get("external_id")) {
            (Some(_), Some(_)) => {
                return Reply::error(
                    400,
                    "InvalidParameter",
                    "use either name or external_id, not both",
                );
            }
            (Some(name), None) => self
                .data
                .org_names
                .get(&name.trim().to_lowercase())
                .copied(),
            (None, Some(ext)) => self.data.org_by_external_id(ext),
            (None, None) => return missing("name"),
        };
        let orgs: Vec<Value> = found
            .and_then(|id| self.data.orgs.get(&id))
            .map(|o| org_json(&self.base_url, o))
            .into_iter()
            .collect();
        Reply::ok(
            json!({ "count": orgs.len(), "organizations": orgs, "next_page": null, "previous_page": null }),
        )
    }

    fn orgs_create(&mut self, body: &Value) -> Reply {
        let Some(obj) = body.get("organization").and_then(Value::as_object) else {
            return missing("organization");
        };
        match self.data.create_org(obj) {
            Ok(id) => self.org_reply(201, id),
            Err(e) => Reply::item(&e),
        }
    }

    /// Matches only by `id` or `external_id`: 201 created, 200 updated.
    fn orgs_create_or_update(&mut self, body: &Value) -> Reply {
        let Some(obj) = body.get("organization").and_then(Value::as_object) else {
            return missing("organization");
        };
        match self.data.match_org(obj) {
            Some(id) => {
                let mut obj = obj.clone();
                obj.remove("id");
                match self.data.update_org(id, &obj) {
                    Ok(()) => self.org_reply(200, id),
                    Err(e) => Reply::item(&e),
                }
            }
            None => match self.data.create_org(obj) {
                Ok(id) => self.org_reply(201, id),
                Err(e) => Reply::item(&e),
            },
        }
    }

    fn orgs_update(&mut self, id: u64, body: &Value) -> Reply {
        let Some(obj) = body.get("organization").and_then(Value::as_object) else {
            return missing("organization");
        };
        match self.data.update_org(id, obj) {
            Ok(()) => self.org_reply(200, id),
            Err(e) => Reply::item(&e),
        }
    }

    fn org_reply(&self, status: u16, id: u64) -> Reply {
        match self.data.orgs.get(&id) {
            Some(o) => Reply::json(
                status,
                json!({ "organization": org_json(&self.base_url, o) }),
            ),
            None => Reply::not_found(),
        }
    }

    fn orgs_bulk(&mut self, body: &Value, upsert: bool) -> Reply {
        let items = match bulk_items(body, "organizations") {
            Ok(items) => items,
            Err(r) => return r,
        };
        if let Some(r) = self.job_capacity() {
            return r;
        }
        let mut results = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            if self.faults.item_fails() {
                results.push(injected_item_failure(index));
                continue;
            }
            let obj = item.as_object().cloned().unwrap_or_default();
            let existing = if upsert {
                self.data.match_org(&obj)
            } else {
                None
            };
            let result = match existing {
                Some(id) => {
                    let mut obj = obj;
                    obj.remove("id");
                    self.data.update_org(id, &obj).map(|()| (id, false))
                }
                None => self.data.create_org(&obj).map(|id| (id, true)),
            };
            results.push(item_result(index, result, existing));
        }
        let job_type = if upsert {
            "Bulk Create or Update Organizations"
        } else {
            "Bulk Create Organizations"
        };
        self.bulk_create_accepted = true;
        self.submit_job(job_type, results)
    }

    fn orgs_update_many(&mut self, q: &Query, body: &Value) -> Reply {
        let targets: Vec<(Option<u64>, Map<String, Value>)> =
            if let Some(change) = body.get("organization").and_then(Value::as_object) {
                let ids = match (q.list("ids"), q.list("external_ids")) {
                    (Some(ids), _) => ids.iter().map(|s| s.parse().ok()).collect::<Vec<_>>(),
                    (None, Some(ext)) => ext
                        .iter()
                        .map(|e| self.data.org_by_external_id(e))
                        .collect(),
                    (None, None) => return missing("ids"),
                };
                if ids.len() > 100 {
                    return too_many("ids");
                }
                ids.into_iter().map(|id| (id, change.clone())).collect()
            } else {
                let items = match bulk_items(body, "organizations") {
                    Ok(items) => items,
                    Err(r) => return r,
                };
                items
                    .iter()
                    .map(|item| {
                        let obj = item.as_object().cloned().unwrap_or_default();
                        let id = self.data.match_org(&obj);
                        (id, obj)
                    })
                    .collect()
            };
        if let Some(r) = self.job_capacity() {
            return r;
        }
        let mut results = Vec::with_capacity(targets.len());
        for (index, (id, mut obj)) in targets.into_iter().enumerate() {
            obj.remove("id");
            let result = match id {
                Some(id) => self.data.update_org(id, &obj).map(|()| (id, false)),
                None => Err(ItemError::not_found()),
            };
            results.push(item_result(index, result, id));
        }
        self.submit_job("Bulk Update Organizations", results)
    }

    // ----- memberships -----

    fn membership_create(&mut self, body: &Value, user_from_path: Option<u64>) -> Reply {
        let Some(value) = body.get("organization_membership") else {
            return missing("organization_membership");
        };
        if value.is_array() {
            return Reply::json(
                400,
                json!({"error":"TooManyValues","description":"Parameter organization_memberships cannot specify more than 1 values","max_count":1}),
            );
        }
        let Some(obj) = value.as_object() else {
            return missing("organization_membership");
        };
        let user = user_from_path.or_else(|| obj.get("user_id").and_then(Value::as_u64));
        let org = obj.get("organization_id").and_then(Value::as_u64);
        let default = obj.get("default").and_then(Value::as_bool).unwrap_or(false);
        let (Some(user), Some(org)) = (user, org) else {
            return Reply::item(&ItemError::invalid(
                "organization_id",
                "BlankValue",
                "user_id and organization_id are required".into(),
            ));
        };
        match self.data.create_membership(user, org, default) {
            Ok(mid) => match self.data.memberships.get(&mid) {
                Some(m) => Reply::json(
                    201,
                    json!({ "organization_membership": membership_json(&self.base_url, m, self.data.org_name(org)) }),
                ),
                None => Reply::not_found(),
            },
            Err(e) => Reply::item(&e),
        }
    }

    fn memberships_bulk(&mut self, body: &Value) -> Reply {
        let items = match bulk_items(body, "organization_memberships") {
            Ok(items) => items,
            Err(r) => return r,
        };
        if let Some(r) = self.job_capacity() {
            return r;
        }
        let mut results = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            if self.faults.item_fails() {
                results.push(injected_item_failure(index));
                continue;
            }
            let user = item.get("user_id").and_then(Value::as_u64);
            let org = item.get("organization_id").and_then(Value::as_u64);
            let default = item
                .get("default")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let result = match (user, org) {
                (Some(u), Some(o)) => self
                    .data
                    .create_membership(u, o, default)
                    .map(|m| (m, true)),
                _ => Err(ItemError::invalid(
                    "organization_id",
                    "BlankValue",
                    "user_id and organization_id are required".into(),
                )),
            };
            results.push(item_result(index, result, None));
        }
        self.bulk_create_accepted = true;
        self.submit_job("Bulk Create Memberships", results)
    }

    fn make_default(&mut self, user_id: u64, mid: u64) -> Reply {
        match self.data.make_default(user_id, mid) {
            Ok(()) => {
                let list: Vec<Value> = self
                    .data
                    .user_memberships_sorted(user_id)
                    .into_iter()
                    .map(|m| {
                        membership_json(&self.base_url, m, self.data.org_name(m.organization_id))
                    })
                    .collect();
                Reply::ok(json!({ "organization_memberships": list }))
            }
            Err(e) => Reply::item(&e),
        }
    }

    fn memberships_of_user(&self, user_id: u64, q: &Query) -> Reply {
        if !self.data.users.contains_key(&user_id) {
            return Reply::not_found();
        }
        let list = self.data.user_memberships_sorted(user_id);
        let path = format!("/api/v2/users/{user_id}/organization_memberships.json");
        self.paginate_positions(&list, q, &path)
    }

    fn memberships_of_org(&self, org_id: u64, q: &Query) -> Reply {
        if !self.data.orgs.contains_key(&org_id) {
            return Reply::not_found();
        }
        let list: Vec<&super::ZdMembership> = self
            .data
            .memberships
            .values()
            .filter(|m| m.organization_id == org_id)
            .collect();
        let path = format!("/api/v2/organizations/{org_id}/organization_memberships.json");
        self.paginate_positions(&list, q, &path)
    }

    /// All memberships by id; cursors are membership ids so pages stay stable under inserts.
    fn memberships_all(&self, q: &Query) -> Reply {
        let path = "/api/v2/organization_memberships.json";
        match page_mode(q) {
            Ok(PageMode::Cursor { size, after }) => {
                let start = match after.map(|c| decode_cursor(&c, 'm')) {
                    Some(None) => {
                        return Reply::error(400, "InvalidCursor", "page[after] is not valid");
                    }
                    Some(Some(id)) => id + 1,
                    None => 0,
                };
                let mut items: Vec<&super::ZdMembership> = self
                    .data
                    .memberships
                    .range(start..)
                    .map(|(_, m)| m)
                    .take(size + 1)
                    .collect();
                let has_more = items.len() > size;
                items.truncate(size);
                let after_cursor = items.last().map(|m| encode_cursor(m.id, 'm'));
                let before_cursor = items.first().map(|m| encode_cursor(m.id, 'm'));
                self.cursor_reply(&items, has_more, after_cursor, before_cursor, size, path)
            }
            Ok(PageMode::Offset { page, per_page }) => {
                let list: Vec<&super::ZdMembership> = self.data.memberships.values().collect();
                self.offset_reply(&list, page, per_page, path)
            }
            Err(r) => r,
        }
    }

    fn paginate_positions(&self, list: &[&super::ZdMembership], q: &Query, path: &str) -> Reply {
        match page_mode(q) {
            Ok(PageMode::Cursor { size, after }) => {
                let start = match after.map(|c| decode_cursor(&c, 'p')) {
                    Some(None) => {
                        return Reply::error(400, "InvalidCursor", "page[after] is not valid");
                    }
                    Some(Some(pos)) => usize::try_from(pos).unwrap_or(usize::MAX).saturating_add(1),
                    None => 0,
                };
                let items: Vec<&super::ZdMembership> =
                    list.iter().skip(start).take(size).copied().collect();
                let has_more = start + items.len() < list.len();
                let after_cursor = (!items.is_empty())
                    .then(|| encode_cursor((start + items.len() - 1) as u64, 'p'));
                let before_cursor = (!items.is_empty()).then(|| encode_cursor(start as u64, 'p'));
                self.cursor_reply(&items, has_more, after_cursor, before_cursor, size, path)
            }
            Ok(PageMode::Offset { page, per_page }) => {
                self.offset_reply(list, page, per_page, path)
            }
            Err(r) => r,
        }
    }

    fn memberships_values(&self, items: &[&super::ZdMembership]) -> Vec<Value> {
        items
            .iter()
            .map(|m| membership_json(&self.base_url, m, self.data.org_name(m.organization_id)))
            .collect()
    }

    fn cursor_reply(
        &self,
        items: &[&super::ZdMembership],
        has_more: bool,
        after_cursor: Option<String>,
        before_cursor: Option<String>,
        size: usize,
        path: &str,
    ) -> Reply {
        let link = |param: &str, c: &Option<String>| {
            c.as_ref().map(|c| {
                format!(
                    "{}{path}?page%5B{param}%5D={c}&page%5Bsize%5D={size}",
                    self.base_url
                )
            })
        };
        Reply::ok(json!({
            "organization_memberships": self.memberships_values(items),
            "meta": { "has_more": has_more, "after_cursor": after_cursor, "before_cursor": before_cursor },
            "links": {
                "next": if has_more { link("after", &after_cursor) } else { None },
                "prev": link("before", &before_cursor),
            },
        }))
    }

    fn offset_reply(
        &self,
        list: &[&super::ZdMembership],
        page: usize,
        per_page: usize,
        path: &str,
    ) -> Reply {
        let skip = (page - 1) * per_page;
        if skip >= 10_000 {
            return Reply::error(
                400,
                "InvalidPaginationParameter",
                "offset pagination is limited to the first 10,000 records; use cursor pagination",
            );
        }
        let items: Vec<&super::ZdMembership> =
            list.iter().skip(skip).take(per_page).copied().collect();
        let url = |p: usize| format!("{}{path}?page={p}&per_page={per_page}", self.base_url);
        let next = (skip + items.len() < list.len()).then(|| url(page + 1));
        let prev = (page > 1).then(|| url(page - 1));
        Reply::ok(json!({
            "organization_memberships": self.memberships_values(&items),
            "next_page": next,
            "previous_page": prev,
            "count": list.len(),
        }))
    }

    // ----- jobs -----

    /// 429 `TooManyJobs` when 30 jobs are already in flight.
    fn job_capacity(&self) -> Option<Reply> {
        if self.inflight.len() < MAX_INFLIGHT_JOBS {
            return None;
        }
        let mut r = Reply::json(
            429,
            json!({
                "error": "TooManyJobs",
                "description": "Number of allowed queued or running background jobs exceeded. Try again later.",
                "current_job_ids": self.inflight,
            }),
        );
        r.headers.push((
            "zendesk-ratelimit-inflight-jobs",
            "total=30; remaining=0; resets=60".into(),
        ));
        r.headers.push(("retry-after", "60".into()));
        Some(r)
    }

    fn submit_job(&mut self, job_type: &'static str, results: Vec<Value>) -> Reply {
        let id = format!(
            "{:032x}",
            self.next_job.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ self.next_job
        );
        self.next_job += 1;
        let (starts, ends) = self.schedule_job(results.len());
        let job = Job {
            id: id.clone(),
            job_type,
            total: results.len(),
            results,
            polls_left: self.config.job_polls_before_complete,
            seen_completed: false,
            starts,
            ends,
        };
        let body = self.job_json(&job, false);
        self.jobs.insert(id.clone(), job);
        self.inflight.push(id);
        let remaining = MAX_INFLIGHT_JOBS.saturating_sub(self.inflight.len());
        let mut r = Reply::ok(json!({ "job_status": body }));
        r.headers.push((
            "zendesk-ratelimit-inflight-jobs",
            format!("total={MAX_INFLIGHT_JOBS}; remaining={remaining}; resets=60"),
        ));
        r
    }

    /// When a new job of `items` starts and ends: on the account's first free worker,
    /// after the jobs submitted before it (see [`super::JobTiming`]).
    fn schedule_job(&mut self, items: usize) -> (Instant, Instant) {
        let now = Instant::now();
        let timing = self.config.job_timing;
        let nominal = timing.base + timing.per_item * u32::try_from(items).unwrap_or(u32::MAX);
        let spread = timing.jitter.clamp(0.0, 1.0);
        let factor = if spread > 0.0 {
            self.job_rng.random_range(1.0 - spread..=1.0 + spread)
        } else {
            1.0
        };
        let duration = nominal.mul_f64(factor);
        let concurrency = timing.concurrency.max(1);
        self.workers.resize(concurrency, now);
        let (worker, free) = self
            .workers
            .iter()
            .copied()
            .enumerate()
            .min_by_key(|(_, free)| *free)
            .unwrap_or((0, now));
        let starts = free.max(now);
        let ends = starts + duration;
        if let Some(slot) = self.workers.get_mut(worker) {
            *slot = ends;
        }
        let totals = &mut self.job_totals;
        totals.jobs += 1;
        totals.busy += duration;
        if totals.first_submitted.is_none() {
            totals.first_submitted = Some(now.duration_since(self.totals_since));
        }
        (starts, ends)
    }

    fn job_json(&self, job: &Job, completed: bool) -> Value {
        let url = format!("{}/api/v2/job_statuses/{}.json", self.base_url, job.id);
        if completed {
            json!({
                "id": job.id, "url": url, "status": "completed", "job_type": job.job_type,
                "total": job.total, "progress": job.total,
                "message": format!("Completed at {}", ts(chrono::Utc::now())),
                "results": job.results,
            })
        } else {
            // A job that takes no time is only ever seen queued (the untimed simulator).
            let status = if job.ends > job.starts && Instant::now() >= job.starts {
                "working"
            } else {
                "queued"
            };
            json!({
                "id": job.id, "url": url, "status": status, "job_type": job.job_type,
                "total": job.total, "progress": null, "message": null, "results": null,
            })
        }
    }

    /// A poll: `queued` or `working` while polls remain or the job's time has not passed,
    /// then `completed`, which frees the in-flight slot.
    fn poll_job(&mut self, id: &str) -> Option<Value> {
        let job = self.jobs.get_mut(id)?;
        let completed = if job.polls_left > 0 {
            job.polls_left -= 1;
            false
        } else if Instant::now() < job.ends && !job.seen_completed {
            false
        } else {
            job.seen_completed = true;
            true
        };
        if completed {
            self.inflight.retain(|j| j != id);
        }
        let job = self.jobs.get(id)?;
        Some(self.job_json(job, completed || job.seen_completed))
    }

    fn jobs_show_many(&mut self, q: &Query) -> Reply {
        let Some(ids) = q.list("ids") else {
            return missing("ids");
        };
        if ids.len() > 100 {
            return too_many("ids");
        }
        let list: Vec<Value> = ids.iter().filter_map(|id| self.poll_job(id)).collect();
        Reply::ok(json!({ "job_statuses": list }))
    }
}

enum PageMode {
    Cursor { size: usize, after: Option<String> },
    Offset { page: usize, per_page: usize },
}

/// `page[size]`/`page[after]` select cursor pagination; an integer `page` selects offset.
/// Without either, list endpoints answer in offset form (page 1).
fn page_mode(q: &Query) -> Result<PageMode, Reply> {
    let size = q.get("page[size]");
    let after = q.get("page[after]");
    if size.is_some() || after.is_some() {
        let size = match size.map(str::parse::<usize>) {
            None => 100,
            Some(Ok(n)) if (1..=100).contains(&n) => n,
            Some(_) => {
                return Err(Reply::error(
                    400,
                    "InvalidPaginationParameter",
                    "page[size] must be 1..100",
                ));
            }
        };
        return Ok(PageMode::Cursor {
            size,
            after: after.map(str::to_owned),
        });
    }
    let page = q.get("page").map_or(Ok(1), str::parse::<usize>);
    let per_page = q.get("per_page").map_or(Ok(100), str::parse::<usize>);
    match (page, per_page) {
        (Ok(page), Ok(per_page)) if page >= 1 && (1..=100).contains(&per_page) => {
            Ok(PageMode::Offset { page, per_page })
        }
        _ => Err(Reply::error(
            400,
            "InvalidPaginationParameter",
            "page and per_page must be positive, per_page at most 100",
        )),
    }
}

fn encode_cursor(n: u64, kind: char) -> String {
    format!("{kind}{n:x}")
}

fn decode_cursor(c: &str, kind: char) -> Option<u64> {
    u64::from_str_radix(c.strip_prefix(kind)?, 16).ok()
}

/// The result of a bulk item that `FaultConfig::item_failure_rate` failed: not applied.
fn injected_item_failure(index: usize) -> Value {
    json!({
        "index": index,
        "error": "InternalError",
        "details": "the item could not be processed, try again",
        "success": false,
    })
}

fn too_many(param: &str) -> Reply {
    Reply::json(
        400,
        json!({
            "error": "TooManyValues",
            "description": format!("Parameter {param} cannot specify more than 100 values"),
            "max_count": 100,
        }),
    )
}

fn missing(param: &str) -> Reply {
    Reply::error(
        400,
        "ParameterMissing",
        &format!("{param} parameter is missing"),
    )
}

fn bulk_items<'a>(body: &'a Value, key: &str) -> Result<&'a Vec<Value>, Reply> {
    let Some(items) = body.get(key).and_then(Value::as_array) else {
        return Err(missing(key));
    };
    if items.len() > 100 {
        return Err(too_many(key));
    }
    Ok(items)
}

/// One entry of a job's `results`; `known_id` is the target of an update, reported on failure.
fn item_result(
    index: usize,
    result: Result<(u64, bool), ItemError>,
    known_id: Option<u64>,
) -> Value {
    match result {
        Ok((id, true)) => {
            json!({"index": index, "id": id, "action": "create", "status": "Created", "success": true})
        }
        Ok((id, false)) => {
            json!({"index": index, "id": id, "action": "update", "status": "Updated", "success": true})
        }
        Err(e) => e.job_result(index, known_id),
    }
}
