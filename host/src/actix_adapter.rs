//! The actix-web adapter: a default service that reads the payload (refusing one over the
//! limit, and one that does not arrive in time), hands it to [`HostCore::handle`] and converts
//! the answer. Mount it with `App::new().configure(configure(core))`.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::ApiError;
use crate::http::{declares_too_much, HostRequest, HostResponse, BODY_TIMEOUT, MAX_BODY_BYTES};
use crate::HostCore;

/// Registers the core as the app's default service.
pub fn configure(core: Arc<HostCore>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |config| {
        config
            .app_data(web::Data::from(core))
            .default_service(web::to(handle));
    }
}

fn convert(response: HostResponse) -> HttpResponse {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut built = HttpResponse::build(status);
    for (name, value) in &response.headers {
        built.append_header((name.as_str(), value.as_str()));
    }
    built.body(response.body)
}

async fn handle(
    core: web::Data<HostCore>,
    request: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let declared = request
        .headers()
        .get("content-length")
        .and_then(|value| value.to_str().ok());
    if declares_too_much(declared) {
        return convert(ApiError::too_large().response());
    }
    let read = tokio::time::timeout(BODY_TIMEOUT, payload.to_bytes_limited(MAX_BODY_BYTES)).await;
    let bytes = match read {
        Ok(Ok(Ok(bytes))) => bytes,
        Ok(Ok(Err(_))) | Ok(Err(_)) => return convert(ApiError::too_large().response()),
        Err(_) => return convert(ApiError::too_slow().response()),
    };
    let host_request = HostRequest {
        method: request.method().as_str().to_owned(),
        path: request.path().to_owned(),
        query: request.query_string().to_owned(),
        headers: request
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect(),
        body: bytes.to_vec(),
        client_ip: request.peer_addr().map(|address| address.ip()),
    };
    convert(core.handle(host_request).await)
}
