//! The pure state machine: `step(record, event, now) -> Transition | Rejection`. No IO, no
//! clock, no randomness: the shell persists the returned record and only then runs the
//! returned effects (style-anchors L1, L2). Deadlines are data in the record, recomputed after
//! every transition, so recovery after a restart is "run what is due".

use crate::model::*;

/// The next state and the effects to run once it is durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The record after the event.
    pub record: OrderRecord,
    /// IO to run after the record is durable.
    pub effects: Vec<Effect>,
    /// False when the event changed nothing (a repeated notification, a client "cancel").
    pub changed: bool,
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
    /// No attempt with that `out_trade_no`.
    #[error("no payment attempt {0}")]
    UnknownAttempt(String),
    /// No refund with that `out_refund_no`.
    #[error("no refund {0}")]
    UnknownRefund(String),
    /// The attempt or refund number is already used in this order.
    #[error("number {0} already used")]
    DuplicateNumber(String),
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
}

/// WeChat refuses closeorder within 5 minutes of creation (§2.4).
pub const CLOSE_MIN_AGE_MS: i64 = 5 * 60_000;

/// Queries of a prepared attempt, the fallback for lost notifications: 15 s, 30 s, 1, 2, 5, 10
/// minutes, then every 30 minutes until it expires.
pub const QUERY_LADDER_MS: [i64; 7] =
    [15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_800_000];

/// Queries of a processing refund: 10 s, 30 s, 1, 5, 30 minutes, then hourly.
pub const REFUND_QUERY_LADDER_MS: [i64; 6] =
    [10_000, 30_000, 60_000, 300_000, 1_800_000, 3_600_000];

/// Backoff after failures (unknown outcomes, WeChat errors).
pub const BACKOFF_MS: [i64; 9] = [
    1_000, 2_000, 5_000, 15_000, 30_000, 60_000, 300_000, 900_000, 1_800_000,
];

/// Immediate retries of an identical request before falling back to backoff.
pub const IMMEDIATE_RETRIES: u32 = 2;

/// How long after sending a request its watchdog fires if no outcome was recorded (a crash
/// between persisting and recording the answer).
pub const WATCHDOG_MS: i64 = 30_000;

fn ladder(steps: &[i64], index: u32) -> i64 {
    steps
        .get(index as usize)
        .or(steps.last())
        .copied()
        .unwrap_or(60_000)
}

/// A new business order (not yet persisted).
pub fn new_order(
    order_no: crate::order_number::OrderNumber,
    product_type: u8,
    amount_fen: u64,
    description: String,
    payer_unionid: Option<String>,
    now_ms: i64,
    expires_ms: i64,
) -> OrderRecord {
    let mut record = OrderRecord {
        order_no,
        product_type,
        payer_unionid,
        amount_fen,
        description,
        state: OrderState::Created,
        created_ms: now_ms,
        expires_ms,
        close_requested: false,
        attempts: Vec::new(),
        refunds: Vec::new(),
        alerts: Vec::new(),
        deadline_ms: None,
        revision: 0,
    };
    record.deadline_ms = next_deadline(&record);
    record
}

/// A prepared attempt of this order that can be shown to the payer again instead of creating a
/// new one: same entry and payer, prepay_id younger than two hours (less a safety margin).
pub fn reusable_attempt<'a>(
    record: &'a OrderRecord,
    entry: &str,
    openid: Option<&str>,
    now_ms: i64,
) -> Option<&'a PaymentAttempt> {
    record.attempts.iter().rev().find(|attempt| {
        matches!(attempt.state, AttemptState::Prepared { .. })
            && attempt.channel.entry == entry
            && (attempt
                .request
                .openid
                .as_deref()
                .or(attempt.request.sub_openid.as_deref()))
                == openid
            && now_ms < attempt.created_ms + 2 * 3_600_000 - 10 * 60_000
            && now_ms < attempt.request.time_expire_s * 1000
    })
}

struct Step {
    record: OrderRecord,
    effects: Vec<Effect>,
    changed: bool,
    now_ms: i64,
}

