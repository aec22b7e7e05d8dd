//! The simulator's state and its answers: [`SimState`] (ledger, seeded stream, faults, outbox,
//! time queues), mutated under the simulator's one lock by requests, payer actions and time
//! steps, and [`SimResponse`], what a request gets. Endpoints and the simulator both depend on
//! this module, not on each other.

use std::collections::{BTreeMap, BTreeSet};

use cashier_adapters::notify::ack::is_acknowledged;
use cashier_adapters::wechat::nonce::random_alphanumeric;
use cashier_adapters::wechat::time;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::config::SimConfig;
use crate::faults::{Fault, FaultEngine, FaultPlan};
use crate::ledger::{Ledger, OrderKey, RefundKey};
use crate::notifications::{
    self, Delivery, DeliveryRecord, Notification, NotificationKind, Outbox, Variant,
};

/// What the simulator does with a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimResponse {
    /// An HTTP reply, possibly late.
    Reply {
        /// The status.
        status: u16,
        /// The content type.
        content_type: &'static str,
        /// The body.
        body: Vec<u8>,
        /// How late it comes.
        delay_ms: u64,
    },
    /// The request took effect but no reply ever comes.
    ReplyLost,
    /// The connection is reset; nothing took effect.
    ConnectionReset,
}

impl SimResponse {
    /// The response as a reply fault leaves it: lost, or late by `delay_ms`; otherwise as is.
    pub(crate) fn after_fault(self, fault: Option<&Fault>) -> SimResponse {
        match (fault, self) {
            (Some(Fault::ReplyLost), _) => SimResponse::ReplyLost,
            (
                Some(Fault::SlowReply { delay_ms }),
                SimResponse::Reply {
                    status,
                    content_type,
                    body,
                    ..
                },
            ) => SimResponse::Reply {
                status,
                content_type,
                body,
                delay_ms: *delay_ms,
            },
            (_, response) => response,
        }
    }

    pub(crate) fn xml(body: Vec<u8>) -> SimResponse {
        SimResponse::Reply {
            status: 200,
            content_type: "text/xml; charset=utf-8",
            body,
            delay_ms: 0,
        }
    }
}

pub(crate) struct SimState {
    pub(crate) offset_ms: i64,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) ledger: Ledger,
    pub(crate) faults: FaultEngine,
    pub(crate) outbox: Outbox,
    pub(crate) expiries: BTreeSet<(i64, OrderKey)>,
    pub(crate) refund_finishes: BTreeSet<(i64, RefundKey)>,
    pub(crate) sandbox_keys: BTreeMap<String, String>,
    pub(crate) refund_plans: BTreeMap<String, String>,
    pub(crate) counter: u64,
    pub(crate) medical: crate::medical::MedicalState,
    /// WeChat login codes: code → (appid, openid, issued at, used).
    pub(crate) login_codes: BTreeMap<String, (String, String, i64, bool)>,
}

impl SimState {
    pub(crate) fn new(seed: u64, plan: FaultPlan) -> SimState {
        SimState {
            offset_ms: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
            ledger: Ledger::default(),
            faults: FaultEngine::new(plan),
            outbox: Outbox::default(),
            expiries: BTreeSet::new(),
            refund_finishes: BTreeSet::new(),
            sandbox_keys: BTreeMap::new(),
            refund_plans: BTreeMap::new(),
            counter: 0,
            medical: crate::medical::MedicalState::default(),
            login_codes: BTreeMap::new(),
        }
    }

    pub(crate) fn nonce(&mut self) -> String {
        random_alphanumeric(&mut self.rng)
    }

    /// The key that signs (and encrypts) what WeChat sends a merchant world: the sandbox key
    /// in the sandbox, the merchant's key otherwise.
    pub(crate) fn signing_key(
        &self,
        config: &SimConfig,
        scope: &crate::ledger::Scope,
    ) -> cashier_adapters::ApiKey {
        let text = if scope.sandbox {
            self.sandbox_keys
                .get(&scope.mch_id)
                .cloned()
                .unwrap_or_default()
        } else {
            config
                .merchant(&scope.mch_id)
                .map(|merchant| merchant.key.clone())
                .unwrap_or_default()
        };
        cashier_adapters::ApiKey::new_for_diagnostics(text)
    }

