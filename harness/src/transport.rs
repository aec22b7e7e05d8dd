//! Using the simulator in-process: [`SimTransport`] is a [`Transport`] the adapters' client can
//! use directly, and the sinks deliver notifications to in-process handlers or over HTTP.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use cashier_adapters::{HttpRequest, HttpResponse, Transport, TransportError, TransportFuture};

use crate::simulator::{ClientCertificate, NotificationSink, SimRequest, SimResponse, Simulator};

/// The in-process transport: each request is handled by the simulator synchronously; slow
/// replies past `timeout_ms` and lost replies surface as timeouts, resets as IO errors. Slow
/// replies within the timeout come back at once, unless `with_real_delays` makes the caller
/// wait for them in real time (to test what a slow WeChat holds up).
#[derive(Clone)]
pub struct SimTransport {
    simulator: Arc<Simulator>,
    timeout_ms: u64,
    client_certificate: bool,
    real_delays: bool,
}

impl SimTransport {
    /// A transport to `simulator` with a client certificate for `secapi` calls and a 10 s
    /// timeout.
    pub fn new(simulator: Arc<Simulator>) -> SimTransport {
        SimTransport {
            simulator,
            timeout_ms: 10_000,
            client_certificate: true,
            real_delays: false,
        }
    }

    /// Slow replies within the timeout arrive after their delay in real time.
    pub fn with_real_delays(mut self) -> SimTransport {
        self.real_delays = true;
        self
    }

    /// The same transport without a client certificate (`secapi` calls are then refused).
    pub fn without_client_certificate(mut self) -> SimTransport {
        self.client_certificate = false;
        self
    }

    /// Sets the client-side timeout that slow replies are judged against.
    pub fn with_timeout_ms(mut self, timeout_ms: u64) -> SimTransport {
        self.timeout_ms = timeout_ms;
        self
    }

    /// The simulator.
    pub fn simulator(&self) -> &Arc<Simulator> {
        &self.simulator
    }
}

impl Transport for SimTransport {
    fn send(&self, request: HttpRequest) -> TransportFuture<'_> {
        let certificate = match (request.needs_client_certificate, self.client_certificate) {
            (true, false) => ClientCertificate::Absent,
            (true, true) => ClientCertificate::Presented,
            (false, _) => ClientCertificate::NotChecked,
        };
        let response = self.simulator.handle(&SimRequest {
            method: request.method.to_owned(),
            path: request.path,
            body: request.body,
            client_certificate: certificate,
            headers: request
                .headers
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
        });
        let (timeout_ms, real_delays) = (self.timeout_ms, self.real_delays);
        Box::pin(async move {
            match response {
                SimResponse::Reply { delay_ms, .. } if delay_ms > timeout_ms => {
                    Err(TransportError::Timeout { timeout_ms })
                }
                SimResponse::Reply {
                    status,
                    body,
                    delay_ms,
                    ..
                } if real_delays && delay_ms > 0 => {
                    tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
                    Ok(HttpResponse { status, body })
                }
                SimResponse::Reply { status, body, .. } => Ok(HttpResponse { status, body }),
                SimResponse::ReplyLost => Err(TransportError::Timeout { timeout_ms }),
                SimResponse::ConnectionReset => Err(TransportError::Io {
                    detail: "connection reset by peer".into(),
                }),
            }
        })
    }
}

/// The answer a scripted merchant gives: HTTP status and body.
pub type SinkAnswer = Result<(u16, Vec<u8>), String>;

type Script = dyn Fn(usize, &str, &[u8]) -> SinkAnswer + Send + Sync;

/// A merchant scripted by a closure `(delivery number, url, body) -> answer`; it records every
/// delivery it receives.
pub struct ScriptedSink {
    script: Box<Script>,
    received: Mutex<Vec<(String, Vec<u8>)>>,
}

impl ScriptedSink {
    /// A merchant answering with `script`.
    pub fn new(
        script: impl Fn(usize, &str, &[u8]) -> SinkAnswer + Send + Sync + 'static,
    ) -> ScriptedSink {
        ScriptedSink {
            script: Box::new(script),
            received: Mutex::new(Vec::new()),
        }
    }

    /// A merchant that acknowledges everything.
    pub fn acknowledging() -> ScriptedSink {
        ScriptedSink::new(|_, _, _| Ok((200, cashier_adapters::notify::ack::ACK_SUCCESS.to_vec())))
    }

    /// A merchant that never acknowledges (answers FAIL).
    pub fn refusing() -> ScriptedSink {
        ScriptedSink::new(|_, _, _| Ok((200, cashier_adapters::notify::ack::ack_failure("busy"))))
    }

    /// Every delivery received, in order.
    pub fn received(&self) -> Vec<(String, Vec<u8>)> {
        self.received
            .lock()
            .map(|received| received.clone())
            .unwrap_or_default()
    }
}

impl NotificationSink for ScriptedSink {
    fn deliver<'a>(
        &'a self,
        url: &'a str,
        body: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = SinkAnswer> + Send + 'a>> {
        let number = match self.received.lock() {
            Ok(mut received) => {
                received.push((url.to_owned(), body.clone()));
                received.len()
            }
            Err(_) => 0,
        };
        let answer = (self.script)(number, url, &body);
        Box::pin(async move { answer })
    }
}

/// Delivers notifications over HTTP (POST, `text/xml`), as WeChat does. Only loopback
/// addresses are delivered to unless [`HttpSink::allow_remote`] is set: a simulator must never
/// send a test notification to a real host named in some `notify_url`.
#[derive(Clone)]
pub struct HttpSink {
    client: reqwest::Client,
    allow_remote: bool,
}

impl HttpSink {
    /// A sink with WeChat's 5-second deadline, delivering to loopback addresses only.
    pub fn new() -> Result<HttpSink, String> {
        reqwest::Client::builder()
            .timeout(std::time::Duration::from_millis(
                crate::notifications::ACK_DEADLINE_MS,
            ))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map(|client| HttpSink {
                client,
                allow_remote: false,
            })
            .map_err(|error| error.to_string())
    }

    /// Also delivers to hosts that are not loopback addresses.
    pub fn allow_remote(mut self) -> HttpSink {
        self.allow_remote = true;
        self
    }
}

/// True when `url` names `localhost` or a loopback IP address.
pub fn is_loopback_url(url: &str) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    match parsed.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    }
}

impl NotificationSink for HttpSink {
    fn deliver<'a>(
        &'a self,
        url: &'a str,
        body: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = SinkAnswer> + Send + 'a>> {
        Box::pin(async move {
            if !self.allow_remote && !is_loopback_url(url) {
                return Err(format!("not delivered: {url} is not a loopback address"));
            }
            let response = self
                .client
                .post(url)
                .header("Content-Type", "text/xml")
                .body(body)
                .send()
                .await
                .map_err(|error| error.to_string())?;
            let status = response.status().as_u16();
            let body = response.bytes().await.map_err(|error| error.to_string())?;
            Ok((status, body.to_vec()))
        })
    }
}
