//! 医保 attempts: pre-settle at NHSA (6201), place WeChat's payinsurance order, wait for the
//! notification or a query, and close (WeChat) and revoke (NHSA) what is left unpaid. A paid
//! medical attempt is never lost: a second payment, or one after the order closed, goes back by
//! an automatic refund of every part, with an alert.
//!
//! Unknown outcomes: a lost 6201 reply is resent (NHSA refuses a used `payAuthNo`, so a resend
//! either pre-settles once or fails for good); a lost order reply is resent identically (the
//! same `hosp_out_trade_no` answers the same `med_trans_id`); a lost close or revoke is resent.

use cashier_adapters::medical::nhsa::refund::RefundKind;
use cashier_adapters::medical::nhsa::Split;
use cashier_adapters::{AmountFen, OutTradeNo};

use crate::machine::ladders::*;
use crate::machine::medical_refunds::add_medical_refund;
use crate::machine::refunds::automatic_refund_number;
use crate::machine::step::Step;
use crate::machine::{Outcome, Rejection};
use crate::model::*;

/// 6201 sends before a medical attempt fails (the payer authorises again): with the backoff
/// ladder, about 25 s, well inside the payAuthNo's minutes.
pub const PRE_SETTLE_SENDS: u32 = 5;

impl Step {
    pub(crate) fn medical_mut(
        &mut self,
        out_trade_no: &OutTradeNo,
    ) -> Result<&mut MedicalAttempt, Rejection> {
        self.record
            .medical
            .iter_mut()
            .find(|attempt| &attempt.out_trade_no == out_trade_no)
            .ok_or_else(|| Rejection::UnknownAttempt(out_trade_no.clone()))
    }

    /// Sets the attempt's state and next action and asks for `effect` (when one is due now).
    fn medical_move(
        &mut self,
        out_trade_no: &OutTradeNo,
        state: Option<MedicalState>,
        effect: Option<Effect>,
        delay_ms: Option<i64>,
    ) -> Result<(), Rejection> {
        let now_ms = self.now_ms;
        let attempt = self.medical_mut(out_trade_no)?;
        if let Some(state) = state {
            attempt.state = state;
        }
        let live = attempt.state.is_live();
        let expiry_ms = attempt.expires_ms();
        attempt.next_action_ms = match (live, &effect, delay_ms) {
            (false, _, _) => None,
            (true, Some(_), _) => Some(now_ms + WATCHDOG_MS),
            (true, None, Some(delay)) if matches!(attempt.state, MedicalState::Paying { .. }) => {
                Some((now_ms + delay).min(expiry_ms.max(now_ms)))
            }
            (true, None, delay) => Some(now_ms + delay.unwrap_or(WATCHDOG_MS)),
        };
        if let Some(effect) = effect {
            self.effects.push(effect);
        }
        self.changed = true;
        Ok(())
    }
}

fn attempt_of(step: &Step, out_trade_no: &OutTradeNo) -> Result<MedicalAttempt, Rejection> {
    step.record
        .medical_attempt(out_trade_no)
        .cloned()
        .ok_or_else(|| Rejection::UnknownAttempt(out_trade_no.clone()))
}

/// The payer authorised: add the attempt and pre-settle.
pub(crate) fn on_start(step: &mut Step, spec: &MedicalSpec) -> Result<(), Rejection> {
    if step.record.state.is_paid() {
        return Err(Rejection::AlreadyPaid);
    }
    if step.record.state.is_terminal() || step.record.close_requested {
        return Err(Rejection::Terminal(OrderState::Closed));
    }
    let lines_fen: u64 = spec
        .request
        .fee_lines
        .iter()
        .map(|line| line.amount.fen())
        .sum();
    if lines_fen != step.record.amount.fen() || spec.request.fee_lines.is_empty() {
        return Err(Rejection::FeeLinesMismatch {
            lines_fen,
            order_fen: step.record.amount.fen(),
        });
    }
    if step.record.medical_attempt(&spec.out_trade_no).is_some()
        || step.record.attempt(&spec.out_trade_no).is_some()
    {
        return Err(Rejection::DuplicateNumber(spec.out_trade_no.to_string()));
    }
    step.record.medical.push(MedicalAttempt {
        out_trade_no: spec.out_trade_no.clone(),
        context: spec.context.clone(),
        request: spec.request.clone(),
        state: MedicalState::PreSettling {
            pay_auth_no: spec.pay_auth_no.clone(),
        },
        created_ms: step.now_ms,
        sends: 0,
        queries: 0,
        next_action_ms: None,
        refunds: Vec::new(),
    });
    send_pre_settle(step, &spec.out_trade_no)?;
    step.outcome = Outcome::AttemptStarted(spec.out_trade_no.clone());
    Ok(())
}

