//! The embedding API: [`Engine::start`] returns a cloneable, `Send + Sync` handle usable from
//! any tokio host (axum) or actix-web host. Every call is routed to the order's actor; every
//! notification is acknowledged only after the state it changed is durable.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cashier_adapters::client_params::{
    app_pay_params, jsapi_pay_params, mweb_redirect_url, AppPayParams, JsapiPayParams,
};
use cashier_adapters::notify::ack::{ack_failure, ACK_SUCCESS};
use cashier_adapters::notify::payment::UnverifiedPaymentNotification;
use cashier_adapters::notify::refund::UnverifiedRefundNotification;
use cashier_adapters::{
    bridge, ApiBase, AppId, ChaChaNonceSource, MerchantContext, NonceSource, PrepayId, Transport,
    WechatPayClient,
};

use crate::actor::Registry;
use crate::clock::Clock;
use crate::config::{EngineConfig, EntryConfig, EntryKind};
use crate::core::{Command, Core, EngineError, NotificationVerdict};
use crate::machine;
use crate::metrics::{bump, Metrics, MetricsSnapshot};
use crate::model::{AttemptState, ClientResult, Event, LoggedEvent, OrderRecord};
use crate::order_number::{Channel, Kind, OrderNumber, OrderNumberGenerator, ProductType};
use crate::store::{FlushStats, IndexKind, Store};

/// Builds the transport for an entry's merchant (one per `mch_id`, each with its client
/// certificate).
pub type TransportFactory =
    dyn Fn(&EntryConfig) -> Result<Arc<dyn Transport>, String> + Send + Sync;

/// What the engine runs on: clock, transports, where WeChat is, randomness, timers.
pub struct EngineRuntime {
    /// "Now".
    pub clock: Arc<dyn Clock>,
    /// Transports per merchant.
    pub transports: Box<TransportFactory>,
    /// Production, backup, sandbox, or a simulator.
    pub api_base: ApiBase,
    /// Seeds nonces for replayable runs; `None` uses OS entropy.
    pub nonce_seed: Option<u64>,
    /// Runs due deadlines every so often in the background; `None` leaves it to the host
    /// (`Engine::run_due`), as simulations on a virtual clock do.
    pub background_tick: Option<Duration>,
    /// Arbiters (threads) for order actors; one per core by default.
    pub arbiters: usize,
    /// How long an order actor stays in memory without commands (60 s by default); the next
    /// command for the order starts a new actor from the store.
    pub idle_passivation: Duration,
}

impl EngineRuntime {
    /// One transport for every merchant, the system clock, background deadlines every 500 ms.
    pub fn new(transport: Arc<dyn Transport>, api_base: ApiBase) -> EngineRuntime {
        EngineRuntime {
            clock: Arc::new(crate::clock::SystemClock),
            transports: Box::new(move |_| Ok(transport.clone())),
            api_base,
            nonce_seed: None,
            background_tick: Some(Duration::from_millis(500)),
            arbiters: std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(2),
            idle_passivation: crate::actor::IDLE_PASSIVATION,
        }
    }
}

impl EngineRuntime {
    /// Production: WeChat's API host (failing over to the backup domain when it cannot be
    /// connected to), the system clock, and one rustls transport per merchant carrying that
    /// merchant's client certificate from the configuration (checked here, at start, so a bad
    /// certificate fails the start rather than the first refund).
    pub fn production(config: &EngineConfig) -> Result<EngineRuntime, EngineError> {
        let mut transports: HashMap<String, Arc<dyn Transport>> = HashMap::new();
        for entry in &config.entries {
            if transports.contains_key(entry.mch_id.as_str()) {
                continue;
            }
            let transport =
                cashier_adapters::ReqwestTransport::new(cashier_adapters::ReqwestTransportConfig {
                    client_identity: config
                        .entries
                        .iter()
                        .filter(|other| other.mch_id == entry.mch_id)
                        .find_map(|other| other.client_identity.clone()),
                    ..cashier_adapters::ReqwestTransportConfig::default()
                })
                .map_err(|error| {
                    EngineError::InvalidInput(format!("entry {}: {error}", entry.name))
                })?;
            // Connection failures retry on WeChat's backup domain; nothing else fails over.
            let transport = cashier_adapters::FailoverTransport::wechat(transport);
            transports.insert(entry.mch_id.to_string(), Arc::new(transport));
        }
        let mut runtime = EngineRuntime::new(Arc::new(NoTransport), ApiBase::production());
        runtime.transports = Box::new(move |entry| {
            transports
                .get(entry.mch_id.as_str())
                .cloned()
                .ok_or_else(|| format!("no transport for mch_id {}", entry.mch_id))
        });
        Ok(runtime)
    }
}

