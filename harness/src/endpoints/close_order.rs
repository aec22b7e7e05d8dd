//! `pay/closeorder` (wechatpay-v2.md §2.4): closes an unpaid order, not before 5 minutes after
//! creation. WeChat names no error code for a too-early close; the simulator answers
//! `TRADE_STATE_ERROR` (an assumption, documented in ARCHITECTURE.md).

use cashier_adapters::Fields;

use crate::endpoints::required;
use crate::endpoints::{Call, Outcome};
use crate::exchange::Rejection;
use crate::ledger::OrderKey;

/// The minimum age of an order before it may be closed.
pub(crate) const CLOSE_MIN_AGE_MS: i64 = 5 * 60_000;

pub(crate) fn handle(call: &mut Call<'_, '_>) -> Outcome {
    Outcome::Signed(rules(call))
}

fn rules(call: &mut Call<'_, '_>) -> Result<Fields, Rejection> {
    let state = &mut *call.state;
    let exchange = call.exchange;
    let now_ms = call.now_ms;
    let key = OrderKey {
        scope: exchange.scope(),
        out_trade_no: required(exchange, "out_trade_no")?.to_owned(),
    };
    let order = state
        .ledger
        .orders
        .get_mut(&key)
        .ok_or_else(|| Rejection::business("ORDERNOTEXIST", "订单不存在"))?;
    match order.trade_state.as_str() {
        "SUCCESS" | "REFUND" => {
            return Err(Rejection::business("ORDERPAID", "订单已支付，不能发起关单"))
        }
        "CLOSED" => {
            return Err(Rejection::business(
                "ORDERCLOSED",
                "订单已关闭，无需重复关闭",
            ))
        }
        _ => {}
    }
    if now_ms < order.created_ms + CLOSE_MIN_AGE_MS {
        return Err(Rejection::business(
            "TRADE_STATE_ERROR",
            "订单生成后5分钟内不能关单",
        ));
    }
    order.trade_state = "CLOSED".into();
    order.closed_ms = Some(now_ms);
    let mut fields = Fields::new();
    fields.insert("result_msg", "OK");
    Ok(fields)
}
