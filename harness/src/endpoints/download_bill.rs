//! `pay/downloadbill` (wechatpay-v2.md §2.7): the day's bill from the ledger in WeChat's text
//! format (backtick fields, yuan amounts, a summary), optionally gzip. A day's bill exists from
//! 09:00 the next day (Beijing) and for three months; failures are unsigned XML with
//! `return_msg` and `error_code`.

use std::io::Write;

use cashier_adapters::wechat::time;
use cashier_adapters::AmountFen;

use crate::endpoints::xml_reply;
use crate::endpoints::{Call, Outcome};
use crate::ledger::{SimOrder, SimRefund};
use crate::state::SimResponse;

/// The bill's header for `bill_type=ALL` (27 columns).
pub(crate) const ALL_COLUMNS: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";
const SUMMARY_COLUMNS: &str =
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额";

/// The fee rate, 0.6%: in thousandths of a fen it is six per fen.
const FEE_MILLIFEN_PER_FEN: i64 = 6;

fn failure(message: &str, code: &str) -> SimResponse {
    let pairs = [
        ("return_code", "FAIL"),
        ("return_msg", message),
        ("error_code", code),
    ];
    xml_reply(
        cashier_adapters::xml::write_with_root("xml", pairs)
            .unwrap_or_default()
            .into_bytes(),
    )
}

fn yuan(fen: u64) -> String {
    AmountFen::from_fen(fen).to_yuan_string()
}

fn fee_yuan(millifen: i64) -> String {
    let sign = if millifen < 0 { "-" } else { "" };
    let magnitude = millifen.unsigned_abs();
    format!("{sign}{}.{:05}", magnitude / 100_000, magnitude % 100_000)
}

struct Row {
    fields: Vec<String>,
    settlement_fen: u64,
    refund_fen: u64,
    fee_millifen: i64,
    total_fen: u64,
}

/// What distinguishes a payment row from a refund row.
struct RowMoney {
    at_ms: i64,
    trade_state: &'static str,
    settlement_fen: u64,
    coupon_fen: u64,
    refund: Option<(String, String)>,
    refund_fen: u64,
    fee_millifen: i64,
    total_fen: u64,
}

/// One line of the bill in the 27-column `ALL` layout.
fn row(order: &SimOrder, money: RowMoney) -> Row {
    let (refund_id, out_refund_no) = money
        .refund
        .clone()
        .unwrap_or_else(|| ("0".into(), "0".into()));
    let is_refund = money.refund.is_some();
    let fields = vec![
        time::format_dashed(money.at_ms / 1000),
        order.appid.clone(),
        order.key.scope.mch_id.clone(),
        if order.key.scope.sub_mch_id.is_empty() {
            "0".into()
        } else {
            order.key.scope.sub_mch_id.clone()
        },
        String::new(),
        order.transaction_id.clone().unwrap_or_default(),
        order.key.out_trade_no.clone(),
        order
            .openid
            .clone()
            .or_else(|| order.sub_openid.clone())
            .unwrap_or_default(),
        order.trade_type.clone(),
        money.trade_state.into(),
        order.bank_type.clone().unwrap_or_default(),
        "CNY".into(),
        yuan(money.settlement_fen),
        yuan(money.coupon_fen),
        refund_id,
        out_refund_no,
        yuan(money.refund_fen),
        "0.00".into(),
        if is_refund {
            "ORIGINAL".into()
        } else {
            String::new()
        },
        if is_refund {
            "SUCCESS".into()
        } else {
            String::new()
        },
        order.body.clone(),
        order.attach.clone().unwrap_or_default(),
        fee_yuan(money.fee_millifen),
        "0.60%".into(),
        yuan(money.total_fen),
        yuan(money.refund_fen),
        String::new(),
    ];
    Row {
        fields,
        settlement_fen: money.settlement_fen,
        refund_fen: money.refund_fen,
        fee_millifen: money.fee_millifen,
        total_fen: money.total_fen,
    }
}

fn order_row(order: &SimOrder) -> Row {
    let settlement_fen = order.settlement_total_fee().unwrap_or(order.total_fee);
    row(
        order,
        RowMoney {
            at_ms: order.paid_ms.unwrap_or(0),
            trade_state: "SUCCESS",
            settlement_fen,
            coupon_fen: order.coupons.iter().map(|coupon| coupon.coupon_fee).sum(),
            refund: None,
            refund_fen: 0,
            fee_millifen: i64::try_from(settlement_fen).unwrap_or(0) * FEE_MILLIFEN_PER_FEN,
            total_fen: order.total_fee,
        },
    )
}