fn send_pre_settle(step: &mut Step, out_trade_no: &OutTradeNo) -> Result<(), Rejection> {
    step.medical_mut(out_trade_no)?.sends += 1;
    let effect = Effect::MedicalPreSettle {
        out_trade_no: out_trade_no.clone(),
    };
    step.medical_move(out_trade_no, None, Some(effect), None)
}

fn send_order(step: &mut Step, out_trade_no: &OutTradeNo) -> Result<(), Rejection> {
    step.medical_mut(out_trade_no)?.sends += 1;
    let effect = Effect::MedicalPlaceOrder {
        out_trade_no: out_trade_no.clone(),
    };
    step.medical_move(out_trade_no, None, Some(effect), None)
}

fn send_query(step: &mut Step, out_trade_no: &OutTradeNo) -> Result<(), Rejection> {
    step.medical_mut(out_trade_no)?.queries += 1;
    let effect = Effect::MedicalQuery {
        out_trade_no: out_trade_no.clone(),
    };
    step.medical_move(out_trade_no, None, Some(effect), None)
}

/// Starts (or continues) closing: WeChat's order first, then NHSA's pre-settlement.
pub(crate) fn close_medical(
    step: &mut Step,
    out_trade_no: &OutTradeNo,
    refusal: Option<Refusal>,
) -> Result<(), Rejection> {
    let attempt = attempt_of(step, out_trade_no)?;
    let was_closing = matches!(attempt.state, MedicalState::Closing { .. });
    let (nhsa, close_at_wechat, refusal) = match attempt.state {
        MedicalState::PreSettling { .. } => (None, false, refusal),
        MedicalState::Ordering { nhsa, .. } => (Some(nhsa), true, refusal),
        MedicalState::Paying { nhsa, .. } => (Some(nhsa), true, refusal),
        MedicalState::Closing {
            nhsa,
            close_at_wechat,
            refusal: known,
        } => (nhsa, close_at_wechat, known.or(refusal)),
        _ => return Ok(()),
    };
    if !was_closing {
        step.medical_mut(out_trade_no)?.sends = 0;
    }
    let effect = if close_at_wechat {
        Some(Effect::MedicalClose {
            out_trade_no: out_trade_no.clone(),
        })
    } else if nhsa.is_some() {
        Some(Effect::MedicalRevoke {
            out_trade_no: out_trade_no.clone(),
        })
    } else {
        None
    };
    let state = match (&effect, refusal) {
        (None, Some(refusal)) => MedicalState::Failed { refusal, nhsa },
        (None, None) => MedicalState::Closed { nhsa },
        (Some(_), refusal) => MedicalState::Closing {
            nhsa,
            close_at_wechat,
            refusal,
        },
    };
    step.medical_mut(out_trade_no)?.sends += 1;
    step.medical_move(out_trade_no, Some(state), effect, None)
}

/// Retries the current step after a failure: now for the first immediate retries, then on
/// the backoff ladder.
fn retry_later(step: &mut Step, out_trade_no: &OutTradeNo, after_ms: i64) -> Result<(), Rejection> {
    let sends = attempt_of(step, out_trade_no)?.sends;
    let delay = after_ms.max(ladder(&BACKOFF_MS, sends));
    step.medical_move(out_trade_no, None, None, Some(delay))
}

