//! The payer's 医保电子凭证 authorisation (yibao-pay.md §3): the auth mini program hands the
//! payer's client an `authCode` (here: the control call `authorize`), and userQuery exchanges it,
//! once and within five minutes, for a single-use `payAuthNo` with the payer's location.
//! userQuery checks `god-portal-signature` (HMAC-SHA256 of partnerId ‖ timestamp) first.

use cashier_adapters::medical::user_query::PartnerCredentials;
use serde_json::{json, Value};

use crate::config::SimConfig;
use crate::medical::{json_reply, unionid_of, MedicalConfig, AUTH_LIFETIME_MS};
use crate::simulator::SimRequest;
use crate::state::{SimResponse, SimState};

fn refuse(code: i64, message: &str) -> SimResponse {
    json_reply(200, &json!({ "code": code, "message": message }))
}

fn header<'a>(request: &'a SimRequest, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// Issues an authCode for a payer who authorised in the auth mini program (by openid).
pub(crate) fn issue_auth_code(state: &mut SimState, openid: &str, now_ms: i64) -> String {
    let code = format!("AC{}", state.nonce());
    state
        .medical
        .auth_codes
        .insert(code.clone(), (openid.to_owned(), now_ms, false));
    code
}

pub(crate) fn user_query(
    state: &mut SimState,
    world: &SimConfig,
    config: &MedicalConfig,
    request: &SimRequest,
    now_ms: i64,
) -> SimResponse {
    let partner = PartnerCredentials::new(config.partner_id.clone(), config.partner_secret.clone());
    let timestamp =
        header(request, "god-portal-timestamp").and_then(|text| text.parse::<i64>().ok());
    let signature = header(request, "god-portal-signature").unwrap_or("");
    let path_partner = request.path.rsplit('/').next().unwrap_or("");
    match timestamp {
        Some(timestamp)
            if path_partner == config.partner_id && partner.verify(timestamp, signature) => {}
        _ => return refuse(40001, "signature check failed"),
    }
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let (Some(code), Some(openid)) = (body["qrcode"].as_str(), body["openid"].as_str()) else {
        return refuse(40035, "qrcode and openid are required");
    };
    let Some((owner, issued_ms, used)) = state.medical.auth_codes.get(code).cloned() else {
        return refuse(40029, "invalid code");
    };
    if used {
        return refuse(40163, "code been used");
    }
    if now_ms > issued_ms + AUTH_LIFETIME_MS || owner != openid {
        return refuse(40029, "invalid code");
    }
    if let Some(entry) = state.medical.auth_codes.get_mut(code) {
        entry.2 = true;
    }
    payer_answer(state, world, config, openid, now_ms)
}

fn payer_answer(
    state: &mut SimState,
    world: &SimConfig,
    config: &MedicalConfig,
    openid: &str,
    now_ms: i64,
) -> SimResponse {
    let unionid = unionid_of(world, openid);
    let Some(insured) = unionid
        .as_deref()
        .and_then(|unionid| config.insured.iter().find(|payer| payer.unionid == unionid))
    else {
        return refuse(50001, "未找到有效的医保电子凭证");
    };
    let pay_auth_no = format!("AUTH{}", state.nonce());
    state.medical.pay_auth_nos.insert(
        pay_auth_no.clone(),
        (insured.unionid.clone(), now_ms, false),
    );
    let (longitude, latitude) = insured.location.split_once(',').unwrap_or(("0", "0"));
    json_reply(
        200,
        &json!({
            "code": 0,
            "message": "ok",
            "data": {
                "payAuthNo": pay_auth_no,
                "userLongitudeLatitude": { "longitude": longitude, "latitude": latitude },
                "cityId": insured.city_id,
                "userName": insured.name,
            },
        }),
    )
}
