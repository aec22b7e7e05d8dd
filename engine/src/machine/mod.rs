//! The pure state machine: `step(record, event, now) -> Transition | Rejection` (and
//! [`create`] for the first transition). No IO, no clock, no randomness: the shell persists the
//! returned record and only then runs the returned effects (style-anchors L1, L2). Every order
//! rule lives here: creation, attempt reuse and refresh, payer fields, expiry floors, refunds
//! and their idempotency keys. Deadlines are data in the record, recomputed after every
//! transition, so recovery after a restart is "run what is due".
//!
//! - `create.rs`: creation with its named outcomes.
//! - `attempts.rs`: starting, preparing, paying and closing attempts.
//! - `queries.rs`: orderquery answers and the deadline run.
//! - `refunds.rs`: refund requests, answers and statuses.
//! - `medical.rs`: 医保 attempts (pre-settle, order, pay, close and revoke).
//! - `medical_refunds.rs`: refunds of a 医保 payment by leg (WeChat cash, NHSA 6203).
//! - `step.rs`: the primitive moves every handler shares, and settling the order's state.
//! - `ladders.rs`: timing constants and the next deadline.
//! - `invariants.rs`: what every record must keep.

mod attempts;
mod create;
mod invariants;
pub mod ladders;
mod medical;
mod medical_refunds;
mod queries;
mod refunds;
mod step;

use cashier_adapters::{OutRefundNo, OutTradeNo};

pub use create::{create, OrderSpec};
pub use invariants::check_invariants;
pub use ladders::*;
pub use medical::PRE_SETTLE_SENDS;
pub use medical_refunds::refund_shape;
pub use refunds::automatic_refund_number;

use crate::model::*;
use step::Step;

/// What a transition did, by name, for the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The event was applied (or changed nothing); nothing more to say.
    Applied,
    /// The order was created.
    Created,
    /// An order with this number and the same content exists: nothing changed.
    AlreadyExists,
    /// A new attempt was added and its unified order is being sent.
    AttemptStarted(OutTradeNo),
    /// A prepared attempt of the same entry and payer is still fresh: use it again.
    AttemptReused(OutTradeNo),
    /// A prepared attempt's link went stale: it is being refreshed by identical re-entry.
    AttemptRefreshing(OutTradeNo),
    /// A refund was added and is being sent.
    RefundRequested(OutRefundNo),
    /// The same key and content asked before: this is that refund.
    RefundAlreadyRequested(OutRefundNo),
}

/// The next state and the effects to run once it is durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The record after the event.
    pub record: OrderRecord,
    /// IO to run after the record is durable.
    pub effects: Vec<Effect>,
    /// False when the event changed nothing (a repeated notification, a client "cancel").
    pub changed: bool,
    /// What happened, by name.
    pub outcome: Outcome,
}

impl Transition {
    fn unchanged(record: &OrderRecord, outcome: Outcome) -> Transition {
        Transition {
            record: record.clone(),
            effects: Vec::new(),
            changed: false,
            outcome,
        }
    }
}

/// Why an event was refused (nothing changes).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The order is closed or fully refunded.
    #[error("the order is {0:?}")]
    Terminal(OrderState),
    /// The order is already paid: no new payment attempt, no close.
    #[error("the order is already paid")]
    AlreadyPaid,
    /// The order is not paid: nothing to refund.
    #[error("the order is not paid")]
    NotPaid,
    /// An order with this number exists with other content.
    #[error("an order with this number exists with other content")]
    ConflictingContent,
    /// The amount is zero or above WeChat's maximum.
    #[error("the amount must be 1 to 2147483647 fen")]
    AmountOutOfRange,
    /// A JSAPI payment needs the payer's openid.
    #[error("a JSAPI payment needs the payer's openid")]
    PayerRequired,
    /// Only JSAPI payments take a payer openid.
    #[error("a {0:?} payment takes no payer openid")]
    PayerNotTaken(TradeKind),
    /// No attempt with that `out_trade_no`.
    #[error("no payment attempt {0}")]
    UnknownAttempt(OutTradeNo),
    /// No refund with that `out_refund_no`.
    #[error("no refund {0}")]
    UnknownRefund(OutRefundNo),
    /// The attempt or refund number is already used in this order.
    #[error("number {0} already used")]
    DuplicateNumber(String),
    /// A number could not be derived.
    #[error("no valid number can be derived from {0}")]
    InvalidNumber(String),
    /// The refund would exceed what was paid.
    #[error("refund of {requested_fen} fen exceeds the {available_fen} fen still refundable")]
    RefundExceedsPaid {
        /// What is still refundable.
        available_fen: u64,
        /// What was asked.
        requested_fen: u64,
    },
    /// A refund of zero.
    #[error("a refund must be at least 1 fen")]
    ZeroRefund,
    /// The idempotency key was used for a refund with other content.
    #[error("request key {0} was used for a refund with another amount or reason")]
    ConflictingRequest(RequestKey),
    /// A 医保 payment's fee lines do not add up to the order's amount.
    #[error("the fee lines add up to {lines_fen} fen, the order is {order_fen} fen")]
    FeeLinesMismatch {
        /// The lines' sum.
        lines_fen: u64,
        /// The order's amount.
        order_fen: u64,
    },
    /// A 医保 refund of this amount is not possible: the insurance parts go back whole, so a
    /// refund is of cash only (up to the cash left) or of everything left.
    #[error(
        "a 医保 refund returns at most the {cash_left_fen} fen of cash left, or exactly the \
         {total_left_fen} fen left in all (the insurance parts go back whole)"
    )]
    MedicalRefundShape {
        /// The cash still refundable (any amount up to it).
        cash_left_fen: u64,
        /// Everything still refundable (exactly this).
        total_left_fen: u64,
    },
}