impl Step {
    fn attempt_mut(&mut self, out_trade_no: &str) -> Result<&mut PaymentAttempt, Rejection> {
        self.record
            .attempts
            .iter_mut()
            .find(|attempt| attempt.out_trade_no == out_trade_no)
            .ok_or_else(|| Rejection::UnknownAttempt(out_trade_no.to_owned()))
    }

    fn refund_mut(&mut self, out_refund_no: &str) -> Result<&mut RefundRecord, Rejection> {
        self.record
            .refunds
            .iter_mut()
            .find(|refund| refund.out_refund_no == out_refund_no)
            .ok_or_else(|| Rejection::UnknownRefund(out_refund_no.to_owned()))
    }

    fn alert(&mut self, message: String) {
        self.record.alerts.push(Alert {
            at_ms: self.now_ms,
            message,
        });
        self.changed = true;
    }

    fn send_unified_order(&mut self, out_trade_no: &str) -> Result<(), Rejection> {
        let now_ms = self.now_ms;
        let attempt = self.attempt_mut(out_trade_no)?;
        attempt.state = AttemptState::Sending;
        attempt.sends += 1;
        attempt.next_action_ms = Some(now_ms + WATCHDOG_MS);
        self.effects.push(Effect::SendUnifiedOrder {
            out_trade_no: out_trade_no.to_owned(),
        });
        self.changed = true;
        Ok(())
    }

    fn query(&mut self, out_trade_no: &str) -> Result<(), Rejection> {
        let now_ms = self.now_ms;
        let attempt = self.attempt_mut(out_trade_no)?;
        attempt.queries += 1;
        attempt.next_action_ms = Some(now_ms + WATCHDOG_MS);
        self.effects.push(Effect::QueryOrder {
            out_trade_no: out_trade_no.to_owned(),
        });
        self.changed = true;
        Ok(())
    }

    /// Closes the attempt at WeChat now, or schedules the close for when WeChat allows it.
    fn close(&mut self, out_trade_no: &str) -> Result<(), Rejection> {
        let now_ms = self.now_ms;
        let attempt = self.attempt_mut(out_trade_no)?;
        let allowed_ms = attempt.created_ms + CLOSE_MIN_AGE_MS;
        attempt.state = AttemptState::Closing;
        if now_ms >= allowed_ms {
            attempt.close_sends += 1;
            attempt.next_action_ms = Some(now_ms + WATCHDOG_MS);
            self.effects.push(Effect::CloseOrder {
                out_trade_no: out_trade_no.to_owned(),
            });
        } else {
            attempt.next_action_ms = Some(allowed_ms);
        }
        self.changed = true;
        Ok(())
    }

    fn schedule_attempt(&mut self, out_trade_no: &str, delay_ms: i64) -> Result<(), Rejection> {
        let now_ms = self.now_ms;
        let attempt = self.attempt_mut(out_trade_no)?;
        let mut at_ms = now_ms + delay_ms;
        // A prepared attempt must be looked at again no later than its expiry (when it is
        // closed), but not before WeChat allows a close.
        if matches!(attempt.state, AttemptState::Prepared { .. }) {
            let expiry_ms =
                (attempt.request.time_expire_s * 1000).max(attempt.created_ms + CLOSE_MIN_AGE_MS);
            at_ms = at_ms.min(expiry_ms.max(now_ms));
        }
        attempt.next_action_ms = Some(at_ms);
        self.changed = true;
        Ok(())
    }

    fn send_refund(&mut self, out_refund_no: &str) -> Result<(), Rejection> {
        let now_ms = self.now_ms;
        let refund = self.refund_mut(out_refund_no)?;
        refund.state = RefundState::Sending;
        refund.sends += 1;
        refund.next_action_ms = Some(now_ms + WATCHDOG_MS);
        self.effects.push(Effect::SendRefund {
            out_refund_no: out_refund_no.to_owned(),
        });
        self.changed = true;
        Ok(())
    }