pub(crate) fn on_pre_settled(
    step: &mut Step,
    out_trade_no: &OutTradeNo,
    outcome: &Result<PreSettlement, CallFailure>,
) -> Result<(), Rejection> {
    let attempt = attempt_of(step, out_trade_no)?;
    let MedicalState::PreSettling { pay_auth_no } = attempt.state else {
        return Ok(());
    };
    match outcome {
        Ok(nhsa) if nhsa.split.total != step.record.amount => {
            let detail = format!(
                "NHSA pre-settled {} for an order of {}",
                nhsa.split.total, step.record.amount
            );
            let state = MedicalState::Closing {
                nhsa: Some(nhsa.clone()),
                close_at_wechat: false,
                refusal: Some(Refusal::Invalid(detail)),
            };
            step.medical_move(out_trade_no, Some(state), None, None)?;
            close_medical(step, out_trade_no, None)
        }
        Ok(nhsa) => {
            let state = MedicalState::Ordering {
                pay_auth_no,
                nhsa: nhsa.clone(),
            };
            step.medical_mut(out_trade_no)?.sends = 0;
            step.medical_move(out_trade_no, Some(state), None, None)?;
            send_order(step, out_trade_no)
        }
        Err(CallFailure::Final { refusal }) => {
            close_medical(step, out_trade_no, Some(refusal.clone()))
        }
        Err(_) if attempt.sends >= PRE_SETTLE_SENDS => close_medical(
            step,
            out_trade_no,
            Some(Refusal::Invalid(
                "NHSA did not answer the pre-settlement: the payer authorises again".into(),
            )),
        ),
        Err(CallFailure::Retry { after_ms, .. }) => retry_later(step, out_trade_no, *after_ms),
        Err(CallFailure::Unknown) => retry_later(step, out_trade_no, 0),
    }
}

pub(crate) fn on_ordered(
    step: &mut Step,
    out_trade_no: &OutTradeNo,
    outcome: &Result<MedicalOrderPlaced, CallFailure>,
) -> Result<(), Rejection> {
    let attempt = attempt_of(step, out_trade_no)?;
    let MedicalState::Ordering { nhsa, .. } = attempt.state else {
        return Ok(());
    };
    match outcome {
        Ok(placed) => {
            let state = MedicalState::Paying {
                nhsa,
                placed: placed.clone(),
                placed_ms: step.now_ms,
            };
            let first_query = ladder(&QUERY_LADDER_MS, 0);
            step.medical_move(out_trade_no, Some(state), None, Some(first_query))
        }
        Err(CallFailure::Final { refusal }) => {
            let state = MedicalState::Closing {
                nhsa: Some(nhsa),
                close_at_wechat: false,
                refusal: Some(refusal.clone()),
            };
            step.medical_move(out_trade_no, Some(state), None, None)?;
            close_medical(step, out_trade_no, None)
        }
        Err(CallFailure::Retry { after_ms, .. }) => retry_later(step, out_trade_no, *after_ms),
        Err(CallFailure::Unknown) => retry_later(step, out_trade_no, 0),
    }
}

pub(crate) fn on_queried(
    step: &mut Step,
    out_trade_no: &OutTradeNo,
    outcome: &MedicalQueryOutcome,
) -> Result<(), Rejection> {
    let attempt = attempt_of(step, out_trade_no)?;
    match outcome {
        // Paid wins in every state: a payment after a close is refunded, never lost.
        MedicalQueryOutcome::Paid {
            med_trans_id,
            amounts,
            paid_at_s,
        } => mark_medical_paid(step, &attempt, med_trans_id, *amounts, *paid_at_s),
        _ if !attempt.state.is_live() => Ok(()),
        MedicalQueryOutcome::NotPaid | MedicalQueryOutcome::NotFound => match attempt.state {
            // An order whose reply was lost exists (or does not): re-entering it is safe.
            MedicalState::Ordering { .. } => send_order(step, out_trade_no),
            MedicalState::Paying { .. } if over(step, &attempt) => {
                close_medical(step, out_trade_no, None)
            }
            MedicalState::Paying { .. } => {
                let delay = ladder(&QUERY_LADDER_MS, attempt.queries);
                step.medical_move(out_trade_no, None, None, Some(delay))
            }
            MedicalState::Closing { .. } => close_medical(step, out_trade_no, None),
            _ => Ok(()),
        },
        MedicalQueryOutcome::Closed => {
            closed_at_wechat(step, &attempt)?;
            close_medical(step, out_trade_no, None)
        }
        MedicalQueryOutcome::Failed(_) => {
            let delay = ladder(&BACKOFF_MS, attempt.queries);
            step.medical_move(out_trade_no, None, None, Some(delay))
        }
    }
}

fn over(step: &Step, attempt: &MedicalAttempt) -> bool {
    step.now_ms >= attempt.expires_ms()
        || step.record.close_requested
        || step.record.state.is_paid()
}

/// WeChat's order is closed (or never existed): only NHSA's revoke may be left.
fn closed_at_wechat(step: &mut Step, attempt: &MedicalAttempt) -> Result<(), Rejection> {
    let nhsa = attempt.state.pre_settlement().cloned();
    let refusal = match &attempt.state {
        MedicalState::Closing { refusal, .. } => refusal.clone(),
        _ => None,
    };
    let state = MedicalState::Closing {
        nhsa,
        close_at_wechat: false,
        refusal,
    };
    step.medical_mut(&attempt.out_trade_no)?.sends = 0;
    step.medical_move(&attempt.out_trade_no, Some(state), None, None)
}

