//! [`Simulator`]: the stateful stand-in for `api.mch.weixin.qq.com`. It is synchronous at its
//! core (one mutex, never held across an await): requests, payer actions and time steps mutate
//! the ledger; notifications wait in an outbox on the virtual clock and are delivered by an async
//! driver through a [`NotificationSink`]. One seeded generator feeds every id, nonce and fault
//! draw, so the same seed and inputs reproduce the same run byte for byte.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::SimConfig;
use crate::endpoints;
use crate::exchange::{self, Rejection};
use crate::faults::{Fault, FaultEngine, FaultPlan};
use crate::ledger::{Ledger, OrderKey, PayerAction, SimCoupon, SimOrder};
use crate::notifications::{self, Delivery, DeliveryRecord, Notification, NotificationKind};
pub use crate::state::SimResponse;
use crate::state::SimState;

/// The fixed epoch of in-process runs: 2025-11-27 10:00:00 Beijing time.
pub const DEFAULT_EPOCH_MS: i64 = 1_764_208_800_000;

/// How the simulator's clock runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockMode {
    /// Starts at `epoch_ms` and moves only when told (in-process, deterministic).
    Virtual {
        /// The start.
        epoch_ms: i64,
    },
    /// Starts at `epoch_ms` and moves with real time, plus whatever the control API adds
    /// (the server: clients send real `time_start`/`time_expire`).
    Real {
        /// The start.
        epoch_ms: i64,
    },
}

/// Settings of one simulator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimOptions {
    /// The seed of every random choice.
    pub seed: u64,
    /// The clock.
    pub clock: ClockMode,
    /// Put `sign_type` into payment notifications (WeChat leaves it out by default).
    pub notification_sign_type: bool,
}

impl SimOptions {
    /// Deterministic in-process options with `seed`.
    pub fn deterministic(seed: u64) -> SimOptions {
        SimOptions {
            seed,
            clock: ClockMode::Virtual {
                epoch_ms: DEFAULT_EPOCH_MS,
            },
            notification_sign_type: false,
        }
    }
}

/// Whether the caller presented a client certificate (only known over TLS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientCertificate {
    /// Plain HTTP or in-process: not checked.
    NotChecked,
    /// A certificate signed by the simulator's CA was presented.
    Presented,
    /// TLS without a client certificate.
    Absent,
}

/// A request as the simulator sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimRequest {
    /// The HTTP method.
    pub method: String,
    /// The path (`/pay/unifiedorder`, `/sandboxnew/pay/orderquery`, ...).
    pub path: String,
    /// The body.
    pub body: Vec<u8>,
    /// The client certificate situation.
    pub client_certificate: ClientCertificate,
    /// Request headers (name, value), for the endpoints that sign in headers (userQuery).
    pub headers: Vec<(String, String)>,
}

/// The merchant's answer to one delivery: HTTP status and body, or why there was none.
pub type DeliveryResult = Result<(u16, Vec<u8>), String>;

/// The future a [`NotificationSink`] returns.
pub type DeliveryFuture<'a> = Pin<Box<dyn Future<Output = DeliveryResult> + Send + 'a>>;

/// Where notifications are delivered: the merchant's notify URL, in whatever way the run needs.
pub trait NotificationSink: Send + Sync {
    /// POSTs `body` to `url` and returns the merchant's status and body, or why there was none.
    fn deliver<'a>(&'a self, url: &'a str, body: Vec<u8>) -> DeliveryFuture<'a>;
}

/// A payer action for the control API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayCommand {
    /// The order, by `out_trade_no` (unique across merchants in the default world)...
    #[serde(default)]
    pub out_trade_no: Option<String>,
    /// ...or by `prepay_id`.
    #[serde(default)]
    pub prepay_id: Option<String>,
    /// `success`, `fail` or `cancel`.
    pub outcome: String,
    /// The bank the payer uses (`bank_type`), `CMC` by default.
    #[serde(default)]
    pub bank_type: Option<String>,
    /// Coupons the payer applies.
    #[serde(default)]
    pub coupons: Vec<SimCoupon>,
}

/// Why a control command failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// No such order (or several match an ambiguous `out_trade_no`).
    #[error("{0}")]
    NotFound(String),
    /// The order cannot be paid now.
    #[error("{0}")]
    Refused(String),
    /// The command is malformed.
    #[error("{0}")]
    Invalid(String),
}

