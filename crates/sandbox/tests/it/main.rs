//! Integration tests of the simulators over real HTTP and of the data generator.

mod custom_fields;
mod generator;
mod real_world;
mod salesforce;
mod zendesk;

use reqwest::{Client, Response};
use serde_json::Value;

/// Status, headers and JSON body (or `Value::String` for non-JSON bodies).
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: Value,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub(crate) async fn answer(response: Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        headers,
        body,
    }
}

pub(crate) fn client() -> Client {
    Client::new()
}
