//! What happens to an order ([`Event`]s: host requests, WeChat's answers, notifications,
//! deadlines), the IO a transition asks for ([`Effect`]s), and the audit line ([`LoggedEvent`]).

use std::net::IpAddr;

use cashier_adapters::{
    AmountFen, ErrCode, OpenId, OutRefundNo, OutTradeNo, PrepayId, RefundId, TransactionId,
};
use serde::{Deserialize, Serialize};

use crate::model::attempt::{ChannelContext, ClientLinkKind, H5Site, Refusal};
use crate::model::medical::{
    MedicalContext, MedicalOrderPlaced, MedicalRequest, PreSettlement, RefundLeg,
};
use crate::model::text::MedicalId;
use crate::model::text::{NotifyUrl, RefundReason, RequestKey};

/// What the payer's client said (never authoritative, §6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientResult {
    /// `requestPayment:ok` / `get_brand_wcpay_request:ok`: triggers an immediate query.
    Ok,
    /// The payer cancelled: nothing changes.
    Cancel,
    /// The client failed: nothing changes.
    Fail,
}

/// How a WeChat call ended, in the machine's terms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallFailure {
    /// No answer, or an answer that cannot be believed: the outcome is unknown.
    Unknown,
    /// Retry the identical request later (SYSTEMERROR, BIZERR_NEED_RETRY, rate limits).
    Retry {
        /// The code.
        code: ErrCode,
        /// The wait before retrying.
        after_ms: i64,
    },
    /// Refused for good.
    Final {
        /// Why.
        refusal: Refusal,
    },
}

/// A unified order's outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrepayOutcome {
    /// Prepared.
    Prepared {
        /// `prepay_id`.
        prepay_id: PrepayId,
        /// `code_url` / `mweb_url`.
        link: ClientLinkKind,
    },
    /// ORDERPAID: already paid; query for the details.
    AlreadyPaid,
    /// ORDERCLOSED.
    AlreadyClosed,
    /// Failed.
    Failed(CallFailure),
}

/// An orderquery's outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum QueryOutcome {
    /// Paid (SUCCESS or REFUND).
    Paid {
        /// `transaction_id`.
        transaction_id: TransactionId,
        /// `total_fee`.
        total: AmountFen,
        /// `time_end` (Unix seconds).
        paid_at_s: Option<i64>,
    },
    /// NOTPAY (or USERPAYING/ACCEPT: not yet).
    NotPaid,
    /// CLOSED (or REVOKED/PAYERROR).
    Closed,
    /// ORDERNOTEXIST: never created at WeChat.
    NotFound,
    /// Failed.
    Failed(CallFailure),
}

/// A closeorder's outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CloseOutcome {
    /// Closed (or already closed, or never existed).
    Closed,
    /// ORDERPAID: the payer paid after all.
    AlreadyPaid,
    /// TRADE_STATE_ERROR and the like: query first.
    QueryFirst,
    /// Failed.
    Failed(CallFailure),
}

/// A refund call's outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefundOutcome {
    /// Accepted.
    Accepted {
        /// `refund_id`.
        refund_id: RefundId,
    },
    /// Failed.
    Failed(CallFailure),
}

/// A refund's status as WeChat reports it (refundquery or notification).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefundStatusReport {
    /// PROCESSING.
    Processing {
        /// `refund_id`.
        refund_id: RefundId,
    },
    /// SUCCESS.
    Succeeded {
        /// `refund_id`.
        refund_id: RefundId,
    },
    /// REFUNDCLOSE.
    Closed,
    /// CHANGE.
    Abnormal,
    /// REFUNDNOTEXIST.
    NotFound,
    /// The query failed.
    Failed(CallFailure),
}

/// What the shell knows from configuration when the host starts a payment; the machine
/// decides whether to reuse, refresh or add an attempt, and builds the request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptSpec {
    /// A fresh number, used only when a new attempt is added.
    pub out_trade_no: OutTradeNo,
    /// The entry's channel context.
    pub channel: ChannelContext,
    /// The entry's notification URL.
    pub notify_url: NotifyUrl,
    /// The entry's H5 site (MWEB).
    pub h5_site: Option<H5Site>,
    /// The payer's openid under the entry's invoking app (JSAPI).
    pub openid: Option<OpenId>,
    /// `spbill_create_ip`.
    pub client_ip: IpAddr,
}