/// The simulator. Share it behind an `Arc`.
pub struct Simulator {
    config: SimConfig,
    options: SimOptions,
    started: Instant,
    state: Mutex<SimState>,
    delivery_window: AtomicUsize,
}

impl Simulator {
    /// A simulator of `config` with no faults.
    pub fn new(config: SimConfig, options: SimOptions) -> Simulator {
        let state = SimState::new(options.seed, FaultPlan::none());
        Simulator {
            config,
            options,
            started: Instant::now(),
            state: Mutex::new(state),
            delivery_window: AtomicUsize::new(1),
        }
    }

    /// How many independent notification deliveries go out at once (1, the default, keeps
    /// them one after another; results are recorded in due order either way).
    pub fn set_delivery_window(&self, deliveries: usize) {
        self.delivery_window
            .store(deliveries.max(1), Ordering::Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        // A poisoned lock means a panic elsewhere mid-update; the simulator keeps serving the
        // state as it is rather than taking every later test down with it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.options.seed
    }

    fn now_locked(&self, state: &SimState) -> i64 {
        match self.options.clock {
            ClockMode::Virtual { epoch_ms } => epoch_ms + state.offset_ms,
            ClockMode::Real { epoch_ms } => {
                let elapsed_ms =
                    i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX / 2);
                epoch_ms + elapsed_ms + state.offset_ms
            }
        }
    }

    /// The simulator's current time (Unix milliseconds).
    pub fn now_ms(&self) -> i64 {
        let state = self.lock();
        self.now_locked(&state)
    }

    /// Replaces the fault plan (counters restart; the random stream continues).
    pub fn set_fault_plan(&self, plan: FaultPlan) -> Result<(), String> {
        plan.validate()?;
        self.lock().faults = FaultEngine::new(plan);
        Ok(())
    }

    /// The fault plan in force.
    pub fn fault_plan(&self) -> FaultPlan {
        self.lock().faults.plan().clone()
    }

    /// Forgets every order, refund and notification and restarts the random stream and clock.
    pub fn reset(&self) {
        let mut state = self.lock();
        let plan = state.faults.plan().clone();
        *state = SimState::new(self.options.seed, plan);
    }

    /// Decides what happens to the refund `out_refund_no` when it leaves PROCESSING:
    /// `SUCCESS` (default), `REFUNDCLOSE` or `CHANGE`. May be given before the refund exists.
    pub fn set_refund_outcome(
        &self,
        out_refund_no: &str,
        status: &str,
    ) -> Result<(), ControlError> {
        if !matches!(status, "SUCCESS" | "REFUNDCLOSE" | "CHANGE") {
            return Err(ControlError::Invalid(format!(
                "refund outcome {status:?} is not SUCCESS, REFUNDCLOSE or CHANGE"
            )));
        }
        let mut state = self.lock();
        let mut found = false;
        for refund in state.ledger.refunds.values_mut() {
            if refund.key.out_refund_no == out_refund_no && refund.refund_status == "PROCESSING" {
                refund.planned_status = status.to_owned();
                found = true;
            }
        }
        if !found {
            state
                .refund_plans
                .insert(out_refund_no.to_owned(), status.to_owned());
        }
        Ok(())
    }

    /// Seeds a reconciliation discrepancy: a payment WeChat has and the merchant never made
    /// (`attach` names the business order it claims to belong to, when given). It is on the
    /// day's bill; no notification is sent.
    pub fn seed_unknown_payment(
        &self,
        mch_id: &str,
        out_trade_no: &str,
        total_fee: u64,
        attach: Option<&str>,
    ) -> SimOrder {
        let mut state = self.lock();
        let now_ms = self.now_locked(&state);
        let transaction_id = state.new_transaction_id(now_ms);
        let order = SimOrder {
            key: OrderKey {
                scope: crate::ledger::Scope {
                    sandbox: false,
                    mch_id: mch_id.to_owned(),
                    sub_mch_id: String::new(),
                },
                out_trade_no: out_trade_no.to_owned(),
            },
            appid: self
                .config
                .merchant(mch_id)
                .and_then(|merchant| merchant.apps.first())
                .map(|app| app.appid.clone())
                .unwrap_or_default(),
            sub_appid: None,
            trade_type: "NATIVE".into(),
            total_fee,
            body: "seeded".into(),
            attach: attach.map(str::to_owned),
            notify_url: String::new(),
            openid: None,
            sub_openid: None,
            sign_type: "MD5".into(),
            parameters: String::new(),
            prepay_id: String::new(),
            prepay_issued_ms: now_ms,
            code_url: None,
            mweb_url: None,
            created_ms: now_ms,
            expires_ms: now_ms,
            trade_state: "SUCCESS".into(),
            transaction_id: Some(transaction_id),
            paid_ms: Some(now_ms),
            bank_type: Some("CMC".into()),
            coupons: Vec::new(),
            closed_ms: None,
            payer_actions: Vec::new(),
            refunds: Vec::new(),
        };
        state.ledger.insert_order(order.clone());
        order
    }

