//! The simulated NHSA mobile-payment centre (yibao-pay.md §4): opens the hospital's SM4/SM2
//! envelope, applies the centre's rules, and seals its reply with its own key. 6201 consumes a
//! live `payAuthNo` once and pre-settles with the payer's computed split; 6301 reports `ordStas`;
//! 6203 refunds by part (ALL / CASH / HI) within what each part paid, idempotently by
//! `appRefdSn`, returning account money to the balance; 6401 revokes an unpaid order.

use cashier_adapters::medical::amount::{format_yuan, parse_yuan};
use cashier_adapters::medical::nhsa::envelope::{self, NhsaCredentials};
use cashier_adapters::medical::nhsa::Split;
use cashier_adapters::medical::sm::{Sm2PrivateKey, Sm2PublicKey};
use cashier_adapters::AmountFen;
use serde_json::{json, Value};
use std::sync::{Arc, OnceLock};

use crate::medical::{json_reply, split_for, MedicalConfig, NhsaOrder, AUTH_LIFETIME_MS};
use crate::state::{SimResponse, SimState};

/// ordStas values the simulator uses (yibao-pay.md §4.3).
pub(crate) const PRE_SETTLED: u8 = 1;
/// 6: 结算完成.
pub(crate) const SETTLED: u8 = 6;
/// 7: 已退款 (everything returned).
pub(crate) const REFUNDED: u8 = 7;
/// 8: 已医保全部退款 (the insurance parts, no cash).
pub(crate) const INSURANCE_REFUNDED: u8 = 8;
/// 9: 仅自费全部退款.
pub(crate) const CASH_REFUNDED: u8 = 9;
/// 10: 仅自费部分退款.
pub(crate) const CASH_PARTLY_REFUNDED: u8 = 10;
/// 11: 医保全部退自费部分退款.
pub(crate) const INSURANCE_AND_CASH_PARTLY_REFUNDED: u8 = 11;
/// 12: 已撤销.
pub(crate) const REVOKED: u8 = 12;