/// Everything that can happen to an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// The order was created (the first line of every audit trail).
    Created {
        /// The amount.
        amount: AmountFen,
    },
    /// Pay through an entry: reuse, refresh or add an attempt.
    StartPayment {
        /// What configuration says about the entry.
        spec: Box<AttemptSpec>,
    },
    /// The unified order answered.
    PrepayResult {
        /// `out_trade_no`.
        out_trade_no: OutTradeNo,
        /// How it ended.
        outcome: PrepayOutcome,
    },
    /// The client reported a result (a hint only).
    ClientReported {
        /// `out_trade_no`.
        out_trade_no: OutTradeNo,
        /// What it said.
        result: ClientResult,
    },
    /// A verified payment notification.
    PaymentNotified {
        /// `out_trade_no`.
        out_trade_no: OutTradeNo,
        /// `transaction_id`.
        transaction_id: TransactionId,
        /// `time_end` (Unix seconds).
        paid_at_s: Option<i64>,
    },
    /// An orderquery answered.
    QueryResult {
        /// `out_trade_no`.
        out_trade_no: OutTradeNo,
        /// How it ended.
        outcome: QueryOutcome,
    },
    /// The host asked to hear from WeChat now (a result page, a support desk).
    QueryRequested,
    /// The merchant asked to close the order.
    CloseRequested,
    /// A closeorder answered.
    CloseResult {
        /// `out_trade_no`.
        out_trade_no: OutTradeNo,
        /// How it ended.
        outcome: CloseOutcome,
    },
    /// A stored deadline passed.
    DeadlineReached,
    /// The host asked for a refund.
    RefundRequested {
        /// The host's idempotency key.
        key: RequestKey,
        /// A fresh `out_refund_no`, used only when the key is new.
        out_refund_no: OutRefundNo,
        /// The amount.
        amount: AmountFen,
        /// The reason.
        reason: RefundReason,
    },
    /// A refund call answered.
    RefundResult {
        /// `out_refund_no`.
        out_refund_no: OutRefundNo,
        /// How it ended.
        outcome: RefundOutcome,
    },
    /// A refund's status arrived (verified refund notification or refundquery).
    RefundStatus {
        /// `out_refund_no`.
        out_refund_no: OutRefundNo,
        /// The status.
        report: RefundStatusReport,
        /// True when it came from a notification (for counters and the audit trail).
        from_notification: bool,
    },
    /// A notification conflicting with the order (amount, appid, mch_id) was refused.
    ConflictingNotification {
        /// What conflicted.
        detail: String,
    },
    /// Reconciliation with WeChat's bill found a difference a query could not resolve.
    /// (Appended last: stored format 2 encodes variants by position.)
    ReconciliationMismatch {
        /// What differs.
        detail: String,
    },
    /// Pay with 医保: the payer authorised (userQuery gave a `payAuthNo`); add a medical
    /// attempt and pre-settle at NHSA. (Medical variants are appended, stored format 3.)
    MedicalStart {
        /// The attempt to add.
        spec: Box<MedicalSpec>,
    },
    /// 6201 answered.
    MedicalPreSettled {
        /// `hosp_out_trade_no`.
        out_trade_no: OutTradeNo,
        /// How it ended.
        outcome: Result<PreSettlement, CallFailure>,
    },
    /// The payinsurance unifiedorder answered.
    MedicalOrdered {
        /// `hosp_out_trade_no`.
        out_trade_no: OutTradeNo,
        /// How it ended.
        outcome: Result<MedicalOrderPlaced, CallFailure>,
    },
    /// The payinsurance order query answered (or a verified notification arrived).
    MedicalQueried {
        /// `hosp_out_trade_no`.
        out_trade_no: OutTradeNo,
        /// How it ended.
        outcome: MedicalQueryOutcome,
        /// True when it came from a notification.
        from_notification: bool,
    },
    /// The payinsurance closeorder answered.
    MedicalClosed {
        /// `hosp_out_trade_no`.
        out_trade_no: OutTradeNo,
        /// How it ended.
        outcome: CloseOutcome,
    },
    /// 6401 (revoke the pre-settlement) answered.
    MedicalRevoked {
        /// `hosp_out_trade_no`.
        out_trade_no: OutTradeNo,
        /// How it ended.
        outcome: Result<(), CallFailure>,
    },
    /// One leg of a medical refund answered.
    MedicalRefundLegResult {
        /// `hosp_out_refund_no`.
        out_refund_no: OutRefundNo,
        /// Which leg.
        leg: RefundLeg,
        /// How it ended (`med_refund_id` for WeChat's cash leg).
        outcome: Result<Option<MedicalId>, CallFailure>,
    },
}