/// A transport that sends nothing (the placeholder replaced by per-merchant transports).
struct NoTransport;

impl Transport for NoTransport {
    fn send(
        &self,
        request: cashier_adapters::HttpRequest,
    ) -> cashier_adapters::TransportFuture<'_> {
        Box::pin(async move {
            Err(cashier_adapters::TransportError::NotSent {
                detail: format!("no transport configured for {}", request.url),
            })
        })
    }
}

/// A new business order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOrder {
    /// The number, when the host has one (creating it again with the same content returns the
    /// stored order; with other content is refused). `None` issues a new number.
    pub order_no: Option<OrderNumber>,
    /// Product type (0–99).
    pub product_type: u8,
    /// The amount in fen.
    pub amount_fen: u64,
    /// Item description (WeChat `body`, at most 128 bytes).
    pub description: String,
    /// The payer's unionid, when known.
    pub payer_unionid: Option<String>,
}

/// Who pays and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentRequest {
    /// The configured entry point.
    pub entry: String,
    /// The payer's openid under the entry's app (JSAPI entries).
    pub openid: Option<String>,
    /// The payer's IP (the server's for Native).
    pub client_ip: String,
}

/// What the client needs to pay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientPayment {
    /// Official account: `WeixinJSBridge.invoke('getBrandWCPayRequest', params)`.
    Jsapi(JsapiPayParams),
    /// Mini program through the web-view bridge: the H5 page calls
    /// `wx.miniProgram.navigateTo({url: bridge_url})`.
    MiniProgram {
        /// The pay parameters.
        params: JsapiPayParams,
        /// The mini program page URL carrying them.
        bridge_url: String,
    },
    /// APP: OpenSDK `PayReq`.
    App(AppPayParams),
    /// Native: render as a QR code.
    Native {
        /// `code_url`.
        code_url: String,
    },
    /// H5: redirect the browser.
    Mweb {
        /// `mweb_url`.
        mweb_url: String,
    },
}

/// A started (or reused) payment attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentStart {
    /// The attempt's `out_trade_no`.
    pub out_trade_no: String,
    /// What the client needs.
    pub client: ClientPayment,
}

/// The answer to a notification: the exact bytes to return (HTTP 200) and what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationResponse {
    /// The acknowledgement body.
    pub ack: Vec<u8>,
    /// What the notification did.
    pub verdict: NotificationVerdict,
}

impl NotificationResponse {
    fn rejected(reason: String) -> NotificationResponse {
        NotificationResponse {
            ack: ack_failure(&reason),
            verdict: NotificationVerdict::Rejected(reason),
        }
    }
}

struct Inner {
    core: Arc<Core>,
    registry: Arc<Registry>,
    numbers: OrderNumberGenerator,
    nonces: ChaChaNonceSource,
    system: Mutex<Option<actix::System>>,
    shutting_down: AtomicBool,
}

/// The engine handle. Clone it freely; it is `Send + Sync`.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

fn start_actix(count: usize) -> Result<(Vec<actix::ArbiterHandle>, actix::System), EngineError> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("cashier-actors".into())
        .spawn(move || {
            let system = actix::System::new();
            let arbiters: Vec<actix::Arbiter> =
                (0..count.max(1)).map(|_| actix::Arbiter::new()).collect();
            let handles = arbiters
                .iter()
                .map(actix::Arbiter::handle)
                .collect::<Vec<_>>();
            let _ = sender.send((handles, actix::System::current()));
            let _ = system.run();
            for arbiter in arbiters {
                arbiter.stop();
                let _ = arbiter.join();
            }
        })
        .map_err(|error| {
            EngineError::InvalidInput(format!("cannot start the actor system: {error}"))
        })?;
    receiver.recv().map_err(|_| EngineError::ShuttingDown)
}

