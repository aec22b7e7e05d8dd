//! WeChat's payinsurance 1.0 endpoints (yibao-pay.md §7) and the payer's side of them: the
//! order (`unifiedorder`), its query, the cash refund and its query, a close, and the payer
//! confirming (or failing, or backing out) in the 医保 pay mini program, which settles the NHSA
//! order and sends the signed notification on v2's retry ladder.
//!
//! Requests are the flat XML dialect with an MD5 `sign` under the merchant's key and
//! `access_token` in the query string; replies are signed the same way. The amounts must match
//! the NHSA pre-settlement unless `allow_fee_change` is 1, in which case NHSA's amounts are taken.

use std::collections::BTreeMap;

use cashier_adapters::{xml, Fields, SignType};
use serde::Serialize;

use crate::config::SimConfig;
use crate::faults::Fault;
use crate::ledger::{OrderKey, Scope};
use crate::medical::{centre, MedicalConfig};
use crate::notifications::NotificationKind;
use crate::state::{SimResponse, SimState};

/// A payinsurance order as WeChat keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MedicalOrder {
    /// `med_trans_id`.
    pub med_trans_id: String,
    /// `hosp_out_trade_no`.
    pub hosp_out_trade_no: String,
    /// The merchant.
    pub mch_id: String,
    /// The app the order was made under.
    pub appid: String,
    /// The NHSA order it pays.
    pub pay_ord_id: String,
    /// `total_fee`, `cash_fee`, `insurance_fee`.
    pub amounts: (u64, u64, u64),
    /// `med_trade_state`: NOTPAY, SUCCESS, REFUND, CLOSED, PAYERROR.
    pub state: String,
    /// `notify_url`.
    pub notify_url: String,
    /// When it was paid (Unix ms).
    pub paid_ms: Option<i64>,
    /// Cash refunded so far, by `hosp_out_refund_no`.
    pub refunds: BTreeMap<String, (String, u64, u64)>,
}

fn reply(fields: Fields) -> SimResponse {
    SimResponse::xml(
        xml::write(&fields)
            .map(String::into_bytes)
            .unwrap_or_default(),
    )
}

fn failure(message: &str) -> SimResponse {
    let mut fields = Fields::new();
    fields.insert("return_code", "FAIL");
    fields.insert("return_msg", message);
    reply(fields)
}

/// A signed reply for `merchant`'s message: business fields, or `result_code` FAIL with a code.
fn signed(
    config: &SimConfig,
    request: &Fields,
    state: &mut SimState,
    result: Result<Fields, (&str, &str)>,
) -> SimResponse {
    let Some(merchant) = request
        .get("mch_id")
        .and_then(|mch_id| config.merchant(mch_id))
    else {
        return failure("mch_id参数格式错误或商户号不存在");
    };
    let mut fields = match result {
        Ok(fields) => {
            let mut fields = fields;
            fields.insert("result_code", "SUCCESS");
            fields
        }
        Err((code, description)) => {
            let mut fields = Fields::new();
            fields.insert("result_code", "FAIL");
            fields.insert("err_code", code);
            fields.insert("err_code_des", description);
            fields
        }
    };
    fields.insert("return_code", "SUCCESS");
    for name in ["appid", "mch_id", "sub_appid", "sub_mch_id"] {
        fields.insert_optional(name, request.get_nonempty(name));
    }
    fields.insert("nonce_str", state.nonce());
    fields.sign_in_place(SignType::Md5, &merchant.api_key());
    reply(fields)
}

/// Handles `/payinsurance/{operation}?access_token=…`.
pub(crate) fn handle(
    state: &mut SimState,
    config: &SimConfig,
    medical: &MedicalConfig,
    path: &str,
    body: &[u8],
    fault: Option<&Fault>,
) -> SimResponse {
    let (operation, query) = path.split_once('?').unwrap_or((path, ""));
    if query != format!("access_token={}", medical.access_token) {
        return failure("access_token is invalid or not latest");
    }
    let Ok(fields) = xml::read(body) else {
        return failure("XML格式错误");
    };
    let Some(merchant) = fields
        .get("mch_id")
        .and_then(|mch_id| config.merchant(mch_id))
    else {
        return failure("mch_id参数格式错误或商户号不存在");
    };
    if fields.verify(SignType::Md5, &merchant.api_key()).is_err() {
        return failure("签名失败");
    }
    let result = match (operation, fault) {
        (_, Some(Fault::SystemError)) => Err(("SYSTEMERROR", "系统繁忙，请稍后再试")),
        ("refund", Some(Fault::InsuranceOutage)) => Err(("556", "调用微信支付退款接口失败")),
        ("unifiedorder", Some(Fault::SplitChanged)) => {
            nhsa_resettles(state, &fields);
            unified_order(state, medical, &fields)
        }
        _ => match operation {
            "unifiedorder" => unified_order(state, medical, &fields),
            "queryorder" => query_order(state, &fields),
            "refund" => refund(state, &fields),
            "queryrefund" => query_refund(state, &fields),
            "closeorder" => close(state, &fields),
            _ => return failure("unknown operation"),
        },
    };
    signed(config, &fields, state, result)
}

