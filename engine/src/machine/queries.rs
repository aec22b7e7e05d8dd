//! What an orderquery's answer does to an attempt, and the deadline run: every due attempt is
//! queried, retried or closed, every due refund queried. Asking WeChat first is always safe.

use cashier_adapters::OutTradeNo;

use crate::machine::attempts::{mark_paid, should_close};
use crate::machine::ladders::*;
use crate::machine::step::Step;
use crate::machine::Rejection;
use crate::model::*;

pub(crate) fn on_query_result(
    step: &mut Step,
    out_trade_no: &OutTradeNo,
    outcome: &QueryOutcome,
) -> Result<(), Rejection> {
    let attempt = step.attempt_mut(out_trade_no)?.clone();
    match outcome {
        QueryOutcome::Paid {
            transaction_id,
            total,
            paid_at_s,
        } => {
            if *total != attempt.request.total {
                let detail = format!(
                    "orderquery for {out_trade_no} reports {total}, the attempt is {}: not applied",
                    attempt.request.total
                );
                step.alert(AlertKind::QueryAmountMismatch, detail);
                return step
                    .schedule_attempt(out_trade_no, ladder(&BACKOFF_MS, attempt.queries + 4));
            }
            mark_paid(step, out_trade_no, transaction_id, *paid_at_s)
        }
        QueryOutcome::NotPaid => on_not_paid(step, &attempt),
        QueryOutcome::Closed if attempt.state.is_live() => step.mark_attempt_closed(out_trade_no),
        QueryOutcome::Closed => Ok(()),
        QueryOutcome::NotFound => on_not_found(step, &attempt),
        QueryOutcome::Failed(_) if !attempt.state.is_live() => Ok(()),
        QueryOutcome::Failed(failure) => {
            let backoff = ladder(&BACKOFF_MS, attempt.queries);
            let delay = match failure {
                CallFailure::Retry { after_ms, .. } => (*after_ms).max(backoff),
                _ => backoff,
            };
            step.schedule_attempt(out_trade_no, delay)
        }
    }
}

fn on_not_paid(step: &mut Step, attempt: &PaymentAttempt) -> Result<(), Rejection> {
    let out_trade_no = &attempt.out_trade_no;
    match attempt.state {
        // Created at WeChat but we lack the prepay_id: an identical re-entry returns it.
        AttemptState::Sending | AttemptState::OutcomeUnknown => {
            step.send_unified_order(out_trade_no)
        }
        AttemptState::Closing => step.close(out_trade_no),
        AttemptState::Prepared { .. } if should_close(step, attempt) => step.close(out_trade_no),
        AttemptState::Prepared { .. } => {
            step.schedule_attempt(out_trade_no, ladder(&QUERY_LADDER_MS, attempt.queries))
        }
        _ => Ok(()),
    }
}

fn on_not_found(step: &mut Step, attempt: &PaymentAttempt) -> Result<(), Rejection> {
    let out_trade_no = &attempt.out_trade_no;
    match attempt.state {
        // Never created at WeChat: sending the identical request is safe, unless it is no
        // longer wanted.
        AttemptState::Sending | AttemptState::OutcomeUnknown if should_close(step, attempt) => {
            step.mark_attempt_closed(out_trade_no)
        }
        AttemptState::Sending | AttemptState::OutcomeUnknown => {
            step.send_unified_order(out_trade_no)
        }
        AttemptState::Closing => step.mark_attempt_closed(out_trade_no),
        AttemptState::Prepared { .. } => {
            let detail = format!("orderquery says prepared attempt {out_trade_no} does not exist");
            step.alert(AlertKind::PreparedAttemptMissing, detail);
            step.schedule_attempt(out_trade_no, ladder(&QUERY_LADDER_MS, attempt.queries))
        }
        _ => Ok(()),
    }
}

pub(crate) fn on_deadline(step: &mut Step) -> Result<(), Rejection> {
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
    for attempt in &due_attempts {
        let out_trade_no = &attempt.out_trade_no;
        match attempt.state {
            // Whether the last send took effect is unknown (a crash, a lost reply, a retry
            // pending): asking WeChat first is always safe.
            AttemptState::Sending | AttemptState::OutcomeUnknown => step.query(out_trade_no)?,
            AttemptState::Prepared { .. } if should_close(step, attempt) => {
                step.close(out_trade_no)?
            }
            AttemptState::Prepared { .. } => step.query(out_trade_no)?,
            AttemptState::Closing => step.close(out_trade_no)?,
            _ => {}
        }
    }
    let due_refunds: Vec<_> = step
        .record
        .refunds
        .iter()
        .filter(|refund| {
            !refund.state.is_final() && refund.next_action_ms.is_some_and(|at| at <= now_ms)
        })
        .map(|refund| refund.out_refund_no.clone())
        .collect();
    due_refunds
        .iter()
        .try_for_each(|out_refund_no| step.query_refund(out_refund_no))?;
    crate::machine::medical::on_deadline(step)
}