    fn query_refund(&mut self, out_refund_no: &str) -> Result<(), Rejection> {
        let now_ms = self.now_ms;
        let refund = self.refund_mut(out_refund_no)?;
        refund.queries += 1;
        refund.next_action_ms = Some(now_ms + WATCHDOG_MS);
        self.effects.push(Effect::QueryRefund {
            out_refund_no: out_refund_no.to_owned(),
        });
        self.changed = true;
        Ok(())
    }

    fn add_refund(
        &mut self,
        out_refund_no: String,
        out_trade_no: String,
        amount_fen: u64,
        cause: RefundCause,
    ) -> Result<(), Rejection> {
        if self.record.refund(&out_refund_no).is_some() {
            return Err(Rejection::DuplicateNumber(out_refund_no));
        }
        self.record.refunds.push(RefundRecord {
            out_refund_no: out_refund_no.clone(),
            out_trade_no,
            amount_fen,
            cause,
            state: RefundState::Sending,
            created_ms: self.now_ms,
            sends: 0,
            queries: 0,
            next_action_ms: None,
        });
        self.send_refund(&out_refund_no)
    }

    /// Records a confirmed payment of an attempt. A second successful attempt, or a payment
    /// after the order closed, is never lost: its money goes back by an automatic refund and an
    /// alert records it.
    fn mark_paid(
        &mut self,
        out_trade_no: &str,
        transaction_id: &str,
        time_end: Option<String>,
    ) -> Result<(), Rejection> {
        let attempt = self.attempt_mut(out_trade_no)?;
        if let AttemptState::Paid {
            transaction_id: known,
            ..
        } = &attempt.state
        {
            if known != transaction_id {
                let message = format!(
                    "attempt {out_trade_no} reported paid twice with different transaction ids"
                );
                self.alert(message);
            }
            return Ok(());
        }
        let amount_fen = attempt.request.total_fen;
        attempt.state = AttemptState::Paid {
            transaction_id: transaction_id.to_owned(),
            time_end,
        };
        attempt.next_action_ms = None;
        self.changed = true;
        let already_paid_elsewhere = self
            .record
            .paid_attempts()
            .any(|other| other.out_trade_no != out_trade_no);
        let closed = self.record.state == OrderState::Closed;
        let cause = if already_paid_elsewhere {
            Some(RefundCause::DuplicatePayment)
        } else if closed {
            Some(RefundCause::PaidAfterClose)
        } else {
            None
        };
        if let Some(cause) = cause {
            self.alert(format!("{cause:?}: attempt {out_trade_no} ({transaction_id}, {amount_fen} fen) is refunded automatically"));
            let out_refund_no = automatic_refund_number(out_trade_no);
            self.add_refund(out_refund_no, out_trade_no.to_owned(), amount_fen, cause)?;
            return Ok(());
        }
        // The order is paid: every other live attempt is closed at WeChat.
        let others: Vec<String> = self
            .record
            .attempts
            .iter()
            .filter(|other| other.out_trade_no != out_trade_no && other.state.is_live())
            .map(|other| other.out_trade_no.clone())
            .collect();
        for other in others {
            self.close(&other)?;
        }
        Ok(())
    }

    /// Moves the order's own state from its attempts and refunds. Terminal states absorb.
    fn settle(&mut self) {
        let record = &mut self.record;
        if record.state.is_terminal() {
            return;
        }
        let paid_fen = record.paid_fen();
        let before = record.state;
        if paid_fen > 0 {
            let succeeded: u64 = record
                .refunds
                .iter()
                .filter(|refund| matches!(refund.state, RefundState::Succeeded { .. }))
                .map(|refund| refund.amount_fen)
                .sum();
            let pending = record.refunds.iter().any(|refund| !refund.state.is_final());
            record.state = if succeeded >= paid_fen && !pending {
                OrderState::Refunded
            } else if succeeded > 0 {
                OrderState::PartiallyRefunded
            } else {
                OrderState::Paid
            };
        } else {
            let live = record
                .attempts
                .iter()
                .any(|attempt| attempt.state.is_live());
            let over = record.close_requested || self.now_ms >= record.expires_ms;
            if over && !live {
                record.state = OrderState::Closed;
            } else if record.state == OrderState::Created
                && record
                    .attempts
                    .iter()
                    .any(|attempt| matches!(attempt.state, AttemptState::Prepared { .. }))
            {
                record.state = OrderState::Paying;
            }
        }
        if record.state != before {
            self.changed = true;
        }
    }
}

