//! The simulator as an HTTP(S) server on loopback: WeChat's endpoints at WeChat's paths, and a
//! JSON control API under `/__sim/` (payer actions, clock, ledger, delivery log, fault plan,
//! reset). Notifications are delivered over HTTP by a background task as they fall due.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::faults::FaultPlan;
use crate::simulator::{ClientCertificate, PayCommand, SimRequest, SimResponse, Simulator};
use crate::tls::TestPki;
use crate::transport::HttpSink;

/// The largest body the server reads; anything bigger is refused before the simulator sees it.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How long a "lost" reply holds the connection before closing it without answering.
const LOST_REPLY_HOLD: Duration = Duration::from_secs(120);

/// How long a client may take to send a request's headers (or to start the next request on a
/// kept-alive connection): a slow-loris client is cut off after this.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a client may take to send a request's body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections served at once; further ones are closed at once.
pub const MAX_CONNECTIONS: usize = 512;

/// A running server.
pub struct RunningServer {
    /// The bound address.
    pub local_addr: SocketAddr,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The test PKI when serving TLS.
    pub pki: Option<TestPki>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    /// The base URL (`http://127.0.0.1:PORT`).
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.local_addr)
    }

    /// Stops accepting connections and the delivery task.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Binding the address failed.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The IO error.
        source: std::io::Error,
    },
    /// TLS set-up failed.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The HTTP client for notifications could not be built.
    #[error("notification client: {0}")]
    Client(String),
}

/// Starts serving `simulator` on `address` (TLS when `pki` is given).
pub async fn start(
    simulator: Arc<Simulator>,
    address: SocketAddr,
    pki: Option<TestPki>,
) -> Result<RunningServer, ServerError> {
    let listener = TcpListener::bind(address)
        .await
        .map_err(|source| ServerError::Bind { address, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| ServerError::Bind { address, source })?;
    let acceptor = match &pki {
        Some(pki) => Some(tokio_rustls::TlsAcceptor::from(pki.server_config()?)),
        None => None,
    };
    let sink = HttpSink::new().map_err(ServerError::Client)?;
    let (stop, mut stopped) = watch::channel(false);
    let shared = Arc::new(Shared {
        simulator,
        sink,
        pki: pki.clone(),
    });
    let delivery = {
        let shared = shared.clone();
        let mut stopped = stop.subscribe();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stopped.changed() => return,
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {
                        shared.simulator.deliver_due(&shared.sink).await;
                    }
                }
            }
        })
    };
    let connections = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let task = tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = stopped.changed() => break,
                accepted = listener.accept() => accepted,
            };
            let Ok((stream, _)) = accepted else {
                continue;
            };
            // Over the cap, the connection is dropped (closed) without being read.
            let Ok(permit) = connections.clone().try_acquire_owned() else {
                continue;
            };
            let shared = shared.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _permit = permit;
                match acceptor {
                    None => {
                        serve(TokioIo::new(stream), shared, ClientCertificate::NotChecked).await
                    }
                    Some(acceptor) => {
                        let Ok(tls) = acceptor.accept(stream).await else {
                            return;
                        };
                        let certificate = if tls
                            .get_ref()
                            .1
                            .peer_certificates()
                            .is_some_and(|chain| !chain.is_empty())
                        {
                            ClientCertificate::Presented
                        } else {
                            ClientCertificate::Absent
                        };
                        serve(TokioIo::new(tls), shared, certificate).await;
                    }
                }
            });
        }
        delivery.abort();
    });
    Ok(RunningServer {
        local_addr,
        scheme: if pki.is_some() { "https" } else { "http" },
        pki,
        stop,
        task,
    })
}

struct Shared {
    simulator: Arc<Simulator>,
    sink: HttpSink,
    pki: Option<TestPki>,
}

async fn serve<I>(io: I, shared: Arc<Shared>, certificate: ClientCertificate)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |request| {
        let shared = shared.clone();
        async move { route(request, &shared, certificate).await }
    });
    let _ = http1::Builder::new()
        .keep_alive(true)
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(io, service)
        .await;
}

/// A reply, or `Err` to close the connection without one.
type Routed = Result<Response<Full<Bytes>>, std::io::Error>;

fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Routed {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    Ok(response)
}

fn json(status: StatusCode, value: &serde_json::Value) -> Routed {
    respond(
        status,
        "application/json",
        serde_json::to_vec_pretty(value).unwrap_or_default(),
    )
}

fn json_error(status: StatusCode, message: &str) -> Routed {
    json(status, &serde_json::json!({ "error": message }))
}

/// Why a body was not read.
enum BodyRefusal {
    /// Declared or found larger than [`MAX_BODY_BYTES`].
    TooLarge,
    /// Not complete within [`BODY_TIMEOUT`].
    TooSlow,
}

