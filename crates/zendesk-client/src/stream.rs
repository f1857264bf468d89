//! `Stream`s over every page of the paginated endpoints, so callers walk a whole account
//! without holding it in memory. They work on any [`ZendeskRead`], mocks included.

use futures::stream::{self, Stream, TryStreamExt};

use crate::Result;
use crate::api::ZendeskRead;
use crate::models::{
    Organization, OrganizationExportPage, OrganizationMembership, User, UserExportPage,
};

enum Cursor {
    Start(Option<String>),
    Next(String),
    Done,
}

impl Cursor {
    fn take(self) -> Option<Option<String>> {
        match self {
            Self::Start(cursor) => Some(cursor),
            Self::Next(cursor) => Some(Some(cursor)),
            Self::Done => None,
        }
    }
}

/// Every membership of the account, page after page.
pub fn memberships_stream(
    api: &dyn ZendeskRead,
) -> impl Stream<Item = Result<OrganizationMembership>> + Send + '_ {
    stream::try_unfold(Cursor::Start(None), move |state| async move {
        let Some(cursor) = state.take() else {
            return Ok(None);
        };
        let page = api.list_memberships_page(cursor).await?;
        let next = page.next_cursor.map_or(Cursor::Done, Cursor::Next);
        Ok(Some((page.items, next)))
    })
    .map_ok(|items| stream::iter(items.into_iter().map(Ok)))
    .try_flatten()
}

/// Every membership of one user, page after page.
pub fn user_memberships_stream(
    api: &dyn ZendeskRead,
    user_id: u64,
) -> impl Stream<Item = Result<OrganizationMembership>> + Send + '_ {
    stream::try_unfold(Cursor::Start(None), move |state| async move {
        let Some(cursor) = state.take() else {
            return Ok(None);
        };
        let page = api.list_user_memberships_page(user_id, cursor).await?;
        let next = page.next_cursor.map_or(Cursor::Done, Cursor::Next);
        Ok(Some((page.items, next)))
    })
    .map_ok(|items| stream::iter(items.into_iter().map(Ok)))
    .try_flatten()
}

/// The pages of the incremental user export from `cursor` (`None`: from the beginning) until
/// `end_of_stream`. Keep each page's `after_cursor` as the checkpoint for the next run.
pub fn user_export_pages(
    api: &dyn ZendeskRead,
    cursor: Option<String>,
) -> impl Stream<Item = Result<UserExportPage>> + Send + '_ {
    stream::try_unfold(Cursor::Start(cursor), move |state| async move {
        let Some(cursor) = state.take() else {
            return Ok(None);
        };
        let page = api.export_users_page(cursor.clone()).await?;
        let next = match &page.after_cursor {
            // A cursor that does not move would loop forever.
            Some(after) if !page.end_of_stream && Some(after) != cursor.as_ref() => {
                Cursor::Next(after.clone())
            }
            _ => Cursor::Done,
        };
        Ok(Some((page, next)))
    })
}

/// Every user of the incremental export from `cursor` (`None`: from the beginning).
pub fn users_export_stream(
    api: &dyn ZendeskRead,
    cursor: Option<String>,
) -> impl Stream<Item = Result<User>> + Send + '_ {
    user_export_pages(api, cursor)
        .map_ok(|page| stream::iter(page.users.into_iter().map(Ok)))
        .try_flatten()
}

/// The pages of the incremental organization export from `next_page` (`None`: from the
/// beginning) until `end_of_stream`.
pub fn organization_export_pages(
    api: &dyn ZendeskRead,
    next_page: Option<String>,
) -> impl Stream<Item = Result<OrganizationExportPage>> + Send + '_ {
    stream::try_unfold(Cursor::Start(next_page), move |state| async move {
        let Some(url) = state.take() else {
            return Ok(None);
        };
        let page = api.export_organizations_page(url.clone()).await?;
        let next = match &page.next_page {
            Some(next) if !page.end_of_stream && Some(next) != url.as_ref() => {
                Cursor::Next(next.clone())
            }
            _ => Cursor::Done,
        };
        Ok(Some((page, next)))
    })
}

/// Every organization of the incremental export from `next_page` (`None`: from the
/// beginning).
pub fn organizations_export_stream(
    api: &dyn ZendeskRead,
    next_page: Option<String>,
) -> impl Stream<Item = Result<Organization>> + Send + '_ {
    organization_export_pages(api, next_page)
        .map_ok(|page| stream::iter(page.organizations.into_iter().map(Ok)))
        .try_flatten()
}

/// Collects a stream into a `Vec`, stopping at the first error.
///
/// # Errors
///
/// The first error of the stream.
pub async fn collect_all<T>(stream: impl Stream<Item = Result<T>>) -> Result<Vec<T>> {
    stream.try_collect().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::MockZendeskRead;
    use crate::error::ZendeskError;
    use crate::models::Page;
    use futures::StreamExt;

    fn membership(id: u64) -> OrganizationMembership {
        OrganizationMembership {
            id,
            user_id: 1,
            organization_id: id * 10,
            default: false,
        }
    }

    #[tokio::test]
    async fn memberships_stream_follows_cursors_to_the_last_page() {
        let mut api = MockZendeskRead::new();
        api.expect_list_memberships_page().returning(|cursor| {
            Ok(match cursor.as_deref() {
                None => Page {
                    items: vec![membership(1), membership(2)],
                    next_cursor: Some("c1".into()),
                },
                Some("c1") => Page {
                    items: vec![],
                    next_cursor: Some("c2".into()),
                },
                Some("c2") => Page {
                    items: vec![membership(3)],
                    next_cursor: None,
                },
                Some(other) => panic!("unexpected cursor {other}"),
            })
        });
        let ids: Vec<u64> = collect_all(memberships_stream(&api))
            .await
            .expect("all pages")
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(ids, vec![1, 2, 3]);
    }

    #[tokio::test]
    async fn stream_stops_at_first_error() {
        let mut api = MockZendeskRead::new();
        api.expect_list_user_memberships_page()
            .returning(|_, cursor| match cursor {
                None => Ok(Page {
                    items: vec![membership(1)],
                    next_cursor: Some("c".into()),
                }),
                Some(_) => Err(ZendeskError::Server {
                    status: 500,
                    body: String::new(),
                }),
            });
        let items: Vec<_> = user_memberships_stream(&api, 1).collect().await;
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        assert!(matches!(items[1], Err(ZendeskError::Server { .. })));
    }

    #[tokio::test]
    async fn user_export_stops_at_end_of_stream_and_on_a_stuck_cursor() {
        let mut api = MockZendeskRead::new();
        api.expect_export_users_page().times(2).returning(|cursor| {
            Ok(match cursor.as_deref() {
                None => UserExportPage::new(vec![], Some("a".into()), false),
                Some("a") => UserExportPage::new(vec![], Some("a".into()), false),
                Some(other) => panic!("unexpected cursor {other}"),
            })
        });
        let pages = collect_all(user_export_pages(&api, None))
            .await
            .expect("pages");
        assert_eq!(pages.len(), 2);
    }
}
