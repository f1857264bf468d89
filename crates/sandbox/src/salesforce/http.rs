//! HTTP layer of the Salesforce simulator: OAuth, sessions, limits and the query resource.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::model::{FieldType, Obj, Row, Val, sf_datetime};
use super::soql::{self, Cond, Lit, Parents};
use super::{Cursor, Data, Inner, MAX_CURSORS, SalesforceSim};
use crate::common::{Delivery, Fault, LoggedRequest, endpoint_key, lock, parse_pairs};

const DEFAULT_BATCH: usize = 2000;

struct Reply {
    status: u16,
    /// Serialized JSON; query pages are written directly as text to keep large reads cheap.
    body: String,
    limit_info: bool,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Self::raw(body.to_string())
    }

    fn raw(body: String) -> Self {
        Self {
            status: 200,
            body,
            limit_info: true,
        }
    }

    fn error(status: u16, code: &str, message: &str) -> Self {
        Self {
            status,
            body: json!([{ "message": message, "errorCode": code }]).to_string(),
            limit_info: true,
        }
    }
}

pub(crate) async fn handle(State(sim): State<SalesforceSim>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let raw_query = req.uri().query().unwrap_or("").to_owned();
    let headers = req.headers().clone();
    let body = to_bytes(req.into_body(), 1024 * 1024)
        .await
        .unwrap_or_default();
    let is_api = path.starts_with("/services/data/");
    let (reply, usage, delivery, gate) = {
        let mut inner = lock(&sim.inner);
        let reply = inner.process(&method, &path, &raw_query, &headers, &body);
        let usage = format!("api-usage={}/{}", inner.api_used, inner.config.api_max);
        let delivery = if is_api {
            inner.faults.delivery()
        } else {
            Delivery::Normal
        };
        if inner.script.expire_tokens_now(is_api, reply.status) {
            inner.tokens.clear();
        }
        let gate = inner
            .script
            .on_request(is_api, is_api && method != Method::GET);
        (reply, usage, delivery, gate)
    };
    let mut response = Response::new(Body::from(reply.body));
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    if reply.limit_info
        && let Ok(v) = HeaderValue::from_str(&usage)
    {
        h.insert("sforce-limit-info", v);
    }
    let response = delivery.apply(response).await;
    if let Some(gate) = gate {
        gate.opened().await;
    }
    response
}

/// `Sforce-Query-Options: batchSize=N`, clamped to Salesforce's 200..=2000.
fn batch_size(headers: &HeaderMap) -> Option<usize> {
    let value = headers.get("sforce-query-options")?.to_str().ok()?;
    value.split(',').find_map(|part| {
        let (k, v) = part.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("batchSize"))
            .then(|| v.trim().parse::<usize>().ok())
            .flatten()
            .map(|n| n.clamp(200, 2000))
    })
}