/// The automatic refund number for an attempt's money: derived from it (kind digit 2 =
/// refund), so retries after a crash reuse the same number.
pub fn automatic_refund_number(out_trade_no: &str) -> String {
    let mut number: Vec<u8> = out_trade_no.bytes().collect();
    if let Some(kind) = number.get_mut(2) {
        *kind = b'2';
    }
    String::from_utf8_lossy(&number).into_owned()
}

/// The next deadline: the earliest pending action of any live attempt or unfinished refund, or
/// the order's expiry while it is unpaid with nothing live.
pub fn next_deadline(record: &OrderRecord) -> Option<i64> {
    let attempts = record
        .attempts
        .iter()
        .filter(|attempt| attempt.state.is_live())
        .filter_map(|attempt| attempt.next_action_ms);
    let refunds = record
        .refunds
        .iter()
        .filter(|refund| !refund.state.is_final())
        .filter_map(|refund| refund.next_action_ms);
    let expiry = (matches!(record.state, OrderState::Created | OrderState::Paying)
        && !record
            .attempts
            .iter()
            .any(|attempt| attempt.state.is_live()))
    .then_some(record.expires_ms);
    attempts.chain(refunds).chain(expiry).min()
}

fn on_failure_attempt(
    step: &mut Step,
    out_trade_no: &str,
    failure: &CallFailure,
    sends: u32,
    resend: bool,
) -> Result<(), Rejection> {
    match failure {
        CallFailure::Retry { after_ms, .. }
            if resend && sends <= IMMEDIATE_RETRIES && *after_ms == 0 =>
        {
            step.send_unified_order(out_trade_no)
        }
        CallFailure::Retry { after_ms, .. } => {
            let delay = (*after_ms).max(ladder(&BACKOFF_MS, sends));
            step.schedule_attempt(out_trade_no, delay)
        }
        CallFailure::Unknown => {
            let attempt = step.attempt_mut(out_trade_no)?;
            if matches!(attempt.state, AttemptState::Sending) {
                attempt.state = AttemptState::OutcomeUnknown;
            }
            let queries = attempt.queries;
            if queries <= IMMEDIATE_RETRIES {
                step.query(out_trade_no)
            } else {
                step.schedule_attempt(out_trade_no, ladder(&BACKOFF_MS, queries))
            }
        }
        CallFailure::Final { code } => {
            let message = format!("attempt {out_trade_no}: WeChat refused for good: {code}");
            step.alert(message);
            let queries = step.attempt_mut(out_trade_no)?.queries;
            step.schedule_attempt(out_trade_no, ladder(&BACKOFF_MS, queries + 4))
        }
    }
}

