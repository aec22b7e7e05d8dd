//! Refunds: one per `out_refund_no`, each returning money of one paid attempt with that
//! attempt's channel context, and carrying the host's idempotency key when the host asked.

use cashier_adapters::{AmountFen, OutRefundNo, OutTradeNo, RefundId};
use serde::{Deserialize, Serialize};

use crate::model::attempt::Refusal;
use crate::model::text::{RefundReason, RequestKey};

/// A refund's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefundState {
    /// About to be sent (persisted first; a crash here is resolved by querying).
    Sending,
    /// Sent, no answer: resolved by querying, then resending the same `out_refund_no`.
    OutcomeUnknown,
    /// Accepted by WeChat, in progress.
    Processing {
        /// `refund_id`.
        refund_id: RefundId,
    },
    /// Refunded (terminal).
    Succeeded {
        /// `refund_id`.
        refund_id: RefundId,
    },
    /// Closed: failed at WeChat (terminal).
    Closed,
    /// Abnormal (CHANGE): money back with the merchant, needs manual work (terminal).
    Abnormal,
    /// Refused by WeChat for good (terminal; the amount is free again).
    Failed {
        /// Why.
        refusal: Refusal,
    },
}

impl RefundState {
    /// True when the refund holds or moved money (it counts against the refundable amount).
    pub fn counts_against_paid(&self) -> bool {
        !matches!(self, RefundState::Closed | RefundState::Failed { .. })
    }

    /// True when nothing changes any more.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            RefundState::Succeeded { .. }
                | RefundState::Closed
                | RefundState::Abnormal
                | RefundState::Failed { .. }
        )
    }

    /// A short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            RefundState::Sending => "sending",
            RefundState::OutcomeUnknown => "outcome_unknown",
            RefundState::Processing { .. } => "processing",
            RefundState::Succeeded { .. } => "succeeded",
            RefundState::Closed => "closed",
            RefundState::Abnormal => "abnormal",
            RefundState::Failed { .. } => "failed",
        }
    }
}

/// Why a refund exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefundCause {
    /// The host asked, under its idempotency key.
    Requested {
        /// The host's key: a repeat with the same key is the same refund.
        key: RequestKey,
        /// The reason shown to the payer.
        reason: RefundReason,
    },
    /// A second attempt of an already paid order also succeeded: its money goes back.
    DuplicatePayment,
    /// A payment succeeded after the order was closed: its money goes back.
    PaidAfterClose,
}

/// One refund, of one paid attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRecord {
    /// `out_refund_no`.
    pub out_refund_no: OutRefundNo,
    /// The attempt refunded (its channel context is reused exactly).
    pub out_trade_no: OutTradeNo,
    /// `refund_fee`.
    pub amount: AmountFen,
    /// Why.
    pub cause: RefundCause,
    /// Its state.
    pub state: RefundState,
    /// When it was requested.
    pub created_ms: i64,
    /// Sends so far.
    pub sends: u32,
    /// Queries so far.
    pub queries: u32,
    /// When the next action on it is due.
    pub next_action_ms: Option<i64>,
}

impl RefundRecord {
    /// The host's idempotency key, for refunds the host asked for.
    pub fn request_key(&self) -> Option<&RequestKey> {
        match &self.cause {
            RefundCause::Requested { key, .. } => Some(key),
            _ => None,
        }
    }
}
