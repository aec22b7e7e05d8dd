//! The framework-free request and response every adapter converts to and from, and the limits
//! every endpoint keeps: a body over [`MAX_BODY_BYTES`] is refused before it is read whole, and
//! adapters stop reading a body after [`BODY_TIMEOUT`].

use std::time::Duration;

/// The largest body any endpoint reads (WeChat's notifications are a few KB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long an adapter waits for a whole body before answering 408.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// True when a `Content-Length` header value declares more than [`MAX_BODY_BYTES`]: refused
/// before anything is read.
pub fn declares_too_much(content_length: Option<&str>) -> bool {
    content_length
        .and_then(|value| value.trim().parse::<usize>().ok())
        .is_some_and(|length| length > MAX_BODY_BYTES)
}

/// A request as the core sees it.
#[derive(Clone, Debug, Default)]
pub struct HostRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string, without `?`.
    pub query: String,
    /// Headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The peer's address, as the adapter saw it (WeChat wants the payer's IP).
    pub client_ip: Option<std::net::IpAddr>,
}

impl HostRequest {
    /// The first header of this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(known, _)| known == name)
            .map(|(_, value)| value.as_str())
    }

    /// A cookie's value.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(known, _)| known == "cookie")
            .flat_map(|(_, value)| value.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }

    /// A query parameter's (percent-decoded) value.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| {
                percent_encoding::percent_decode_str(value)
                    .decode_utf8_lossy()
                    .into_owned()
            })
    }
}

/// A response as the core makes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostResponse {
    /// The status.
    pub status: u16,
    /// Headers (`Content-Type` included).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HostResponse {
    /// A JSON response.
    pub fn json(status: u16, value: &serde_json::Value) -> HostResponse {
        HostResponse {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: value.to_string().into_bytes(),
        }
    }

    /// WeChat's XML acknowledgement bytes, as the engine made them.
    pub fn xml(body: Vec<u8>) -> HostResponse {
        HostResponse {
            status: 200,
            headers: vec![("content-type".into(), "text/xml; charset=utf-8".into())],
            body,
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: String) -> HostResponse {
        self.headers.push((name.to_owned(), value));
        self
    }
}
