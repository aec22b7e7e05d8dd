//! `pay/refundquery` (wechatpay-v2.md §2.6): one refund by `refund_id`/`out_refund_no`, or an
//! order's refunds by `transaction_id`/`out_trade_no`, ten per page from `offset`.

use cashier_adapters::wechat::time;
use cashier_adapters::Fields;

use crate::endpoints::{Call, Outcome};
use crate::exchange::Rejection;
use crate::ledger::{RefundKey, SimOrder, SimRefund};

const PAGE_SIZE: usize = 10;

fn not_found() -> Rejection {
    Rejection::business("REFUNDNOTEXIST", "退款订单查询失败")
}

fn page(order: &SimOrder, refunds: &[&SimRefund], total: Option<usize>) -> Fields {
    let mut fields = Fields::new();
    fields.insert_optional("transaction_id", order.transaction_id.as_deref());
    fields.insert("out_trade_no", &order.key.out_trade_no);
    fields.insert("total_fee", order.total_fee.to_string());
    fields.insert("cash_fee", order.cash_fee().to_string());
    fields.insert("refund_count", refunds.len().to_string());
    fields.insert_optional("total_refund_count", total.map(|count| count.to_string()));
    for (index, refund) in refunds.iter().enumerate() {
        fields.insert(format!("out_refund_no_{index}"), &refund.key.out_refund_no);
        fields.insert(format!("refund_id_{index}"), &refund.refund_id);
        fields.insert(format!("refund_channel_{index}"), "ORIGINAL");
        fields.insert(format!("refund_fee_{index}"), refund.refund_fee.to_string());
        fields.insert(
            format!("settlement_refund_fee_{index}"),
            refund.refund_fee.to_string(),
        );
        fields.insert(format!("refund_status_{index}"), &refund.refund_status);
        fields.insert(format!("refund_account_{index}"), &refund.refund_account);
        fields.insert(
            format!("refund_recv_accout_{index}"),
            &refund.refund_recv_accout,
        );
        if let Some(success_ms) = refund.success_ms {
            fields.insert(
                format!("refund_success_time_{index}"),
                time::format_dashed(success_ms / 1000),
            );
        }
    }
    fields
}

pub(crate) fn handle(call: &mut Call<'_, '_>) -> Outcome {
    Outcome::Signed(rules(call))
}

fn rules(call: &mut Call<'_, '_>) -> Result<Fields, Rejection> {
    let state = &mut *call.state;
    let exchange = call.exchange;
    let scope = exchange.scope();
    let ledger = &state.ledger;
    let single = if let Some(refund_id) = exchange.field("refund_id") {
        Some(
            ledger
                .by_refund_id
                .get(refund_id)
                .filter(|key| key.scope == scope)
                .and_then(|key| ledger.refunds.get(key))
                .ok_or_else(not_found)?,
        )
    } else if let Some(out_refund_no) = exchange.field("out_refund_no") {
        let key = RefundKey {
            scope: scope.clone(),
            out_refund_no: out_refund_no.to_owned(),
        };
        Some(ledger.refunds.get(&key).ok_or_else(not_found)?)
    } else {
        None
    };
    if let Some(refund) = single {
        let order = ledger
            .order(&scope, &refund.out_trade_no)
            .ok_or_else(not_found)?;
        return Ok(page(order, &[refund], None));
    }
    let order = match (
        exchange.field("transaction_id"),
        exchange.field("out_trade_no"),
    ) {
        (Some(transaction_id), _) => ledger.order_by_transaction_id(&scope, transaction_id),
        (None, Some(out_trade_no)) => ledger.order(&scope, out_trade_no),
        (None, None) => {
            return Err(Rejection::protocol(
                "缺少参数refund_id、out_refund_no、transaction_id或out_trade_no",
            ))
        }
    };
    let order = order.ok_or_else(not_found)?;
    let refunds = ledger.refunds_of(order);
    if refunds.is_empty() {
        return Err(not_found());
    }
    let offset = match exchange.field("offset") {
        None => 0,
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| Rejection::business("PARAM_ERROR", "offset参数格式错误"))?,
    };
    if offset >= refunds.len() {
        return Err(Rejection::business(
            "PARAM_ERROR",
            "offset超过total_refund_count",
        ));
    }
    let end = (offset + PAGE_SIZE).min(refunds.len());
    let total = (refunds.len() > PAGE_SIZE).then_some(refunds.len());
    Ok(page(
        order,
        refunds.get(offset..end).unwrap_or_default(),
        total,
    ))
}
