//! WeChat's notifications: found by their untrusted numbers, verified inside the order's actor
//! against the attempt or refund they name, acknowledged SUCCESS only once what they changed
//! is durable. The effects they cause (closing other attempts, refunding a double payment) run
//! after the acknowledgement.

use cashier_adapters::notify::ack::ACK_SUCCESS;
use cashier_adapters::notify::payment::UnverifiedPaymentNotification;
use cashier_adapters::notify::refund::{RefundNotification, UnverifiedRefundNotification};
use cashier_adapters::MchId;

use crate::engine::{Engine, NotificationResponse};
use crate::metrics::bump;
use crate::order_number::OrderNumber;
use crate::shell::{Command, NotificationVerdict};
use crate::store::IndexKind;

impl Engine {
    /// Handles a payment notification body: verifies it against the order's own channel
    /// context and amount, applies it, and returns the exact acknowledgement bytes once the
    /// state is durable. Invalid sign, unknown order or conflicting content: FAIL, no change.
    pub async fn handle_payment_notification(&self, body: &[u8]) -> NotificationResponse {
        match self.route_payment_notification(body) {
            Ok((order_no, command)) => self.deliver(&order_no, command).await,
            Err(reason) => {
                bump(&self.shell().metrics.payment_notifications_rejected);
                NotificationResponse::rejected(reason)
            }
        }
    }

    /// Handles a refund notification body: decrypts `req_info` with the named merchant's key,
    /// finds the refund, checks it against the refund's own attempt, applies it, and returns
    /// the acknowledgement once durable.
    pub async fn handle_refund_notification(&self, body: &[u8]) -> NotificationResponse {
        match self.route_refund_notification(body) {
            Ok((order_no, command)) => self.deliver(&order_no, command).await,
            Err(reason) => {
                bump(&self.shell().metrics.refund_notifications_rejected);
                NotificationResponse::rejected(reason)
            }
        }
    }

    fn route_payment_notification(&self, body: &[u8]) -> Result<(OrderNumber, Command), String> {
        let notification =
            UnverifiedPaymentNotification::parse(body).map_err(|error| error.to_string())?;
        let out_trade_no = notification
            .out_trade_no()
            .ok_or_else(|| "no out_trade_no".to_owned())?;
        let order_no = self
            .order_of(IndexKind::OutTradeNo, out_trade_no)
            .map_err(|error| error.to_string())?;
        Ok((
            order_no,
            Command::PaymentNotification(Box::new(notification)),
        ))
    }

    /// Decrypting with the key of the mch_id it names is the authentication (every key of a
    /// rotation, and the sandbox key, are tried); the refund it names then decides the order,
    /// and its own attempt's identity is checked in the actor (sub-merchants of one service
    /// provider share the provider's key, so the first matching entry cannot decide).
    fn route_refund_notification(&self, body: &[u8]) -> Result<(OrderNumber, Command), String> {
        let outer = UnverifiedRefundNotification::parse(body).map_err(|error| error.to_string())?;
        let mch_id = MchId::new(outer.mch_id().unwrap_or("")).map_err(|error| error.to_string())?;
        let decrypted = self.decrypt_refund(&mch_id, outer)?;
        let order_no = self
            .order_of(IndexKind::OutRefundNo, decrypted.out_refund_no.as_str())
            .map_err(|error| error.to_string())?;
        Ok((order_no, Command::RefundNotification(Box::new(decrypted))))
    }

    fn decrypt_refund(
        &self,
        mch_id: &MchId,
        outer: UnverifiedRefundNotification,
    ) -> Result<RefundNotification, String> {
        let keyring = &self.shell().keyring;
        let keys = keyring.keys(mch_id).map_err(|error| error.to_string())?;
        let sandbox = keyring.sandbox_key(mch_id);
        let mut last = String::from("no key");
        for key in keys.verifying().chain(sandbox.iter()) {
            match outer.clone().decrypt_with_key(key) {
                Ok(decrypted) => return Ok(decrypted),
                Err(error) => last = error.to_string(),
            }
        }
        Err(last)
    }

    pub(crate) async fn deliver(
        &self,
        order_no: &OrderNumber,
        command: Command,
    ) -> NotificationResponse {
        match self.send(order_no, command).await {
            Ok(reply) => match reply.verdict {
                Some(NotificationVerdict::Rejected(reason)) => {
                    NotificationResponse::rejected(reason)
                }
                Some(verdict) => NotificationResponse {
                    ack: ACK_SUCCESS.to_vec(),
                    verdict,
                },
                None => NotificationResponse::rejected("no verdict".into()),
            },
            // Not durable, not acknowledged: WeChat will deliver it again.
            Err(error) => NotificationResponse::rejected(error.to_string()),
        }
    }
}