fn hex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .filter_map(|index| {
            text.get(index * 2..index * 2 + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}

/// The centre's credentials, the hospital's public key and the platform's private key.
type CentreKeys = (NhsaCredentials, Sm2PublicKey, Sm2PrivateKey);

/// The centre's keys, parsed on first use and shared by clones of the configuration: deriving
/// an SM2 public key is a scalar multiplication, which per request held the centre to about
/// 1,000 requests a second.
#[derive(Clone, Default)]
pub(crate) struct CentreKeysCache(Arc<OnceLock<Option<Arc<CentreKeys>>>>);

impl std::fmt::Debug for CentreKeysCache {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("CentreKeysCache")
    }
}

/// A cache is not part of what a configuration says.
impl PartialEq for CentreKeysCache {
    fn eq(&self, _other: &CentreKeysCache) -> bool {
        true
    }
}

impl Eq for CentreKeysCache {}

fn cached_keys(config: &MedicalConfig) -> Option<Arc<CentreKeys>> {
    config
        .centre_keys
        .0
        .get_or_init(|| keys(config).map(Arc::new))
        .clone()
}

/// The centre's view of the credentials: it verifies with the hospital's key, signs with its own.
fn keys(config: &MedicalConfig) -> Option<CentreKeys> {
    let hospital = Sm2PublicKey::from_sec1(&hex(&config.hospital_public_key)).ok()?;
    let platform = Sm2PrivateKey::from_bytes(&hex(&config.platform_private_key)).ok()?;
    // The credentials' own private key is unused on this side; the platform key stands in.
    let credentials = NhsaCredentials::new(
        config.nhsa_app_id.clone(),
        config.nhsa_app_secret.clone(),
        platform.clone(),
        platform.public_key(),
    );
    Some((credentials, hospital, platform))
}

fn refused(code: i64, message: &str) -> Value {
    json!({ "code": code, "message": message })
}

pub(crate) fn handle(
    state: &mut SimState,
    config: &MedicalConfig,
    operation: &str,
    body: &[u8],
    now_ms: i64,
) -> SimResponse {
    let Some(keys) = cached_keys(config) else {
        return json_reply(500, &refused(500, "centre keys misconfigured"));
    };
    let (credentials, hospital, platform) = &*keys;
    let envelope: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let data = match envelope::open(credentials, hospital, &envelope) {
        Ok(data) => data,
        Err(error) => return json_reply(200, &refused(1001, &format!("验签或解密失败: {error}"))),
    };
    let result = match operation {
        "uldFeeInfo" => fee_upload(state, config, &data, now_ms),
        "query_order_info" => query(state, &data),
        "refund_Order" => refund(state, &data),
        "revoke_order" => revoke(state, &data),
        _ => Err((404, "unknown transaction".to_owned())),
    };
    match result {
        Ok(reply) => json_reply(
            200,
            &envelope::seal(credentials, platform, &reply, now_ms, Some((0, "成功"))),
        ),
        Err((code, message)) => json_reply(200, &refused(code, &message)),
    }
}

type Outcome = Result<Value, (i64, String)>;

fn yuan_field(data: &Value, name: &str) -> Result<AmountFen, (i64, String)> {
    data[name]
        .as_str()
        .and_then(|text| parse_yuan(text).ok())
        .ok_or((2002, format!("{name} 金额格式错误")))
}

fn split_json(split: &Split) -> Value {
    json!({
        "feeSumamt": format_yuan(split.total), "fundPay": format_yuan(split.fund),
        "psnAcctPay": format_yuan(split.account), "ownPayAmt": format_yuan(split.cash),
    })
}

fn fee_upload(state: &mut SimState, config: &MedicalConfig, data: &Value, now_ms: i64) -> Outcome {
    let pay_auth_no = data["payAuthNo"].as_str().unwrap_or("");
    let Some((unionid, issued_ms, used)) = state.medical.pay_auth_nos.get(pay_auth_no).cloned()
    else {
        return Err((2001, "payAuthNo无效".into()));
    };
    if used || now_ms > issued_ms + AUTH_LIFETIME_MS {
        return Err((2001, "payAuthNo已失效".into()));
    }
    let total = yuan_field(data, "medfeeSumamt")?;
    let lines: u64 = data["feedetailList"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    item["detItemFeeSumamt"]
                        .as_str()
                        .and_then(|text| parse_yuan(text).ok())
                })
                .map(AmountFen::fen)
                .sum()
        })
        .unwrap_or(0);
    if lines != total.fen() || total.is_zero() {
        return Err((2003, "费用明细金额与总额不符".into()));
    }
    let Some(payer) = config.insured.iter().find(|payer| payer.unionid == unionid) else {
        return Err((2004, "参保人不存在".into()));
    };
    let balance = *state
        .medical
        .balances
        .entry(unionid.clone())
        .or_insert(payer.account_balance_fen);
    let used_deductible = state
        .medical
        .deductible_used
        .get(&unionid)
        .copied()
        .unwrap_or(0);
    let deductible_left = payer.deductible_fen.saturating_sub(used_deductible);
    let split = split_for(payer, deductible_left, balance, total);
    if let Some(entry) = state.medical.pay_auth_nos.get_mut(pay_auth_no) {
        entry.2 = true;
    }
    // The account part is held from pre-settlement on, so concurrent orders of one payer never
    // spend it twice; a revoke releases it.
    if let Some(balance) = state.medical.balances.get_mut(&unionid) {
        *balance -= split.account.fen();
    }
    let pay_ord_id = format!("ORD{}", state.nonce());
    let order = NhsaOrder {
        pay_ord_id: pay_ord_id.clone(),
        pay_token: format!("{pay_ord_id}_TOKEN"),
        med_org_ord: data["medOrgOrd"].as_str().unwrap_or("").to_owned(),
        unionid,
        split,
        status: PRE_SETTLED,
        deductible_applied: total.fen().min(deductible_left),
        refunded: Split {
            total: AmountFen::ZERO,
            fund: AmountFen::ZERO,
            account: AmountFen::ZERO,
            cash: AmountFen::ZERO,
        },
    };
    let mut reply = split_json(&split);
    reply["payOrdId"] = json!(order.pay_ord_id);
    reply["payToken"] = json!(order.pay_token);
    state.medical.nhsa_orders.insert(pay_ord_id, order);
    Ok(reply)
}

fn order<'s>(state: &'s mut SimState, data: &Value) -> Result<&'s mut NhsaOrder, (i64, String)> {
    let pay_ord_id = data["payOrdId"].as_str().unwrap_or("");
    state
        .medical
        .nhsa_orders
        .get_mut(pay_ord_id)
        .ok_or((3001, "订单不存在".into()))
}

fn query(state: &mut SimState, data: &Value) -> Outcome {
    let order = order(state, data)?;
    let mut reply = split_json(&order.split);
    reply["ordStas"] = json!(order.status.to_string());
    reply["medOrgOrd"] = json!(order.med_org_ord);
    reply["payOrdId"] = json!(order.pay_ord_id);
    Ok(reply)
}

