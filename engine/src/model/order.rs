//! The business order: what the host sells, with its payment attempts, refunds and alerts.
//! The unit the actor owns and the store keeps.

use cashier_adapters::{AmountFen, OutRefundNo, OutTradeNo};
use serde::{Deserialize, Serialize};

use crate::model::attempt::{AttemptState, PaymentAttempt};
use crate::model::medical::{MedicalAttempt, MedicalRefund, MedicalState};
use crate::model::refund::{RefundCause, RefundRecord};
use crate::model::text::{Description, RequestKey, UnionId};
use crate::order_number::{OrderNumber, ProductType};

/// The business order's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum OrderState {
    /// Created; no unified order has succeeded yet.
    Created,
    /// A unified order succeeded: the payer can pay.
    Paying,
    /// Paid (by exactly one attempt).
    Paid,
    /// Paid, and part of it refunded.
    PartiallyRefunded,
    /// Paid and fully refunded (terminal).
    Refunded,
    /// Closed unpaid: expired or cancelled by the merchant (terminal).
    Closed,
}

impl OrderState {
    /// Every state, in the order reports list them.
    pub const ALL: [OrderState; 6] = [
        OrderState::Created,
        OrderState::Paying,
        OrderState::Paid,
        OrderState::PartiallyRefunded,
        OrderState::Refunded,
        OrderState::Closed,
    ];

    /// True when no event changes the order's state any more.
    pub fn is_terminal(self) -> bool {
        matches!(self, OrderState::Refunded | OrderState::Closed)
    }

    /// True once a payment succeeded.
    pub fn is_paid(self) -> bool {
        matches!(
            self,
            OrderState::Paid | OrderState::PartiallyRefunded | OrderState::Refunded
        )
    }

    /// The state's byte in store keys (stable across versions).
    pub fn code(self) -> u8 {
        match self {
            OrderState::Created => 1,
            OrderState::Paying => 2,
            OrderState::Paid => 3,
            OrderState::PartiallyRefunded => 4,
            OrderState::Refunded => 5,
            OrderState::Closed => 6,
        }
    }
}

/// What needs a person's attention.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AlertKind {
    /// A second payment of a paid order: refunded automatically.
    DuplicatePayment,
    /// A payment after the order closed: refunded automatically.
    PaidAfterClose,
    /// A validly signed notification contradicting the order (amount, appid, mch_id).
    ConflictingNotification,
    /// WeChat reported an attempt paid twice with different transaction ids.
    ConflictingTransaction,
    /// An orderquery reported another amount than the attempt's.
    QueryAmountMismatch,
    /// WeChat says a prepared attempt does not exist.
    PreparedAttemptMissing,
    /// WeChat refused a unified order for good.
    AttemptRefused,
    /// WeChat refused a refund for good.
    RefundRefused,
    /// WeChat closed a refund (REFUNDCLOSE).
    RefundClosed,
    /// A refund ended in CHANGE: transfer the money offline.
    RefundAbnormal,
    /// An alert migrated from stored format 1 whose kind could not be read from its text.
    Other,
    /// WeChat's bill and the engine disagree about this order (appended last, see `Event`).
    ReconciliationMismatch,
}

/// Something that needs a person's attention, recorded durably.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// When.
    pub at_ms: i64,
    /// What kind.
    pub kind: AlertKind,
    /// A sentence for the person reading it.
    pub detail: String,
}

/// A business order with its attempts and refunds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    /// The business order number.
    pub order_no: OrderNumber,
    /// Product type (2 digits).
    pub product_type: ProductType,
    /// The payer's unionid, when known.
    pub payer_unionid: Option<UnionId>,
    /// The amount.
    pub amount: AmountFen,
    /// Item description (`body`).
    pub description: Description,
    /// Its state.
    pub state: OrderState,
    /// When it was created.
    pub created_ms: i64,
    /// When an unpaid order expires.
    pub expires_ms: i64,
    /// True once the merchant asked to close it.
    pub close_requested: bool,
    /// Payment attempts, oldest first.
    pub attempts: Vec<PaymentAttempt>,
    /// Refunds, oldest first.
    pub refunds: Vec<RefundRecord>,
    /// Alerts.
    pub alerts: Vec<Alert>,
    /// The next deadline (the minimum of every pending action), stored as data.
    pub deadline_ms: Option<i64>,
    /// Incremented by every transition.
    pub revision: u64,
    /// 医保 attempts, oldest first (stored format 3 on).
    pub medical: Vec<MedicalAttempt>,
}