/// Reads a body: a declared length over the limit is refused before reading a byte, a longer
/// body is cut at the limit, a slow one at the timeout. A refused body's connection is closed.
async fn read_body(request: Request<Incoming>) -> Result<Vec<u8>, BodyRefusal> {
    let declared = request
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(BodyRefusal::TooLarge);
    }
    let reading = Limited::new(request.into_body(), MAX_BODY_BYTES).collect();
    match tokio::time::timeout(BODY_TIMEOUT, reading).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes().to_vec()),
        Ok(Err(_)) => Err(BodyRefusal::TooLarge),
        Err(_) => Err(BodyRefusal::TooSlow),
    }
}

/// The answer to a refused body, closing the connection (the rest of the body is never read):
/// WeChat's protocol failure on its paths, JSON on the control API.
fn refuse_body(refusal: BodyRefusal, wechat_path: bool) -> Routed {
    let (status, message, wechat_message) = match refusal {
        BodyRefusal::TooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "body too large",
            "请求数据过大",
        ),
        BodyRefusal::TooSlow => (StatusCode::REQUEST_TIMEOUT, "body too slow", "请求超时"),
    };
    let mut response = if wechat_path {
        let body = crate::exchange::protocol_failure(wechat_message);
        respond(StatusCode::OK, "text/xml; charset=utf-8", body)?
    } else {
        json_error(status, message)?
    };
    response.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    Ok(response)
}

async fn route(
    request: Request<Incoming>,
    shared: &Shared,
    certificate: ClientCertificate,
) -> Routed {
    // payinsurance carries its access_token in the query string; v2 paths never have one.
    let path = match request.uri().path_and_query() {
        Some(full)
            if full.path().starts_with("/payinsurance/") || full.path().starts_with("/sns/") =>
        {
            full.as_str().to_owned()
        }
        _ => request.uri().path().to_owned(),
    };
    if path.starts_with("/__sim/") {
        return control(request, &path, shared).await;
    }
    let method = request.method().as_str().to_owned();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let body = match read_body(request).await {
        Ok(body) => body,
        Err(refusal) => return refuse_body(refusal, true),
    };
    let response = shared.simulator.handle(&SimRequest {
        method,
        path,
        body,
        client_certificate: certificate,
        headers,
    });
    match response {
        SimResponse::Reply {
            status,
            content_type,
            body,
            delay_ms,
        } => {
            if delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            }
            respond(
                StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                content_type,
                body,
            )
        }
        SimResponse::ReplyLost => {
            tokio::time::sleep(LOST_REPLY_HOLD).await;
            Err(std::io::Error::other("reply lost (fault)"))
        }
        SimResponse::ConnectionReset => Err(std::io::Error::other("connection reset (fault)")),
    }
}

#[derive(Deserialize)]
struct Advance {
    seconds: i64,
}

#[derive(Deserialize)]
struct RefundOutcome {
    outcome: String,
}

#[derive(Deserialize)]
struct LoginRequest {
    appid: String,
    openid: String,
}

#[derive(Deserialize)]
struct MedicalAuthorize {
    openid: String,
}

#[derive(Deserialize)]
struct MedicalPay {
    med_trans_id: String,
    outcome: String,
}

/// `POST /__sim/login {"appid", "openid"}` → `{"code"}` (a WeChat login code);
/// `POST /__sim/medical/authorize {"openid"}` → `{"auth_code"}`; `POST /__sim/medical/pay
/// {"med_trans_id", "outcome": "success" | "fail" | "cancel" | "abandon"}`.
fn medical_control(route: &str, body: &[u8], simulator: &Simulator) -> Option<Routed> {
    use crate::medical::MedicalPayerAction as Action;
    Some(match route {
        "login" => match serde_json::from_slice::<LoginRequest>(body) {
            Ok(request) => match simulator.login_code(&request.appid, &request.openid) {
                Ok(code) => json(StatusCode::OK, &serde_json::json!({ "code": code })),
                Err(error) => json_error(StatusCode::CONFLICT, &error.to_string()),
            },
            Err(error) => json_error(StatusCode::BAD_REQUEST, &error.to_string()),
        },
        "medical/authorize" => match serde_json::from_slice::<MedicalAuthorize>(body) {
            Ok(request) => json(
                StatusCode::OK,
                &serde_json::json!({ "auth_code": simulator.medical_authorize(&request.openid) }),
            ),
            Err(error) => json_error(StatusCode::BAD_REQUEST, &error.to_string()),
        },
        "medical/pay" => match serde_json::from_slice::<MedicalPay>(body) {
            Err(error) => json_error(StatusCode::BAD_REQUEST, &error.to_string()),
            Ok(request) => {
                let action = match request.outcome.as_str() {
                    "success" => Action::Pay,
                    "fail" => Action::Fail,
                    "cancel" => Action::Cancel,
                    "abandon" => Action::Abandon,
                    _ => {
                        return Some(json_error(
                            StatusCode::BAD_REQUEST,
                            "outcome is success, fail, cancel or abandon",
                        ))
                    }
                };
                match simulator.medical_payer(&request.med_trans_id, action) {
                    Ok(()) => json(StatusCode::OK, &serde_json::json!({ "ok": true })),
                    Err(error) => json_error(StatusCode::CONFLICT, &error.to_string()),
                }
            }
        },
        _ => return None,
    })
}