/// NHSA re-settled the order the request names: 1.00 yuan (or what there is) moves from the
/// fund to cash.
fn nhsa_resettles(state: &mut SimState, fields: &Fields) {
    let content: serde_json::Value =
        serde_json::from_str(fields.get("request_content").unwrap_or("")).unwrap_or_default();
    let Some(order) = content["payOrdId"]
        .as_str()
        .and_then(|id| state.medical.nhsa_orders.get_mut(id))
    else {
        return;
    };
    let moved = order.split.fund.fen().min(100);
    order.split.fund = cashier_adapters::AmountFen::from_fen(order.split.fund.fen() - moved);
    order.split.cash = cashier_adapters::AmountFen::from_fen(order.split.cash.fen() + moved);
}

fn amount(fields: &Fields, name: &str) -> Option<u64> {
    fields.get(name).and_then(|text| text.parse().ok())
}

fn unified_order(
    state: &mut SimState,
    medical: &MedicalConfig,
    fields: &Fields,
) -> Result<Fields, (&'static str, &'static str)> {
    let (Some(total), Some(cash), Some(insurance)) = (
        amount(fields, "total_fee"),
        amount(fields, "cash_fee"),
        amount(fields, "insurance_fee"),
    ) else {
        return Err(("PARAM_ERROR", "参数格式校验错误 cash_fee is needed"));
    };
    let pay_type = fields.get("pay_type").unwrap_or("");
    if pay_type == "3" && cash == 0 {
        return Err((
            "513",
            "in cash combine insurance pay mode, cash_fee must be more than 0",
        ));
    }
    let hosp_out_trade_no = fields.get("hosp_out_trade_no").unwrap_or("").to_owned();
    let mch_id = fields.get("mch_id").unwrap_or("").to_owned();
    if let Some(existing) = state
        .medical
        .by_hosp_number
        .get(&(mch_id.clone(), hosp_out_trade_no.clone()))
        .and_then(|id| state.medical.orders.get(id))
    {
        return Ok(order_reply(existing, medical));
    }
    let content: serde_json::Value =
        serde_json::from_str(fields.get("request_content").unwrap_or("")).unwrap_or_default();
    let pay_ord_id = content["payOrdId"].as_str().unwrap_or("").to_owned();
    let Some(nhsa) = state.medical.nhsa_orders.get(&pay_ord_id).cloned() else {
        return Err(("ORDERNOTEXIST", "医保支付单不存在"));
    };
    if nhsa.status != centre::PRE_SETTLED {
        return Err(("ORDERPAID", "医保支付单状态不正确"));
    }
    let nhsa_amounts = (
        nhsa.split.total.fen(),
        nhsa.split.cash.fen(),
        nhsa.split.insurance().fen(),
    );
    // Different amounts are refused unless the hospital accepts NHSA's (allow_fee_change 1).
    let accepts_nhsa = fields.get("allow_fee_change") == Some("1");
    if (total, cash, insurance) != nhsa_amounts && !accepts_nhsa {
        return Err(("FEE_CHANGED", "医保预结算金额与上传金额不一致"));
    }
    let amounts = nhsa_amounts;
    let med_trans_id = format!("MED{}", state.nonce());
    let order = MedicalOrder {
        med_trans_id: med_trans_id.clone(),
        hosp_out_trade_no,
        mch_id,
        appid: fields.get("appid").unwrap_or("").to_owned(),
        pay_ord_id,
        amounts,
        state: "NOTPAY".into(),
        notify_url: fields.get("notify_url").unwrap_or("").to_owned(),
        paid_ms: None,
        refunds: BTreeMap::new(),
    };
    let answer = order_reply(&order, medical);
    state.medical.by_hosp_number.insert(
        (order.mch_id.clone(), order.hosp_out_trade_no.clone()),
        med_trans_id.clone(),
    );
    state.medical.orders.insert(med_trans_id, order);
    Ok(answer)
}

