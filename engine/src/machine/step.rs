//! The working state of one transition ([`Step`]) and its primitive moves: send, query, close,
//! schedule, refund, alert, and settling the order's own state from its attempts and refunds.

use cashier_adapters::{AmountFen, OutRefundNo, OutTradeNo};

use crate::machine::ladders::{CLOSE_MIN_AGE_MS, WATCHDOG_MS};
use crate::machine::{Outcome, Rejection};
use crate::model::*;

pub(crate) struct Step {
    pub(crate) record: OrderRecord,
    pub(crate) effects: Vec<Effect>,
    pub(crate) changed: bool,
    pub(crate) now_ms: i64,
    pub(crate) outcome: Outcome,
}

impl Step {
    pub(crate) fn attempt_mut(
        &mut self,
        out_trade_no: &OutTradeNo,
    ) -> Result<&mut PaymentAttempt, Rejection> {
        self.record
            .attempts
            .iter_mut()
            .find(|attempt| &attempt.out_trade_no == out_trade_no)
            .ok_or_else(|| Rejection::UnknownAttempt(out_trade_no.clone()))
    }

    pub(crate) fn refund_mut(
        &mut self,
        out_refund_no: &OutRefundNo,
    ) -> Result<&mut RefundRecord, Rejection> {
        self.record
            .refunds
            .iter_mut()
            .find(|refund| &refund.out_refund_no == out_refund_no)
            .ok_or_else(|| Rejection::UnknownRefund(out_refund_no.clone()))
    }

    pub(crate) fn alert(&mut self, kind: AlertKind, detail: String) {
        self.record.alerts.push(Alert {
            at_ms: self.now_ms,
            kind,
            detail,
        });
        self.changed = true;
    }

    pub(crate) fn send_unified_order(
        &mut self,
        out_trade_no: &OutTradeNo,
    ) -> Result<(), Rejection> {
        let now_ms = self.now_ms;
        let attempt = self.attempt_mut(out_trade_no)?;
        attempt.state = AttemptState::Sending;
        attempt.sends += 1;
        attempt.next_action_ms = Some(now_ms + WATCHDOG_MS);
        self.effects.push(Effect::SendUnifiedOrder {
            out_trade_no: out_trade_no.clone(),
        });
        self.changed = true;
        Ok(())
    }

    pub(crate) fn query(&mut self, out_trade_no: &OutTradeNo) -> Result<(), Rejection> {
        let now_ms = self.now_ms;
        let attempt = self.attempt_mut(out_trade_no)?;
        attempt.queries += 1;
        attempt.next_action_ms = Some(now_ms + WATCHDOG_MS);
        self.effects.push(Effect::QueryOrder {
            out_trade_no: out_trade_no.clone(),
        });
        self.changed = true;
        Ok(())
    }

    /// Closes the attempt at WeChat now, or schedules the close for when WeChat allows it.
    pub(crate) fn close(&mut self, out_trade_no: &OutTradeNo) -> Result<(), Rejection> {
        let now_ms = self.now_ms;
        let attempt = self.attempt_mut(out_trade_no)?;
        let allowed_ms = attempt.created_ms + CLOSE_MIN_AGE_MS;
        attempt.state = AttemptState::Closing;
        if now_ms >= allowed_ms {
            attempt.close_sends += 1;
            attempt.next_action_ms = Some(now_ms + WATCHDOG_MS);
            self.effects.push(Effect::CloseOrder {
                out_trade_no: out_trade_no.clone(),
            });
        } else {
            attempt.next_action_ms = Some(allowed_ms);
        }
        self.changed = true;
        Ok(())
    }

    pub(crate) fn schedule_attempt(
        &mut self,
        out_trade_no: &OutTradeNo,
        delay_ms: i64,
    ) -> Result<(), Rejection> {
        let now_ms = self.now_ms;
        let attempt = self.attempt_mut(out_trade_no)?;
        let mut at_ms = now_ms + delay_ms;
        // A prepared attempt must be looked at again no later than its expiry (when it is
        // closed), but not before WeChat allows a close.
        if matches!(attempt.state, AttemptState::Prepared { .. }) {
            let expiry_ms = attempt
                .expires_ms()
                .max(attempt.created_ms + CLOSE_MIN_AGE_MS);
            at_ms = at_ms.min(expiry_ms.max(now_ms));
        }
        attempt.next_action_ms = Some(at_ms);
        self.changed = true;
        Ok(())
    }

