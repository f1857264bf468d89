//! Zendesk Support API client.