fn revoke(state: &mut SimState, data: &Value) -> Outcome {
    let order = order(state, data)?;
    if order.status != PRE_SETTLED {
        return Err((3002, "订单状态不允许撤销".into()));
    }
    order.status = REVOKED;
    let (unionid, account) = (order.unionid.clone(), order.split.account.fen());
    let answer = json!({ "payOrdId": order.pay_ord_id });
    if let Some(balance) = state.medical.balances.get_mut(&unionid) {
        *balance += account;
    }
    Ok(answer)
}

/// Settles a pre-settled order: the payer confirmed in the 医保 mini program. The account
/// part held since pre-settlement is spent and the deductible used; called from the
/// payinsurance side.
pub(crate) fn settle(state: &mut SimState, pay_ord_id: &str) -> Option<Split> {
    let order = state.medical.nhsa_orders.get_mut(pay_ord_id)?;
    if order.status != PRE_SETTLED {
        return None;
    }
    order.status = SETTLED;
    let (unionid, split, deductible) =
        (order.unionid.clone(), order.split, order.deductible_applied);
    *state.medical.deductible_used.entry(unionid).or_insert(0) += deductible;
    Some(split)
}

fn refund(state: &mut SimState, data: &Value) -> Outcome {
    let serial = data["appRefdSn"].as_str().unwrap_or("").to_owned();
    let asked = Split {
        total: yuan_field(data, "totlRefdAmt")?,
        fund: yuan_field(data, "fundRefdAmt")?,
        account: yuan_field(data, "psnAcctRefdAmt")?,
        cash: yuan_field(data, "cashRefdAmt")?,
    };
    if let Some(done) = state.medical.refunds.get(&serial) {
        return if *done == asked {
            Ok(json!({ "refStatus": "SUCC" }))
        } else {
            Err((4003, "退费流水号重复".into()))
        };
    }
    let order = order(state, data)?;
    if !matches!(
        order.status,
        SETTLED
            | INSURANCE_REFUNDED
            | CASH_REFUNDED
            | CASH_PARTLY_REFUNDED
            | INSURANCE_AND_CASH_PARTLY_REFUNDED
    ) {
        return Err((4001, "订单状态不允许退费".into()));
    }
    let left = |paid: AmountFen, refunded: AmountFen| paid.fen() - refunded.fen();
    let within = asked.fund.fen() <= left(order.split.fund, order.refunded.fund)
        && asked.account.fen() <= left(order.split.account, order.refunded.account)
        && asked.cash.fen() <= left(order.split.cash, order.refunded.cash)
        && asked.fund.fen() + asked.account.fen() + asked.cash.fen() == asked.total.fen();
    if !within {
        return Err((4002, "退费金额超过可退金额".into()));
    }
    // Partial refunds exist only for the self-pay part (§4.3): insurance goes back whole.
    let insurance_asked = asked.fund.fen() + asked.account.fen();
    let insurance_left = left(order.split.fund, order.refunded.fund)
        + left(order.split.account, order.refunded.account);
    if insurance_asked != 0 && insurance_asked != insurance_left {
        return Err((4004, "医保部分须全额退费".into()));
    }
    let add = |one: AmountFen, other: AmountFen| AmountFen::from_fen(one.fen() + other.fen());
    order.refunded = Split {
        total: add(order.refunded.total, asked.total),
        fund: add(order.refunded.fund, asked.fund),
        account: add(order.refunded.account, asked.account),
        cash: add(order.refunded.cash, asked.cash),
    };
    order.status = refund_status(&order.split, &order.refunded);
    let unionid = order.unionid.clone();
    if let Some(balance) = state.medical.balances.get_mut(&unionid) {
        *balance += asked.account.fen();
    }
    state.medical.refunds.insert(serial, asked);
    Ok(json!({ "refStatus": "SUCC" }))
}

/// `ordStas` after refunds (§4.3's refund states).
fn refund_status(paid: &Split, refunded: &Split) -> u8 {
    let insurance_back = refunded.fund == paid.fund
        && refunded.account == paid.account
        && !paid.insurance().is_zero();
    let cash_back = refunded.cash == paid.cash;
    match (
        insurance_back || paid.insurance().is_zero(),
        cash_back,
        refunded.cash.is_zero(),
    ) {
        (true, true, _) => REFUNDED,
        (true, false, true) => INSURANCE_REFUNDED,
        (true, false, false) => INSURANCE_AND_CASH_PARTLY_REFUNDED,
        (false, true, _) => CASH_REFUNDED,
        (false, false, _) => CASH_PARTLY_REFUNDED,
    }
}