    pub(crate) fn next_counter(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    pub(crate) fn new_prepay_id(&mut self, now_ms: i64) -> String {
        let random = self.rng.next_u64() % 1_000_000_000_000_000_000;
        format!("wx{}{random:018}", time::format_compact(now_ms / 1000))
    }

    pub(crate) fn new_transaction_id(&mut self, now_ms: i64) -> String {
        let counter = self.next_counter() % 1_000_000;
        let random = self.rng.next_u64() % 10_000_000_000;
        format!(
            "4200{counter:06}{}{random:010}",
            time::format_date(now_ms / 1000)
        )
    }

    pub(crate) fn new_refund_id(&mut self, now_ms: i64) -> String {
        let counter = self.next_counter() % 1_000_000;
        let random = self.rng.next_u64() % 1_000_000_000_000;
        format!(
            "503{counter:06}{}{random:012}",
            time::format_date(now_ms / 1000)
        )
    }

    /// Applies everything time does up to `now_ms`: unpaid orders close at expiry, refunds leave
    /// PROCESSING (and their notifications are queued at that moment).
    pub(crate) fn process_time(&mut self, config: &SimConfig, now_ms: i64) {
        while let Some((due_ms, key)) = self.expiries.first().cloned() {
            if due_ms > now_ms {
                break;
            }
            self.expiries.pop_first();
            if let Some(order) = self.ledger.orders.get_mut(&key) {
                if order.trade_state == "NOTPAY" {
                    order.trade_state = "CLOSED".into();
                    order.closed_ms = Some(due_ms);
                }
            }
        }
        while let Some((due_ms, key)) = self.refund_finishes.first().cloned() {
            if due_ms > now_ms {
                break;
            }
            self.refund_finishes.pop_first();
            self.finish_refund(config, &key, due_ms);
        }
    }

    pub(crate) fn finish_refund(&mut self, config: &SimConfig, key: &RefundKey, at_ms: i64) {
        let Some(refund) = self.ledger.refunds.get_mut(key) else {
            return;
        };
        if refund.refund_status != "PROCESSING" {
            return;
        }
        refund.refund_status = refund.planned_status.clone();
        if refund.refund_status == "SUCCESS" {
            refund.success_ms = Some(at_ms);
        }
        let refund = refund.clone();
        let order_key = OrderKey {
            scope: key.scope.clone(),
            out_trade_no: refund.out_trade_no.clone(),
        };
        let (Some(order), Some(url)) = (
            self.ledger.orders.get(&order_key).cloned(),
            refund.notify_url.clone(),
        ) else {
            return;
        };
        let signing_key = self.signing_key(config, &key.scope);
        let nonce = self.nonce();
        let body = notifications::refund_body(&order, &refund, &nonce, &signing_key);
        self.enqueue_notification(
            NotificationKind::Refund,
            order_key,
            Some(refund.key.out_refund_no),
            url,
            body,
            None,
            at_ms,
        );
    }

    /// Queues a notification's first delivery, shaped by the fault plan.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn enqueue_notification(
        &mut self,
        kind: NotificationKind,
        order: OrderKey,
        out_refund_no: Option<String>,
        url: String,
        body: String,
        forged_body: Option<String>,
        at_ms: i64,
    ) {
        let id = self.outbox.next_sequence();
        self.outbox.notifications.insert(
            id,
            Notification {
                id,
                kind,
                order,
                out_refund_no,
                url,
                body: body.clone(),
                acknowledged: false,
                attempts: 0,
            },
        );
        let kind_name = match kind {
            NotificationKind::Payment => "payment",
            NotificationKind::Refund => "refund",
            NotificationKind::Medical => "medical",
        };
        let faults = self.faults.notification_faults(kind_name, &mut self.rng);
        let mut due_ms = at_ms;
        let mut dropped = false;
        let mut extras_before = Vec::new();
        let mut extras_after = Vec::new();
        let mut concurrent_group = None;
        for fault in faults {
            match fault {
                Fault::Drop => dropped = true,
                Fault::Delay { seconds } => due_ms += i64::from(seconds) * 1000,
                Fault::Reorder => due_ms += 1000 + i64::from(self.rng.next_u32() % 30_000),
                Fault::Duplicate => extras_after.push((Variant::Copy, body.clone())),
                Fault::Concurrent => concurrent_group = Some(self.outbox.next_sequence()),
                Fault::TamperSign => {
                    extras_before.push((Variant::Tampered, notifications::tampered(&body)))
                }
                Fault::ForgeAmount => {
                    if let Some(forged) = &forged_body {
                        extras_before.push((Variant::Forged, forged.clone()));
                    }
                }
                _ => {}
            }
        }
        let single = |variant: Variant, body: String, group: Option<u64>| Delivery {
            notification_id: id,
            variant,
            body,
            attempt: 0,
            dropped: false,
            concurrent_group: group,
        };
        for (variant, extra) in extras_before {
            self.outbox.schedule(due_ms, single(variant, extra, None));
        }
        self.outbox.schedule(
            due_ms,
            Delivery {
                dropped,
                ..single(Variant::Genuine, body.clone(), concurrent_group)
            },
        );
        if concurrent_group.is_some() {
            self.outbox.schedule(
                due_ms,
                single(Variant::Copy, body.clone(), concurrent_group),
            );
        }
        for (variant, extra) in extras_after {
            self.outbox.schedule(due_ms, single(variant, extra, None));
        }
    }

    /// Records a delivery's outcome and schedules the next genuine attempt when needed.
    pub(crate) fn record_delivery(
        &mut self,
        due_ms: i64,
        now_ms: i64,
        delivery: &Delivery,
        result: &Result<(u16, Vec<u8>), String>,
    ) {
        let acknowledged = matches!(result, Ok((status, body)) if is_acknowledged(*status, body));
        let Some(notification) = self.outbox.notifications.get_mut(&delivery.notification_id)
        else {
            return;
        };
        self.outbox.log.push(DeliveryRecord {
            notification_id: notification.id,
            kind: notification.kind,
            out_trade_no: notification.order.out_trade_no.clone(),
            out_refund_no: notification.out_refund_no.clone(),
            variant: delivery.variant,
            attempt: delivery.attempt,
            at_ms: now_ms,
            status: result.as_ref().ok().map(|(status, _)| *status),
            acknowledged,
            error: result.as_ref().err().cloned(),
        });
        if delivery.variant != Variant::Genuine {
            return;
        }
        notification.attempts += 1;
        if acknowledged {
            notification.acknowledged = true;
            return;
        }
        let Some(wait_s) = notifications::RETRY_INTERVALS_S.get(delivery.attempt as usize) else {
            return;
        };
        let next = Delivery {
            notification_id: delivery.notification_id,
            variant: Variant::Genuine,
            body: delivery.body.clone(),
            attempt: delivery.attempt + 1,
            dropped: false,
            concurrent_group: None,
        };
        self.outbox.schedule(due_ms + wait_s * 1000, next);
    }

    pub(crate) fn next_event_ms(&self) -> Option<i64> {
        [
            self.outbox.next_due_ms(),
            self.expiries.first().map(|(due, _)| *due),
            self.refund_finishes.first().map(|(due, _)| *due),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
