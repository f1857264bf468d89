//! Accounting: the org's API usage from `Sforce-Limit-Info` and this client's own call counts.

use std::collections::BTreeMap;

/// Endpoint label of token requests in [`CallCounts`].
pub const ENDPOINT_TOKEN: &str = "POST /services/oauth2/token";
/// Endpoint label of first query pages in [`CallCounts`].
pub const ENDPOINT_QUERY: &str = "GET query";
/// Endpoint label of follow-up pages (`nextRecordsUrl`) in [`CallCounts`], for `query`
/// and `queryAll` results alike.
pub const ENDPOINT_QUERY_MORE: &str = "GET queryMore";
/// Endpoint label of first `queryAll` pages in [`CallCounts`].
pub const ENDPOINT_QUERY_ALL: &str = "GET queryAll";
/// Endpoint label of `sobjects/{type}/deleted` requests in [`CallCounts`].
pub const ENDPOINT_DELETED: &str = "GET sobjects/{type}/deleted";

/// The org's daily API usage as last reported by Salesforce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiUsage {
    /// Requests used in the rolling 24 hours.
    pub used: u64,
    /// The org's allocation.
    pub max: u64,
}

impl ApiUsage {
    /// Parses a `Sforce-Limit-Info` header such as `api-usage=10018/100000`.
    ///
    /// Other entries (`per-app-api-usage=...`, `api-bursts=...`) are ignored; `None` when
    /// there is no well-formed `api-usage` entry.
    pub fn parse_limit_info(header: &str) -> Option<Self> {
        header
            .split([',', ';'])
            .filter_map(|part| part.trim().strip_prefix("api-usage="))
            .find_map(|value| {
                let (used, max) = value.split_once('/')?;
                Some(Self {
                    used: used.trim().parse().ok()?,
                    max: max.trim().parse().ok()?,
                })
            })
    }

    /// Requests left before the allocation is used up.
    pub fn remaining(&self) -> u64 {
        self.max.saturating_sub(self.used)
    }
}

/// How many HTTP requests this client sent, by endpoint, retries included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallCounts {
    by_endpoint: BTreeMap<String, u64>,
}

impl CallCounts {
    /// All requests.
    pub fn total(&self) -> u64 {
        self.by_endpoint.values().sum()
    }

    /// Requests per endpoint label ([`ENDPOINT_TOKEN`], [`ENDPOINT_QUERY`], [`ENDPOINT_QUERY_MORE`]).
    pub fn by_endpoint(&self) -> &BTreeMap<String, u64> {
        &self.by_endpoint
    }

    /// Requests to one endpoint label (0 if none).
    pub fn get(&self, endpoint: &str) -> u64 {
        self.by_endpoint.get(endpoint).copied().unwrap_or(0)
    }

    pub(crate) fn record(&mut self, endpoint: &str) {
        *self.by_endpoint.entry(endpoint.to_owned()).or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_limit_info() {
        let cases = [
            ("api-usage=10018/100000", Some((10018, 100000))),
            (
                "api-usage=18/5000; per-app-api-usage=17/250(appName=sample)",
                Some((18, 5000)),
            ),
            (
                "per-app-api-usage=17/250(appName=x), api-usage=25/15000",
                Some((25, 15000)),
            ),
            ("api-bursts=1/10", None),
            ("api-usage=abc/100", None),
            ("", None),
        ];
        for (header, expected) in cases {
            assert_eq!(
                ApiUsage::parse_limit_info(header).map(|u| (u.used, u.max)),
                expected,
                "{header}"
            );
        }
    }

    #[test]
    fn counts_add_up() {
        let mut c = CallCounts::default();
        c.record(ENDPOINT_QUERY);
        c.record(ENDPOINT_QUERY);
        c.record(ENDPOINT_TOKEN);
        assert_eq!(c.total(), 3);
        assert_eq!(c.get(ENDPOINT_QUERY), 2);
        assert_eq!(c.get(ENDPOINT_QUERY_MORE), 0);
    }
}