/// A verified notification or query says the attempt is paid with these amounts.
fn mark_medical_paid(
    step: &mut Step,
    attempt: &MedicalAttempt,
    med_trans_id: &MedicalId,
    amounts: (AmountFen, AmountFen, AmountFen),
    paid_at_s: Option<i64>,
) -> Result<(), Rejection> {
    let out_trade_no = &attempt.out_trade_no;
    if let MedicalState::Paid {
        med_trans_id: known,
        ..
    } = &attempt.state
    {
        if known != med_trans_id {
            let detail = format!("{out_trade_no} reported paid as {known} and as {med_trans_id}");
            step.alert(AlertKind::ConflictingTransaction, detail);
        }
        return Ok(());
    }
    let Some(nhsa) = attempt.state.pre_settlement().cloned() else {
        let detail = format!("{out_trade_no} reported paid before NHSA pre-settled it");
        step.alert(AlertKind::ConflictingNotification, detail);
        return Ok(());
    };
    let split = &nhsa.split;
    if amounts != (split.total, split.cash, split.insurance()) {
        let detail = format!(
            "{out_trade_no} reported paid with total/cash/insurance {}/{}/{}, NHSA split {}/{}/{}",
            amounts.0,
            amounts.1,
            amounts.2,
            split.total,
            split.cash,
            split.insurance()
        );
        step.alert(AlertKind::QueryAmountMismatch, detail);
        return Ok(());
    }
    let paid_elsewhere = step.record.paid_fen() > 0;
    let state = MedicalState::Paid {
        nhsa: nhsa.clone(),
        med_trans_id: med_trans_id.clone(),
        paid_at_s,
    };
    step.medical_move(out_trade_no, Some(state), None, None)?;
    let cause = if paid_elsewhere {
        Some((RefundCause::DuplicatePayment, AlertKind::DuplicatePayment))
    } else if step.record.state == OrderState::Closed {
        Some((RefundCause::PaidAfterClose, AlertKind::PaidAfterClose))
    } else {
        None
    };
    if let Some((cause, kind)) = cause {
        let detail = format!(
            "医保 attempt {out_trade_no} ({med_trans_id}, {}) is refunded automatically",
            split.total
        );
        step.alert(kind, detail);
        let out_refund_no = automatic_refund_number(out_trade_no)?;
        return add_medical_refund(
            step,
            out_trade_no,
            out_refund_no,
            nhsa.split,
            vec![(RefundKind::All, nhsa.split)],
            cause,
        );
    }
    close_other_attempts(step, out_trade_no)
}

/// The order is paid: every other live attempt, of either method, is closed.
pub(crate) fn close_other_attempts(step: &mut Step, paid: &OutTradeNo) -> Result<(), Rejection> {
    let wechat: Vec<OutTradeNo> = step
        .record
        .attempts
        .iter()
        .filter(|other| &other.out_trade_no != paid && other.state.is_live())
        .map(|other| other.out_trade_no.clone())
        .collect();
    wechat.iter().try_for_each(|other| step.close(other))?;
    let medical: Vec<OutTradeNo> = step
        .record
        .medical
        .iter()
        .filter(|other| &other.out_trade_no != paid && other.state.is_live())
        .map(|other| other.out_trade_no.clone())
        .collect();
    medical
        .iter()
        .try_for_each(|other| close_medical(step, other, None))
}

pub(crate) fn on_closed(
    step: &mut Step,
    out_trade_no: &OutTradeNo,
    outcome: &CloseOutcome,
) -> Result<(), Rejection> {
    let attempt = attempt_of(step, out_trade_no)?;
    if !matches!(
        attempt.state,
        MedicalState::Closing {
            close_at_wechat: true,
            ..
        }
    ) {
        return Ok(());
    }
    match outcome {
        CloseOutcome::Closed => {
            closed_at_wechat(step, &attempt)?;
            close_medical(step, out_trade_no, None)
        }
        // The payer paid after all, or WeChat wants a query first: ask.
        CloseOutcome::AlreadyPaid | CloseOutcome::QueryFirst => send_query(step, out_trade_no),
        CloseOutcome::Failed(failure) => {
            let after_ms = match failure {
                CallFailure::Retry { after_ms, .. } => *after_ms,
                _ => 0,
            };
            retry_later(step, out_trade_no, after_ms)
        }
    }
}