fn order_reply(order: &MedicalOrder, medical: &MedicalConfig) -> Fields {
    let mut fields = Fields::new();
    fields.insert("med_trans_id", &order.med_trans_id);
    fields.insert("pay_appid", &medical.pay_appid);
    fields.insert(
        "pay_url",
        format!("pages/pay/index?medTransId={}", order.med_trans_id),
    );
    fields
}

fn find<'s>(state: &'s mut SimState, fields: &Fields) -> Option<&'s mut MedicalOrder> {
    let mch_id = fields.get("mch_id").unwrap_or("");
    match (
        fields.get_nonempty("med_trans_id"),
        fields.get_nonempty("hosp_out_trade_no"),
    ) {
        (Some(id), _) => state
            .medical
            .orders
            .get_mut(id)
            .filter(|order| order.mch_id == mch_id),
        (None, Some(number)) => {
            let id = state
                .medical
                .by_hosp_number
                .get(&(mch_id.to_owned(), number.to_owned()))?;
            state.medical.orders.get_mut(id)
        }
        _ => None,
    }
}

fn query_order(
    state: &mut SimState,
    fields: &Fields,
) -> Result<Fields, (&'static str, &'static str)> {
    let order = find(state, fields).ok_or(("ORDERNOTEXIST", "订单不存在"))?;
    let (cash, insurance) = match order.state.as_str() {
        "SUCCESS" => ("SUCCESS", "PAYED"),
        "REFUND" => ("REFUND", "REFUND"),
        "CLOSED" => ("CLOSED", "CLOSED"),
        "PAYERROR" => ("PAYERROR", "NOTPAY"),
        _ => ("NOTPAY", "NOTPAY"),
    };
    let mut out = Fields::new();
    out.insert("med_trans_id", &order.med_trans_id);
    out.insert("hosp_out_trade_no", &order.hosp_out_trade_no);
    out.insert("med_trade_state", &order.state);
    out.insert("cash_trade_status", cash);
    out.insert("insurance_trade_status", insurance);
    out.insert("total_fee", order.amounts.0.to_string());
    out.insert("cash_fee", order.amounts.1.to_string());
    out.insert("insurance_fee", order.amounts.2.to_string());
    out.insert_optional(
        "time_end",
        order
            .paid_ms
            .map(|ms| cashier_adapters::wechat::time::format_compact(ms / 1000)),
    );
    Ok(out)
}

fn close(state: &mut SimState, fields: &Fields) -> Result<Fields, (&'static str, &'static str)> {
    let order = find(state, fields).ok_or(("ORDERNOTEXIST", "订单不存在"))?;
    match order.state.as_str() {
        "NOTPAY" | "PAYERROR" | "CLOSED" => {
            order.state = "CLOSED".into();
            Ok(Fields::new())
        }
        _ => Err(("ORDERPAID", "订单已支付")),
    }
}

fn refund(state: &mut SimState, fields: &Fields) -> Result<Fields, (&'static str, &'static str)> {
    let number = fields.get("hosp_out_refund_no").unwrap_or("").to_owned();
    let cash_asked = amount(fields, "cash_refund_fee").unwrap_or(0);
    let insurance_noted = amount(fields, "insurance_refund_fee").unwrap_or(0);
    let order = find(state, fields).ok_or(("ORDERNOTEXIST", "订单不存在"))?;
    if !matches!(order.state.as_str(), "SUCCESS" | "REFUND") {
        return Err(("TRADE_STATE_ERROR", "订单状态错误"));
    }
    if let Some((id, cash, insurance)) = order.refunds.get(&number) {
        return if (*cash, *insurance) == (cash_asked, insurance_noted) {
            Ok(refund_reply(id))
        } else {
            Err(("INVALID_REQUEST", "退款单号重复"))
        };
    }
    let refunded: u64 = order.refunds.values().map(|(_, cash, _)| cash).sum();
    if refunded + cash_asked > order.amounts.1 {
        return Err(("ERROR", "退款金额大于可退金额"));
    }
    let id = format!("MR{}{}", order.med_trans_id, order.refunds.len() + 1);
    order
        .refunds
        .insert(number.clone(), (id.clone(), cash_asked, insurance_noted));
    order.state = "REFUND".into();
    let key = (order.mch_id.clone(), number);
    let med_trans_id = order.med_trans_id.clone();
    state.medical.by_refund_number.insert(key, med_trans_id);
    Ok(refund_reply(&id))
}

fn refund_reply(id: &str) -> Fields {
    let mut fields = Fields::new();
    fields.insert("med_refund_id", id);
    fields
}

