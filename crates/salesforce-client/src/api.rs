//! The page-based [`SalesforceApi`] trait and the free functions that turn pages into typed streams.
//!
//! The trait stays page-based so that a mock only has to answer `query`/`query_more`;
//! following `nextRecordsUrl` and decoding records happens here, once, for every
//! implementation.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt, TryStreamExt, stream};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Result, SalesforceError, excerpt};
use crate::usage::ApiUsage;

/// One page of a SOQL query result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryPage {
    /// Records matching the whole query (not just this page).
    pub total_size: u64,
    /// Whether this is the last page.
    pub done: bool,
    /// Path of the next page (`/services/data/vXX.X/query/01g...-2000`) while `done` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_records_url: Option<String>,
    /// The records, each with its `attributes` object and the selected fields.
    #[serde(default)]
    pub records: Vec<Value>,
}

impl QueryPage {
    /// A final page holding `records` (handy in tests with the mock).
    pub fn last(records: Vec<Value>) -> Self {
        Self {
            total_size: records.len() as u64,
            done: true,
            next_records_url: None,
            records,
        }
    }
}

/// One record of the deleted-records log ([`SalesforceApi::deleted_records`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedRecord {
    /// The deleted record's Id.
    pub id: String,
    /// When it was deleted.
    #[serde(with = "crate::records::datetime::required")]
    pub deleted_date: DateTime<Utc>,
}

/// The answer of `sobjects/{object}/deleted` ([`SalesforceApi::deleted_records`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedRecords {
    /// Records deleted in the requested window.
    #[serde(default)]
    pub deleted_records: Vec<DeletedRecord>,
    /// The earliest moment the log still covers; asking for earlier deletions is refused.
    #[serde(default, with = "crate::records::datetime::optional")]
    pub earliest_date_available: Option<DateTime<Utc>>,
    /// The log is complete up to this moment; deletions after it may still be missing,
    /// so the next read should start here rather than at the requested `end`.
    #[serde(default, with = "crate::records::datetime::optional")]
    pub latest_date_covered: Option<DateTime<Utc>>,
}

/// The Salesforce reads the sync needs: SOQL queries, page by page.
///
/// Implemented by [`HttpSalesforceClient`](crate::HttpSalesforceClient); with the `mock`
/// feature, `MockSalesforceApi` implements it for tests. Use [`query_stream`] and the
/// helpers in [`reads`](crate::reads) to follow pages and decode records.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait SalesforceApi: Send + Sync {
    /// Runs `soql` and returns its first page.
    ///
    /// # Errors
    ///
    /// Any [`SalesforceError`]: e.g. [`SalesforceError::Query`] for `MALFORMED_QUERY` or
    /// `INVALID_FIELD`, [`SalesforceError::ObjectNotAvailable`] for `INVALID_TYPE`,
    /// [`SalesforceError::RequestLimitExceeded`], or transport and server errors left
    /// after retries.
    async fn query(&self, soql: &str) -> Result<QueryPage>;

    /// Fetches the page at `next_records_url` (a path from [`QueryPage::next_records_url`]).
    ///
    /// # Errors
    ///
    /// As [`SalesforceApi::query`]; [`SalesforceError::InvalidNextRecordsUrl`] when the
    /// URL is not a path on the instance.
    async fn query_more(&self, next_records_url: &str) -> Result<QueryPage>;

    /// Runs `soql` through the REST `queryAll` resource
    /// (`GET /services/data/vXX.X/queryAll?q=...`) and returns its first page.
    ///
    /// Unlike [`SalesforceApi::query`] the answer also holds records in the Recycle Bin
    /// (`IsDeleted = true`) and merged records; filter with `IsDeleted = true` to read only
    /// deletions (see [`queries::deleted_people`](crate::queries::deleted_people)). Follow
    /// pages with [`SalesforceApi::query_more`]: Salesforce's `nextRecordsUrl` for a
    /// `queryAll` result continues that result even though its path says `/query/`.
    ///
    /// # Errors
    ///
    /// As [`SalesforceApi::query`].
    async fn query_all_rows(&self, soql: &str) -> Result<QueryPage>;

    /// The ids of `object` records deleted between `start` and `end`
    /// (`GET /services/data/vXX.X/sobjects/{object}/deleted/?start=..&end=..`).
    ///
    /// Salesforce keeps this log for about 15 days (less when the Recycle Bin was
    /// emptied); [`DeletedRecords::earliest_date_available`] says how far back it reaches,
    /// and [`DeletedRecords::latest_date_covered`] up to when it is complete.
    ///
    /// # Errors
    ///
    /// As [`SalesforceApi::query`]; a `start` before the earliest available date or more
    /// than 30 days back is refused by Salesforce with [`SalesforceError::Query`]
    /// (`INVALID_REPLICATION_DATE`).
    async fn deleted_records(
        &self,
        object: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<DeletedRecords>;

    /// Whether `AccountContactRelation` can be queried ("Contacts to Multiple Accounts"
    /// is enabled): runs `SELECT Id FROM AccountContactRelation LIMIT 1` and maps
    /// `INVALID_TYPE` to `Ok(false)`.
    ///
    /// # Errors
    ///
    /// Any other failure of the probe query.
    async fn account_contact_relation_available(&self) -> Result<bool>;

    /// The org's API usage from the latest `Sforce-Limit-Info` header, if any was seen.
    fn api_usage(&self) -> Option<ApiUsage>;
}

