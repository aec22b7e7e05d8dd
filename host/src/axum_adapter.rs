//! The axum adapter: one fallback handler that reads the body (refusing one declared or grown
//! over the limit, and one that does not arrive in time), hands it to [`HostCore::handle`]
//! and converts the answer. Mount it with `router(core)`; the peer address is used when the
//! server was started with `into_make_service_with_connect_info::<SocketAddr>()`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;

use crate::error::ApiError;
use crate::http::{declares_too_much, HostRequest, HostResponse, BODY_TIMEOUT, MAX_BODY_BYTES};
use crate::HostCore;

/// A router serving every route of the core.
pub fn router(core: Arc<HostCore>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(core)
}

fn convert(response: HostResponse) -> Response {
    let mut built = Response::new(Body::from(response.body));
    *built.status_mut() =
        StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in response.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            built.headers_mut().append(name, value);
        }
    }
    built
}

async fn handle(State(core): State<Arc<HostCore>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get("content-length")
        .and_then(|value| value.to_str().ok());
    if declares_too_much(declared) {
        return convert(ApiError::too_large().response());
    }
    let read = tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY_BYTES)).await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => return convert(ApiError::too_large().response()),
        Err(_) => return convert(ApiError::too_slow().response()),
    };
    let client_ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let host_request = HostRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers: parts
            .headers
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect(),
        body: bytes.to_vec(),
        client_ip,
    };
    convert(core.handle(host_request).await)
}
