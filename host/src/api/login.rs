//! Logins: the official account's OAuth2 code (`/sns/oauth2/access_token`) sets the session
//! cookie; the mini program's `wx.login` code (`/sns/jscode2session`) gives a one-time ticket
//! the web-view page trades for the cookie. A replayed or invalid code is refused by WeChat
//! (40163, 40029) and changes nothing here.

use serde::Deserialize;

use crate::api::HostCore;
use crate::error::ApiError;
use crate::http::{HostRequest, HostResponse};
use crate::identity::{exchange_code, Session, SESSION_LIFETIME_S};

#[derive(Deserialize)]
struct CodeLogin {
    app: String,
    code: String,
}

#[derive(Deserialize)]
struct TicketLogin {
    ticket: String,
}

impl HostCore {
    pub(crate) async fn login(
        &self,
        kind: &str,
        request: &HostRequest,
    ) -> Result<HostResponse, ApiError> {
        match kind {
            "oauth" | "mini" => self.code_login(kind == "mini", request).await,
            "ticket" => self.ticket_login(request),
            _ => Err(ApiError::new(404, "not_found", "页面不存在", "not found")),
        }
    }

    async fn code_login(
        &self,
        mini_program: bool,
        request: &HostRequest,
    ) -> Result<HostResponse, ApiError> {
        let body: CodeLogin = HostCore::json_body(request)?;
        let app = self
            .config
            .login_apps
            .iter()
            .find(|app| app.name == body.app && app.mini_program == mini_program)
            .ok_or_else(|| ApiError::bad_request(format!("no such app {}", body.app)))?;
        let logged_in = exchange_code(
            self.login_transport.as_ref(),
            &self.config.wechat_api_base,
            app,
            &body.code,
        )
        .await?;
        let unionid = self.identities.bind(&app.name, &logged_in)?;
        let session = Session {
            app: app.name.clone(),
            openid: logged_in.openid,
            unionid,
            expires_s: self.now_ms().div_euclid(1000) + SESSION_LIFETIME_S,
        };
        if mini_program {
            let ticket = self
                .identities
                .issue_ticket(session, self.random_token(), self.now_ms());
            return Ok(HostResponse::json(
                200,
                &serde_json::json!({ "ticket": ticket }),
            ));
        }
        Ok(HostResponse::json(200, &session_json(&session))
            .with_header("set-cookie", self.session_cookie(&session)))
    }

    fn ticket_login(&self, request: &HostRequest) -> Result<HostResponse, ApiError> {
        let body: TicketLogin = HostCore::json_body(request)?;
        let session = self
            .identities
            .redeem_ticket(&body.ticket, self.now_ms())
            .ok_or_else(|| {
                ApiError::new(
                    401,
                    "bad_ticket",
                    "登录票据无效或已使用",
                    "the ticket is unknown, used or expired",
                )
            })?;
        Ok(HostResponse::json(200, &session_json(&session))
            .with_header("set-cookie", self.session_cookie(&session)))
    }

    pub(crate) fn me(&self, request: &HostRequest) -> Result<HostResponse, ApiError> {
        let session = self.session(request)?;
        Ok(HostResponse::json(200, &session_json(&session)))
    }
}

/// What the page may know of its session (the openid stays on the server side of the page
/// logic, but the page may show that the person is known across apps).
fn session_json(session: &Session) -> serde_json::Value {
    serde_json::json!({ "app": session.app, "person_known": session.unionid.is_some() })
}