enum Cursor {
    Start(String),
    Next(String),
    Done,
}

/// Which resource runs the first page of a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resource {
    /// `query`: live records only.
    Query,
    /// `queryAll`: deleted and merged records too.
    QueryAll,
}

/// All pages of `soql`, following `nextRecordsUrl` until `done`.
///
/// The stream ends after the first error.
pub fn page_stream<'a>(
    api: &'a dyn SalesforceApi,
    soql: String,
) -> impl Stream<Item = Result<QueryPage>> + Send + 'a {
    pages(api, soql, Resource::Query)
}

/// [`page_stream`] through the `queryAll` resource ([`SalesforceApi::query_all_rows`]):
/// deleted records are included.
///
/// The stream ends after the first error.
pub fn page_stream_all_rows<'a>(
    api: &'a dyn SalesforceApi,
    soql: String,
) -> impl Stream<Item = Result<QueryPage>> + Send + 'a {
    pages(api, soql, Resource::QueryAll)
}

fn pages<'a>(
    api: &'a dyn SalesforceApi,
    soql: String,
    resource: Resource,
) -> impl Stream<Item = Result<QueryPage>> + Send + 'a {
    stream::unfold(Cursor::Start(soql), move |cursor| async move {
        let result = match cursor {
            Cursor::Done => return None,
            Cursor::Start(soql) => match resource {
                Resource::Query => api.query(&soql).await,
                Resource::QueryAll => api.query_all_rows(&soql).await,
            },
            Cursor::Next(url) => api.query_more(&url).await,
        };
        let next = match &result {
            Err(_) => Cursor::Done,
            Ok(page) if page.done => Cursor::Done,
            Ok(page) => match &page.next_records_url {
                Some(url) => Cursor::Next(url.clone()),
                None => {
                    tracing::warn!(
                        "salesforce page has done=false but no nextRecordsUrl; stopping"
                    );
                    Cursor::Done
                }
            },
        };
        Some((result, next))
    })
}

/// All records of `soql`, one stream item per page, decoded as `T`
/// (e.g. [`Contact`](crate::Contact)).
///
/// A record that does not decode ends the stream with [`SalesforceError::Decode`].
pub fn query_stream<'a, T: DeserializeOwned + Send + 'a>(
    api: &'a dyn SalesforceApi,
    soql: String,
) -> impl Stream<Item = Result<Vec<T>>> + Send + 'a {
    let typed = page_stream(api, soql).map(|page| page.and_then(|p| decode_records(p.records)));
    stop_after_error(typed)
}