impl Engine {
    /// Validates the configuration, opens the transports, starts the actors and (when asked)
    /// the deadline timer. Recovery is the first timer run: every order with a due deadline,
    /// outcome-unknown attempts included, is resumed.
    pub fn start(
        config: EngineConfig,
        store: Arc<dyn Store>,
        runtime: EngineRuntime,
    ) -> Result<Engine, EngineError> {
        config
            .validate()
            .map_err(|error| EngineError::InvalidInput(error.to_string()))?;
        let mut clients = HashMap::new();
        for (index, entry) in config.entries.iter().enumerate() {
            if clients.contains_key(entry.mch_id.as_str()) {
                continue;
            }
            let transport = (runtime.transports)(entry).map_err(|error| {
                EngineError::InvalidInput(format!("entry {}: transport: {error}", entry.name))
            })?;
            let nonces = match runtime.nonce_seed {
                Some(seed) => ChaChaNonceSource::seeded(seed.wrapping_add(index as u64)),
                None => ChaChaNonceSource::from_entropy(),
            };
            clients.insert(
                entry.mch_id.to_string(),
                WechatPayClient::new(transport, runtime.api_base.clone(), nonces),
            );
        }
        let floor_s = store.number_floor()?;
        let reserving_store = store.clone();
        let numbers = OrderNumberGenerator::new(
            config.node_id,
            runtime.clock.clone(),
            floor_s + 1,
            Box::new(move |until_s| {
                reserving_store
                    .reserve_number_floor(until_s)
                    .map_err(|error| error.to_string())
            }),
        );
        let (arbiters, system) = start_actix(runtime.arbiters)?;
        let nonces = match runtime.nonce_seed {
            Some(seed) => ChaChaNonceSource::seeded(seed ^ 0x5eed),
            None => ChaChaNonceSource::from_entropy(),
        };
        let ticker_arbiter = arbiters.first().cloned();
        let engine = Engine {
            inner: Arc::new(Inner {
                core: Arc::new(Core {
                    config,
                    store,
                    clock: runtime.clock,
                    clients,
                    metrics: Metrics::default(),
                }),
                registry: Arc::new(Registry::new(arbiters, runtime.idle_passivation)),
                numbers,
                nonces,
                system: Mutex::new(Some(system)),
                shutting_down: AtomicBool::new(false),
            }),
        };
        if let (Some(tick), Some(arbiter)) = (runtime.background_tick, ticker_arbiter) {
            let ticking = engine.clone();
            arbiter.spawn(async move {
                while !ticking.inner.shutting_down.load(Ordering::Acquire) {
                    if let Err(error) = ticking.run_due().await {
                        tracing::warn!(%error, "deadline run failed");
                    }
                    actix_rt::time::sleep(tick).await;
                }
            });
        }
        Ok(engine)
    }

    fn check_running(&self) -> Result<(), EngineError> {
        if self.inner.shutting_down.load(Ordering::Acquire) {
            return Err(EngineError::ShuttingDown);
        }
        Ok(())
    }

    async fn send(
        &self,
        order_no: &OrderNumber,
        command: Command,
    ) -> Result<crate::core::CommandReply, EngineError> {
        self.check_running()?;
        self.inner
            .registry
            .send(&self.inner.core, order_no, command)
            .await
    }

    fn number(
        &self,
        channel: Channel,
        kind: Kind,
        product_type: u8,
    ) -> Result<OrderNumber, EngineError> {
        self.inner
            .numbers
            .next(channel, kind, ProductType(product_type))
            .map_err(|error| EngineError::OrderNumber(error.to_string()))
    }

    /// Issues an order number (for hosts that number orders before creating them).
    pub fn issue_number(
        &self,
        channel: Channel,
        kind: Kind,
        product_type: u8,
    ) -> Result<OrderNumber, EngineError> {
        self.number(channel, kind, product_type)
    }

