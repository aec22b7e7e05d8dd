//! The engine's records: a business [`OrderRecord`] with its [`PaymentAttempt`]s (each with
//! the channel context it was made with) and [`RefundRecord`]s, the [`Event`]s that drive them,
//! and the [`Effect`]s a transition asks the shell to run. Everything here is plain data,
//! serialisable with a format version, and free of IO.

use serde::{Deserialize, Serialize};

use crate::order_number::OrderNumber;

/// The record format version written with every record; a reader refuses versions it does not
/// know rather than misreading them.
pub const RECORD_FORMAT_VERSION: u8 = 1;

/// An entry point of the merchant (official account, mini program, APP, H5, Native), named in
/// configuration.
pub type EntryName = String;

/// How a payment attempt was made: everything a refund, query or notification check must reuse
/// (wechatpay-v2.md §2.5, peers.md gap 2). The API key is not here: it is looked up by entry
/// from configuration and never persisted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelContext {
    /// The configured entry point.
    pub entry: EntryName,
    /// `appid`.
    pub appid: String,
    /// `mch_id`.
    pub mch_id: String,
    /// `sub_appid` (SP mode).
    pub sub_appid: Option<String>,
    /// `sub_mch_id` (SP mode).
    pub sub_mch_id: Option<String>,
    /// `MD5` or `HMAC-SHA256`.
    pub sign_type: String,
    /// `JSAPI`, `NATIVE`, `APP`, `MWEB`.
    pub trade_type: String,
}

/// The business order's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// A payment attempt's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttemptState {
    /// The unified order is about to be sent; persisted before it leaves the process, so a
    /// crash here is resolved by querying (outcome unknown).
    Sending,
    /// The request was sent and no answer came: resolved only by querying.
    OutcomeUnknown,
    /// The unified order succeeded.
    Prepared {
        /// `prepay_id`.
        prepay_id: String,
        /// `code_url` (NATIVE).
        code_url: Option<String>,
        /// `mweb_url` (MWEB).
        mweb_url: Option<String>,
    },
    /// Closing at WeChat (sent or about to be).
    Closing,
    /// Paid.
    Paid {
        /// `transaction_id`.
        transaction_id: String,
        /// Payment time (Beijing `yyyyMMddHHmmss` as WeChat reports it).
        time_end: Option<String>,
    },
    /// Closed at WeChat (or never created there).
    Closed,
    /// Refused by WeChat for good (configuration, parameters); nothing was created.
    Failed {
        /// The err_code or message.
        reason: String,
    },
}

impl AttemptState {
    /// True when the attempt can still turn into a payment.
    pub fn is_live(&self) -> bool {
        matches!(
            self,
            AttemptState::Sending
                | AttemptState::OutcomeUnknown
                | AttemptState::Prepared { .. }
                | AttemptState::Closing
        )
    }
}

/// The unified order parameters of an attempt, kept so that every retry sends exactly the same
/// values (WeChat's re-entry rule).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRequest {
    /// `body`.
    pub body: String,
    /// `total_fee` in fen.
    pub total_fen: u64,
    /// `spbill_create_ip`.
    pub client_ip: String,
    /// `notify_url`.
    pub notify_url: String,
    /// `openid` (JSAPI under `appid`).
    pub openid: Option<String>,
    /// `sub_openid` (JSAPI under `sub_appid`).
    pub sub_openid: Option<String>,
    /// `product_id` (NATIVE).
    pub product_id: Option<String>,
    /// `scene_info` site (MWEB): URL and name.
    pub h5_site: Option<(String, String)>,
    /// `time_start` (Unix seconds).
    pub time_start_s: i64,
    /// `time_expire` (Unix seconds).
    pub time_expire_s: i64,
    /// `attach`: the business order number, echoed back by WeChat.
    pub attach: String,
}

/// One attempt to pay the order through one entry point.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentAttempt {
    /// `out_trade_no`.
    pub out_trade_no: String,
    /// The channel context it was made with.
    pub channel: ChannelContext,
    /// The unified order parameters.
    pub request: AttemptRequest,
    /// Its state.
    pub state: AttemptState,
    /// When it was created.
    pub created_ms: i64,
    /// Unified order sends so far (retries included).
    pub sends: u32,
    /// Order queries so far.
    pub queries: u32,
    /// When the next action on it is due (query, retry, close).
    pub next_action_ms: Option<i64>,
    /// Close sends so far.
    pub close_sends: u32,
}

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
        refund_id: String,
    },
    /// Refunded (terminal).
    Succeeded {
        /// `refund_id`.
        refund_id: String,
    },
    /// Closed: failed at WeChat (terminal).
    Closed,
    /// Abnormal (CHANGE): money back with the merchant, needs manual work (terminal).
    Abnormal,
    /// Refused by WeChat for good (terminal; the amount is free again).
    Failed {
        /// The err_code or message.
        reason: String,
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
}

/// Why a refund exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefundCause {
    /// The merchant asked.
    Requested {
        /// The reason shown to the payer.
        reason: String,
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
    pub out_refund_no: String,
    /// The attempt refunded (its channel context is reused exactly).
    pub out_trade_no: String,
    /// `refund_fee` in fen.
    pub amount_fen: u64,
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

/// Something that needs a person's attention, recorded durably.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// When.
    pub at_ms: i64,
    /// What.
    pub message: String,
}

