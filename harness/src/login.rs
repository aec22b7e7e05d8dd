//! WeChat's login endpoints on the simulator: `/sns/oauth2/access_token` (an official account's
//! web login, `code` from the OAuth2 redirect) and `/sns/jscode2session` (a mini program's
//! `wx.login`), answering the payer's openid in that app and their unionid. Codes come from the
//! control API (a payer logs in through an app → a code), live 5 minutes and are single-use;
//! WeChat's error codes: 40029 invalid code, 40163 code used, 40125 invalid app secret.

use crate::config::SimConfig;
use crate::medical::json_reply;
use crate::simulator::SimRequest;
use crate::state::{SimResponse, SimState};

/// How long a login code lives (WeChat: 5 minutes).
const CODE_LIFETIME_MS: i64 = 5 * 60_000;

fn error(code: i64, message: &str) -> SimResponse {
    json_reply(
        200,
        &serde_json::json!({ "errcode": code, "errmsg": message }),
    )
}

fn query<'q>(path: &'q str, name: &str) -> Option<&'q str> {
    path.split_once('?')?
        .1
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A code for the payer `openid` logging in through `appid`, or why not.
pub(crate) fn issue(
    state: &mut SimState,
    config: &SimConfig,
    appid: &str,
    openid: &str,
    now_ms: i64,
) -> Result<String, String> {
    let known = config.payers.iter().any(|payer| {
        payer
            .openids
            .get(appid)
            .is_some_and(|known| known == openid)
    });
    if !known {
        return Err(format!("no payer {openid} in app {appid}"));
    }
    let code = format!("LC{}", state.nonce());
    state.login_codes.insert(
        code.clone(),
        (appid.to_owned(), openid.to_owned(), now_ms, false),
    );
    Ok(code)
}

/// Handles `/sns/...` (None for any other path).
pub(crate) fn handle(
    state: &mut SimState,
    config: &SimConfig,
    request: &SimRequest,
    now_ms: i64,
) -> Option<SimResponse> {
    let path = request.path.as_str();
    let mini_program = if path.starts_with("/sns/jscode2session") {
        true
    } else if path.starts_with("/sns/oauth2/access_token") {
        false
    } else {
        return None;
    };
    let appid = query(path, "appid").unwrap_or("");
    let secret = query(path, "secret").unwrap_or("");
    let code = query(path, if mini_program { "js_code" } else { "code" }).unwrap_or("");
    let app = config
        .merchants
        .iter()
        .flat_map(|merchant| merchant.apps.iter())
        .find(|app| app.appid == appid);
    let secret_ok = app
        .and_then(|app| app.secret.as_deref())
        .is_some_and(|known| known == secret);
    if !secret_ok {
        return Some(error(40125, "invalid appsecret"));
    }
    let Some((code_app, openid, issued_ms, used)) = state.login_codes.get(code).cloned() else {
        return Some(error(40029, "invalid code"));
    };
    if code_app != appid || now_ms > issued_ms + CODE_LIFETIME_MS {
        return Some(error(40029, "invalid code"));
    }
    if used {
        return Some(error(40163, "code been used"));
    }
    if let Some(entry) = state.login_codes.get_mut(code) {
        entry.3 = true;
    }
    let unionid = crate::medical::unionid_of(config, &openid);
    let mut reply = serde_json::json!({ "openid": openid });
    if let Some(unionid) = unionid {
        reply["unionid"] = serde_json::json!(unionid);
    }
    if mini_program {
        reply["session_key"] = serde_json::json!(format!("SK{}", state.nonce()));
    } else {
        reply["access_token"] = serde_json::json!(format!("AT{}", state.nonce()));
        reply["expires_in"] = serde_json::json!(7200);
        reply["scope"] = serde_json::json!("snsapi_userinfo");
    }
    Some(json_reply(200, &reply))
}