    /// Seeds a reconciliation discrepancy: an unpaid order becomes paid at WeChat and no
    /// notification is ever sent (only a query or the bill can tell). False when no unpaid
    /// order has that number.
    pub fn seed_silent_payment(&self, out_trade_no: &str) -> bool {
        let mut state = self.lock();
        let now_ms = self.now_locked(&state);
        let transaction_id = state.new_transaction_id(now_ms);
        let found =
            state.ledger.orders.values_mut().find(|order| {
                order.key.out_trade_no == out_trade_no && order.trade_state == "NOTPAY"
            });
        match found {
            Some(order) => {
                order.trade_state = "SUCCESS".into();
                order.transaction_id = Some(transaction_id);
                order.paid_ms = Some(now_ms);
                true
            }
            None => false,
        }
    }

    /// Seeds a reconciliation discrepancy: WeChat's record of a paid order shows another amount
    /// (as a bill would after a dispute). Returns false when no paid order has that number.
    pub fn seed_amount_change(&self, out_trade_no: &str, total_fee: u64) -> bool {
        let mut state = self.lock();
        let found = state
            .ledger
            .orders
            .values_mut()
            .find(|order| order.key.out_trade_no == out_trade_no && order.is_paid());
        match found {
            Some(order) => {
                order.total_fee = total_fee;
                true
            }
            None => false,
        }
    }

    /// A payer authorises 医保电子凭证 in the auth mini program: the `authCode` their client
    /// brings back (single-use, five minutes).
    pub fn medical_authorize(&self, openid: &str) -> String {
        let mut state = self.lock();
        let now_ms = self.now_locked(&state);
        crate::medical::authorize(&mut state, openid, now_ms)
    }

    /// The payer `openid` logs in through app `appid` (an official account's OAuth2 redirect or
    /// a mini program's `wx.login`): the code the app's page receives.
    pub fn login_code(&self, appid: &str, openid: &str) -> Result<String, ControlError> {
        let mut state = self.lock();
        let now_ms = self.now_locked(&state);
        crate::login::issue(&mut state, &self.config, appid, openid, now_ms)
            .map_err(ControlError::Invalid)
    }

    /// The payer acts on a medical order in the 医保 pay mini program.
    pub fn medical_payer(
        &self,
        med_trans_id: &str,
        action: crate::medical::MedicalPayerAction,
    ) -> Result<(), ControlError> {
        let mut state = self.lock();
        let now_ms = self.now_locked(&state);
        crate::medical::payer_acts(&mut state, &self.config, med_trans_id, action, now_ms)
            .map_err(ControlError::Invalid)
    }

    /// The NHSA and payinsurance orders, as JSON.
    pub fn medical_view(&self) -> serde_json::Value {
        let ledger = self.medical_ledger();
        serde_json::json!({
            "nhsa_orders": ledger.nhsa_orders,
            "orders": ledger.orders,
            "balances": ledger.balances,
        })
    }

    /// A copy of the 医保 side's books (NHSA orders, payinsurance orders, account balances).
    pub fn medical_ledger(&self) -> crate::medical::MedicalLedger {
        let state = self.lock();
        crate::medical::MedicalLedger {
            nhsa_orders: state.medical.nhsa_orders.clone(),
            orders: state.medical.orders.clone(),
            balances: state.medical.balances.clone(),
        }
    }

