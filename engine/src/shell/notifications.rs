//! Notifications inside the order's actor: a payment notification is verified against the
//! attempt it names (its stored channel context, every key of a rotation, its amount); a
//! decrypted refund notification against the refund it names (the paying attempt's identity,
//! amount and number). Conflicts become durable alerts and a FAIL; nothing else changes.

use cashier_adapters::notify::payment::{PaymentResult, UnverifiedPaymentNotification};
use cashier_adapters::notify::refund::RefundNotification;
use cashier_adapters::notify::NotifyError;
use cashier_adapters::OutTradeNo;

use crate::error::EngineError;
use crate::metrics::bump;
use crate::model::*;
use crate::shell::effects::status_report;
use crate::shell::{CommandReply, NotificationVerdict, Shell};

fn rejected(record: OrderRecord, reason: String) -> CommandReply {
    let mut reply = CommandReply::of(record, false);
    reply.verdict = Some(NotificationVerdict::Rejected(reason));
    reply
}

/// An applied notification's verdict: it changed the order, or it was already known.
fn with_verdict(
    mut reply: CommandReply,
    (applied, duplicate): (&std::sync::atomic::AtomicU64, &std::sync::atomic::AtomicU64),
) -> CommandReply {
    let (counter, verdict) = if reply.changed {
        (applied, NotificationVerdict::Applied)
    } else {
        (duplicate, NotificationVerdict::Duplicate)
    };
    bump(counter);
    reply.verdict = Some(verdict);
    reply
}

impl Shell {
    /// Verifies with each key of the attempt's merchant in turn (a rotation has two).
    async fn verify_payment(
        &self,
        attempt: &PaymentAttempt,
        notification: UnverifiedPaymentNotification,
    ) -> Result<
        Result<cashier_adapters::notify::payment::PaymentNotification, NotifyError>,
        EngineError,
    > {
        let contexts = self.verifying_contexts(&attempt.channel).await?;
        let mut last = None;
        for merchant in &contexts {
            let result = notification.clone().verify(merchant, attempt.request.total);
            let wrong_key = matches!(result, Err(NotifyError::Signature(_)));
            last = Some(result);
            if !wrong_key {
                break;
            }
        }
        last.ok_or(EngineError::NotConfigured {
            mch_id: attempt.channel.mch_id.clone(),
        })
    }

    pub(crate) async fn payment_notification(
        &self,
        record: OrderRecord,
        notification: UnverifiedPaymentNotification,
    ) -> Result<CommandReply, EngineError> {
        let attempt = notification
            .out_trade_no()
            .and_then(|text| OutTradeNo::new(text).ok())
            .and_then(|out_trade_no| record.attempt(&out_trade_no).cloned());
        let Some(attempt) = attempt else {
            bump(&self.metrics.payment_notifications_rejected);
            return Ok(rejected(record, "no such payment attempt".into()));
        };
        let verified = match self.verify_payment(&attempt, notification).await? {
            Ok(verified) => verified,
            Err(
                error @ (NotifyError::AmountMismatch { .. } | NotifyError::IdentityMismatch { .. }),
            ) => {
                // A validly signed notification contradicting the order is an alarm: recorded
                // durably (before the FAIL) and nothing else changes.
                bump(&self.metrics.payment_notifications_rejected);
                let event = Event::ConflictingNotification {
                    detail: error.to_string(),
                };
                let reply = self.apply(record, event).await?;
                return Ok(CommandReply {
                    verdict: Some(NotificationVerdict::Rejected(error.to_string())),
                    ..reply
                });
            }
            Err(error) => {
                bump(&self.metrics.payment_notifications_rejected);
                return Ok(rejected(record, error.to_string()));
            }
        };
        let PaymentResult::Paid = verified.result else {
            tracing::info!("payment notification reports a failure; nothing changes");
            let mut reply = CommandReply::of(record, false);
            reply.verdict = Some(NotificationVerdict::Ignored);
            return Ok(reply);
        };
        let Some(transaction_id) = verified.details.transaction_id else {
            return Ok(rejected(record, "no transaction_id".into()));
        };
        let event = Event::PaymentNotified {
            out_trade_no: attempt.out_trade_no.clone(),
            transaction_id,
            paid_at_s: verified
                .details
                .time_end
                .as_deref()
                .and_then(cashier_adapters::wechat::time::parse_compact),
        };
        let reply = self.apply(record, event).await?;
        let counters = (
            &self.metrics.payment_notifications_applied,
            &self.metrics.payment_notifications_duplicate,
        );
        Ok(with_verdict(reply, counters))
    }

    /// The conflict between a decrypted refund notification and the refund it names, if any.
    async fn refund_conflict(
        &self,
        record: &OrderRecord,
        refund: &RefundRecord,
        notification: &RefundNotification,
    ) -> Result<Option<String>, EngineError> {
        let Some(attempt) = record.attempt(&refund.out_trade_no) else {
            return Ok(Some(format!(
                "refund {} names no attempt",
                refund.out_refund_no
            )));
        };
        let identity = self
            .signing_context(&attempt.channel)
            .await?
            .check_identity(&notification.outer_fields);
        if let Err(error) = identity {
            return Ok(Some(error.to_string()));
        }
        if notification.refund_fee != refund.amount
            || notification.out_trade_no != refund.out_trade_no
        {
            return Ok(Some(format!(
                "refund notification for {} reports {} of {}, the refund is {} of {}",
                refund.out_refund_no,
                notification.refund_fee,
                notification.out_trade_no,
                refund.amount,
                refund.out_trade_no
            )));
        }
        Ok(None)
    }

    pub(crate) async fn refund_notification(
        &self,
        record: OrderRecord,
        notification: RefundNotification,
    ) -> Result<CommandReply, EngineError> {
        let Some(refund) = record.refund(&notification.out_refund_no).cloned() else {
            bump(&self.metrics.refund_notifications_rejected);
            let reason = format!("no refund {}", notification.out_refund_no);
            return Ok(rejected(record, reason));
        };
        if let Some(detail) = self
            .refund_conflict(&record, &refund, &notification)
            .await?
        {
            bump(&self.metrics.refund_notifications_rejected);
            let reply = self
                .apply(
                    record,
                    Event::ConflictingNotification {
                        detail: detail.clone(),
                    },
                )
                .await?;
            return Ok(CommandReply {
                verdict: Some(NotificationVerdict::Rejected(detail)),
                ..reply
            });
        }
        let event = Event::RefundStatus {
            out_refund_no: refund.out_refund_no.clone(),
            report: status_report(notification.refund_status, notification.refund_id),
            from_notification: true,
        };
        let reply = self.apply(record, event).await?;
        let counters = (
            &self.metrics.refund_notifications_applied,
            &self.metrics.refund_notifications_duplicate,
        );
        Ok(with_verdict(reply, counters))
    }
}
