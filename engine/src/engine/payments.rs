//! Paying and refunding: start (or reuse, or refresh) a payment attempt and build what the
//! client needs; the client's hint; closing; reading an order from the store or asking WeChat
//! now; refunds under the host's idempotency key.

use std::time::Duration;

use cashier_adapters::{NonceSource, OutTradeNo};

use crate::actor::Progress;
use crate::client_payment::{client_payment, PaymentStart};
use crate::engine::{Engine, PaymentRequest, Receipt, RefundRequest};
use crate::error::EngineError;
use crate::machine::Outcome;
use crate::model::*;
use crate::order_number::{Kind, OrderNumber};
use crate::shell::{Command, CommandReply};
use crate::store::IndexKind;

/// Waits until `done` holds for the order's published progress, or no effect is in flight, or
/// `wait` passes; returns the last record seen.
pub(crate) async fn wait_for(
    reply: CommandReply,
    wait: Duration,
    done: impl Fn(&OrderRecord) -> bool,
) -> OrderRecord {
    let Some(mut progress) = reply.progress else {
        return reply.record;
    };
    let mut latest = reply.record;
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let Progress {
            record,
            effects_in_flight,
        } = progress.borrow_and_update().clone();
        if let Some(record) = record {
            latest = record;
        }
        if done(&latest) || effects_in_flight == 0 {
            return latest;
        }
        match tokio::time::timeout_at(deadline, progress.changed()).await {
            Ok(Ok(())) => continue,
            _ => return latest,
        }
    }
}

fn attempt_settled(record: &OrderRecord, out_trade_no: &OutTradeNo) -> bool {
    record.attempt(out_trade_no).is_some_and(|attempt| {
        !matches!(
            attempt.state,
            AttemptState::Sending | AttemptState::OutcomeUnknown
        )
    })
}

impl Engine {
    /// Starts a payment through an entry point: a still fresh prepared attempt of the same entry
    /// and payer is handed out again; one whose link went stale is refreshed by identical
    /// re-entry; otherwise a new attempt is made. Waits (up to the runtime's
    /// `start_payment_wait`) for WeChat's unified order, without holding the order: a
    /// notification for it is handled meanwhile.
    pub async fn start_payment(
        &self,
        order_no: &OrderNumber,
        request: PaymentRequest,
    ) -> Result<PaymentStart, EngineError> {
        let entry = self
            .shell()
            .config
            .entry(&request.entry)
            .ok_or_else(|| EngineError::UnknownEntry {
                entry: request.entry.clone(),
            })?
            .clone();
        let record = self.send(order_no, Command::Get).await?.record;
        let number = self.issue_number(entry.kind.channel(), Kind::Payment, record.product_type)?;
        let spec = AttemptSpec {
            out_trade_no: OutTradeNo::new(number.to_string()).map_err(|error| {
                EngineError::InvalidInput {
                    field: "out_trade_no",
                    reason: error.to_string(),
                }
            })?,
            channel: entry.channel(),
            notify_url: entry.notify_url.clone(),
            h5_site: entry.h5_site.clone(),
            openid: request.openid,
            client_ip: request.client_ip,
        };
        let reply = self
            .send(
                order_no,
                Command::Apply(Event::StartPayment {
                    spec: Box::new(spec),
                }),
            )
            .await?;
        let (out_trade_no, reused) = match &reply.outcome {
            Outcome::AttemptReused(number) => (number.clone(), true),
            Outcome::AttemptStarted(number) | Outcome::AttemptRefreshing(number) => {
                (number.clone(), false)
            }
            other => {
                return Err(EngineError::InvalidInput {
                    field: "outcome",
                    reason: format!("unexpected {other:?}"),
                })
            }
        };
        let wait = self.inner.runtime.start_payment_wait;
        let record = wait_for(reply, wait, |record| attempt_settled(record, &out_trade_no)).await;
        self.client_for(&record, &entry, out_trade_no, reused).await
    }

    async fn client_for(
        &self,
        record: &OrderRecord,
        entry: &crate::config::EntryConfig,
        out_trade_no: OutTradeNo,
        reused: bool,
    ) -> Result<PaymentStart, EngineError> {
        let attempt = record
            .attempt(&out_trade_no)
            .ok_or_else(|| EngineError::UnknownOrder {
                key: out_trade_no.to_string(),
            })?;
        let (prepay_id, link) = match &attempt.state {
            AttemptState::Prepared {
                prepay_id, link, ..
            } => (prepay_id, link),
            AttemptState::Failed { refusal } => {
                return Err(EngineError::PaymentRefused {
                    out_trade_no,
                    refusal: refusal.clone(),
                })
            }
            other => {
                return Err(EngineError::PaymentNotReady {
                    out_trade_no,
                    state: other.name(),
                })
            }
        };
        let merchant = self.shell().signing_context(&attempt.channel).await?;
        let timestamp_s = self.shell().now_ms().div_euclid(1000);
        let nonce = self.inner.nonces.next_nonce();
        let client = client_payment(entry, &merchant, prepay_id, link, timestamp_s, &nonce)?;
        Ok(PaymentStart {
            out_trade_no,
            client,
            reused,
        })
    }