    /// Handles one request to a WeChat endpoint.
    pub fn handle(&self, request: &SimRequest) -> SimResponse {
        {
            let mut state = self.lock();
            let now_ms = self.now_locked(&state);
            state.process_time(&self.config, now_ms);
            if let Some(response) =
                crate::medical::handle(&mut state, &self.config, request, now_ms)
            {
                return response;
            }
            if let Some(response) = crate::login::handle(&mut state, &self.config, request, now_ms)
            {
                return response;
            }
        }
        let Some((endpoint, sandbox)) = exchange::route(&request.path) else {
            return SimResponse::Reply {
                status: 404,
                content_type: "text/html",
                body: b"<html><body>404 Not Found</body></html>".to_vec(),
                delay_ms: 0,
            };
        };
        let mut state = self.lock();
        let now_ms = self.now_locked(&state);
        state.process_time(&self.config, now_ms);
        let sandbox_keys = state.sandbox_keys.clone();
        let admitted = exchange::admit(
            &self.config,
            endpoint,
            sandbox,
            &request.method,
            &request.body,
            |mch_id| sandbox_keys.get(mch_id).cloned(),
        );
        let mut exchange = match admitted {
            Ok(exchange) => exchange,
            Err(Rejection::Protocol(message) | Rejection::Business(_, message)) => {
                return SimResponse::xml(exchange::protocol_failure(&message));
            }
        };
        match exchange::bind_identity(&mut exchange) {
            Ok(()) => {}
            Err(Rejection::Protocol(message)) => {
                return SimResponse::xml(exchange::protocol_failure(&message))
            }
            Err(Rejection::Business(code, description)) => {
                let nonce = state.nonce();
                return SimResponse::xml(exchange::signed_reply(
                    &exchange,
                    &nonce,
                    Err((code, description)),
                ));
            }
        }
        if endpoint == "refund" && request.client_certificate == ClientCertificate::Absent {
            return SimResponse::xml(exchange::protocol_failure(
                "证书验证失败：请求未携带商户API证书",
            ));
        }
        let fault = {
            let state = &mut *state;
            state.faults.endpoint_fault(endpoint, &mut state.rng)
        };
        match fault {
            Some(Fault::Http5xx { status }) => {
                return SimResponse::Reply {
                    status,
                    content_type: "text/html",
                    body: format!("<html><body>{status} Bad Gateway</body></html>").into_bytes(),
                    delay_ms: 0,
                }
            }
            Some(Fault::ConnectionReset) => return SimResponse::ConnectionReset,
            Some(Fault::SystemError) => {
                let nonce = state.nonce();
                return SimResponse::xml(exchange::signed_reply(
                    &exchange,
                    &nonce,
                    Err(("SYSTEMERROR", "系统超时，请稍后重试".into())),
                ));
            }
            Some(Fault::BizerrNeedRetry) if endpoint == "refund" => {
                let nonce = state.nonce();
                return SimResponse::xml(exchange::signed_reply(
                    &exchange,
                    &nonce,
                    Err((
                        "BIZERR_NEED_RETRY",
                        "退款业务流程错误，需要商户触发重试来解决".into(),
                    )),
                ));
            }
            _ => {}
        }
        let response = endpoints::dispatch(&mut state, &self.config, &exchange, now_ms);
        response.after_fault(fault.as_ref())
    }

    /// The payer acts on an order: pays (`success`), fails or cancels (nothing changes at
    /// WeChat: the order stays NOTPAY).
    pub fn pay(&self, command: &PayCommand) -> Result<SimOrder, ControlError> {
        if !matches!(command.outcome.as_str(), "success" | "fail" | "cancel") {
            return Err(ControlError::Invalid(format!(
                "outcome {:?} is not success, fail or cancel",
                command.outcome
            )));
        }
        let mut state = self.lock();
        let now_ms = self.now_locked(&state);
        state.process_time(&self.config, now_ms);
        let key = self.find_order(&state, command)?;
        let include_sign_type = self.options.notification_sign_type;
        let Some(order) = state.ledger.orders.get_mut(&key) else {
            return Err(ControlError::NotFound("order vanished".into()));
        };
        order.payer_actions.push(PayerAction {
            at_ms: now_ms,
            outcome: command.outcome.clone(),
        });
        if command.outcome != "success" {
            return Ok(order.clone());
        }
        if order.trade_state != "NOTPAY" {
            return Err(ControlError::Refused(format!(
                "order is {}, not payable",
                order.trade_state
            )));
        }
        let prepay_life_ms = if order.trade_type == "MWEB" {
            5 * 60_000
        } else {
            2 * 3_600_000
        };
        if now_ms >= order.prepay_issued_ms + prepay_life_ms {
            return Err(ControlError::Refused(
                "the prepay_id (or mweb_url) has expired; re-enter unifiedorder".into(),
            ));
        }
        let coupon_total: u64 = command.coupons.iter().map(|coupon| coupon.coupon_fee).sum();
        if coupon_total >= order.total_fee {
            return Err(ControlError::Invalid(
                "coupons must leave at least 1 fen to pay".into(),
            ));
        }
        order.coupons = command.coupons.clone();
        order.bank_type = Some(command.bank_type.clone().unwrap_or_else(|| "CMC".into()));
        order.paid_ms = Some(now_ms);
        order.trade_state = "SUCCESS".into();
        let order_key = order.key.clone();
        let transaction_id = state.new_transaction_id(now_ms);
        let nonce = state.nonce();
        let forged_nonce = state.nonce();
        let Some(order) = state.ledger.orders.get_mut(&order_key) else {
            return Err(ControlError::NotFound("order vanished".into()));
        };
        order.transaction_id = Some(transaction_id.clone());
        let paid = order.clone();
        state
            .ledger
            .by_transaction_id
            .insert(transaction_id, order_key.clone());
        let key = self.notification_key(&state, &paid);
        let body = notifications::payment_body(&paid, &nonce, &key, include_sign_type);
        let forged = notifications::forged(&paid, &forged_nonce, &key);
        state.enqueue_notification(
            NotificationKind::Payment,
            order_key,
            None,
            paid.notify_url.clone(),
            body,
            Some(forged),
            now_ms,
        );
        Ok(paid)
    }