/// All records of `soql` run through `queryAll` (deleted records included), one stream
/// item per page, decoded as `T`.
///
/// A record that does not decode ends the stream with [`SalesforceError::Decode`].
pub fn query_all_rows_stream<'a, T: DeserializeOwned + Send + 'a>(
    api: &'a dyn SalesforceApi,
    soql: String,
) -> impl Stream<Item = Result<Vec<T>>> + Send + 'a {
    let typed =
        page_stream_all_rows(api, soql).map(|page| page.and_then(|p| decode_records(p.records)));
    stop_after_error(typed)
}

/// [`query_all_rows_stream`] over several statements, one after the other.
pub fn query_all_rows_stream_many<'a, T: DeserializeOwned + Send + 'a>(
    api: &'a dyn SalesforceApi,
    soqls: Vec<String>,
) -> impl Stream<Item = Result<Vec<T>>> + Send + 'a {
    stop_after_error(
        stream::iter(soqls).flat_map(move |soql| query_all_rows_stream::<T>(api, soql).boxed()),
    )
}

/// Ends `stream` right after its first error, so that no further page is fetched once
/// the caller has been told about a failure.
fn stop_after_error<S, T>(stream: S) -> impl Stream<Item = Result<T>>
where
    S: Stream<Item = Result<T>>,
{
    // Unlike `scan`/`take_while`, this does not poll the inner stream again after an
    // error, so no request is made for a page nobody will read.
    stream::unfold(
        (Box::pin(stream), false),
        |(mut inner, failed)| async move {
            if failed {
                return None;
            }
            let item = inner.next().await?;
            let failed = item.is_err();
            Some((item, (inner, failed)))
        },
    )
}

/// [`query_stream`] over several statements (e.g. the chunks of an `IN` list), one
/// after the other.
pub fn query_stream_many<'a, T: DeserializeOwned + Send + 'a>(
    api: &'a dyn SalesforceApi,
    soqls: Vec<String>,
) -> impl Stream<Item = Result<Vec<T>>> + Send + 'a {
    stop_after_error(stream::iter(soqls).flat_map(move |soql| query_stream::<T>(api, soql).boxed()))
}

/// Collects every record of `soql`.
///
/// # Errors
///
/// The first error of [`query_stream`].
pub async fn query_all<T: DeserializeOwned + Send>(
    api: &dyn SalesforceApi,
    soql: String,
) -> Result<Vec<T>> {
    let pages: Vec<Vec<T>> = query_stream(api, soql).try_collect().await?;
    Ok(pages.into_iter().flatten().collect())
}