impl OrderRecord {
    /// The attempt with this `out_trade_no`.
    pub fn attempt(&self, out_trade_no: &OutTradeNo) -> Option<&PaymentAttempt> {
        self.attempts
            .iter()
            .find(|attempt| &attempt.out_trade_no == out_trade_no)
    }

    /// The refund with this `out_refund_no`.
    pub fn refund(&self, out_refund_no: &OutRefundNo) -> Option<&RefundRecord> {
        self.refunds
            .iter()
            .find(|refund| &refund.out_refund_no == out_refund_no)
    }

    /// The refund the host asked for under `key`.
    pub fn refund_by_key(&self, key: &RequestKey) -> Option<&RefundRecord> {
        self.refunds
            .iter()
            .find(|refund| refund.request_key() == Some(key))
    }

    /// The attempts that succeeded.
    pub fn paid_attempts(&self) -> impl Iterator<Item = &PaymentAttempt> {
        self.attempts
            .iter()
            .filter(|attempt| matches!(attempt.state, AttemptState::Paid { .. }))
    }

    /// The payment the order keeps: the paid attempt whose money is not being returned by an
    /// automatic refund (a duplicate payment or a payment after close). Host refunds come out
    /// of it.
    pub fn primary_payment(&self) -> Option<&PaymentAttempt> {
        self.paid_attempts()
            .find(|attempt| !self.is_automatically_refunded(&attempt.out_trade_no))
    }

    /// True when an automatic refund returns this attempt's money.
    pub fn is_automatically_refunded(&self, out_trade_no: &OutTradeNo) -> bool {
        self.refunds.iter().any(|refund| {
            &refund.out_trade_no == out_trade_no
                && !matches!(refund.cause, RefundCause::Requested { .. })
        })
    }

    /// Fen paid by all successful attempts (WeChat Pay and 医保).
    pub fn paid_fen(&self) -> u64 {
        let wechat: u64 = self
            .paid_attempts()
            .map(|attempt| attempt.request.total.fen())
            .sum();
        let medical: u64 = self
            .paid_medical()
            .filter_map(MedicalAttempt::paid_split)
            .map(|split| split.total.fen())
            .sum();
        wechat + medical
    }

    /// The medical attempt with this `hosp_out_trade_no`.
    pub fn medical_attempt(&self, out_trade_no: &OutTradeNo) -> Option<&MedicalAttempt> {
        self.medical
            .iter()
            .find(|attempt| &attempt.out_trade_no == out_trade_no)
    }

    /// The medical refund the host asked for under `key`.
    pub fn medical_refund_by_key(&self, key: &RequestKey) -> Option<&MedicalRefund> {
        self.medical_refunds()
            .map(|(_, refund)| refund)
            .find(|refund| matches!(&refund.cause, RefundCause::Requested { key: known, .. } if known == key))
    }

    /// The medical attempts that were paid.
    pub fn paid_medical(&self) -> impl Iterator<Item = &MedicalAttempt> {
        self.medical
            .iter()
            .filter(|attempt| matches!(attempt.state, MedicalState::Paid { .. }))
    }

    /// Every medical refund with the attempt it returns.
    pub fn medical_refunds(&self) -> impl Iterator<Item = (&MedicalAttempt, &MedicalRefund)> {
        self.medical
            .iter()
            .flat_map(|attempt| attempt.refunds.iter().map(move |refund| (attempt, refund)))
    }

    /// True while any attempt (WeChat Pay or 医保) can still turn into a payment.
    pub fn has_live_attempt(&self) -> bool {
        self.attempts.iter().any(|attempt| attempt.state.is_live())
            || self.medical.iter().any(|attempt| attempt.state.is_live())
    }

    /// Fen of one attempt refunded or being refunded.
    pub fn refund_committed_fen(&self, out_trade_no: &OutTradeNo) -> u64 {
        self.refunds
            .iter()
            .filter(|refund| {
                &refund.out_trade_no == out_trade_no && refund.state.counts_against_paid()
            })
            .map(|refund| refund.amount.fen())
            .sum()
    }

    /// The openids of every payer that started an attempt of this order.
    pub fn payer_openids(&self) -> impl Iterator<Item = &cashier_adapters::OpenId> {
        self.attempts
            .iter()
            .filter_map(|attempt| attempt.request.payer.as_ref().map(|payer| payer.openid()))
            .chain(self.medical.iter().map(|attempt| &attempt.request.openid))
    }
}