pub(crate) fn on_revoked(
    step: &mut Step,
    out_trade_no: &OutTradeNo,
    outcome: &Result<(), CallFailure>,
) -> Result<(), Rejection> {
    let attempt = attempt_of(step, out_trade_no)?;
    let nhsa = attempt.state.pre_settlement().cloned();
    let MedicalState::Closing {
        close_at_wechat: false,
        refusal,
        ..
    } = attempt.state
    else {
        return Ok(());
    };
    let state = match (outcome, refusal) {
        (Ok(()), Some(refusal)) => MedicalState::Failed { refusal, nhsa },
        (Ok(()), None) => MedicalState::Closed { nhsa },
        // NHSA refuses to revoke (revoked already, or expired): nothing is open any more. A
        // payment reported after all is still recognised from the kept pre-settlement.
        (Err(CallFailure::Final { refusal: why }), refusal) => {
            let detail = format!("NHSA refused to revoke {out_trade_no}: {why}");
            step.alert(AlertKind::Other, detail);
            match refusal {
                Some(refusal) => MedicalState::Failed { refusal, nhsa },
                None => MedicalState::Closed { nhsa },
            }
        }
        (Err(CallFailure::Retry { after_ms, .. }), _) => {
            return retry_later(step, out_trade_no, *after_ms)
        }
        (Err(CallFailure::Unknown), _) => return retry_later(step, out_trade_no, 0),
    };
    step.medical_move(out_trade_no, Some(state), None, None)
}

/// Runs what is due on every live medical attempt.
pub(crate) fn on_deadline(step: &mut Step) -> Result<(), Rejection> {
    let now_ms = step.now_ms;
    let due: Vec<MedicalAttempt> = step
        .record
        .medical
        .iter()
        .filter(|attempt| {
            attempt.state.is_live() && attempt.next_action_ms.is_some_and(|at| at <= now_ms)
        })
        .cloned()
        .collect();
    for attempt in &due {
        let out_trade_no = &attempt.out_trade_no;
        match &attempt.state {
            MedicalState::PreSettling { .. } if attempt.sends >= PRE_SETTLE_SENDS => {
                let refusal = Refusal::Invalid("NHSA pre-settlement unanswered".into());
                close_medical(step, out_trade_no, Some(refusal))?
            }
            MedicalState::PreSettling { .. } => send_pre_settle(step, out_trade_no)?,
            MedicalState::Ordering { .. } if over(step, attempt) => {
                close_medical(step, out_trade_no, None)?
            }
            MedicalState::Ordering { .. } => send_order(step, out_trade_no)?,
            MedicalState::Paying { .. } if over(step, attempt) => {
                close_medical(step, out_trade_no, None)?
            }
            MedicalState::Paying { .. } => send_query(step, out_trade_no)?,
            MedicalState::Closing { .. } => close_medical(step, out_trade_no, None)?,
            _ => {}
        }
    }
    crate::machine::medical_refunds::on_deadline(step)
}

/// The host asks to hear now: every live medical attempt past pre-settlement is queried.
pub(crate) fn on_query_requested(step: &mut Step) -> Result<(), Rejection> {
    let wanted: Vec<OutTradeNo> = step
        .record
        .medical
        .iter()
        .filter(|attempt| {
            matches!(
                attempt.state,
                MedicalState::Paying { .. } | MedicalState::Closing { .. }
            )
        })
        .map(|attempt| attempt.out_trade_no.clone())
        .collect();
    wanted
        .iter()
        .try_for_each(|out_trade_no| send_query(step, out_trade_no))
}

/// The merchant closes the order: every live medical attempt is closed and revoked.
pub(crate) fn on_close_requested(step: &mut Step) -> Result<(), Rejection> {
    let live: Vec<OutTradeNo> = step
        .record
        .medical
        .iter()
        .filter(|attempt| attempt.state.is_live())
        .map(|attempt| attempt.out_trade_no.clone())
        .collect();
    live.iter()
        .try_for_each(|out_trade_no| close_medical(step, out_trade_no, None))
}

/// fund + account + cash = total, for a split the engine keeps.
pub(crate) fn split_adds_up(split: &Split) -> bool {
    split
        .fund
        .fen()
        .checked_add(split.account.fen())
        .and_then(|sum| sum.checked_add(split.cash.fen()))
        == Some(split.total.fen())
}