    pub(crate) fn order_of(&self, index: IndexKind, key: &str) -> Result<OrderNumber, EngineError> {
        self.shell()
            .store
            .find(index, key)?
            .ok_or_else(|| EngineError::UnknownOrder {
                key: key.to_owned(),
            })
    }

    /// Records what the client reported. Only "ok" does anything: it makes the engine query
    /// WeChat now; cancel and fail change nothing (the client never decides).
    pub async fn report_client_result(
        &self,
        out_trade_no: &OutTradeNo,
        result: ClientResult,
    ) -> Result<OrderRecord, EngineError> {
        let order_no = self.order_of(IndexKind::OutTradeNo, out_trade_no.as_str())?;
        let event = Event::ClientReported {
            out_trade_no: out_trade_no.clone(),
            result,
        };
        Ok(self.send(&order_no, Command::Apply(event)).await?.record)
    }

    /// The order as stored (no call to WeChat).
    pub async fn query(&self, order_no: &OrderNumber) -> Result<OrderRecord, EngineError> {
        Ok(self.send(order_no, Command::Get).await?.record)
    }

    /// Asks WeChat now, through the order's actor and with each attempt's own context (a result
    /// page, a support desk): every live attempt and unfinished refund is queried, and the
    /// order is returned once the answers are applied (or after `wait`).
    pub async fn query_wechat(
        &self,
        order_no: &OrderNumber,
        wait: Duration,
    ) -> Result<OrderRecord, EngineError> {
        let reply = self
            .send(order_no, Command::Apply(Event::QueryRequested))
            .await?;
        Ok(wait_for(reply, wait, |_| false).await)
    }

    /// Closes an unpaid order (its attempts are closed at WeChat, not before WeChat's 5
    /// minutes; a payment found while closing wins).
    pub async fn close(&self, order_no: &OrderNumber) -> Result<OrderRecord, EngineError> {
        Ok(self
            .send(order_no, Command::Apply(Event::CloseRequested))
            .await?
            .record)
    }

    /// Refunds part or all of a paid order under the host's idempotency key, with the paying
    /// attempt's appid, mch_id, sub ids and sign type. `RefundRequested` the first time,
    /// `RefundAlreadyRequested` for a repeat with the same key and content (across restarts);
    /// other content under a used key is refused (`ConflictingRequest`). Answers once the
    /// request is durable; the refund call to WeChat runs after.
    pub async fn refund(
        &self,
        order_no: &OrderNumber,
        request: RefundRequest,
    ) -> Result<Receipt, EngineError> {
        let record = self.send(order_no, Command::Get).await?.record;
        // The refund number carries the channel of the payment it returns money of: the
        // earlier refund's under this key (a repeat), else the payment the order keeps.
        let medical_earlier = record.medical_refunds().find(|(_, refund)| {
            matches!(&refund.cause, RefundCause::Requested { key, .. } if key == &request.key)
        });
        let refunded = match (record.refund_by_key(&request.key), medical_earlier) {
            (Some(earlier), _) => Some(earlier.out_trade_no.clone()),
            (None, Some((attempt, _))) => Some(attempt.out_trade_no.clone()),
            (None, None) => record
                .primary_payment()
                .map(|attempt| attempt.out_trade_no.clone())
                .or_else(|| {
                    record
                        .paid_medical()
                        .next()
                        .map(|attempt| attempt.out_trade_no.clone())
                }),
        };
        let refunded = refunded.ok_or(crate::machine::Rejection::NotPaid)?;
        let channel = OrderNumber::parse(refunded.to_string())
            .map_err(|error| EngineError::InvalidInput {
                field: "out_trade_no",
                reason: error.to_string(),
            })?
            .channel();
        let number = self.issue_number(channel, Kind::Refund, record.product_type)?;
        let out_refund_no =
            cashier_adapters::OutRefundNo::new(number.to_string()).map_err(|error| {
                EngineError::InvalidInput {
                    field: "out_refund_no",
                    reason: error.to_string(),
                }
            })?;
        let event = Event::RefundRequested {
            key: request.key,
            out_refund_no,
            amount: request.amount,
            reason: request.reason,
        };
        let reply = self.send(order_no, Command::Apply(event)).await?;
        Ok(Receipt {
            record: reply.record,
            outcome: reply.outcome,
        })
    }
}