    fn notification_key(&self, state: &SimState, order: &SimOrder) -> cashier_adapters::ApiKey {
        state.signing_key(&self.config, &order.key.scope)
    }

    fn find_order(&self, state: &SimState, command: &PayCommand) -> Result<OrderKey, ControlError> {
        if let Some(prepay_id) = &command.prepay_id {
            return state
                .ledger
                .by_prepay_id
                .get(prepay_id)
                .cloned()
                .ok_or_else(|| {
                    ControlError::NotFound(format!("no order has prepay_id {prepay_id}"))
                });
        }
        let Some(out_trade_no) = &command.out_trade_no else {
            return Err(ControlError::Invalid(
                "give out_trade_no or prepay_id".into(),
            ));
        };
        let matches = state.ledger.orders_named(out_trade_no);
        match matches.as_slice() {
            [order] => Ok(order.key.clone()),
            [] => Err(ControlError::NotFound(format!("no order {out_trade_no}"))),
            _ => Err(ControlError::NotFound(format!(
                "{out_trade_no} exists under several merchants; use prepay_id"
            ))),
        }
    }

    /// Every order named `out_trade_no` (any merchant), with its refunds, as JSON values.
    pub fn order_view(&self, out_trade_no: &str) -> serde_json::Value {
        let state = self.lock();
        let mut orders: Vec<serde_json::Value> = state
            .ledger
            .orders_named(out_trade_no)
            .into_iter()
            .map(|order| {
                serde_json::json!({
                    "order": order,
                    "refunds": state.ledger.refunds_of(order),
                })
            })
            .collect();
        // A medical order (by hosp_out_trade_no) shows both legs: WeChat's and NHSA's.
        for medical in state
            .medical
            .orders
            .values()
            .filter(|order| order.hosp_out_trade_no == out_trade_no)
        {
            orders.push(serde_json::json!({
                "medical_order": medical,
                "nhsa_order": state.medical.nhsa_orders.get(&medical.pay_ord_id),
            }));
        }
        serde_json::Value::Array(orders)
    }

    /// A copy of the ledger.
    pub fn ledger(&self) -> Ledger {
        self.lock().ledger.clone()
    }

    /// The ledger as canonical JSON (identical for identical runs).
    pub fn ledger_json(&self) -> String {
        match serde_json::to_string_pretty(&self.lock().ledger) {
            Ok(text) => text,
            Err(error) => format!("{{\"error\": {:?}}}", error.to_string()),
        }
    }

    /// The delivery log so far.
    pub fn delivery_log(&self) -> Vec<DeliveryRecord> {
        self.lock().outbox.log.clone()
    }

    /// Every notification created so far.
    pub fn notifications(&self) -> Vec<Notification> {
        self.lock().outbox.notifications.values().cloned().collect()
    }

    /// Number of notifications not yet acknowledged that still have attempts scheduled.
    pub fn pending_deliveries(&self) -> usize {
        self.lock().outbox.pending.len()
    }

