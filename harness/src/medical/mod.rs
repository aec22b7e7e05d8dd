//! The 医保 (medical insurance) side of the simulator: Tencent's userQuery, the NHSA
//! mobile-payment centre, and WeChat's payinsurance endpoints, on the same seeded core and
//! lock as the v2 side. Insured payers are configured with a fund ratio, a deductible and a
//! personal-account balance, so the split of every pre-settlement is computed, not scripted,
//! and balances move with payments and refunds.
//!
//! - `auth.rs`: authorisation codes (the auth mini program's `authCode`) and userQuery.
//! - `centre.rs`: NHSA 6201 / 6203 / 6301 / 6401 behind the SM4/SM2 envelope.
//! - `payinsurance.rs`: WeChat's payinsurance order, query, refund, close; the payer's
//!   confirmation in the 医保 pay mini program, and the notification.
//!
//! Simulator choices where the sources are silent are listed in ARCHITECTURE.md.

mod auth;
mod centre;
mod payinsurance;

pub use payinsurance::{MedicalOrder, MedicalPayerAction};

use std::collections::BTreeMap;

use cashier_adapters::medical::nhsa::Split;
use cashier_adapters::AmountFen;
use serde::{Deserialize, Serialize};

use crate::config::SimConfig;
use crate::faults::Fault;
use crate::simulator::SimRequest;
use crate::state::{SimResponse, SimState};

/// A payer who is insured: identified by unionid (the person), with their insurance terms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsuredPayer {
    /// The payer's unionid (see `payers`).
    pub unionid: String,
    /// The name userQuery reports (masked by Tencent).
    pub name: String,
    /// Percent of the amount above the deductible that the pooled fund pays.
    pub fund_ratio_percent: u8,
    /// What the patient pays before the fund pays anything (per simulator run).
    pub deductible_fen: u64,
    /// The personal account's balance at start.
    pub account_balance_fen: u64,
    /// `cityId`.
    pub city_id: String,
    /// "longitude,latitude" userQuery reports.
    pub location: String,
}

/// The 医保 world: credentials of the parties and the insured payers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MedicalConfig {
    /// The hospital's NHSA `appId`.
    pub nhsa_app_id: String,
    /// Its `appSecret` (test data only).
    pub nhsa_app_secret: String,
    /// The hospital's SM2 public key (hex SEC1), which signs its requests.
    pub hospital_public_key: String,
    /// The centre's SM2 private key (hex), which signs its replies (test data only).
    pub platform_private_key: String,
    /// Tencent's `partnerId` for userQuery.
    pub partner_id: String,
    /// Its secret (test data only).
    pub partner_secret: String,
    /// The `access_token` payinsurance calls must carry.
    pub access_token: String,
    /// The 医保 pay mini program's appid (`pay_appid`).
    pub pay_appid: String,
    /// Insured payers.
    pub insured: Vec<InsuredPayer>,
    /// The centre's keys, parsed at the first request and shared by every clone of this
    /// configuration (not data: never serialized, never compared).
    #[serde(skip)]
    pub(crate) centre_keys: centre::CentreKeysCache,
}

/// An NHSA order (6201's pre-settlement) as the centre keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NhsaOrder {
    /// `payOrdId`.
    pub pay_ord_id: String,
    /// `payToken`.
    pub pay_token: String,
    /// `medOrgOrd`.
    pub med_org_ord: String,
    /// The insured person.
    pub unionid: String,
    /// The pre-settled split.
    pub split: Split,
    /// `ordStas` (0–17).
    pub status: u8,
    /// The part of the total the deductible took (used up when the order settles).
    pub deductible_applied: u64,
    /// What was refunded so far, by part.
    pub refunded: Split,
}

/// A copy of the 医保 side's books, for checks after a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MedicalLedger {
    /// payOrdId → NHSA order.
    pub nhsa_orders: BTreeMap<String, NhsaOrder>,
    /// med_trans_id → payinsurance order.
    pub orders: BTreeMap<String, payinsurance::MedicalOrder>,
    /// unionid → personal-account balance.
    pub balances: BTreeMap<String, u64>,
}

/// The 医保 part of the simulator's state.
#[derive(Clone, Debug, Default)]
pub(crate) struct MedicalState {
    /// authCode → (openid, issued at, used).
    pub(crate) auth_codes: BTreeMap<String, (String, i64, bool)>,
    /// payAuthNo → (unionid, issued at, used by a 6201).
    pub(crate) pay_auth_nos: BTreeMap<String, (String, i64, bool)>,
    /// payOrdId → order.
    pub(crate) nhsa_orders: BTreeMap<String, NhsaOrder>,
    /// unionid → personal-account balance.
    pub(crate) balances: BTreeMap<String, u64>,
    /// unionid → deductible already used.
    pub(crate) deductible_used: BTreeMap<String, u64>,
    /// Refund numbers already applied (`appRefdSn`), for idempotency.
    pub(crate) refunds: BTreeMap<String, Split>,
    /// med_trans_id → payinsurance order.
    pub(crate) orders: BTreeMap<String, MedicalOrder>,
    /// (mch_id, hosp_out_trade_no) → med_trans_id: lookups by the hospital's number in
    /// O(log n).
    pub(crate) by_hosp_number: BTreeMap<(String, String), String>,
    /// (mch_id, hosp_out_refund_no) → med_trans_id.
    pub(crate) by_refund_number: BTreeMap<(String, String), String>,
}

