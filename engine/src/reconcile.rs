//! Daily reconciliation, the pure part: WeChat's bill of a Beijing day against the engine's
//! records, into typed [`Discrepancy`]s. Payments are compared both ways (every bill payment is
//! a paid attempt with the same amount and transaction; every attempt the engine saw paid that
//! day is on the bill); refunds from the bill to the engine (the engine does not keep the
//! moment a refund succeeded, so a refund it knows but the bill lacks is not judged here);
//! the bill's summary against its own rows.

use cashier_adapters::endpoints::download_bill::{Bill, BillRow};
use cashier_adapters::AmountFen;
use serde::Serialize;

use crate::model::*;
use crate::order_number::OrderNumber;

/// One difference between WeChat's bill and the engine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Discrepancy {
    /// On the bill, unknown to the engine (no attempt has the number).
    PaidAtWechatUnknownToEngine {
        /// `out_trade_no`.
        out_trade_no: String,
        /// The amount.
        amount: AmountFen,
        /// The business order its `attach` names, when it names one the engine has.
        claimed_order: Option<OrderNumber>,
    },
    /// On the bill; the engine's attempt is not paid.
    PaidAtWechatNotPaidInEngine {
        /// The order.
        order_no: OrderNumber,
        /// `out_trade_no`.
        out_trade_no: String,
    },
    /// Paid in the engine that day, not on the bill.
    PaidInEngineMissingAtWechat {
        /// The order.
        order_no: OrderNumber,
        /// `out_trade_no`.
        out_trade_no: String,
    },
    /// Both paid, other amounts.
    AmountMismatch {
        /// The order.
        order_no: OrderNumber,
        /// `out_trade_no`.
        out_trade_no: String,
        /// The engine's.
        engine: AmountFen,
        /// The bill's.
        wechat: AmountFen,
    },
    /// Both paid, other transaction ids.
    StateMismatch {
        /// The order.
        order_no: OrderNumber,
        /// `out_trade_no`.
        out_trade_no: String,
        /// What differs.
        detail: String,
    },
    /// A refund on the bill the engine does not know.
    RefundUnknownToEngine {
        /// `out_refund_no`.
        out_refund_no: String,
        /// The amount.
        amount: AmountFen,
    },
    /// A refund on the bill the engine does not have as succeeded with that amount.
    RefundMismatch {
        /// The order.
        order_no: OrderNumber,
        /// `out_refund_no`.
        out_refund_no: String,
        /// What differs.
        detail: String,
    },
    /// The bill's summary disagrees with its rows.
    FeeTotals {
        /// What differs.
        detail: String,
    },
}

impl Discrepancy {
    /// The engine order it concerns, if any.
    pub fn order_no(&self) -> Option<&OrderNumber> {
        match self {
            Discrepancy::PaidAtWechatUnknownToEngine { claimed_order, .. } => {
                claimed_order.as_ref()
            }
            Discrepancy::PaidAtWechatNotPaidInEngine { order_no, .. }
            | Discrepancy::PaidInEngineMissingAtWechat { order_no, .. }
            | Discrepancy::AmountMismatch { order_no, .. }
            | Discrepancy::StateMismatch { order_no, .. }
            | Discrepancy::RefundMismatch { order_no, .. } => Some(order_no),
            Discrepancy::RefundUnknownToEngine { .. } | Discrepancy::FeeTotals { .. } => None,
        }
    }

    /// True when asking WeChat now may make the engine agree (a notification it missed).
    pub fn resolvable_by_query(&self) -> bool {
        matches!(
            self,
            Discrepancy::PaidAtWechatNotPaidInEngine { .. } | Discrepancy::RefundMismatch { .. }
        )
    }
}

/// The bill's row amount of a payment.
fn row_amount(row: &BillRow) -> AmountFen {
    row.total_fee.unwrap_or(row.settlement_total_fee)
}