    /// Creates a business order (idempotent by number and content).
    pub async fn create_order(&self, new: NewOrder) -> Result<OrderRecord, EngineError> {
        if new.amount_fen == 0 || new.amount_fen > cashier_adapters::money::MAX_WIRE_FEN {
            return Err(EngineError::InvalidInput(
                "amount must be 1 fen to 2147483647 fen".into(),
            ));
        }
        if new.product_type > 99 {
            return Err(EngineError::InvalidInput(
                "product type must be 0 to 99".into(),
            ));
        }
        if new.description.trim().is_empty()
            || new.description.len() > 128
            || cashier_adapters::xml::has_four_byte_characters(&new.description)
        {
            return Err(EngineError::InvalidInput(
                "description must be 1 to 128 bytes of 1-3-byte UTF-8 characters".into(),
            ));
        }
        let order_no = match new.order_no {
            Some(order_no) => order_no,
            None => self.number(Channel::UNSPECIFIED, Kind::Order, new.product_type)?,
        };
        let now_ms = self.inner.core.now_ms();
        let expires_ms = now_ms + i64::from(self.inner.core.config.order_expiry_s) * 1000;
        let record = machine::new_order(
            order_no.clone(),
            new.product_type,
            new.amount_fen,
            new.description,
            new.payer_unionid,
            now_ms,
            expires_ms,
        );
        Ok(self
            .send(&order_no, Command::Create(Box::new(record)))
            .await?
            .record)
    }

    /// Starts a payment attempt through an entry point (or returns the still valid prepared one
    /// of the same entry and payer), and builds what the client needs to pay.
    pub async fn start_payment(
        &self,
        order_no: &OrderNumber,
        request: PaymentRequest,
    ) -> Result<PaymentStart, EngineError> {
        let entry = self
            .inner
            .core
            .config
            .entry(&request.entry)
            .ok_or_else(|| EngineError::UnknownEntry(request.entry.clone()))?
            .clone();
        let record = self.send(order_no, Command::Get).await?.record;
        let out_trade_no = self
            .number(entry.kind.channel(), Kind::Payment, record.product_type)?
            .to_string();
        let reply = self
            .send(
                order_no,
                Command::StartPayment {
                    entry: request.entry.clone(),
                    openid: request.openid,
                    client_ip: request.client_ip,
                    out_trade_no,
                },
            )
            .await?;
        let out_trade_no = reply.attempt.unwrap_or_default();
        let attempt = reply
            .record
            .attempt(&out_trade_no)
            .ok_or_else(|| EngineError::PaymentNotReady {
                out_trade_no: out_trade_no.clone(),
                state: "missing".into(),
            })?
            .clone();
        let (prepay_id, code_url, mweb_url) = match &attempt.state {
            AttemptState::Prepared {
                prepay_id,
                code_url,
                mweb_url,
            } => (prepay_id.clone(), code_url.clone(), mweb_url.clone()),
            AttemptState::Failed { reason } => {
                return Err(EngineError::PaymentRefused {
                    reason: reason.clone(),
                })
            }
            other => {
                return Err(EngineError::PaymentNotReady {
                    out_trade_no,
                    state: format!("{other:?}"),
                })
            }
        };
        let merchant = self.inner.core.merchant_for(&attempt.channel)?;
        let client = self.client_payment(&entry, &merchant, &prepay_id, code_url, mweb_url)?;
        Ok(PaymentStart {
            out_trade_no,
            client,
        })
    }