fn dispatch(step: &mut Step, event: &Event) -> Result<(), Rejection> {
    match event {
        Event::StartPayment { spec } => attempts::on_start_payment(step, spec),
        Event::PrepayResult {
            out_trade_no,
            outcome,
        } => attempts::on_prepay_result(step, out_trade_no, outcome),
        Event::ClientReported {
            out_trade_no,
            result,
        } => attempts::on_client_report(step, out_trade_no, *result),
        Event::PaymentNotified {
            out_trade_no,
            transaction_id,
            paid_at_s,
        } => attempts::mark_paid(step, out_trade_no, transaction_id, *paid_at_s),
        Event::QueryResult {
            out_trade_no,
            outcome,
        } => queries::on_query_result(step, out_trade_no, outcome),
        Event::QueryRequested => attempts::on_query_requested(step),
        Event::CloseRequested => attempts::on_close_requested(step),
        Event::CloseResult {
            out_trade_no,
            outcome,
        } => attempts::on_close_result(step, out_trade_no, outcome),
        Event::DeadlineReached => queries::on_deadline(step),
        Event::RefundRequested {
            key,
            out_refund_no,
            amount,
            reason,
        } => refunds::on_refund_requested(step, key, out_refund_no, *amount, reason),
        Event::RefundResult {
            out_refund_no,
            outcome,
        } => refunds::on_refund_result(step, out_refund_no, outcome),
        Event::RefundStatus {
            out_refund_no,
            report,
            ..
        } => refunds::on_refund_status(step, out_refund_no, report),
        Event::ConflictingNotification { detail } => {
            let detail = format!("conflicting notification refused: {detail}");
            step.alert(AlertKind::ConflictingNotification, detail);
            Ok(())
        }
        Event::ReconciliationMismatch { detail } => {
            let detail = format!("reconciliation: {detail}");
            step.alert(AlertKind::ReconciliationMismatch, detail);
            Ok(())
        }
        Event::Created { .. } => Ok(()),
        Event::MedicalStart { spec } => medical::on_start(step, spec),
        Event::MedicalPreSettled {
            out_trade_no,
            outcome,
        } => medical::on_pre_settled(step, out_trade_no, outcome),
        Event::MedicalOrdered {
            out_trade_no,
            outcome,
        } => medical::on_ordered(step, out_trade_no, outcome),
        Event::MedicalQueried {
            out_trade_no,
            outcome,
            ..
        } => medical::on_queried(step, out_trade_no, outcome),
        Event::MedicalClosed {
            out_trade_no,
            outcome,
        } => medical::on_closed(step, out_trade_no, outcome),
        Event::MedicalRevoked {
            out_trade_no,
            outcome,
        } => medical::on_revoked(step, out_trade_no, outcome),
        Event::MedicalRefundLegResult {
            out_refund_no,
            leg,
            outcome,
        } => medical_refunds::on_leg_result(step, out_refund_no, *leg, outcome),
    }
}

/// Applies one event.
pub fn step(record: &OrderRecord, event: &Event, now_ms: i64) -> Result<Transition, Rejection> {
    let mut step = Step {
        record: record.clone(),
        effects: Vec::new(),
        changed: false,
        now_ms,
        outcome: Outcome::Applied,
    };
    dispatch(&mut step, event)?;
    step.settle();
    let deadline = next_deadline(&step.record);
    if deadline != step.record.deadline_ms {
        step.record.deadline_ms = deadline;
        step.changed = true;
    }
    if step.changed {
        step.record.revision += 1;
    }
    Ok(Transition {
        record: step.record,
        effects: step.effects,
        changed: step.changed,
        outcome: step.outcome,
    })
}
