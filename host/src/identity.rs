//! Who the payer is. Each app (official account, mini program) knows the payer by its own
//! openid; the unionid is the person across apps (坑3). Logins exchange a WeChat code for the
//! openid (and unionid): `/sns/oauth2/access_token` for the official account's web login,
//! `/sns/jscode2session` for the mini program's `wx.login`. The binding openid-per-app ↔
//! unionid is kept durably, so an order made in one app shows in the other.
//!
//! The H5 site's session is a signed cookie (HMAC-SHA256 over its JSON, compared in constant
//! time), never an openid in a URL. Inside the mini program's web-view the page has no WeChat
//! login of its own: the mini program logs in, gets a one-time ticket (random, 60 s, single
//! use) and opens the web-view with it; the page trades it for the cookie.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use cashier_adapters::{HttpRequest, OpenId, Transport};
use cashier_engine::model::UnionId;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::ApiError;

/// How long a web-view login ticket lives.
pub const TICKET_LIFETIME_MS: i64 = 60_000;

/// How long a session lives.
pub const SESSION_LIFETIME_S: i64 = 7 * 24 * 3600;

/// A logged-in payer, as the session cookie carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The app (configured entry name) the payer logged in through.
    pub app: String,
    /// The payer's openid in that app.
    pub openid: OpenId,
    /// The person, when the app is bound to the open platform.
    pub unionid: Option<UnionId>,
    /// When the session ends (Unix seconds).
    pub expires_s: i64,
}

/// Signs and checks session cookies.
pub struct SessionKeys {
    secret: Vec<u8>,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SessionKeys(***)")
    }
}

fn mac(secret: &[u8], payload: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
    mac.update(payload);
    Some(mac)
}

impl SessionKeys {
    /// Keys from a secret of at least 32 bytes.
    pub fn new(secret: &[u8]) -> Result<SessionKeys, String> {
        if secret.len() < 32 {
            return Err("the session secret needs at least 32 bytes".into());
        }
        Ok(SessionKeys {
            secret: secret.to_vec(),
        })
    }

    /// The cookie value of a session: base64url(JSON) `.` base64url(HMAC).
    pub fn seal(&self, session: &Session) -> String {
        let payload = serde_json::to_vec(session).unwrap_or_default();
        let tag = mac(&self.secret, &payload)
            .map(|mac| mac.finalize().into_bytes().to_vec())
            .unwrap_or_default();
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!("{}.{}", engine.encode(payload), engine.encode(tag))
    }

    /// The session a cookie value carries, if it is ours and not expired.
    pub fn open(&self, value: &str, now_s: i64) -> Option<Session> {
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (payload, tag) = value.split_once('.')?;
        let payload = engine.decode(payload).ok()?;
        let tag = engine.decode(tag).ok()?;
        mac(&self.secret, &payload)?.verify_slice(&tag).ok()?;
        let session: Session = serde_json::from_slice(&payload).ok()?;
        (session.expires_s > now_s).then_some(session)
    }
}

/// An app payers log in through.
#[derive(Clone)]
pub struct LoginApp {
    /// The configured entry name (`official_account`, `mini_program`).
    pub name: String,
    /// Its appid.
    pub appid: String,
    /// Its app secret (sent to WeChat's login endpoints, which take it in the query string).
    pub secret: String,
    /// True for a mini program (`jscode2session`), false for an official account (OAuth2).
    pub mini_program: bool,
}

impl std::fmt::Debug for LoginApp {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "LoginApp({}, {}, ***)", self.name, self.appid)
    }
}

impl LoginApp {
    /// The login app of a configured official-account or mini-program entry, with the app
    /// secret its configuration names (`app_secret`); `None` for other kinds or without one.
    pub fn from_entry(entry: &cashier_engine::config::EntryConfig) -> Option<LoginApp> {
        use cashier_engine::config::EntryKind;
        let mini_program = match entry.kind {
            EntryKind::OfficialAccount => false,
            EntryKind::MiniProgram => true,
            _ => return None,
        };
        Some(LoginApp {
            name: entry.name.to_string(),
            appid: entry.sub_appid.as_ref().unwrap_or(&entry.appid).to_string(),
            secret: entry.app_secret.as_ref()?.expose().to_owned(),
            mini_program,
        })
    }
}