    fn client_payment(
        &self,
        entry: &EntryConfig,
        merchant: &MerchantContext,
        prepay_id: &str,
        code_url: Option<String>,
        mweb_url: Option<String>,
    ) -> Result<ClientPayment, EngineError> {
        let timestamp_s = self.inner.core.now_ms() / 1000;
        let nonce = self.inner.nonces.next_nonce();
        let prepay_id = PrepayId::new(prepay_id.to_owned())
            .map_err(|error| EngineError::InvalidInput(error.to_string()))?;
        Ok(match entry.kind {
            EntryKind::OfficialAccount => {
                ClientPayment::Jsapi(jsapi_pay_params(merchant, &prepay_id, timestamp_s, &nonce))
            }
            EntryKind::MiniProgram => {
                let params = jsapi_pay_params(merchant, &prepay_id, timestamp_s, &nonce);
                let page = entry
                    .mini_program_pay_page
                    .clone()
                    .unwrap_or_else(|| "/pages/pay/pay".into());
                let bridge_url = bridge::mini_program_pay_url(&page, &params)
                    .map_err(|error| EngineError::InvalidInput(error.to_string()))?;
                ClientPayment::MiniProgram { params, bridge_url }
            }
            EntryKind::App => {
                ClientPayment::App(app_pay_params(merchant, &prepay_id, timestamp_s, &nonce))
            }
            EntryKind::Native => ClientPayment::Native {
                code_url: code_url.unwrap_or_default(),
            },
            EntryKind::H5 => ClientPayment::Mweb {
                mweb_url: mweb_redirect_url(&mweb_url.unwrap_or_default(), None),
            },
        })
    }

    fn order_of(&self, index: IndexKind, key: &str) -> Result<OrderNumber, EngineError> {
        self.inner
            .core
            .store
            .find(index, key)?
            .ok_or_else(|| EngineError::UnknownOrder(key.to_owned()))
    }

    /// Records what the client reported. Only "ok" does anything: it makes the engine query
    /// WeChat now; cancel and fail change nothing (the client never decides).
    pub async fn report_client_result(
        &self,
        out_trade_no: &str,
        result: ClientResult,
    ) -> Result<OrderRecord, EngineError> {
        let order_no = self.order_of(IndexKind::OutTradeNo, out_trade_no)?;
        let event = Event::ClientReported {
            out_trade_no: out_trade_no.to_owned(),
            result,
        };
        Ok(self.send(&order_no, Command::Apply(event)).await?.record)
    }

    /// The order as stored.
    pub async fn query(&self, order_no: &OrderNumber) -> Result<OrderRecord, EngineError> {
        Ok(self.send(order_no, Command::Get).await?.record)
    }

    /// Closes an unpaid order (its attempts are closed at WeChat, not before WeChat's 5
    /// minutes; a payment found while closing wins).
    pub async fn close(&self, order_no: &OrderNumber) -> Result<OrderRecord, EngineError> {
        Ok(self
            .send(order_no, Command::Apply(Event::CloseRequested))
            .await?
            .record)
    }

    /// Refunds part or all of a paid order, with the paying attempt's appid, mch_id, sub ids
    /// and sign type. Returns the order and the refund's `out_refund_no`.
    pub async fn refund(
        &self,
        order_no: &OrderNumber,
        amount_fen: u64,
        reason: &str,
    ) -> Result<(OrderRecord, String), EngineError> {
        let record = self.send(order_no, Command::Get).await?.record;
        let channel = record
            .primary_payment()
            .map(|attempt| {
                OrderNumber::parse(attempt.out_trade_no.clone())
                    .map(|number| number.channel())
                    .unwrap_or(Channel::UNSPECIFIED)
            })
            .unwrap_or(Channel::UNSPECIFIED);
        let out_refund_no = self
            .number(channel, Kind::Refund, record.product_type)?
            .to_string();
        let event = Event::RefundRequested {
            out_refund_no: out_refund_no.clone(),
            amount_fen,
            reason: reason.to_owned(),
        };
        let record = self.send(order_no, Command::Apply(event)).await?.record;
        Ok((record, out_refund_no))
    }

    /// Handles a payment notification body: verifies it against the order's own channel
    /// context and amount, applies it, and returns the exact acknowledgement bytes once the
    /// state is durable. Invalid sign, unknown order or conflicting content: FAIL, no change.
    pub async fn handle_payment_notification(&self, body: &[u8]) -> NotificationResponse {
        match self.route_payment_notification(body) {
            Ok((order_no, command)) => self.deliver(&order_no, command).await,
            Err(reason) => {
                bump(&self.inner.core.metrics.payment_notifications_rejected);
                NotificationResponse::rejected(reason)
            }
        }
    }

