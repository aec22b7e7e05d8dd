//! `secapi/pay/refund` (wechatpay-v2.md §2.5): only paid orders of the same merchant and mode;
//! the same `out_refund_no` is the same refund; cumulative refunds at most the amount paid; at
//! most 50 per order, at least one minute apart; within a year of payment. Refunds then move
//! PROCESSING → SUCCESS / REFUNDCLOSE / CHANGE on the virtual clock.

use cashier_adapters::Fields;

use crate::endpoints::{check_number, fen, required};
use crate::endpoints::{Call, Outcome};
use crate::exchange::Rejection;
use crate::ledger::{RefundKey, SimRefund};

const MAX_REFUNDS_PER_ORDER: usize = 50;
const MIN_REFUND_INTERVAL_MS: i64 = 60_000;
const REFUND_WINDOW_MS: i64 = 365 * 24 * 3_600_000;

fn reply_of(refund: &SimRefund, transaction_id: &str, total_fee: u64, cash_fee: u64) -> Fields {
    let mut fields = Fields::new();
    fields.insert("transaction_id", transaction_id);
    fields.insert("out_trade_no", &refund.out_trade_no);
    fields.insert("out_refund_no", &refund.key.out_refund_no);
    fields.insert("refund_id", &refund.refund_id);
    fields.insert("refund_fee", refund.refund_fee.to_string());
    fields.insert("settlement_refund_fee", refund.refund_fee.to_string());
    fields.insert("total_fee", total_fee.to_string());
    fields.insert("cash_fee", cash_fee.to_string());
    fields.insert(
        "cash_refund_fee",
        refund.refund_fee.min(cash_fee).to_string(),
    );
    fields.insert("coupon_refund_fee", "0");
    fields.insert("coupon_refund_count", "0");
    fields
}

pub(crate) fn handle(call: &mut Call<'_, '_>) -> Outcome {
    Outcome::Signed(rules(call))
}

fn rules(call: &mut Call<'_, '_>) -> Result<Fields, Rejection> {
    let state = &mut *call.state;
    let config = call.config;
    let exchange = call.exchange;
    let now_ms = call.now_ms;
    let out_refund_no = required(exchange, "out_refund_no")?;
    check_number("out_refund_no", out_refund_no, 64, b"@")?;
    let total_fee = fen(exchange, "total_fee")?;
    let refund_fee = fen(exchange, "refund_fee")?;
    let scope = exchange.scope();
    let order = match (
        exchange.field("transaction_id"),
        exchange.field("out_trade_no"),
    ) {
        (Some(transaction_id), _) => state.ledger.order_by_transaction_id(&scope, transaction_id),
        (None, Some(out_trade_no)) => state.ledger.order(&scope, out_trade_no),
        (None, None) => return Err(Rejection::protocol("缺少参数transaction_id或out_trade_no")),
    };
    let order = order
        .filter(|order| order.is_paid())
        .cloned()
        .ok_or_else(|| Rejection::business("ORDERNOTEXIST", "订单不存在或未支付"))?;
    let transaction_id = order.transaction_id.clone().unwrap_or_default();
    let parameters = format!("total_fee={total_fee}&refund_fee={refund_fee}");
    let key = RefundKey {
        scope: scope.clone(),
        out_refund_no: out_refund_no.to_owned(),
    };
    if let Some(existing) = state.ledger.refunds.get(&key) {
        // The same out_refund_no is the same refund: a retry gets it back, a change is refused.
        if existing.out_trade_no != order.key.out_trade_no || existing.parameters != parameters {
            return Err(Rejection::business(
                "PARAM_ERROR",
                "订单金额或退款金额与之前请求不一致，请核实后再试",
            ));
        }
        return Ok(reply_of(
            existing,
            &transaction_id,
            order.total_fee,
            order.cash_fee(),
        ));
    }
    if total_fee != order.total_fee {
        return Err(Rejection::business(
            "PARAM_ERROR",
            "订单金额或退款金额与之前请求不一致，请核实后再试",
        ));
    }
    if now_ms > order.paid_ms.unwrap_or(now_ms) + REFUND_WINDOW_MS {
        return Err(Rejection::business("TRADE_OVERDUE", "订单已经超过退款期限"));
    }
    let existing = state.ledger.refunds_of(&order);
    if existing.len() >= MAX_REFUNDS_PER_ORDER {
        return Err(Rejection::business("ERROR", "该订单退款次数已达上限50次"));
    }
    if existing
        .iter()
        .any(|refund| now_ms < refund.created_ms + MIN_REFUND_INTERVAL_MS)
    {
        return Err(Rejection::business(
            "FREQUENCY_LIMITED",
            "同一订单的两次退款须间隔1分钟以上",
        ));
    }
    if state.ledger.refunded_fen(&order) + refund_fee > order.total_fee {
        return Err(Rejection::business("ERROR", "申请退款金额超过订单可退金额"));
    }
    let refund_id = state.new_refund_id(now_ms);
    let planned_status = state
        .refund_plans
        .remove(out_refund_no)
        .unwrap_or_else(|| "SUCCESS".into());
    let merchant_url = config
        .merchant(&scope.mch_id)
        .and_then(|merchant| merchant.refund_notify_url.clone());
    let refund = SimRefund {
        key: key.clone(),
        out_trade_no: order.key.out_trade_no.clone(),
        refund_id: refund_id.clone(),
        refund_fee,
        parameters,
        created_ms: now_ms,
        refund_status: "PROCESSING".into(),
        finishes_ms: now_ms + i64::from(config.refund_processing_s) * 1000,
        planned_status,
        success_ms: None,
        notify_url: exchange
            .field("notify_url")
            .map(str::to_owned)
            .or(merchant_url),
        refund_account: exchange
            .field("refund_account")
            .unwrap_or("REFUND_SOURCE_UNSETTLED_FUNDS")
            .to_owned(),
        refund_recv_accout: "支付用户零钱".into(),
        requested_appid: exchange.field("appid").unwrap_or("").to_owned(),
    };
    let reply = reply_of(&refund, &transaction_id, order.total_fee, order.cash_fee());
    state
        .refund_finishes
        .insert((refund.finishes_ms, key.clone()));
    state.ledger.by_refund_id.insert(refund_id, key.clone());
    state.ledger.refunds.insert(key, refund);
    if let Some(stored) = state.ledger.orders.get_mut(&order.key) {
        stored.refunds.push(out_refund_no.to_owned());
        stored.trade_state = "REFUND".into();
    }
    Ok(reply)
}