/// A business order with its attempts and refunds: the unit the actor owns and the store keeps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    /// The business order number.
    pub order_no: OrderNumber,
    /// Product type (2 digits).
    pub product_type: u8,
    /// The payer's unionid, when known.
    pub payer_unionid: Option<String>,
    /// The amount in fen.
    pub amount_fen: u64,
    /// Item description (`body`).
    pub description: String,
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
}

impl OrderRecord {
    /// The attempt with this `out_trade_no`.
    pub fn attempt(&self, out_trade_no: &str) -> Option<&PaymentAttempt> {
        self.attempts
            .iter()
            .find(|attempt| attempt.out_trade_no == out_trade_no)
    }

    /// The refund with this `out_refund_no`.
    pub fn refund(&self, out_refund_no: &str) -> Option<&RefundRecord> {
        self.refunds
            .iter()
            .find(|refund| refund.out_refund_no == out_refund_no)
    }

    /// The attempts that succeeded.
    pub fn paid_attempts(&self) -> impl Iterator<Item = &PaymentAttempt> {
        self.attempts
            .iter()
            .filter(|attempt| matches!(attempt.state, AttemptState::Paid { .. }))
    }

    /// The payment the order keeps: the paid attempt whose money is not being returned by an
    /// automatic refund (a duplicate payment or a payment after close). Merchant refunds come
    /// out of it.
    pub fn primary_payment(&self) -> Option<&PaymentAttempt> {
        self.paid_attempts()
            .find(|attempt| !self.is_automatically_refunded(&attempt.out_trade_no))
    }

    /// True when an automatic refund returns this attempt's money.
    pub fn is_automatically_refunded(&self, out_trade_no: &str) -> bool {
        self.refunds.iter().any(|refund| {
            refund.out_trade_no == out_trade_no
                && !matches!(refund.cause, RefundCause::Requested { .. })
        })
    }

    /// Fen paid by all successful attempts.
    pub fn paid_fen(&self) -> u64 {
        self.paid_attempts()
            .map(|attempt| attempt.request.total_fen)
            .sum()
    }

    /// Fen refunded or being refunded.
    pub fn refund_committed_fen(&self) -> u64 {
        self.refunds
            .iter()
            .filter(|refund| refund.state.counts_against_paid())
            .map(|refund| refund.amount_fen)
            .sum()
    }
}

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
        code: String,
        /// The wait before retrying.
        after_ms: i64,
    },
    /// Refused for good.
    Final {
        /// The code or message.
        code: String,
    },
}

/// A unified order's outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrepayOutcome {
    /// Prepared.
    Prepared {
        /// `prepay_id`.
        prepay_id: String,
        /// `code_url`.
        code_url: Option<String>,
        /// `mweb_url`.
        mweb_url: Option<String>,
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
        transaction_id: String,
        /// `total_fee` in fen.
        total_fen: u64,
        /// `time_end`.
        time_end: Option<String>,
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
        refund_id: String,
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
        refund_id: String,
    },
    /// SUCCESS.
    Succeeded {
        /// `refund_id`.
        refund_id: String,
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

/// Everything that can happen to an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// The order was created (the first line of every audit trail; not a machine input).
    Created {
        /// The amount in fen.
        amount_fen: u64,
    },
    /// Start a payment attempt through an entry (built by the shell from configuration).
    StartPayment {
        /// The attempt to add.
        attempt: Box<PaymentAttempt>,
    },
    /// The unified order answered.
    PrepayResult {
        /// `out_trade_no`.
        out_trade_no: String,
        /// How it ended.
        outcome: PrepayOutcome,
    },
    /// The client reported a result (a hint only).
    ClientReported {
        /// `out_trade_no`.
        out_trade_no: String,
        /// What it said.
        result: ClientResult,
    },
    /// A verified payment notification.
    PaymentNotified {
        /// `out_trade_no`.
        out_trade_no: String,
        /// `transaction_id`.
        transaction_id: String,
        /// `time_end`.
        time_end: Option<String>,
    },
    /// An orderquery answered.
    QueryResult {
        /// `out_trade_no`.
        out_trade_no: String,
        /// How it ended.
        outcome: QueryOutcome,
    },
    /// The merchant asked to close the order.
    CloseRequested,
    /// A closeorder answered.
    CloseResult {
        /// `out_trade_no`.
        out_trade_no: String,
        /// How it ended.
        outcome: CloseOutcome,
    },
    /// A stored deadline passed.
    DeadlineReached,
    /// The merchant asked for a refund.
    RefundRequested {
        /// `out_refund_no` (issued by the shell).
        out_refund_no: String,
        /// The amount in fen.
        amount_fen: u64,
        /// The reason.
        reason: String,
    },
    /// A refund call answered.
    RefundResult {
        /// `out_refund_no`.
        out_refund_no: String,
        /// How it ended.
        outcome: RefundOutcome,
    },
    /// A refund's status arrived (verified refund notification or refundquery).
    RefundStatus {
        /// `out_refund_no`.
        out_refund_no: String,
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
}

/// IO the shell must run after the transition is durable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    /// Send (or resend, identically) the attempt's unified order.
    SendUnifiedOrder {
        /// `out_trade_no`.
        out_trade_no: String,
    },
    /// Query the attempt.
    QueryOrder {
        /// `out_trade_no`.
        out_trade_no: String,
    },
    /// Close the attempt at WeChat.
    CloseOrder {
        /// `out_trade_no`.
        out_trade_no: String,
    },
    /// Send (or resend, with the same `out_refund_no`) the refund.
    SendRefund {
        /// `out_refund_no`.
        out_refund_no: String,
    },
    /// Query the refund.
    QueryRefund {
        /// `out_refund_no`.
        out_refund_no: String,
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
