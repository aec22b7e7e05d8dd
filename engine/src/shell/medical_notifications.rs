//! The payinsurance notification inside the order's actor: verified against the 医保 attempt
//! it names (the payinsurance merchant's keys, appid/mch_id, and NHSA's split as total, cash
//! and insurance), then applied as a paid report. A validly signed one that contradicts the
//! attempt (another split, another `med_trans_id`) is a durable alert and a FAIL.

use cashier_adapters::medical::payinsurance::notify::{
    ExpectedAmounts, MedicalNotification, UnverifiedMedicalNotification,
};
use cashier_adapters::medical::payinsurance::PayInsuranceError;
use cashier_adapters::{MerchantContext, OutTradeNo, SignType};

use crate::error::EngineError;
use crate::metrics::bump;
use crate::model::*;
use crate::shell::{CommandReply, NotificationVerdict, Shell};

fn rejected(record: OrderRecord, reason: String) -> CommandReply {
    let mut reply = CommandReply::of(record, false);
    reply.verdict = Some(NotificationVerdict::Rejected(reason));
    reply
}

impl Shell {
    fn verify_medical(
        &self,
        attempt: &MedicalAttempt,
        expected: ExpectedAmounts,
        notification: UnverifiedMedicalNotification,
    ) -> Result<Result<MedicalNotification, PayInsuranceError>, EngineError> {
        let keys = self.keyring.keys(&attempt.context.mch_id)?;
        let mut last = Err(PayInsuranceError::Signature);
        for key in keys.verifying() {
            let merchant = MerchantContext::direct(
                attempt.context.appid.clone(),
                attempt.context.mch_id.clone(),
                SignType::Md5,
                key.clone(),
            );
            last = notification.clone().verify(&merchant, expected);
            if !matches!(last, Err(PayInsuranceError::Signature)) {
                break;
            }
        }
        Ok(last)
    }

    async fn medical_conflict(
        &self,
        record: OrderRecord,
        detail: String,
    ) -> Result<CommandReply, EngineError> {
        bump(&self.metrics.medical_notifications_rejected);
        let event = Event::ConflictingNotification {
            detail: detail.clone(),
        };
        let reply = self.apply(record, event).await?;
        Ok(CommandReply {
            verdict: Some(NotificationVerdict::Rejected(detail)),
            ..reply
        })
    }

    pub(crate) async fn medical_notification(
        &self,
        record: OrderRecord,
        notification: UnverifiedMedicalNotification,
    ) -> Result<CommandReply, EngineError> {
        let attempt = notification
            .hosp_out_trade_no()
            .and_then(|text| OutTradeNo::new(text).ok())
            .and_then(|number| record.medical_attempt(&number).cloned());
        let Some(attempt) = attempt else {
            bump(&self.metrics.medical_notifications_rejected);
            return Ok(rejected(record, "no such 医保 attempt".into()));
        };
        let Some(nhsa) = attempt.state.pre_settlement() else {
            bump(&self.metrics.medical_notifications_rejected);
            return Ok(rejected(record, "the attempt was never pre-settled".into()));
        };
        let expected = ExpectedAmounts {
            total: nhsa.split.total,
            cash: nhsa.split.cash,
            insurance: nhsa.split.insurance(),
        };
        let verified = match self.verify_medical(&attempt, expected, notification)? {
            Ok(verified) => verified,
            Err(
                error @ (PayInsuranceError::AmountMismatch { .. } | PayInsuranceError::Identity(_)),
            ) => {
                return self.medical_conflict(record, error.to_string()).await;
            }
            Err(error) => {
                bump(&self.metrics.medical_notifications_rejected);
                return Ok(rejected(record, error.to_string()));
            }
        };
        let placed = match &attempt.state {
            MedicalState::Paying { placed, .. } => Some(placed.med_trans_id.as_str()),
            _ => None,
        };
        if placed.is_some_and(|known| known != verified.med_trans_id) {
            let detail = format!(
                "医保 notification for {} names med_trans_id {}, the order placed {}",
                attempt.out_trade_no,
                verified.med_trans_id,
                placed.unwrap_or_default()
            );
            return self.medical_conflict(record, detail).await;
        }
        let Ok(med_trans_id) = MedicalId::new(verified.med_trans_id) else {
            bump(&self.metrics.medical_notifications_rejected);
            return Ok(rejected(record, "malformed med_trans_id".into()));
        };
        let event = Event::MedicalQueried {
            out_trade_no: attempt.out_trade_no.clone(),
            outcome: MedicalQueryOutcome::Paid {
                med_trans_id,
                amounts: (
                    verified.amounts.total,
                    verified.amounts.cash,
                    verified.amounts.insurance,
                ),
                paid_at_s: verified.paid_at_s,
            },
            from_notification: true,
        };
        let mut reply = self.apply(record, event).await?;
        let (counter, verdict) = if reply.changed {
            (
                &self.metrics.medical_notifications_applied,
                NotificationVerdict::Applied,
            )
        } else {
            (
                &self.metrics.medical_notifications_duplicate,
                NotificationVerdict::Duplicate,
            )
        };
        bump(counter);
        reply.verdict = Some(verdict);
        Ok(reply)
    }
}