/// How long an authCode and a payAuthNo live (the sources say "minutes").
pub(crate) const AUTH_LIFETIME_MS: i64 = 5 * 60_000;

/// The split of `total` for a payer: the deductible first (cash), then the fund's ratio of the
/// rest, then the personal account up to its balance; the patient pays what is left in cash.
pub fn split_for(
    payer: &InsuredPayer,
    deductible_left_fen: u64,
    balance_fen: u64,
    total: AmountFen,
) -> Split {
    let total_fen = total.fen();
    let deductible = total_fen.min(deductible_left_fen);
    let fund = (total_fen - deductible) * u64::from(payer.fund_ratio_percent.min(100)) / 100;
    let account = (total_fen - fund).min(balance_fen);
    let cash = total_fen - fund - account;
    Split {
        total,
        fund: AmountFen::from_fen(fund),
        account: AmountFen::from_fen(account),
        cash: AmountFen::from_fen(cash),
    }
}

/// A JSON reply.
pub(crate) fn json_reply(status: u16, body: &serde_json::Value) -> SimResponse {
    SimResponse::Reply {
        status,
        content_type: "application/json",
        body: body.to_string().into_bytes(),
        delay_ms: 0,
    }
}

/// The unionid of a payer's openid (under any app).
pub(crate) fn unionid_of(config: &SimConfig, openid: &str) -> Option<String> {
    config
        .payers
        .iter()
        .find(|payer| payer.openids.values().any(|known| known == openid))
        .map(|payer| payer.unionid.clone())
}

/// The fault target of a 医保 path (`userquery`, `nhsa_6201`, `payinsurance_refund`, ...).
fn fault_target(path: &str) -> String {
    let nhsa = [
        ("uldFeeInfo", "6201"),
        ("refund_Order", "6203"),
        ("query_order_info", "6301"),
        ("revoke_order", "6401"),
    ];
    if let Some(operation) = path.strip_prefix("/org/local/api/hos/") {
        let code = nhsa
            .iter()
            .find(|(name, _)| *name == operation)
            .map_or("nhsa", |(_, code)| code);
        return format!("nhsa_{code}");
    }
    if let Some(operation) = path.strip_prefix("/payinsurance/") {
        return format!("payinsurance_{}", operation.split('?').next().unwrap_or(""));
    }
    "userquery".into()
}

/// The fault for this call: a rule on the exact target, else one on every NHSA call, else `*`.
fn fault_for(state: &mut SimState, target: &str) -> Option<Fault> {
    let fault = state.faults.endpoint_fault(target, &mut state.rng);
    if fault.is_none() && target.starts_with("nhsa_") {
        return state.faults.endpoint_fault("nhsa", &mut state.rng);
    }
    fault
}

/// Handles a request on a 医保 path (None for any other path; 404 when the world has no 医保).
pub(crate) fn handle(
    state: &mut SimState,
    config: &SimConfig,
    request: &SimRequest,
    now_ms: i64,
) -> Option<SimResponse> {
    let medical_path = [
        "/api/mipuserquery/",
        "/org/local/api/hos/",
        "/payinsurance/",
    ]
    .iter()
    .any(|prefix| request.path.starts_with(prefix));
    if !medical_path {
        return None;
    }
    let Some(medical) = &config.medical else {
        return Some(json_reply(
            404,
            &serde_json::json!({ "code": 404, "message": "no 医保 in this world" }),
        ));
    };
    let fault = fault_for(state, &fault_target(&request.path));
    let response = match &fault {
        Some(Fault::ConnectionReset) => return Some(SimResponse::ConnectionReset),
        Some(Fault::Http5xx { status }) => {
            return Some(json_reply(
                *status,
                &serde_json::json!({ "message": "Bad Gateway" }),
            ))
        }
        Some(Fault::SystemError) if !request.path.starts_with("/payinsurance/") => {
            return Some(json_reply(
                200,
                &serde_json::json!({ "code": cashier_adapters::medical::nhsa::SYSTEM_BUSY, "message": "系统繁忙，请稍后再试" }),
            ))
        }
        _ => route(state, config, medical, request, now_ms, fault.as_ref()),
    };
    Some(response.after_fault(fault.as_ref()))
}

fn route(
    state: &mut SimState,
    config: &SimConfig,
    medical: &MedicalConfig,
    request: &SimRequest,
    now_ms: i64,
    fault: Option<&Fault>,
) -> SimResponse {
    if request.path.starts_with("/api/mipuserquery/userQuery/") {
        return auth::user_query(state, config, medical, request, now_ms);
    }
    if let Some(operation) = request.path.strip_prefix("/payinsurance/") {
        return payinsurance::handle(state, config, medical, operation, &request.body, fault);
    }
    let operation = request.path.trim_start_matches("/org/local/api/hos/");
    centre::handle(state, medical, operation, &request.body, now_ms)
}

/// Issues an authCode for a payer who authorised in the auth mini program.
pub(crate) fn authorize(state: &mut SimState, openid: &str, now_ms: i64) -> String {
    auth::issue_auth_code(state, openid, now_ms)
}

/// The payer acts in the 医保 pay mini program.
pub(crate) fn payer_acts(
    state: &mut SimState,
    config: &SimConfig,
    med_trans_id: &str,
    action: MedicalPayerAction,
    now_ms: i64,
) -> Result<(), String> {
    payinsurance::payer_acts(state, config, med_trans_id, action, now_ms)
}