    /// Handles a refund notification body: decrypts `req_info` with the merchant's key, applies
    /// it, and returns the acknowledgement once durable.
    pub async fn handle_refund_notification(&self, body: &[u8]) -> NotificationResponse {
        match self.route_refund_notification(body) {
            Ok((order_no, command)) => self.deliver(&order_no, command).await,
            Err(reason) => {
                bump(&self.inner.core.metrics.refund_notifications_rejected);
                NotificationResponse::rejected(reason)
            }
        }
    }

    /// Parses a payment notification far enough to find its order; the order's actor verifies
    /// the sign against the channel context the payment was made with.
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

    /// Decrypts a refund notification with the key of the merchant it names (the AES key is
    /// derived from that key, so decrypting is the authentication) and finds its order.
    fn route_refund_notification(&self, body: &[u8]) -> Result<(OrderNumber, Command), String> {
        let outer = UnverifiedRefundNotification::parse(body).map_err(|error| error.to_string())?;
        let config = &self.inner.core.config;
        let mch_id = outer.mch_id().unwrap_or("");
        let appid = outer.appid().unwrap_or("");
        let entry = config
            .entries
            .iter()
            .find(|entry| entry.mch_id.as_str() == mch_id && entry.appid.as_str() == appid)
            .or_else(|| config.entry_for_mch_id(mch_id))
            .ok_or_else(|| format!("unknown mch_id {mch_id}"))?;
        let merchant = MerchantContext {
            appid: AppId::new(appid).unwrap_or_else(|_| entry.appid.clone()),
            mch_id: entry.mch_id.clone(),
            sub_appid: outer
                .fields()
                .get_nonempty("sub_appid")
                .and_then(|id| AppId::new(id).ok()),
            sub_mch_id: entry.sub_mch_id.clone(),
            sign_type: entry.sign_type,
            key: entry.key.clone(),
        };
        let decrypted = outer
            .decrypt(&merchant)
            .map_err(|error| error.to_string())?;
        let order_no = self
            .order_of(IndexKind::OutRefundNo, decrypted.out_refund_no.as_str())
            .map_err(|error| error.to_string())?;
        Ok((order_no, Command::RefundNotification(Box::new(decrypted))))
    }

    async fn deliver(&self, order_no: &OrderNumber, command: Command) -> NotificationResponse {
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

    /// Runs every due deadline (queries, retries, closes, refund queries). Hosts on a virtual
    /// clock call it after moving time; otherwise the background timer does. Returns how many
    /// orders were woken.
    pub async fn run_due(&self) -> Result<usize, EngineError> {
        let mut woken = 0;
        for _ in 0..16 {
            self.check_running()?;
            let now_ms = self.inner.core.now_ms();
            let due = self.inner.core.store.due(now_ms, 512)?;
            if due.is_empty() {
                break;
            }
            let mut tasks = tokio::task::JoinSet::new();
            for order_no in due {
                let engine = self.clone();
                tasks.spawn(async move {
                    engine
                        .send(&order_no, Command::Apply(Event::DeadlineReached))
                        .await
                });
                woken += 1;
                while tasks.len() >= 64 {
                    let _ = tasks.join_next().await;
                }
            }
            while tasks.join_next().await.is_some() {}
        }
        Ok(woken)
    }

    /// An order's audit trail.
    pub fn events(&self, order_no: &OrderNumber) -> Result<Vec<LoggedEvent>, EngineError> {
        Ok(self.inner.core.store.events(order_no.as_str())?)
    }

    /// Every stored order (reports, reconciliation, tests).
    pub fn orders(&self) -> Result<Vec<OrderRecord>, EngineError> {
        Ok(self.inner.core.store.all_orders()?)
    }

    /// The counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner.core.metrics.snapshot()
    }

    /// Group-commit counters of the store.
    pub fn flush_stats(&self) -> FlushStats {
        self.inner.core.store.flush_stats()
    }

    /// Order actors alive now.
    pub fn live_actors(&self) -> usize {
        self.inner.registry.live_actors()
    }

    /// Stops taking commands, flushes the store, and stops the actors. Work in flight is
    /// durable up to its last transition; the next start resumes it from its deadlines.
    pub async fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::Release);
        let _ = self.inner.core.store.flush().await;
        if let Ok(mut system) = self.inner.system.lock() {
            if let Some(system) = system.take() {
                system.stop();
            }
        }
    }
}