async fn control(request: Request<Incoming>, path: &str, shared: &Shared) -> Routed {
    let simulator = &shared.simulator;
    let method = request.method().clone();
    let route = path.trim_start_matches("/__sim/");
    if method == Method::GET {
        return match route {
            "notifications" => json(
                StatusCode::OK,
                &serde_json::json!({ "log": simulator.delivery_log(), "notifications": simulator.notifications() }),
            ),
            "ledger" => respond(StatusCode::OK, "application/json", simulator.ledger_json()),
            "faults" => json(
                StatusCode::OK,
                &serde_json::to_value(simulator.fault_plan()).unwrap_or_default(),
            ),
            "config" => json(
                StatusCode::OK,
                &serde_json::to_value(simulator.config()).unwrap_or_default(),
            ),
            "clock" => json(
                StatusCode::OK,
                &serde_json::json!({ "now_ms": simulator.now_ms() }),
            ),
            "medical" => json(StatusCode::OK, &simulator.medical_view()),
            "ca.pem" => match &shared.pki {
                Some(pki) => respond(
                    StatusCode::OK,
                    "application/x-pem-file",
                    pki.ca_certificate_pem.clone(),
                ),
                None => json_error(StatusCode::NOT_FOUND, "not serving TLS"),
            },
            "client-identity.pem" => match &shared.pki {
                Some(pki) => respond(
                    StatusCode::OK,
                    "application/x-pem-file",
                    format!("{}{}", pki.client_certificate_pem, pki.client_key_pem),
                ),
                None => json_error(StatusCode::NOT_FOUND, "not serving TLS"),
            },
            _ => match route.strip_prefix("orders/") {
                Some(out_trade_no) => {
                    let view = simulator.order_view(out_trade_no);
                    let status = if view.as_array().is_some_and(|orders| orders.is_empty()) {
                        StatusCode::NOT_FOUND
                    } else {
                        StatusCode::OK
                    };
                    json(status, &view)
                }
                None => json_error(StatusCode::NOT_FOUND, "unknown control path"),
            },
        };
    }
    if method != Method::POST {
        return json_error(StatusCode::METHOD_NOT_ALLOWED, "use GET or POST");
    }
    let body = match read_body(request).await {
        Ok(body) => body,
        Err(refusal) => return refuse_body(refusal, false),
    };
    if let Some(routed) = medical_control(route, &body, simulator) {
        return routed;
    }
    match route {
        "pay" => match serde_json::from_slice::<PayCommand>(&body) {
            Err(error) => json_error(StatusCode::BAD_REQUEST, &error.to_string()),
            Ok(command) => match simulator.pay(&command) {
                Ok(order) => json(
                    StatusCode::OK,
                    &serde_json::to_value(order).unwrap_or_default(),
                ),
                Err(crate::ControlError::NotFound(message)) => {
                    json_error(StatusCode::NOT_FOUND, &message)
                }
                Err(crate::ControlError::Refused(message)) => {
                    json_error(StatusCode::CONFLICT, &message)
                }
                Err(crate::ControlError::Invalid(message)) => {
                    json_error(StatusCode::BAD_REQUEST, &message)
                }
            },
        },
        "clock/advance" => match serde_json::from_slice::<Advance>(&body) {
            Err(error) => json_error(StatusCode::BAD_REQUEST, &error.to_string()),
            Ok(advance) if advance.seconds < 0 => {
                json_error(StatusCode::BAD_REQUEST, "seconds must not be negative")
            }
            Ok(advance) => {
                let delivered = simulator.advance(advance.seconds, &shared.sink).await;
                json(
                    StatusCode::OK,
                    &serde_json::json!({ "now_ms": simulator.now_ms(), "delivered": delivered }),
                )
            }
        },
        "faults" => match serde_json::from_slice::<FaultPlan>(&body) {
            Err(error) => json_error(StatusCode::BAD_REQUEST, &error.to_string()),
            Ok(plan) => match simulator.set_fault_plan(plan) {
                Ok(()) => json(
                    StatusCode::OK,
                    &serde_json::to_value(simulator.fault_plan()).unwrap_or_default(),
                ),
                Err(message) => json_error(StatusCode::BAD_REQUEST, &message),
            },
        },
        "reset" => {
            simulator.reset();
            json(StatusCode::OK, &serde_json::json!({ "reset": true }))
        }
        _ => match route.strip_prefix("refunds/") {
            Some(out_refund_no) => match serde_json::from_slice::<RefundOutcome>(&body) {
                Err(error) => json_error(StatusCode::BAD_REQUEST, &error.to_string()),
                Ok(outcome) => {
                    match simulator.set_refund_outcome(out_refund_no, &outcome.outcome) {
                        Ok(()) => json(
                            StatusCode::OK,
                            &serde_json::json!({ "out_refund_no": out_refund_no, "outcome": outcome.outcome }),
                        ),
                        Err(error) => json_error(StatusCode::BAD_REQUEST, &error.to_string()),
                    }
                }
            },
            None => json_error(StatusCode::NOT_FOUND, "unknown control path"),
        },
    }
}