/// What a WeChat login answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedIn {
    /// The openid in the app.
    pub openid: OpenId,
    /// The unionid, when WeChat gave one.
    pub unionid: Option<UnionId>,
}

#[derive(Deserialize)]
struct LoginReply {
    #[serde(default)]
    openid: Option<String>,
    #[serde(default)]
    unionid: Option<String>,
    #[serde(default)]
    errcode: Option<i64>,
    #[serde(default)]
    errmsg: Option<String>,
}

fn login_error(code: i64, message: &str) -> ApiError {
    let (api_code, zh) = match code {
        40029 => ("invalid_code", "登录凭证无效"),
        40163 => ("code_used", "登录凭证已被使用"),
        40125 => ("bad_app_secret", "应用密钥配置错误"),
        _ => ("login_failed", "微信登录失败"),
    };
    let status = if code == 40125 { 500 } else { 401 };
    ApiError::new(
        status,
        api_code,
        zh,
        format!("WeChat login: {code} {message}"),
    )
}

/// Exchanges a login code with WeChat (`base` is `https://api.weixin.qq.com` or the simulator).
pub async fn exchange_code(
    transport: &dyn Transport,
    base: &str,
    app: &LoginApp,
    code: &str,
) -> Result<LoggedIn, ApiError> {
    let valid_code = !code.is_empty()
        && code.len() <= 128
        && code
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-');
    if !valid_code {
        return Err(login_error(40029, "invalid code"));
    }
    let path = if app.mini_program {
        format!(
            "/sns/jscode2session?appid={}&secret={}&js_code={code}&grant_type=authorization_code",
            app.appid, app.secret
        )
    } else {
        format!(
            "/sns/oauth2/access_token?appid={}&secret={}&code={code}&grant_type=authorization_code",
            app.appid, app.secret
        )
    };
    let request = HttpRequest {
        method: "GET",
        url: format!("{}{path}", base.trim_end_matches('/')),
        path,
        headers: Vec::new(),
        body: Vec::new(),
        needs_client_certificate: false,
    };
    let unavailable = || {
        ApiError::new(
            503,
            "login_unavailable",
            "微信登录暂不可用",
            "WeChat login is unavailable, try again",
        )
    };
    let response = transport.send(request).await.map_err(|_| unavailable())?;
    if response.status != 200 {
        return Err(unavailable());
    }
    let reply: LoginReply = serde_json::from_slice(&response.body).map_err(|_| unavailable())?;
    if let Some(code) = reply.errcode.filter(|code| *code != 0) {
        return Err(login_error(code, reply.errmsg.as_deref().unwrap_or("")));
    }
    let openid = reply
        .openid
        .and_then(|openid| OpenId::new(openid).ok())
        .ok_or_else(unavailable)?;
    let unionid = reply.unionid.and_then(|unionid| UnionId::new(unionid).ok());
    Ok(LoggedIn { openid, unionid })
}

/// The durable openid-per-app ↔ unionid bindings, and the web-view tickets.
pub struct Identities {
    bindings: sled::Tree,
    db: sled::Db,
    tickets: Mutex<HashMap<String, (Session, i64)>>,
}

impl Identities {
    /// Opens (or creates) the bindings in `dir`.
    pub fn open(dir: &std::path::Path) -> Result<Identities, String> {
        let db = sled::Config::new()
            .path(dir)
            .open()
            .map_err(|error| error.to_string())?;
        let bindings = db
            .open_tree("bindings")
            .map_err(|error| error.to_string())?;
        Ok(Identities {
            bindings,
            db,
            tickets: Mutex::new(HashMap::new()),
        })
    }

    /// Another tree of the same store (the host's order owners).
    pub fn tree(&self, name: &str) -> Result<sled::Tree, String> {
        self.db.open_tree(name).map_err(|error| error.to_string())
    }