    /// Delivers every notification due now through `sink`, applying WeChat's 5-second
    /// acknowledgement deadline, and schedules retries. Returns the number of deliveries made.
    pub async fn deliver_due(&self, sink: &dyn NotificationSink) -> usize {
        let mut delivered = 0;
        loop {
            let (now_ms, batch) = {
                let mut state = self.lock();
                let now_ms = self.now_locked(&state);
                state.process_time(&self.config, now_ms);
                (now_ms, state.outbox.take_due(now_ms))
            };
            if batch.is_empty() {
                return delivered;
            }
            let mut index = 0;
            while index < batch.len() {
                let group = batch
                    .get(index)
                    .and_then(|(_, delivery)| delivery.concurrent_group);
                let end = match group {
                    Some(group) => {
                        index
                            + batch
                                .get(index..)
                                .unwrap_or_default()
                                .iter()
                                .take_while(|(_, delivery)| {
                                    delivery.concurrent_group == Some(group)
                                })
                                .count()
                    }
                    // Independent deliveries go out `delivery_window` at a time (one by
                    // default; a soak sets more, as WeChat's many servers would).
                    None => {
                        index
                            + batch
                                .get(index..)
                                .unwrap_or_default()
                                .iter()
                                .take(self.delivery_window.load(Ordering::Relaxed).max(1))
                                .take_while(|(_, delivery)| delivery.concurrent_group.is_none())
                                .count()
                                .max(1)
                    }
                };
                let slice = batch.get(index..end).unwrap_or_default();
                let urls: Vec<String> = {
                    let state = self.lock();
                    slice
                        .iter()
                        .map(|(_, delivery)| {
                            state
                                .outbox
                                .notifications
                                .get(&delivery.notification_id)
                                .map(|notification| notification.url.clone())
                                .unwrap_or_default()
                        })
                        .collect()
                };
                let attempts = slice
                    .iter()
                    .zip(&urls)
                    .map(|((_, delivery), url)| deliver_one(sink, url, delivery));
                let results = join_all(attempts).await;
                let mut state = self.lock();
                for ((due_ms, delivery), result) in slice.iter().zip(results) {
                    state.record_delivery(*due_ms, now_ms, delivery, &result);
                    delivered += 1;
                }
                index = end;
            }
        }
    }

    /// Moves the clock forward by `seconds`, stopping at every event on the way (deliveries,
    /// expiries, refund completions) so that each happens at its exact virtual time.
    pub async fn advance(&self, seconds: i64, sink: &dyn NotificationSink) -> usize {
        let target_ms = self.now_ms() + seconds.max(0) * 1000;
        let mut delivered = self.deliver_due(sink).await;
        loop {
            let next = {
                let mut state = self.lock();
                let now_ms = self.now_locked(&state);
                let next = state.next_event_ms().filter(|due| *due <= target_ms);
                if let Some(due_ms) = next {
                    state.offset_ms += (due_ms - now_ms).max(0);
                }
                next
            };
            if next.is_none() {
                break;
            }
            delivered += self.deliver_due(sink).await;
        }
        {
            let mut state = self.lock();
            let now_ms = self.now_locked(&state);
            state.offset_ms += (target_ms - now_ms).max(0);
        }
        delivered + self.deliver_due(sink).await
    }
}

async fn deliver_one(
    sink: &dyn NotificationSink,
    url: &str,
    delivery: &Delivery,
) -> Result<(u16, Vec<u8>), String> {
    if delivery.dropped {
        return Err("lost in transit (fault: drop)".into());
    }
    let deadline = Duration::from_millis(notifications::ACK_DEADLINE_MS);
    match tokio::time::timeout(
        deadline,
        sink.deliver(url, delivery.body.clone().into_bytes()),
    )
    .await
    {
        Ok(result) => result,
        Err(_) => Err("no acknowledgement within 5 s".into()),
    }
}

/// Runs futures at the same time (concurrent deliveries) and returns their results in order.
async fn join_all<F: Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut results = Vec::with_capacity(handles.len());
    let mut pending: Vec<(usize, Pin<Box<F>>)> = handles.into_iter().enumerate().collect();
    let mut slots: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|context| {
        pending.retain_mut(|(index, future)| match future.as_mut().poll(context) {
            std::task::Poll::Ready(output) => {
                if let Some(slot) = slots.get_mut(*index) {
                    *slot = Some(output);
                }
                false
            }
            std::task::Poll::Pending => true,
        });
        if pending.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    results.extend(slots.into_iter().flatten());
    results
}