fn on_query(step: &mut Step, out_trade_no: &str, outcome: &QueryOutcome) -> Result<(), Rejection> {
    let attempt = step.attempt_mut(out_trade_no)?.clone();
    match outcome {
        QueryOutcome::Paid {
            transaction_id,
            total_fen,
            time_end,
        } => {
            if *total_fen != attempt.request.total_fen {
                step.alert(format!(
                    "orderquery for {out_trade_no} reports {total_fen} fen, the attempt is {} fen: not applied",
                    attempt.request.total_fen
                ));
                return step
                    .schedule_attempt(out_trade_no, ladder(&BACKOFF_MS, attempt.queries + 4));
            }
            step.mark_paid(out_trade_no, transaction_id, time_end.clone())
        }
        QueryOutcome::NotPaid => match attempt.state {
            // Created at WeChat but we lack the prepay_id: an identical re-entry returns it.
            AttemptState::Sending | AttemptState::OutcomeUnknown => {
                step.send_unified_order(out_trade_no)
            }
            AttemptState::Closing => step.close(out_trade_no),
            AttemptState::Prepared { .. } => {
                let expired = step.now_ms >= attempt.request.time_expire_s * 1000;
                if expired || step.record.close_requested || step.record.state.is_paid() {
                    step.close(out_trade_no)
                } else {
                    step.schedule_attempt(out_trade_no, ladder(&QUERY_LADDER_MS, attempt.queries))
                }
            }
            _ => Ok(()),
        },
        QueryOutcome::Closed => {
            let attempt = step.attempt_mut(out_trade_no)?;
            if attempt.state.is_live() {
                attempt.state = AttemptState::Closed;
                attempt.next_action_ms = None;
                step.changed = true;
            }
            Ok(())
        }
        QueryOutcome::NotFound => match attempt.state {
            // Never created at WeChat: sending the identical request is safe.
            AttemptState::Sending | AttemptState::OutcomeUnknown => {
                let expired = step.now_ms >= attempt.request.time_expire_s * 1000;
                if expired || step.record.close_requested || step.record.state.is_paid() {
                    let attempt = step.attempt_mut(out_trade_no)?;
                    attempt.state = AttemptState::Closed;
                    attempt.next_action_ms = None;
                    step.changed = true;
                    Ok(())
                } else {
                    step.send_unified_order(out_trade_no)
                }
            }
            AttemptState::Closing => {
                let attempt = step.attempt_mut(out_trade_no)?;
                attempt.state = AttemptState::Closed;
                attempt.next_action_ms = None;
                step.changed = true;
                Ok(())
            }
            AttemptState::Prepared { .. } => {
                step.alert(format!(
                    "orderquery says prepared attempt {out_trade_no} does not exist"
                ));
                step.schedule_attempt(out_trade_no, ladder(&QUERY_LADDER_MS, attempt.queries))
            }
            _ => Ok(()),
        },
        QueryOutcome::Failed(failure) => {
            if !attempt.state.is_live() {
                return Ok(());
            }
            let delay = match failure {
                CallFailure::Retry { after_ms, .. } => {
                    (*after_ms).max(ladder(&BACKOFF_MS, attempt.queries))
                }
                _ => ladder(&BACKOFF_MS, attempt.queries),
            };
            step.schedule_attempt(out_trade_no, delay)
        }
    }
}

fn on_deadline(step: &mut Step) -> Result<(), Rejection> {
    let now_ms = step.now_ms;
    let due_attempts: Vec<PaymentAttempt> = step
        .record
        .attempts
        .iter()
        .filter(|attempt| {
            attempt.state.is_live() && attempt.next_action_ms.is_some_and(|at| at <= now_ms)
        })
        .cloned()
        .collect();
    for attempt in due_attempts {
        let out_trade_no = attempt.out_trade_no.as_str();
        match attempt.state {
            // Whether the last send took effect is unknown (a crash, a lost reply, a retry
            // pending): asking WeChat first is always safe.
            AttemptState::Sending | AttemptState::OutcomeUnknown => step.query(out_trade_no)?,
            AttemptState::Prepared { .. } => {
                let expired = now_ms >= attempt.request.time_expire_s * 1000;
                if expired || step.record.close_requested || step.record.state.is_paid() {
                    step.close(out_trade_no)?;
                } else {
                    step.query(out_trade_no)?;
                }
            }
            AttemptState::Closing => step.close(out_trade_no)?,
            _ => {}
        }
    }
    let due_refunds: Vec<String> = step
        .record
        .refunds
        .iter()
        .filter(|refund| {
            !refund.state.is_final() && refund.next_action_ms.is_some_and(|at| at <= now_ms)
        })
        .map(|refund| refund.out_refund_no.clone())
        .collect();
    for out_refund_no in due_refunds {
        step.query_refund(&out_refund_no)?;
    }
    Ok(())
}

