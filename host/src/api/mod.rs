//! The framework-free core: [`HostCore::handle`] takes a [`HostRequest`] and answers a
//! [`HostResponse`]; the axum and actix-web adapters only convert. Routes:
//!
//! - `POST /notify/pay`, `/notify/refund`, `/notify/medical`: WeChat's notifications, answered
//!   with the engine's exact acknowledgement bytes once durable (`notify.rs`).
//! - `POST /api/login/oauth`, `/api/login/mini`, `/api/login/ticket`, `GET /api/me`: payer
//!   identity (`login.rs`).
//! - `GET|POST /api/orders`, `GET /api/orders/{no}` (long-poll with `wait_ms` and `since`),
//!   `POST /api/orders/{no}/pay`, `/medical`, `/client-result`, and the staff refund
//!   `POST /api/staff/orders/{no}/refund` (`orders.rs`).
//!
//! CSRF: no GET changes anything; every state-changing API call must be `application/json`
//! (a cross-site form cannot send it without a preflight) and carries a `SameSite=Lax`,
//! `HttpOnly` session cookie.

mod login;
mod notify;
mod orders;

use std::sync::Arc;

use cashier_adapters::{ChaChaNonceSource, NonceSource, Transport};
use cashier_engine::clock::Clock;
use cashier_engine::Engine;
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::http::{HostRequest, HostResponse, MAX_BODY_BYTES};
use crate::identity::{Identities, LoginApp, Session, SessionKeys};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "cashier_session";

/// What the host layer needs besides the engine.
pub struct HostConfig {
    /// Signs session cookies (at least 32 bytes; from the host's secret store).
    pub session_secret: Vec<u8>,
    /// The staff credential refunds need (`Authorization: Bearer …`).
    pub staff_token: String,
    /// The apps payers log in through, with their app secrets.
    pub login_apps: Vec<LoginApp>,
    /// Where WeChat's login endpoints are (`https://api.weixin.qq.com`, or the simulator).
    pub wechat_api_base: String,
    /// `Secure` on cookies (true behind HTTPS).
    pub secure_cookies: bool,
    /// Where the openid ↔ unionid bindings and order owners are kept.
    pub data_dir: std::path::PathBuf,
    /// What the payer can buy, by item id: (name, price in fen). The client never sets a price.
    pub catalogue: Vec<(String, String, u64)>,
}

impl std::fmt::Debug for HostConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("HostConfig")
            .field("login_apps", &self.login_apps)
            .field("wechat_api_base", &self.wechat_api_base)
            .field("secure_cookies", &self.secure_cookies)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

/// The host layer's core, shared by every adapter.
pub struct HostCore {
    engine: Engine,
    config: HostConfig,
    keys: SessionKeys,
    identities: Identities,
    owners: sled::Tree,
    login_transport: Arc<dyn Transport>,
    clock: Arc<dyn Clock>,
    nonces: ChaChaNonceSource,
}

impl HostCore {
    /// The core over `engine`; WeChat's login endpoints are called through `login_transport`.
    pub fn new(
        engine: Engine,
        config: HostConfig,
        login_transport: Arc<dyn Transport>,
        clock: Arc<dyn Clock>,
    ) -> Result<HostCore, String> {
        let keys = SessionKeys::new(&config.session_secret)?;
        let identities = Identities::open(&config.data_dir)?;
        let owners = identities.tree("owners")?;
        Ok(HostCore {
            engine,
            config,
            keys,
            identities,
            owners,
            login_transport,
            clock,
            nonces: ChaChaNonceSource::from_entropy(),
        })
    }

    /// The engine behind it.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Answers one request; never panics, never leaks an internal error's text.
    pub async fn handle(&self, request: HostRequest) -> HostResponse {
        if request.body.len() > MAX_BODY_BYTES {
            return ApiError::too_large().response();
        }
        let path = request.path.clone();
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let result = match (request.method.as_str(), segments.as_slice()) {
            ("POST", ["notify", kind]) => return self.notify(kind, &request.body).await,
            ("GET", ["api", "me"]) => self.me(&request),
            ("POST", ["api", "login", kind]) => self.login(kind, &request).await,
            ("GET", ["api", "catalogue"]) => Ok(self.catalogue()),
            ("GET", ["api", "orders"]) => self.my_orders(&request).await,
            ("POST", ["api", "orders"]) => self.create_order(&request).await,
            ("GET", ["api", "orders", order_no]) => self.order_status(&request, order_no).await,
            ("POST", ["api", "orders", order_no, action]) => {
                self.order_action(&request, order_no, action).await
            }
            ("POST", ["api", "staff", "orders", order_no, "refund"]) => {
                self.staff_refund(&request, order_no).await
            }
            (_, ["api", ..]) | (_, ["notify", ..]) => Err(ApiError::new(
                405,
                "method_not_allowed",
                "不支持的请求方法",
                "method not allowed here",
            )),
            _ => Err(ApiError::new(404, "not_found", "页面不存在", "not found")),
        };
        result.unwrap_or_else(|error| error.response())
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The caller's session, from the signed cookie.
    fn session(&self, request: &HostRequest) -> Result<Session, ApiError> {
        request
            .cookie(SESSION_COOKIE)
            .and_then(|value| self.keys.open(value, self.now_ms().div_euclid(1000)))
            .ok_or_else(ApiError::not_logged_in)
    }

    /// A state-changing call must be JSON (CSRF: a cross-site form cannot send it).
    fn json_body<T: serde::de::DeserializeOwned>(request: &HostRequest) -> Result<T, ApiError> {
        let json = request
            .header("content-type")
            .is_some_and(|value| value.trim_start().starts_with("application/json"));
        if !json {
            return Err(ApiError::new(
                415,
                "json_required",
                "请求须为 JSON",
                "the body must be application/json",
            ));
        }
        serde_json::from_slice(&request.body)
            .map_err(|error| ApiError::bad_request(format!("body: {error}")))
    }

    /// Staff calls carry the staff token (compared in constant time).
    fn require_staff(&self, request: &HostRequest) -> Result<(), ApiError> {
        let given = request
            .header("authorization")
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or("");
        let expected = self.config.staff_token.as_bytes();
        if expected.is_empty() || !bool::from(given.as_bytes().ct_eq(expected)) {
            return Err(ApiError::new(
                403,
                "staff_only",
                "需要工作人员凭证",
                "staff credential required",
            ));
        }
        Ok(())
    }

    fn session_cookie(&self, session: &Session) -> String {
        let secure = if self.config.secure_cookies {
            "; Secure"
        } else {
            ""
        };
        format!(
            "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            self.keys.seal(session),
            crate::identity::SESSION_LIFETIME_S
        )
    }

    fn random_token(&self) -> String {
        format!(
            "{}{}",
            self.nonces.next_nonce().as_str(),
            self.nonces.next_nonce().as_str()
        )
    }
}