fn refund_row(order: &SimOrder, refund: &SimRefund) -> Row {
    row(
        order,
        RowMoney {
            at_ms: refund.success_ms.unwrap_or(0),
            trade_state: "REFUND",
            settlement_fen: 0,
            coupon_fen: 0,
            refund: Some((refund.refund_id.clone(), refund.key.out_refund_no.clone())),
            refund_fen: refund.refund_fee,
            fee_millifen: -(i64::try_from(refund.refund_fee).unwrap_or(0) * FEE_MILLIFEN_PER_FEN),
            total_fen: 0,
        },
    )
}

pub(crate) fn handle(call: &mut Call<'_, '_>) -> Outcome {
    Outcome::Raw(rules(call))
}

fn rules(call: &mut Call<'_, '_>) -> SimResponse {
    let state = &mut *call.state;
    let exchange = call.exchange;
    let now_ms = call.now_ms;
    let Some(bill_date) = exchange.field("bill_date") else {
        return failure("missing parameter", "20001");
    };
    let Some(day_start_s) = time::parse_date(bill_date) else {
        return failure("invalid bill_date", "20001");
    };
    let bill_type = exchange.field("bill_type").unwrap_or("ALL");
    if !matches!(bill_type, "ALL" | "SUCCESS" | "REFUND" | "RECHARGE_REFUND") {
        return failure("invalid bill_type", "20001");
    }
    let now_s = now_ms / 1000;
    if now_s < day_start_s + 86_400 + 9 * 3600 {
        return failure("Bill Creating", "20003");
    }
    if now_s > day_start_s + 90 * 86_400 {
        return failure("No Bill Exist", "20002");
    }
    let in_day = |at_ms: Option<i64>| {
        at_ms.is_some_and(|at| at / 1000 >= day_start_s && at / 1000 < day_start_s + 86_400)
    };
    let scope = exchange.scope();
    let mut rows: Vec<(i64, Row)> = Vec::new();
    for order in state.ledger.orders.values() {
        let same_merchant = order.key.scope.sandbox == scope.sandbox
            && order.key.scope.mch_id == scope.mch_id
            && (scope.sub_mch_id.is_empty() || order.key.scope.sub_mch_id == scope.sub_mch_id);
        if !same_merchant {
            continue;
        }
        if matches!(bill_type, "ALL" | "SUCCESS") && order.is_paid() && in_day(order.paid_ms) {
            rows.push((order.paid_ms.unwrap_or(0), order_row(order)));
        }
        if matches!(bill_type, "ALL" | "REFUND") {
            for refund in state.ledger.refunds_of(order) {
                if refund.refund_status == "SUCCESS" && in_day(refund.success_ms) {
                    rows.push((refund.success_ms.unwrap_or(0), refund_row(order, refund)));
                }
            }
        }
    }
    if rows.is_empty() {
        return failure("No Bill Exist", "20002");
    }
    rows.sort_by(|left, right| {
        left.0
            .cmp(&right.0)
            .then_with(|| left.1.fields.cmp(&right.1.fields))
    });
    let mut text = String::from(ALL_COLUMNS);
    text.push_str("\r\n");
    for (_, row) in &rows {
        let line: Vec<String> = row.fields.iter().map(|field| format!("`{field}")).collect();
        text.push_str(&line.join(","));
        text.push_str("\r\n");
    }
    let settlement: u64 = rows.iter().map(|(_, row)| row.settlement_fen).sum();
    let refunded: u64 = rows.iter().map(|(_, row)| row.refund_fen).sum();
    let fees: i64 = rows.iter().map(|(_, row)| row.fee_millifen).sum();
    let total: u64 = rows.iter().map(|(_, row)| row.total_fen).sum();
    text.push_str(SUMMARY_COLUMNS);
    text.push_str("\r\n");
    let summary = [
        rows.len().to_string(),
        yuan(settlement),
        yuan(refunded),
        "0.00".into(),
        fee_yuan(fees),
        yuan(total),
        yuan(refunded),
    ];
    let summary: Vec<String> = summary.iter().map(|field| format!("`{field}")).collect();
    text.push_str(&summary.join(","));
    text.push_str("\r\n");
    if exchange.field("tar_type") == Some("GZIP") {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        if encoder.write_all(text.as_bytes()).is_err() {
            return failure("CompressGZip Error", "20007");
        }
        return match encoder.finish() {
            Ok(bytes) => SimResponse::Reply {
                status: 200,
                content_type: "application/octet-stream",
                body: bytes,
                delay_ms: 0,
            },
            Err(_) => failure("CompressGZip Error", "20007"),
        };
    }
    SimResponse::Reply {
        status: 200,
        content_type: "text/plain; charset=utf-8",
        body: text.into_bytes(),
        delay_ms: 0,
    }
}