fn on_refund_result(
    step: &mut Step,
    out_refund_no: &str,
    outcome: &RefundOutcome,
) -> Result<(), Rejection> {
    let now_ms = step.now_ms;
    let refund = step.refund_mut(out_refund_no)?;
    if refund.state.is_final() || matches!(refund.state, RefundState::Processing { .. }) {
        return Ok(());
    }
    match outcome {
        RefundOutcome::Accepted { refund_id } => {
            refund.state = RefundState::Processing {
                refund_id: refund_id.clone(),
            };
            refund.next_action_ms = Some(now_ms + ladder(&REFUND_QUERY_LADDER_MS, 0));
            step.changed = true;
            Ok(())
        }
        RefundOutcome::Failed(CallFailure::Retry { after_ms, .. }) => {
            let sends = refund.sends;
            if sends <= IMMEDIATE_RETRIES && *after_ms == 0 {
                step.send_refund(out_refund_no)
            } else {
                refund.next_action_ms = Some(now_ms + (*after_ms).max(ladder(&BACKOFF_MS, sends)));
                step.changed = true;
                Ok(())
            }
        }
        RefundOutcome::Failed(CallFailure::Unknown) => {
            refund.state = RefundState::OutcomeUnknown;
            let queries = refund.queries;
            if queries <= IMMEDIATE_RETRIES {
                step.query_refund(out_refund_no)
            } else {
                refund.next_action_ms = Some(now_ms + ladder(&BACKOFF_MS, queries));
                step.changed = true;
                Ok(())
            }
        }
        RefundOutcome::Failed(CallFailure::Final { code }) => {
            refund.state = RefundState::Failed {
                reason: code.clone(),
            };
            refund.next_action_ms = None;
            let message = format!("refund {out_refund_no} refused for good: {code}");
            step.alert(message);
            Ok(())
        }
    }
}

fn on_refund_status(
    step: &mut Step,
    out_refund_no: &str,
    report: &RefundStatusReport,
) -> Result<(), Rejection> {
    let now_ms = step.now_ms;
    let refund = step.refund_mut(out_refund_no)?;
    if refund.state.is_final() {
        // Repeated notifications and late query answers change nothing.
        return Ok(());
    }
    let queries = refund.queries;
    match report {
        RefundStatusReport::Processing { refund_id } => {
            refund.state = RefundState::Processing {
                refund_id: refund_id.clone(),
            };
            refund.next_action_ms = Some(now_ms + ladder(&REFUND_QUERY_LADDER_MS, queries));
        }
        RefundStatusReport::Succeeded { refund_id } => {
            refund.state = RefundState::Succeeded {
                refund_id: refund_id.clone(),
            };
            refund.next_action_ms = None;
        }
        RefundStatusReport::Closed => {
            refund.state = RefundState::Closed;
            refund.next_action_ms = None;
            let message = format!("refund {out_refund_no} closed by WeChat (REFUNDCLOSE)");
            step.alert(message);
        }
        RefundStatusReport::Abnormal => {
            refund.state = RefundState::Abnormal;
            refund.next_action_ms = None;
            let message =
                format!("refund {out_refund_no} abnormal (CHANGE): transfer the money offline");
            step.alert(message);
        }
        RefundStatusReport::NotFound => match refund.state {
            // WeChat never received it: resending the same out_refund_no is safe.
            RefundState::Sending | RefundState::OutcomeUnknown => {
                return step.send_refund(out_refund_no)
            }
            _ => {
                refund.next_action_ms = Some(now_ms + ladder(&REFUND_QUERY_LADDER_MS, queries));
            }
        },
        RefundStatusReport::Failed(_) => {
            refund.next_action_ms = Some(now_ms + ladder(&BACKOFF_MS, queries));
        }
    }
    step.changed = true;
    Ok(())
}