impl Inner {
    fn process(
        &mut self,
        method: &Method,
        path: &str,
        raw_query: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Reply {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let endpoint = match segments.as_slice() {
            ["services", "data", ver, kind @ ("query" | "queryAll"), _] => {
                format!("{method} /services/data/{ver}/{kind}/{{locator}}")
            }
            ["services", "data", ver, "sobjects", object, "deleted"] => {
                format!("{method} /services/data/{ver}/sobjects/{object}/deleted")
            }
            _ => endpoint_key(method.as_str(), path),
        };
        let reply = match (method.as_str(), segments.as_slice()) {
            ("POST", ["services", "oauth2", "token"]) => {
                self.counts.record(&endpoint, false, true);
                self.token(body)
            }
            ("GET", ["services", "data"]) => {
                self.counts.record(&endpoint, false, false);
                let mut r = Reply::ok(json!([
                    {"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"},
                    {"label": "Spring '26", "url": "/services/data/v66.0", "version": "66.0"}
                ]));
                r.limit_info = false;
                r
            }
            _ => {
                let is_write = method != Method::GET;
                self.counts.record(&endpoint, true, is_write);
                self.api(method, &segments, raw_query, headers, is_write)
            }
        };
        tracing::debug!(method = %method, path, status = reply.status, "salesforce simulator request");
        self.log.push(LoggedRequest {
            method: method.to_string(),
            path: path.to_owned(),
            query: raw_query.to_owned(),
            endpoint,
            status: reply.status,
        });
        reply
    }

    fn token(&mut self, body: &[u8]) -> Reply {
        let form = parse_pairs(&String::from_utf8_lossy(body));
        let field = |k: &str| {
            form.iter()
                .find(|(key, _)| key == k)
                .map_or("", |(_, v)| v.as_str())
        };
        let mut reply = if field("grant_type") != "client_credentials" {
            Reply {
                status: 400,
                body: json!({"error": "unsupported_grant_type", "error_description": "grant type not supported"}).to_string(),
                limit_info: false,
            }
        } else if field("client_id") != self.config.client_id
            || field("client_secret") != self.config.client_secret
        {
            Reply {
                status: 400,
                body: json!({"error": "invalid_client", "error_description": "invalid client credentials"}).to_string(),
                limit_info: false,
            }
        } else {
            let n = self.next_token;
            self.next_token += 1;
            let token = format!(
                "00DSIM000000001!AQ{:016x}{:06x}",
                n.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                n
            );
            self.tokens
                .insert(token.clone(), Instant::now() + self.config.token_lifetime);
            let base = &self.base_url;
            Reply::ok(json!({
                "access_token": token,
                "instance_url": base,
                "id": format!("{base}/id/00DSIM000000001AAA/005SIM000000001AAA"),
                "token_type": "Bearer",
                "issued_at": chrono::Utc::now().timestamp_millis().to_string(),
                "signature": format!("c2lt{n:08x}"),
                "scope": "api",
            }))
        };
        reply.limit_info = false;
        reply
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(|t| self.tokens.get(t.trim()))
            .is_some_and(|expiry| Instant::now() < *expiry)
    }

    fn api(
        &mut self,
        method: &Method,
        seg: &[&str],
        raw_query: &str,
        headers: &HeaderMap,
        is_write: bool,
    ) -> Reply {
        if !self.authorized(headers) {
            return Reply::error(401, "INVALID_SESSION_ID", "Session expired or invalid");
        }
        if self.api_used >= self.config.api_max {
            return Reply::error(
                403,
                "REQUEST_LIMIT_EXCEEDED",
                "TotalRequests Limit exceeded.",
            );
        }
        self.api_used += 1;
        if self.faults.decide(is_write) != Fault::None {
            return Reply::error(
                503,
                "SERVER_UNAVAILABLE",
                "Server unavailable, try again later",
            );
        }
        let params = parse_pairs(raw_query);
        let q = params
            .iter()
            .find(|(k, _)| k == "q")
            .map(|(_, v)| v.as_str());
        match (method.as_str(), seg) {
            ("GET", ["services", "data", ver, kind @ ("query" | "queryAll")]) => match q {
                Some(q) => self.query(ver, q, *kind == "queryAll", batch_size(headers)),
                None => Reply::error(400, "MALFORMED_QUERY", "A query string has to be specified"),
            },
            ("GET", ["services", "data", ver, "query" | "queryAll", locator]) => {
                self.query_more(ver, locator, batch_size(headers))
            }
            ("GET", ["services", "data", _, "sobjects", object, "deleted"]) => {
                self.deleted(object, &params)
            }
            ("GET", ["services", "data", _, "limits"]) => {
                let max = self.config.api_max;
                Reply::ok(json!({
                    "DailyApiRequests": { "Max": max, "Remaining": max.saturating_sub(self.api_used) },
                }))
            }
            ("GET", ["services", "data", _, "sobjects"]) => {
                let mut objects = vec![Obj::Account, Obj::Contact, Obj::Lead];
                if self.config.contacts_to_multiple_accounts {
                    objects.push(Obj::Relation);
                }
                let list: Vec<Value> = objects
                    .iter()
                    .map(|o| json!({"name": o.api_name(), "queryable": true, "fields": o.field_names().collect::<Vec<_>>()}))
                    .collect();
                Reply::ok(json!({ "encoding": "UTF-8", "maxBatchSize": 200, "sobjects": list }))
            }
            _ => Reply::error(404, "NOT_FOUND", "The requested resource does not exist"),
        }
    }

    /// `sobjects/{object}/deleted/?start=..&end=..`: the delete log within the window.
    /// Salesforce keeps it 15 days and refuses a window reaching further back than 30
    /// days or ending before it starts (`INVALID_REPLICATION_DATE`). The log is complete
    /// up to the request (`latestDateCovered` is the end, or now when the end is later).
    fn deleted(&self, object: &str, params: &[(String, String)]) -> Reply {
        let Some(object) = Obj::from_name(object)
            .filter(|o| *o != Obj::Relation || self.config.contacts_to_multiple_accounts)
        else {
            return Reply::error(404, "NOT_FOUND", "The requested resource does not exist");
        };
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let (Some(start), Some(end)) = (param("start"), param("end")) else {
            return Reply::error(
                400,
                "MISSING_ARGUMENT",
                "start and end parameters are required",
            );
        };
        let (Some(start), Some(end)) = (parse_datetime(start), parse_datetime(end)) else {
            return Reply::error(
                400,
                "INVALID_REPLICATION_DATE",
                "start and end must be ISO 8601 dateTimes with a time zone",
            );
        };
        let now = self.data.clock_latest();
        if start > end || now - start > chrono::Duration::days(30) {
            return Reply::error(
                400,
                "INVALID_REPLICATION_DATE",
                "startDate must chronologically precede endDate and cannot be more than 30 days ago",
            );
        }
        let earliest = now - chrono::Duration::days(15);
        let covered = end.min(now);
        let records: Vec<Value> = self
            .data
            .deleted_log
            .iter()
            .filter(|(o, _, at)| *o == object && *at >= start && *at <= covered && *at >= earliest)
            .map(|(_, id, at)| json!({"id": id, "deletedDate": sf_datetime(*at)}))
            .collect();
        Reply::ok(json!({
            "deletedRecords": records,
            "earliestDateAvailable": sf_datetime(earliest),
            "latestDateCovered": sf_datetime(covered),
        }))
    }

    fn query(
        &mut self,
        ver: &str,
        src: &str,
        include_deleted: bool,
        batch: Option<usize>,
    ) -> Reply {
        let parsed = match soql::parse(src, self.config.contacts_to_multiple_accounts) {
            Ok(q) => q,
            Err(e) => return Reply::error(400, e.code, &e.message),
        };
        let ids = execute(&self.data, &parsed, include_deleted);
        if parsed.count_only {
            return Reply::ok(json!({ "totalSize": ids.len(), "done": true, "records": [] }));
        }
        let cursor = Cursor {
            query: Arc::new(parsed),
            ids,
            batch: batch.unwrap_or(DEFAULT_BATCH),
        };
        let locator = format!("01gSIM{:010x}", self.next_cursor);
        self.next_cursor += 1;
        let reply = self.page(ver, &cursor, &locator, 0, cursor.batch);
        if cursor.ids.len() > cursor.batch {
            self.cursors.insert(locator.clone(), cursor);
            self.cursor_order.push_back(locator);
            while self.cursor_order.len() > MAX_CURSORS {
                if let Some(old) = self.cursor_order.pop_front() {
                    self.cursors.remove(&old);
                }
            }
        }
        reply
    }

    fn query_more(&self, ver: &str, locator: &str, batch: Option<usize>) -> Reply {
        let parsed = locator
            .rsplit_once('-')
            .and_then(|(loc, offset)| Some((loc, offset.parse::<usize>().ok()?)));
        let Some((loc, offset)) = parsed else {
            return Reply::error(400, "INVALID_QUERY_LOCATOR", "invalid query locator");
        };
        match self.cursors.get(loc) {
            Some(cursor) => self.page(ver, cursor, loc, offset, batch.unwrap_or(cursor.batch)),
            None => Reply::error(400, "INVALID_QUERY_LOCATOR", "invalid query locator"),
        }
    }

    fn page(
        &self,
        ver: &str,
        cursor: &Cursor,
        locator: &str,
        offset: usize,
        batch: usize,
    ) -> Reply {
        let end = (offset + batch).min(cursor.ids.len());
        let done = end >= cursor.ids.len();
        let ids = cursor.ids.get(offset..end).unwrap_or_default();
        let mut out = String::with_capacity(64 + ids.len() * 400);
        out.push_str(&format!(
            "{{\"totalSize\":{},\"done\":{done},",
            cursor.ids.len()
        ));
        if !done {
            out.push_str(&format!(
                "\"nextRecordsUrl\":\"/services/data/{ver}/query/{locator}-{end}\","
            ));
        }
        out.push_str("\"records\":[");
        let layout = Layout::of(&cursor.query);
        let mut first = true;
        for row in ids
            .iter()
            .filter_map(|id| self.data.parent(cursor.query.object, id))
        {
            if !first {
                out.push(',');
            }
            first = false;
            render(&mut out, &self.data, &layout, cursor.query.object, row, ver);
        }
        out.push_str("]}");
        Reply::raw(out)
    }
}

/// An ISO 8601 dateTime with an offset (`2013-05-05T00:00:00+00:00`, `...Z`, `...+0000`).
fn parse_datetime(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .or_else(|_| chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// Candidate Ids from an index when the filter pins the Id, the email or the contact;
/// `None` means a full scan.
fn indexed_candidates(data: &Data, q: &soql::Query) -> Option<Vec<String>> {
    let conjuncts: Vec<&Cond> = match &q.filter {
        Some(Cond::And(items)) => items.iter().collect(),
        Some(other) => vec![other],
        None => return None,
    };
    for cond in conjuncts {
        let (field, values): (&soql::FieldRef, Vec<&str>) = match cond {
            Cond::Cmp(f, "=", Lit::Str(s)) => (f, vec![s.as_str()]),
            Cond::In {
                field,
                negated: false,
                values,
                ..
            } => (
                field,
                values
                    .iter()
                    .filter_map(|v| match v {
                        Lit::Str(s) => Some(s.as_str()),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => continue,
        };
        if field.rel.is_some() {
            continue;
        }
        let lookup = |list: Option<&Vec<String>>| list.cloned().unwrap_or_default();
        match (q.object, field.name) {
            (_, "Id") => return Some(values.iter().map(|v| (*v).to_owned()).collect()),
            (Obj::Contact, "Email") => {
                return Some(
                    values
                        .iter()
                        .flat_map(|v| lookup(data.contacts_by_email.get(&v.trim().to_lowercase())))
                        .collect(),
                );
            }
            (Obj::Relation, "ContactId") => {
                return Some(
                    values
                        .iter()
                        .flat_map(|v| lookup(data.relations_by_contact.get(*v)))
                        .collect(),
                );
            }
            _ => {}
        }
    }
    None
}

/// Runs a query: Ids of matching rows in result order, after OFFSET and LIMIT.
fn execute(data: &Data, q: &soql::Query, include_deleted: bool) -> Vec<String> {
    let keep = |row: &dyn Row| {
        (include_deleted || matches!(row.get("IsDeleted"), Val::Bool(false)))
            && q.filter.as_ref().is_none_or(|f| f.matches(row, data))
    };
    let mut rows: Vec<&dyn Row> = match indexed_candidates(data, q) {
        Some(mut ids) => {
            ids.sort_unstable();
            ids.dedup();
            ids.iter()
                .filter_map(|id| data.parent(q.object, id))
                .filter(|r| keep(*r))
                .collect()
        }
        None => match q.object {
            Obj::Account => data
                .accounts
                .values()
                .map(|r| r as &dyn Row)
                .filter(|r| keep(*r))
                .collect(),
            Obj::Contact => data
                .contacts
                .values()
                .map(|r| r as &dyn Row)
                .filter(|r| keep(*r))
                .collect(),
            Obj::Lead => data
                .leads
                .values()
                .map(|r| r as &dyn Row)
                .filter(|r| keep(*r))
                .collect(),
            Obj::Relation => data
                .relations
                .values()
                .map(|r| r as &dyn Row)
                .filter(|r| keep(*r))
                .collect(),
        },
    };
    if !q.order.is_empty() {
        // Keys are read once per row; the stable sort over Id order keeps ties deterministic.
        let mut keyed: Vec<(Vec<Val<'_>>, &dyn Row)> = rows
            .into_iter()
            .map(|r| (soql::sort_key(r, &q.order, data), r))
            .collect();
        keyed.sort_by(|a, b| soql::compare_keys(&a.0, &b.0, &q.order));
        rows = keyed.into_iter().map(|(_, r)| r).collect();
    }
    rows.into_iter()
        .skip(q.offset)
        .take(q.limit.unwrap_or(usize::MAX))
        .map(|r| r.id().to_owned())
        .collect()
}

/// Appends `s` as a JSON string literal.
fn push_str_literal(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn push_value(out: &mut String, v: Val<'_>, ty: FieldType) {
    match v {
        Val::Null => out.push_str("null"),
        // Number fields are kept as text; they go on the wire as JSON numbers.
        Val::Str(s) if ty == FieldType::Number => match s.parse::<f64>() {
            Ok(n) if n.is_finite() => out.push_str(&n.to_string()),
            _ => out.push_str("null"),
        },
        Val::Str(s) => push_str_literal(out, &s),
        Val::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        Val::Dt(d) => push_str_literal(out, &sf_datetime(d)),
    }
}

fn push_attributes(out: &mut String, object: Obj, id: &str, ver: &str) {
    out.push_str("\"attributes\":{\"type\":\"");
    out.push_str(object.api_name());
    out.push_str("\",\"url\":");
    push_str_literal(
        out,
        &format!("/services/data/{ver}/sobjects/{}/{id}", object.api_name()),
    );
    out.push('}');
}

/// A parent relationship of the select list: name, foreign key, parent object, its fields.
type ParentGroup<'q> = (&'static str, &'static str, Obj, Vec<&'q soql::FieldRef>);

/// Selected fields split into own fields and parent groups, parents in first-mention order.
struct Layout<'q> {
    own: Vec<&'q soql::FieldRef>,
    parents: Vec<ParentGroup<'q>>,
}

impl<'q> Layout<'q> {
    fn of(q: &'q soql::Query) -> Self {
        let mut layout = Layout {
            own: Vec::new(),
            parents: Vec::new(),
        };
        for field in &q.fields {
            match field.rel {
                None => layout.own.push(field),
                Some((rel, fk, parent)) => match layout.parents.iter_mut().find(|g| g.0 == rel) {
                    Some(group) => group.3.push(field),
                    None => layout.parents.push((rel, fk, parent, vec![field])),
                },
            }
        }
        layout
    }
}

/// Appends one record as the query resource returns it, parents nested under the
/// relationship name (`null` when the lookup is empty).
fn render(
    out: &mut String,
    data: &Data,
    layout: &Layout<'_>,
    object: Obj,
    row: &dyn Row,
    ver: &str,
) {
    out.push('{');
    push_attributes(out, object, row.id(), ver);
    for field in &layout.own {
        out.push_str(",\"");
        out.push_str(field.name);
        out.push_str("\":");
        push_value(out, row.get(field.name), field.ty);
    }
    for (rel, fk, parent, fields) in &layout.parents {
        out.push_str(",\"");
        out.push_str(rel);
        out.push_str("\":");
        let parent_row = match row.get(fk) {
            Val::Str(id) => data.parent(*parent, &id),
            _ => None,
        };
        let Some(p) = parent_row else {
            out.push_str("null");
            continue;
        };
        out.push('{');
        push_attributes(out, *parent, p.id(), ver);
        for field in fields {
            out.push_str(",\"");
            out.push_str(field.name);
            out.push_str("\":");
            push_value(out, p.get(field.name), field.ty);
        }
        out.push('}');
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_literals_round_trip_through_a_json_parser() {
        let nasty = "O'Brien \"quoted\" back\\slash\nline\ttab\u{1} é 😀";
        let mut out = String::new();
        push_str_literal(&mut out, nasty);
        let parsed: String = serde_json::from_str(&out).expect("valid JSON");
        assert_eq!(parsed, nasty);
    }
}