impl Event {
    /// The event as the audit trail keeps it: a `payAuthNo` is single-use and short-lived, and
    /// is kept nowhere beyond the attempt that uses it.
    pub fn redacted(self) -> Event {
        match self {
            Event::MedicalStart { mut spec } => {
                if let Ok(hidden) = MedicalId::new("***") {
                    spec.pay_auth_no = hidden;
                }
                Event::MedicalStart { spec }
            }
            other => other,
        }
    }
}

/// What the shell knows when the host starts a 医保 payment: the payer's `payAuthNo` from
/// userQuery, and what configuration says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MedicalSpec {
    /// A fresh `hosp_out_trade_no`.
    pub out_trade_no: OutTradeNo,
    /// The entry's context.
    pub context: MedicalContext,
    /// What 6201 and the order are sent with.
    pub request: MedicalRequest,
    /// `payAuthNo` (single-use; kept only while the attempt needs it).
    pub pay_auth_no: MedicalId,
}

/// A payinsurance order query's outcome, read from its three-part state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MedicalQueryOutcome {
    /// `med_trade_state` SUCCESS (or REFUND): paid, with these amounts.
    Paid {
        /// `med_trans_id`.
        med_trans_id: MedicalId,
        /// `total_fee`, `cash_fee`, `insurance_fee`.
        amounts: (AmountFen, AmountFen, AmountFen),
        /// `time_end` (Unix seconds).
        paid_at_s: Option<i64>,
    },
    /// NOTPAY (the payer has not paid, or backed out).
    NotPaid,
    /// CLOSED or PAYERROR: this order will not be paid.
    Closed,
    /// ORDERNOTEXIST.
    NotFound,
    /// The query failed.
    Failed(CallFailure),
}

/// IO the shell must run after the transition is durable.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Effect {
    /// Send (or resend, identically) the attempt's unified order.
    SendUnifiedOrder {
        /// `out_trade_no`.
        out_trade_no: OutTradeNo,
    },
    /// Query the attempt.
    QueryOrder {
        /// `out_trade_no`.
        out_trade_no: OutTradeNo,
    },
    /// Close the attempt at WeChat.
    CloseOrder {
        /// `out_trade_no`.
        out_trade_no: OutTradeNo,
    },
    /// Send (or resend, with the same `out_refund_no`) the refund.
    SendRefund {
        /// `out_refund_no`.
        out_refund_no: OutRefundNo,
    },
    /// Query the refund.
    QueryRefund {
        /// `out_refund_no`.
        out_refund_no: OutRefundNo,
    },
    /// Send 6201 (pre-settle at NHSA).
    MedicalPreSettle {
        /// `hosp_out_trade_no`.
        out_trade_no: OutTradeNo,
    },
    /// Send (or resend, identically) the payinsurance unifiedorder.
    MedicalPlaceOrder {
        /// `hosp_out_trade_no`.
        out_trade_no: OutTradeNo,
    },
    /// Query the payinsurance order.
    MedicalQuery {
        /// `hosp_out_trade_no`.
        out_trade_no: OutTradeNo,
    },
    /// Close the payinsurance order.
    MedicalClose {
        /// `hosp_out_trade_no`.
        out_trade_no: OutTradeNo,
    },
    /// Revoke NHSA's pre-settlement (6401).
    MedicalRevoke {
        /// `hosp_out_trade_no`.
        out_trade_no: OutTradeNo,
    },
    /// Send (or resend) one leg of a medical refund.
    MedicalRefund {
        /// `hosp_out_refund_no`.
        out_refund_no: OutRefundNo,
        /// Which leg.
        leg: RefundLeg,
    },
}

/// One line of an order's audit trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedEvent {
    /// The revision the event produced.
    pub revision: u64,
    /// When.
    pub at_ms: i64,
    /// What happened.
    pub event: Event,
}