/// Applies one event.
pub fn step(record: &OrderRecord, event: &Event, now_ms: i64) -> Result<Transition, Rejection> {
    let mut step = Step {
        record: record.clone(),
        effects: Vec::new(),
        changed: false,
        now_ms,
    };
    match event {
        Event::StartPayment { attempt } => {
            if step.record.state.is_paid() {
                return Err(Rejection::AlreadyPaid);
            }
            if step.record.state.is_terminal() || step.record.close_requested {
                return Err(Rejection::Terminal(OrderState::Closed));
            }
            if step.record.attempt(&attempt.out_trade_no).is_some() {
                return Err(Rejection::DuplicateNumber(attempt.out_trade_no.clone()));
            }
            let mut attempt = (**attempt).clone();
            attempt.state = AttemptState::Sending;
            attempt.created_ms = now_ms;
            attempt.sends = 0;
            let out_trade_no = attempt.out_trade_no.clone();
            step.record.attempts.push(attempt);
            step.send_unified_order(&out_trade_no)?;
        }
        Event::PrepayResult {
            out_trade_no,
            outcome,
        } => {
            let attempt = step.attempt_mut(out_trade_no)?;
            if !matches!(
                attempt.state,
                AttemptState::Sending | AttemptState::OutcomeUnknown
            ) {
                return Ok(unchanged(record));
            }
            let sends = attempt.sends;
            match outcome {
                PrepayOutcome::Prepared {
                    prepay_id,
                    code_url,
                    mweb_url,
                } => {
                    attempt.state = AttemptState::Prepared {
                        prepay_id: prepay_id.clone(),
                        code_url: code_url.clone(),
                        mweb_url: mweb_url.clone(),
                    };
                    attempt.queries = 0;
                    step.changed = true;
                    step.schedule_attempt(out_trade_no, ladder(&QUERY_LADDER_MS, 0))?;
                    // An attempt prepared after the order was paid or closed is closed at once.
                    if step.record.state.is_paid() || step.record.close_requested {
                        step.close(out_trade_no)?;
                    }
                }
                PrepayOutcome::AlreadyPaid => {
                    attempt.state = AttemptState::OutcomeUnknown;
                    step.query(out_trade_no)?;
                }
                PrepayOutcome::AlreadyClosed => {
                    attempt.state = AttemptState::Closed;
                    attempt.next_action_ms = None;
                    step.changed = true;
                }
                PrepayOutcome::Failed(CallFailure::Final { code }) => {
                    attempt.state = AttemptState::Failed {
                        reason: code.clone(),
                    };
                    attempt.next_action_ms = None;
                    step.changed = true;
                }
                PrepayOutcome::Failed(failure) => {
                    on_failure_attempt(&mut step, out_trade_no, failure, sends, true)?
                }
            }
        }
        Event::ClientReported {
            out_trade_no,
            result,
        } => {
            let attempt = step.attempt_mut(out_trade_no)?;
            // The client never decides: "ok" only asks WeChat now; cancel and fail change nothing.
            if *result == ClientResult::Ok && matches!(attempt.state, AttemptState::Prepared { .. })
            {
                step.query(out_trade_no)?;
            }
        }
        Event::PaymentNotified {
            out_trade_no,
            transaction_id,
            time_end,
        } => step.mark_paid(out_trade_no, transaction_id, time_end.clone())?,
        Event::QueryResult {
            out_trade_no,
            outcome,
        } => on_query(&mut step, out_trade_no, outcome)?,
        Event::CloseRequested => {
            if step.record.state.is_paid() {
                return Err(Rejection::AlreadyPaid);
            }
            if step.record.state.is_terminal() || step.record.close_requested {
                return Ok(unchanged(record));
            }
            step.record.close_requested = true;
            step.changed = true;
            let live: Vec<String> = step
                .record
                .attempts
                .iter()
                .filter(|attempt| attempt.state.is_live())
                .map(|attempt| attempt.out_trade_no.clone())
                .collect();
            for out_trade_no in live {
                step.close(&out_trade_no)?;
            }
        }
        Event::CloseResult {
            out_trade_no,
            outcome,
        } => {
            let attempt = step.attempt_mut(out_trade_no)?;
            if !attempt.state.is_live() {
                return Ok(unchanged(record));
            }
            let close_sends = attempt.close_sends;
            match outcome {
                CloseOutcome::Closed => {
                    attempt.state = AttemptState::Closed;
                    attempt.next_action_ms = None;
                    step.changed = true;
                }
                // Paid after all (ORDERPAID), or a state to check: the query decides.
                CloseOutcome::AlreadyPaid | CloseOutcome::QueryFirst => step.query(out_trade_no)?,
                CloseOutcome::Failed(failure) => {
                    let delay = match failure {
                        CallFailure::Retry { after_ms, .. } => {
                            (*after_ms).max(ladder(&BACKOFF_MS, close_sends))
                        }
                        _ => ladder(&BACKOFF_MS, close_sends),
                    };
                    step.schedule_attempt(out_trade_no, delay)?;
                }
            }
        }
        Event::DeadlineReached => on_deadline(&mut step)?,
        Event::RefundRequested {
            out_refund_no,
            amount_fen,
            reason,
        } => {
            if !step.record.state.is_paid() {
                return Err(Rejection::NotPaid);
            }
            if step.record.state.is_terminal() {
                return Err(Rejection::Terminal(step.record.state));
            }
            if *amount_fen == 0 {
                return Err(Rejection::ZeroRefund);
            }
            let primary = step
                .record
                .primary_payment()
                .map(|attempt| (attempt.out_trade_no.clone(), attempt.request.total_fen))
                .ok_or(Rejection::NotPaid)?;
            let committed: u64 = step
                .record
                .refunds
                .iter()
                .filter(|refund| {
                    refund.out_trade_no == primary.0 && refund.state.counts_against_paid()
                })
                .map(|refund| refund.amount_fen)
                .sum();
            let available_fen = primary.1.saturating_sub(committed);
            if *amount_fen > available_fen {
                return Err(Rejection::RefundExceedsPaid {
                    available_fen,
                    requested_fen: *amount_fen,
                });
            }
            step.add_refund(
                out_refund_no.clone(),
                primary.0,
                *amount_fen,
                RefundCause::Requested {
                    reason: reason.clone(),
                },
            )?;
        }
        Event::RefundResult {
            out_refund_no,
            outcome,
        } => on_refund_result(&mut step, out_refund_no, outcome)?,
        Event::RefundStatus {
            out_refund_no,
            report,
            ..
        } => on_refund_status(&mut step, out_refund_no, report)?,
        Event::ConflictingNotification { detail } => {
            step.alert(format!("conflicting notification refused: {detail}"))
        }
        Event::Created { .. } => return Ok(unchanged(record)),
    }
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
    })
}

