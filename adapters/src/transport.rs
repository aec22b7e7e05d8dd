//! The one seam through which bytes leave the process: [`Transport`]. Adapters build
//! [`HttpRequest`] values and parse [`HttpResponse`] values; whoever implements the trait (the
//! reqwest client here, the simulator in `cashier-harness`) moves them.

use std::future::Future;
use std::pin::Pin;

/// A request ready to send: everything a transport needs, nothing it has to interpret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    /// Always `POST` for WeChat Pay v2.
    pub method: &'static str,
    /// The absolute URL.
    pub url: String,
    /// The path part of the URL (`/pay/unifiedorder`, `/sandboxnew/pay/orderquery`), so an
    /// in-process transport can route without parsing the URL.
    pub path: String,
    /// Header name/value pairs.
    pub headers: Vec<(&'static str, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
    /// True for the `secapi` endpoints, which require the merchant's client certificate.
    pub needs_client_certificate: bool,
}

/// A response as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The body bytes.
    pub body: Vec<u8>,
}

/// Why a request got no response. Every variant means the outcome at WeChat is unknown: the
/// request may or may not have taken effect, so callers query or retry with identical
/// parameters, never assume failure (wechatpay-v2.md §3, layer 1).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// Could not connect (refused, DNS, TLS handshake). The request most likely never arrived,
    /// but a TLS failure after sending cannot be told apart, so it is still "unknown".
    #[error("could not connect: {detail}")]
    Connect {
        /// What the client said.
        detail: String,
    },
    /// No complete response within the deadline.
    #[error("timed out after {timeout_ms} ms")]
    Timeout {
        /// The deadline that passed.
        timeout_ms: u64,
    },
    /// The connection broke mid-exchange.
    #[error("connection failed: {detail}")]
    Io {
        /// What the client said.
        detail: String,
    },
    /// The transport cannot send this request at all (for example a `secapi` call without a
    /// configured client certificate); nothing was sent.
    #[error("not sent: {detail}")]
    NotSent {
        /// Why.
        detail: String,
    },
    /// The response body exceeded the transport's limit; the request did reach WeChat.
    #[error("response body over {limit_bytes} bytes")]
    ResponseTooLarge {
        /// The limit.
        limit_bytes: usize,
    },
}

impl TransportError {
    /// True when the request may have reached WeChat, so its effect is unknown.
    pub fn outcome_unknown(&self) -> bool {
        !matches!(self, TransportError::NotSent { .. })
    }
}

/// A boxed, sendable future, the return type of [`Transport::send`].
pub type TransportFuture<'a> =
    Pin<Box<dyn Future<Output = Result<HttpResponse, TransportError>> + Send + 'a>>;

/// Carries one request to WeChat (or a stand-in) and brings back its response.
///
/// Implementations must not retry on their own: retry decisions depend on the endpoint and the
/// outcome and belong to the caller.
pub trait Transport: Send + Sync {
    /// Sends the request and waits for the complete response.
    fn send(&self, request: HttpRequest) -> TransportFuture<'_>;
}

impl<T: Transport + ?Sized> Transport for std::sync::Arc<T> {
    fn send(&self, request: HttpRequest) -> TransportFuture<'_> {
        (**self).send(request)
    }
}
