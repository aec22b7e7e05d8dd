//! `pay/orderquery` (wechatpay-v2.md §2.3): the order by `transaction_id` (preferred) or
//! `out_trade_no` in the caller's merchant world; another world's order is ORDERNOTEXIST.

use cashier_adapters::Fields;

use crate::endpoints::required;
use crate::endpoints::{Call, Outcome};
use crate::exchange::Rejection;
use crate::ledger::SimOrder;
use crate::notifications::payment_fields;

/// The queryable facts of an order, as orderquery returns them.
pub(crate) fn query_fields(order: &SimOrder) -> Fields {
    let mut fields = if order.is_paid() {
        let mut fields = payment_fields(order, "", true);
        // The envelope comes from the reply; drop the notification's own.
        for name in [
            "return_code",
            "return_msg",
            "nonce_str",
            "result_code",
            "appid",
            "mch_id",
            "sub_mch_id",
            "sub_appid",
        ] {
            fields.remove(name);
        }
        fields
    } else {
        let mut fields = Fields::new();
        fields.insert("out_trade_no", &order.key.out_trade_no);
        fields.insert("total_fee", order.total_fee.to_string());
        fields.insert("trade_type", &order.trade_type);
        fields.insert_optional("attach", order.attach.as_deref());
        fields
    };
    fields.insert("trade_state", &order.trade_state);
    let description = match order.trade_state.as_str() {
        "SUCCESS" => "支付成功",
        "REFUND" => "订单发生过退款",
        "CLOSED" => "订单已关闭",
        _ => "订单未支付",
    };
    fields.insert("trade_state_desc", description);
    fields
}

pub(crate) fn handle(call: &mut Call<'_, '_>) -> Outcome {
    Outcome::Signed(rules(call))
}

fn rules(call: &mut Call<'_, '_>) -> Result<Fields, Rejection> {
    let state = &mut *call.state;
    let exchange = call.exchange;
    let scope = exchange.scope();
    let order = match (
        exchange.field("transaction_id"),
        exchange.field("out_trade_no"),
    ) {
        (Some(transaction_id), _) => state.ledger.order_by_transaction_id(&scope, transaction_id),
        (None, Some(_)) => state
            .ledger
            .order(&scope, required(exchange, "out_trade_no")?),
        (None, None) => return Err(Rejection::protocol("缺少参数transaction_id或out_trade_no")),
    };
    let order = order.ok_or_else(|| Rejection::business("ORDERNOTEXIST", "订单不存在"))?;
    Ok(query_fields(order))
}