fn unchanged(record: &OrderRecord) -> Transition {
    Transition {
        record: record.clone(),
        effects: Vec::new(),
        changed: false,
    }
}

/// The invariants every record must keep, checked by property tests, the demo and the crash
/// test: refunds never exceed payments per attempt; every payment beyond the first (or after a
/// close) is being refunded; anything pending has a deadline; a closed order holds no money.
pub fn check_invariants(record: &OrderRecord) -> Result<(), String> {
    for attempt in record.paid_attempts() {
        let committed: u64 = record
            .refunds
            .iter()
            .filter(|refund| {
                refund.out_trade_no == attempt.out_trade_no && refund.state.counts_against_paid()
            })
            .map(|refund| refund.amount_fen)
            .sum();
        if committed > attempt.request.total_fen {
            return Err(format!(
                "attempt {} refunds {committed} fen of {}",
                attempt.out_trade_no, attempt.request.total_fen
            ));
        }
    }
    let paid: Vec<&PaymentAttempt> = record.paid_attempts().collect();
    // At most one payment is kept (none for a closed order); every other one is being returned.
    let kept = paid
        .iter()
        .filter(|attempt| !record.is_automatically_refunded(&attempt.out_trade_no))
        .count();
    let allowed = usize::from(record.state != OrderState::Closed);
    if kept > allowed {
        return Err(format!("order {} keeps {kept} payments", record.order_no));
    }
    let pending = record
        .attempts
        .iter()
        .any(|attempt| attempt.state.is_live())
        || record.refunds.iter().any(|refund| !refund.state.is_final())
        || matches!(record.state, OrderState::Created | OrderState::Paying);
    if pending && record.deadline_ms.is_none() {
        return Err(format!(
            "order {} has pending work and no deadline",
            record.order_no
        ));
    }
    if record.state.is_paid() && paid.is_empty() {
        return Err(format!(
            "order {} is {:?} without a paid attempt",
            record.order_no, record.state
        ));
    }
    Ok(())
}