    pub(crate) fn mark_attempt_closed(
        &mut self,
        out_trade_no: &OutTradeNo,
    ) -> Result<(), Rejection> {
        let attempt = self.attempt_mut(out_trade_no)?;
        attempt.state = AttemptState::Closed;
        attempt.next_action_ms = None;
        self.changed = true;
        Ok(())
    }

    pub(crate) fn send_refund(&mut self, out_refund_no: &OutRefundNo) -> Result<(), Rejection> {
        let now_ms = self.now_ms;
        let refund = self.refund_mut(out_refund_no)?;
        refund.state = RefundState::Sending;
        refund.sends += 1;
        refund.next_action_ms = Some(now_ms + WATCHDOG_MS);
        self.effects.push(Effect::SendRefund {
            out_refund_no: out_refund_no.clone(),
        });
        self.changed = true;
        Ok(())
    }

    pub(crate) fn query_refund(&mut self, out_refund_no: &OutRefundNo) -> Result<(), Rejection> {
        let now_ms = self.now_ms;
        let refund = self.refund_mut(out_refund_no)?;
        refund.queries += 1;
        refund.next_action_ms = Some(now_ms + WATCHDOG_MS);
        self.effects.push(Effect::QueryRefund {
            out_refund_no: out_refund_no.clone(),
        });
        self.changed = true;
        Ok(())
    }

    pub(crate) fn add_refund(
        &mut self,
        out_refund_no: OutRefundNo,
        out_trade_no: OutTradeNo,
        amount: AmountFen,
        cause: RefundCause,
    ) -> Result<(), Rejection> {
        if self.record.refund(&out_refund_no).is_some() {
            return Err(Rejection::DuplicateNumber(out_refund_no.to_string()));
        }
        self.record.refunds.push(RefundRecord {
            out_refund_no: out_refund_no.clone(),
            out_trade_no,
            amount,
            cause,
            state: RefundState::Sending,
            created_ms: self.now_ms,
            sends: 0,
            queries: 0,
            next_action_ms: None,
        });
        self.send_refund(&out_refund_no)
    }

    /// Moves the order's own state from its attempts and refunds. Terminal states absorb.
    pub(crate) fn settle(&mut self) {
        let before = self.record.state;
        if before.is_terminal() {
            return;
        }
        self.record.state = if self.record.paid_fen() > 0 {
            paid_state(&self.record)
        } else {
            unpaid_state(&self.record, self.now_ms)
        };
        if self.record.state != before {
            self.changed = true;
        }
    }
}

/// The state of a paid order from the host's refunds of the payment it keeps; automatic
/// refunds return money that was never the order's (a duplicate or late payment) and do not
/// make it "refunded".
fn paid_state(record: &OrderRecord) -> OrderState {
    let requested = |cause: &RefundCause| matches!(cause, RefundCause::Requested { .. });
    let wechat: u64 = record
        .refunds
        .iter()
        .filter(|refund| requested(&refund.cause))
        .filter(|refund| matches!(refund.state, RefundState::Succeeded { .. }))
        .map(|refund| refund.amount.fen())
        .sum();
    let medical: u64 = record
        .medical_refunds()
        .filter(|(_, refund)| requested(&refund.cause) && refund.succeeded())
        .map(|(_, refund)| refund.split.total.fen())
        .sum();
    let succeeded = wechat + medical;
    let pending = record
        .refunds
        .iter()
        .any(|refund| requested(&refund.cause) && !refund.state.is_final())
        || record
            .medical_refunds()
            .any(|(_, refund)| requested(&refund.cause) && !refund.is_final());
    if succeeded >= record.amount.fen() && !pending {
        OrderState::Refunded
    } else if succeeded > 0 {
        OrderState::PartiallyRefunded
    } else {
        OrderState::Paid
    }
}

fn unpaid_state(record: &OrderRecord, now_ms: i64) -> OrderState {
    let live = record.has_live_attempt();
    let over = record.close_requested || now_ms >= record.expires_ms;
    let prepared = record
        .attempts
        .iter()
        .any(|attempt| matches!(attempt.state, AttemptState::Prepared { .. }))
        || record
            .medical
            .iter()
            .any(|attempt| matches!(attempt.state, MedicalState::Paying { .. }));
    if over && !live {
        OrderState::Closed
    } else if record.state == OrderState::Created && prepared {
        OrderState::Paying
    } else {
        record.state
    }
}