fn query_refund(
    state: &mut SimState,
    fields: &Fields,
) -> Result<Fields, (&'static str, &'static str)> {
    let number = fields.get("hosp_out_refund_no").unwrap_or("").to_owned();
    let mch_id = fields.get("mch_id").unwrap_or("").to_owned();
    let found = state
        .medical
        .by_refund_number
        .get(&(mch_id, number.clone()))
        .and_then(|id| state.medical.orders.get(id))
        .and_then(|order| order.refunds.get(&number).cloned());
    let (id, cash, insurance) = found.ok_or(("REFUNDNOTEXIST", "退款单不存在"))?;
    let mut out = refund_reply(&id);
    out.insert("med_refund_state", "SUCCESS");
    out.insert("cash_refund_stauts", "SUCCESS");
    out.insert("insurance_refund_status", "SUCCESS");
    out.insert("cash_refund_fee", cash.to_string());
    out.insert("insurance_refund_fee", insurance.to_string());
    Ok(out)
}

/// What the payer does in the 医保 pay mini program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MedicalPayerAction {
    /// Enters the password and pays: NHSA settles, WeChat charges the cash, notifies.
    Pay,
    /// The payment fails (PAYERROR); nothing is settled.
    Fail,
    /// Backs out before the password: nothing changes.
    Cancel,
    /// Verifies the password, then abandons: nothing is settled (the order stays NOTPAY).
    Abandon,
}

/// Applies the payer's action; on `Pay`, enqueues the signed notification.
pub(crate) fn payer_acts(
    state: &mut SimState,
    config: &SimConfig,
    med_trans_id: &str,
    action: MedicalPayerAction,
    now_ms: i64,
) -> Result<(), String> {
    let order = state
        .medical
        .orders
        .get(med_trans_id)
        .cloned()
        .ok_or_else(|| format!("no medical order {med_trans_id}"))?;
    if order.state != "NOTPAY" {
        return Err(format!("medical order {med_trans_id} is {}", order.state));
    }
    match action {
        MedicalPayerAction::Cancel | MedicalPayerAction::Abandon => return Ok(()),
        MedicalPayerAction::Fail => {
            if let Some(order) = state.medical.orders.get_mut(med_trans_id) {
                order.state = "PAYERROR".into();
            }
            return Ok(());
        }
        MedicalPayerAction::Pay => {}
    }
    centre::settle(state, &order.pay_ord_id)
        .ok_or_else(|| "the NHSA order cannot settle".to_owned())?;
    if let Some(stored) = state.medical.orders.get_mut(med_trans_id) {
        stored.state = "SUCCESS".into();
        stored.paid_ms = Some(now_ms);
    }
    let body = notification_body(state, config, &order, now_ms)?;
    // The `forge_amount` fault's copy: another split, validly signed (only a split check catches it).
    let mut forged_order = order.clone();
    forged_order.amounts = (
        order.amounts.0,
        order.amounts.1 + 1,
        order.amounts.2.saturating_sub(1),
    );
    let forged = notification_body(state, config, &forged_order, now_ms)?;
    let key = OrderKey {
        scope: Scope {
            sandbox: false,
            mch_id: order.mch_id.clone(),
            sub_mch_id: String::new(),
        },
        out_trade_no: order.hosp_out_trade_no.clone(),
    };
    state.enqueue_notification(
        NotificationKind::Medical,
        key,
        None,
        order.notify_url.clone(),
        body,
        Some(forged),
        now_ms,
    );
    Ok(())
}

fn notification_body(
    state: &mut SimState,
    config: &SimConfig,
    order: &MedicalOrder,
    now_ms: i64,
) -> Result<String, String> {
    let merchant = config.merchant(&order.mch_id).ok_or("unknown merchant")?;
    let mut fields = Fields::new();
    fields.insert("return_code", "SUCCESS");
    fields.insert("result_code", "SUCCESS");
    fields.insert("appid", &order.appid);
    fields.insert("mch_id", &order.mch_id);
    fields.insert("nonce_str", state.nonce());
    fields.insert("med_trans_id", &order.med_trans_id);
    fields.insert("hosp_out_trade_no", &order.hosp_out_trade_no);
    fields.insert("total_fee", order.amounts.0.to_string());
    fields.insert("cash_fee", order.amounts.1.to_string());
    fields.insert("insurance_fee", order.amounts.2.to_string());
    fields.insert("pay_type", if order.amounts.1 == 0 { "2" } else { "3" });
    fields.insert(
        "time_end",
        cashier_adapters::wechat::time::format_compact(now_ms / 1000),
    );
    fields.insert(
        "response_content",
        serde_json::json!({ "ordStas": "6", "payOrdId": order.pay_ord_id }).to_string(),
    );
    fields.sign_in_place(SignType::Md5, &merchant.api_key());
    xml::write(&fields).map_err(|error| error.to_string())
}
