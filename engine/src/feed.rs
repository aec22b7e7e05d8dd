//! The host's event feed: what the host must learn about its orders (paid, refunded, a refund
//! that needs an offline transfer, an alert) as an ordered, durable, at-least-once stream. Each
//! [`Notice`] is derived from a transition (previous record → next record) by a pure function
//! and written in the same store commit as the transition, so a notice exists exactly when its
//! transition does. The host reads after its cursor and acknowledges; the cursor is durable.

use cashier_adapters::{AmountFen, OutRefundNo, OutTradeNo, TransactionId};
use serde::{Deserialize, Serialize};

use crate::model::*;
use crate::order_number::OrderNumber;

/// Something the host should act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Notice {
    /// The order is paid (the payment it keeps).
    OrderPaid {
        /// The paying attempt.
        out_trade_no: OutTradeNo,
        /// WeChat's id.
        transaction_id: TransactionId,
        /// The amount.
        amount: AmountFen,
    },
    /// A refund completed.
    RefundSucceeded {
        /// The refund.
        out_refund_no: OutRefundNo,
        /// The amount.
        amount: AmountFen,
    },
    /// A refund ended in CHANGE: the money is back with the merchant and must be transferred
    /// to the payer offline.
    RefundNeedsOfflineTransfer {
        /// The refund.
        out_refund_no: OutRefundNo,
        /// The amount.
        amount: AmountFen,
    },
    /// A refund was closed or refused for good; its amount is refundable again.
    RefundFailed {
        /// The refund.
        out_refund_no: OutRefundNo,
    },
    /// The order is fully refunded.
    OrderRefunded,
    /// The order closed unpaid.
    OrderClosed,
    /// An alert was raised (double payment refunded, forged notification, ...).
    Alert {
        /// What kind.
        kind: AlertKind,
        /// The sentence for a person.
        detail: String,
    },
}

/// One entry of the feed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedEntry {
    /// Its position: strictly increasing, never reused.
    pub sequence: u64,
    /// The order.
    pub order_no: OrderNumber,
    /// When the transition happened.
    pub at_ms: i64,
    /// What happened.
    pub notice: Notice,
}

fn attempt_became_kept_payment(
    previous: Option<&OrderRecord>,
    next: &OrderRecord,
) -> Option<Notice> {
    let kept = next.primary_payment()?;
    let was_paid = previous
        .and_then(|previous| previous.attempt(&kept.out_trade_no))
        .is_some_and(|attempt| matches!(attempt.state, AttemptState::Paid { .. }));
    match (&kept.state, was_paid) {
        (AttemptState::Paid { transaction_id, .. }, false) => Some(Notice::OrderPaid {
            out_trade_no: kept.out_trade_no.clone(),
            transaction_id: transaction_id.clone(),
            amount: kept.request.total,
        }),
        _ => None,
    }
}

fn refund_notices(previous: Option<&OrderRecord>, next: &OrderRecord) -> Vec<Notice> {
    let mut notices = Vec::new();
    for refund in &next.refunds {
        let before = previous.and_then(|previous| previous.refund(&refund.out_refund_no));
        if before.is_some_and(|before| before.state.is_final()) || !refund.state.is_final() {
            continue;
        }
        let out_refund_no = refund.out_refund_no.clone();
        notices.push(match refund.state {
            RefundState::Succeeded { .. } => Notice::RefundSucceeded {
                out_refund_no,
                amount: refund.amount,
            },
            RefundState::Abnormal => Notice::RefundNeedsOfflineTransfer {
                out_refund_no,
                amount: refund.amount,
            },
            _ => Notice::RefundFailed { out_refund_no },
        });
    }
    notices
}

/// What a transition tells the host, in a fixed order: payment, refunds, order state, alerts.
pub fn notices(previous: Option<&OrderRecord>, next: &OrderRecord) -> Vec<Notice> {
    let mut notices: Vec<Notice> = attempt_became_kept_payment(previous, next)
        .into_iter()
        .collect();
    notices.extend(refund_notices(previous, next));
    let state_before = previous.map(|previous| previous.state);
    if state_before != Some(next.state) {
        match next.state {
            OrderState::Refunded => notices.push(Notice::OrderRefunded),
            OrderState::Closed => notices.push(Notice::OrderClosed),
            _ => {}
        }
    }
    let alerts_before = previous.map_or(0, |previous| previous.alerts.len());
    notices.extend(
        next.alerts
            .iter()
            .skip(alerts_before)
            .map(|alert| Notice::Alert {
                kind: alert.kind,
                detail: alert.detail.clone(),
            }),
    );
    notices
}