    /// Records that `openid` in `app` is `unionid` (or that no unionid is known), durably; a
    /// binding learnt earlier is kept when WeChat gives none this time.
    pub fn bind(&self, app: &str, logged_in: &LoggedIn) -> Result<Option<UnionId>, ApiError> {
        let key = format!("{app}\0{}", logged_in.openid);
        let store = |error: sled::Error| {
            tracing::error!(%error, "identity store");
            ApiError::new(
                503,
                "try_again",
                "系统繁忙，请稍后重试",
                "busy, try again shortly",
            )
        };
        let known = self
            .bindings
            .get(key.as_bytes())
            .map_err(store)?
            .and_then(|bytes| UnionId::new(String::from_utf8_lossy(&bytes).into_owned()).ok());
        let unionid = logged_in.unionid.clone().or(known);
        if let Some(unionid) = &unionid {
            self.bindings
                .insert(key.as_bytes(), unionid.as_str().as_bytes())
                .map_err(store)?;
            self.db.flush().map_err(store)?;
        }
        Ok(unionid)
    }

    /// A one-time ticket for `session` (the mini program opens the web-view with it).
    pub fn issue_ticket(&self, session: Session, ticket: String, now_ms: i64) -> String {
        if let Ok(mut tickets) = self.tickets.lock() {
            tickets.retain(|_, (_, issued_ms)| now_ms - *issued_ms < TICKET_LIFETIME_MS);
            tickets.insert(ticket.clone(), (session, now_ms));
        }
        ticket
    }

    /// The session of a ticket, once: a used, expired or unknown ticket is refused.
    pub fn redeem_ticket(&self, ticket: &str, now_ms: i64) -> Option<Session> {
        let mut tickets = self.tickets.lock().ok()?;
        let (session, issued_ms) = tickets.remove(ticket)?;
        (now_ms - issued_ms < TICKET_LIFETIME_MS).then_some(session)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn session(expires_s: i64) -> Session {
        Session {
            app: "official_account".into(),
            openid: OpenId::new("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o").unwrap(),
            unionid: Some(UnionId::new("o6_bmasdasdsad6_2sgVt7hMZOPfL").unwrap()),
            expires_s,
        }
    }

    #[test]
    fn a_session_cookie_opens_only_unaltered_unexpired_and_with_our_key() {
        let keys = SessionKeys::new(b"0123456789abcdef0123456789abcdef").unwrap();
        let sealed = keys.seal(&session(2_000));
        assert_eq!(keys.open(&sealed, 1_000), Some(session(2_000)));
        assert_eq!(keys.open(&sealed, 2_000), None, "expired");
        let other = SessionKeys::new(b"another-secret-another-secret-xx").unwrap();
        assert_eq!(other.open(&sealed, 1_000), None, "another key");
        let (payload, tag) = sealed.split_once('.').unwrap();
        let mut forged = payload.to_owned();
        forged.replace_range(0..1, if payload.starts_with('e') { "f" } else { "e" });
        assert_eq!(
            keys.open(&format!("{forged}.{tag}"), 1_000),
            None,
            "altered"
        );
        assert!(SessionKeys::new(b"short").is_err());
        assert!(!format!("{keys:?}").contains("0123456789"));
    }

    #[test]
    fn a_ticket_is_redeemed_once_and_only_within_its_minute() {
        let dir = tempfile::tempdir().unwrap();
        let identities = Identities::open(dir.path()).unwrap();
        identities.issue_ticket(session(9_999), "T1".into(), 0);
        assert!(identities.redeem_ticket("T1", 1_000).is_some());
        assert!(identities.redeem_ticket("T1", 1_000).is_none(), "once");
        identities.issue_ticket(session(9_999), "T2".into(), 0);
        assert!(
            identities.redeem_ticket("T2", TICKET_LIFETIME_MS).is_none(),
            "expired"
        );
    }

    #[test]
    fn a_binding_learnt_once_is_kept_when_wechat_later_gives_no_unionid() {
        let dir = tempfile::tempdir().unwrap();
        let identities = Identities::open(dir.path()).unwrap();
        let openid = OpenId::new("oMiniPayer0000000000000001").unwrap();
        let unionid = UnionId::new("o6_bmasdasdsad6_2sgVt7hMZOPfL").unwrap();
        let with = LoggedIn {
            openid: openid.clone(),
            unionid: Some(unionid.clone()),
        };
        assert_eq!(
            identities.bind("mini_program", &with).unwrap(),
            Some(unionid.clone())
        );
        drop(identities);
        let reopened = Identities::open(dir.path()).unwrap();
        let without = LoggedIn {
            openid,
            unionid: None,
        };
        assert_eq!(
            reopened.bind("mini_program", &without).unwrap(),
            Some(unionid),
            "durable"
        );
    }
}