/// Decodes raw records into `T`.
///
/// # Errors
///
/// [`SalesforceError::Decode`] (status 200) with an excerpt of the first record that
/// does not fit `T`.
pub fn decode_records<T: DeserializeOwned>(records: Vec<Value>) -> Result<Vec<T>> {
    records
        .into_iter()
        .map(|record| {
            let shown = excerpt(&record.to_string());
            serde_json::from_value(record).map_err(|e| SalesforceError::Decode {
                status: 200,
                body_excerpt: shown,
                source: Some(e),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Contact;
    use serde_json::json;

    fn contact(id: &str) -> Value {
        json!({"attributes": {"type": "Contact"}, "Id": id, "Email": format!("{id}@x.com")})
    }

    #[tokio::test]
    async fn query_stream_follows_next_records_url_with_the_mock() {
        let mut mock = MockSalesforceApi::new();
        mock.expect_query()
            .withf(|q| q == "SELECT Id FROM Contact")
            .times(1)
            .returning(|_| {
                Ok(QueryPage {
                    total_size: 3,
                    done: false,
                    next_records_url: Some("/services/data/v62.0/query/01g-2".into()),
                    records: vec![contact("a"), contact("b")],
                })
            });
        mock.expect_query_more()
            .withf(|u| u == "/services/data/v62.0/query/01g-2")
            .times(1)
            .returning(|_| Ok(QueryPage::last(vec![contact("c")])));
        let pages: Vec<Vec<Contact>> = query_stream(&mock, "SELECT Id FROM Contact".into())
            .try_collect()
            .await
            .expect("pages");
        let ids: Vec<Vec<&str>> = pages
            .iter()
            .map(|p| p.iter().map(|c| c.id.as_str()).collect())
            .collect();
        assert_eq!(ids, vec![vec!["a", "b"], vec!["c"]]);
    }

    #[tokio::test]
    async fn decode_failure_is_reported_and_ends_the_stream() {
        let mut mock = MockSalesforceApi::new();
        mock.expect_query().returning(|_| {
            Ok(QueryPage {
                total_size: 2,
                done: false,
                next_records_url: Some("/next".into()),
                records: vec![json!({"Email": "no-id@x.com"})],
            })
        });
        mock.expect_query_more().never();
        let items: Vec<Result<Vec<Contact>>> = query_stream(&mock, "q".into()).collect().await;
        assert_eq!(items.len(), 1);
        assert!(
            matches!(&items[0], Err(SalesforceError::Decode { status: 200, body_excerpt, .. }) if body_excerpt.contains("no-id"))
        );
    }

    #[tokio::test]
    async fn query_all_rows_stream_starts_with_query_all_and_pages_with_query_more() {
        let mut mock = MockSalesforceApi::new();
        mock.expect_query().never();
        mock.expect_query_all_rows()
            .withf(|q| q == "SELECT Id FROM Contact WHERE IsDeleted = true")
            .times(1)
            .returning(|_| {
                Ok(QueryPage {
                    total_size: 2,
                    done: false,
                    next_records_url: Some("/services/data/v62.0/query/01g-2".into()),
                    records: vec![contact("a")],
                })
            });
        mock.expect_query_more()
            .withf(|u| u == "/services/data/v62.0/query/01g-2")
            .times(1)
            .returning(|_| Ok(QueryPage::last(vec![contact("b")])));
        let all: Vec<Vec<Contact>> = query_all_rows_stream_many(
            &mock,
            vec!["SELECT Id FROM Contact WHERE IsDeleted = true".into()],
        )
        .try_collect()
        .await
        .expect("pages");
        assert_eq!(all.concat().len(), 2);
    }

    #[test]
    fn deleted_records_decode_salesforce_dates() {
        let answer: DeletedRecords = serde_json::from_value(json!({
            "deletedRecords": [
                {"id": "003A00000000001AAA", "deletedDate": "2013-05-07T22:07:19.000+0000"}
            ],
            "earliestDateAvailable": "2013-05-03T15:57:00.000+0000",
            "latestDateCovered": "2013-05-08T21:20:00.000+0000"
        }))
        .expect("decodes");
        assert_eq!(answer.deleted_records[0].id, "003A00000000001AAA");
        assert_eq!(
            answer.deleted_records[0].deleted_date.to_rfc3339(),
            "2013-05-07T22:07:19+00:00"
        );
        assert_eq!(
            answer
                .latest_date_covered
                .map(|d| d.to_rfc3339())
                .as_deref(),
            Some("2013-05-08T21:20:00+00:00")
        );
        let empty: DeletedRecords =
            serde_json::from_value(json!({"deletedRecords": []})).expect("decodes");
        assert!(empty.earliest_date_available.is_none());
    }

    #[tokio::test]
    async fn query_stream_many_runs_every_statement() {
        let mut mock = MockSalesforceApi::new();
        mock.expect_query()
            .times(2)
            .returning(|q| Ok(QueryPage::last(vec![contact(q)])));
        let all: Vec<Vec<Contact>> = query_stream_many(&mock, vec!["q1".into(), "q2".into()])
            .try_collect()
            .await
            .expect("pages");
        assert_eq!(
            all.concat()
                .iter()
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>(),
            ["q1", "q2"]
        );
    }
}