/// Compares one payment row with the engine's record of its order (None: unknown number).
pub fn check_payment(row: &BillRow, record: Option<&OrderRecord>) -> Option<Discrepancy> {
    let out_trade_no = row.out_trade_no.clone();
    let Some(record) = record else {
        return Some(Discrepancy::PaidAtWechatUnknownToEngine {
            claimed_order: row
                .attach
                .as_deref()
                .and_then(|attach| OrderNumber::parse(attach.to_owned()).ok()),
            out_trade_no,
            amount: row_amount(row),
        });
    };
    let order_no = record.order_no.clone();
    let attempt = record
        .attempts
        .iter()
        .find(|attempt| attempt.out_trade_no.as_str() == row.out_trade_no);
    match attempt.map(|attempt| (&attempt.state, attempt.request.total)) {
        Some((AttemptState::Paid { transaction_id, .. }, total)) => {
            if total != row_amount(row) {
                Some(Discrepancy::AmountMismatch {
                    order_no,
                    out_trade_no,
                    engine: total,
                    wechat: row_amount(row),
                })
            } else if transaction_id.as_str() != row.transaction_id {
                let detail = format!(
                    "transaction {} in the engine, {} on the bill",
                    transaction_id, row.transaction_id
                );
                Some(Discrepancy::StateMismatch {
                    order_no,
                    out_trade_no,
                    detail,
                })
            } else {
                None
            }
        }
        _ => Some(Discrepancy::PaidAtWechatNotPaidInEngine {
            order_no,
            out_trade_no,
        }),
    }
}

/// Compares one refund row with the engine's record of its order (None: unknown number).
pub fn check_refund(row: &BillRow, record: Option<&OrderRecord>) -> Option<Discrepancy> {
    let out_refund_no = row.out_refund_no.clone().unwrap_or_default();
    let amount = row.refund_fee.unwrap_or(AmountFen::ZERO);
    let Some(record) = record else {
        return Some(Discrepancy::RefundUnknownToEngine {
            out_refund_no,
            amount,
        });
    };
    let refund = record
        .refunds
        .iter()
        .find(|refund| refund.out_refund_no.as_str() == out_refund_no);
    let detail = match refund {
        None => Some("the engine has no refund with this number".to_owned()),
        Some(refund) if refund.amount != amount => Some(format!(
            "{} in the engine, {amount} on the bill",
            refund.amount
        )),
        Some(refund) if !matches!(refund.state, RefundState::Succeeded { .. }) => Some(format!(
            "{} in the engine, refunded on the bill",
            refund.state.name()
        )),
        Some(_) => None,
    };
    detail.map(|detail| Discrepancy::RefundMismatch {
        order_no: record.order_no.clone(),
        out_refund_no,
        detail,
    })
}

/// Attempts the engine saw paid within `[day_start_s, day_start_s + 86400)` that no payment row
/// of the bills names.
pub fn missing_at_wechat(
    records: &[OrderRecord],
    bill_numbers: &[String],
    day_start_s: i64,
    in_scope: impl Fn(&PaymentAttempt) -> bool,
) -> Vec<Discrepancy> {
    let mut missing = Vec::new();
    for record in records {
        for attempt in record.paid_attempts().filter(|attempt| in_scope(attempt)) {
            let AttemptState::Paid {
                paid_at_s: Some(paid_at_s),
                ..
            } = attempt.state
            else {
                continue;
            };
            let that_day = paid_at_s >= day_start_s && paid_at_s < day_start_s + 86_400;
            if that_day
                && !bill_numbers
                    .iter()
                    .any(|number| number == attempt.out_trade_no.as_str())
            {
                missing.push(Discrepancy::PaidInEngineMissingAtWechat {
                    order_no: record.order_no.clone(),
                    out_trade_no: attempt.out_trade_no.to_string(),
                });
            }
        }
    }
    missing
}

/// The bill's summary against its rows (count and settlement total).
pub fn check_totals(bill: &Bill) -> Option<Discrepancy> {
    let payments = bill.rows.iter().filter(|row| row.out_refund_no.is_none());
    let settlement: u64 = payments.map(|row| row.settlement_total_fee.fen()).sum();
    let rows = bill.rows.len() as u64;
    if bill.summary.trade_count != rows || bill.summary.settlement_total_fee.fen() != settlement {
        return Some(Discrepancy::FeeTotals {
            detail: format!(
                "summary says {} rows and {} settled, the rows are {rows} and {settlement} fen",
                bill.summary.trade_count, bill.summary.settlement_total_fee
            ),
        });
    }
    None
}
