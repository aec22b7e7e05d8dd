//! The embedding API: [`Engine::start`] returns a cloneable, `Send + Sync` handle usable from
//! any tokio host (axum) or actix-web host. Every call is routed to the order's actor; every
//! answer comes once the state it changed is durable, without waiting for WeChat calls that
//! state started (they run after, and their outcomes arrive as new transitions).
//!
//! - `payments.rs`: starting payments, client hints, closes, queries, refunds.
//! - `notifications.rs`: WeChat's payment and refund notifications.
//! - `medical.rs`: 医保 payments (authorisation, the attempt, the jump) and their notifications.
//! - `operations.rs`: deadlines, waiting for effects, reports, the host feed, credentials,
//!   shutdown.
//! - `reconciliation.rs`: the daily reconciliation with WeChat's bills.

mod medical;
mod notifications;
mod operations;
mod payments;
mod reconciliation;

pub use medical::{MedicalPaymentRequest, MedicalPaymentStart};
pub use reconciliation::ReconciliationReport;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use cashier_adapters::notify::ack::ack_failure;
use cashier_adapters::{AmountFen, ChaChaNonceSource, OpenId, WechatPayClient};

use crate::actor::Registry;
use crate::config::EngineConfig;
use crate::error::EngineError;
use crate::keys::Keyring;
use crate::machine::{OrderSpec, Outcome};
use crate::metrics::Metrics;
use crate::model::*;
use crate::order_number::{Channel, Kind, OrderNumber, OrderNumberGenerator, ProductType};
use crate::runtime::EngineRuntime;
use crate::shell::{Client, ClientKey, Command, CommandReply, NotificationVerdict, Shell};
use crate::store::Store;

/// A new business order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOrder {
    /// The number, when the host has one (creating it again with the same content is the
    /// named outcome `AlreadyExists`; with other content it is refused). `None` issues one.
    pub order_no: Option<OrderNumber>,
    /// Product type (0–99).
    pub product_type: ProductType,
    /// The amount.
    pub amount: AmountFen,
    /// Item description (WeChat `body`).
    pub description: Description,
    /// The payer's unionid, when known.
    pub payer_unionid: Option<UnionId>,
}

/// Who pays and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentRequest {
    /// The configured entry point.
    pub entry: String,
    /// The payer's openid under the entry's app (JSAPI entries only).
    pub openid: Option<OpenId>,
    /// The payer's IP (the server's for Native).
    pub client_ip: IpAddr,
}

/// A refund the host asks for, under its own idempotency key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundRequest {
    /// The host's key (its refund number, a request id): a retry with the same key and content
    /// is answered with the same refund.
    pub key: RequestKey,
    /// The amount.
    pub amount: AmountFen,
    /// The reason shown to the payer.
    pub reason: RefundReason,
}

/// A record and what the call did to it, by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The order after the call (durable).
    pub record: OrderRecord,
    /// What happened.
    pub outcome: Outcome,
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
    shell: Arc<Shell>,
    registry: Arc<Registry>,
    numbers: OrderNumberGenerator,
    nonces: ChaChaNonceSource,
    system: Mutex<Option<actix::System>>,
    shutting_down: AtomicBool,
    runtime: EngineRuntime,
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
        .map_err(|error| EngineError::InvalidInput {
            field: "runtime",
            reason: format!("cannot start the actor system: {error}"),
        })?;
    receiver.recv().map_err(|_| EngineError::ShuttingDown)
}

/// The arbiter of the calling thread, for a single-threaded engine.
fn callers_arbiter() -> Result<actix::ArbiterHandle, EngineError> {
    if actix_rt::System::try_current().is_none() {
        return Err(EngineError::InvalidInput {
            field: "runtime",
            reason: "a single-threaded engine starts inside an actix System \
                     (actix_rt::System::new().block_on(...))"
                .into(),
        });
    }
    Ok(actix_rt::Arbiter::current())
}

/// One client per merchant and mode (production or sandbox), each on the transport of the
/// merchant's entry that carries a client certificate (else its first entry).
fn build_clients(
    config: &EngineConfig,
    runtime: &EngineRuntime,
) -> Result<HashMap<ClientKey, Client>, EngineError> {
    let mut clients = HashMap::new();
    for (index, entry) in config.entries.iter().enumerate() {
        let key = (entry.mch_id.clone(), entry.sandbox);
        if clients.contains_key(&key) {
            continue;
        }
        let carrier = config
            .entries_of(entry.mch_id.as_str())
            .find(|other| other.client_certificate.is_some())
            .unwrap_or(entry);
        let transport =
            (runtime.transports)(carrier).map_err(|reason| EngineError::InvalidInput {
                field: "client_certificate",
                reason: format!("entry {}: transport: {reason}", entry.name),
            })?;
        let nonces = match runtime.nonce_seed {
            Some(seed) => ChaChaNonceSource::seeded(seed.wrapping_add(index as u64)),
            None => ChaChaNonceSource::from_entropy(),
        };
        let base = if entry.sandbox {
            runtime.api_base.clone().sandbox()
        } else {
            runtime.api_base.clone()
        };
        clients.insert(key, Arc::new(WechatPayClient::new(transport, base, nonces)));
    }
    Ok(clients)
}

/// The order-number generator of this start (a fresh slot, see `order_number.rs`).
fn number_generator(
    config: &EngineConfig,
    store: &Arc<dyn Store>,
    runtime: &EngineRuntime,
) -> Result<OrderNumberGenerator, EngineError> {
    let reserving = store.clone();
    Ok(OrderNumberGenerator::start(
        config.node_id,
        runtime.clock.clone(),
        &store.number_slots()?,
        Box::new(move |slot, until_s| {
            reserving
                .reserve_number_slot(slot, until_s)
                .map_err(|error| error.to_string())
        }),
    )?)
}

impl Engine {
    /// Validates the configuration, loads the keys, opens the transports, starts the actors and
    /// (when asked) the deadline timer. Recovery is the first timer run: every order with a due
    /// deadline, outcome-unknown attempts included, is resumed.
    pub fn start(
        config: EngineConfig,
        store: Arc<dyn Store>,
        runtime: EngineRuntime,
    ) -> Result<Engine, EngineError> {
        config
            .validate()
            .map_err(|error| EngineError::InvalidInput {
                field: "config",
                reason: error.to_string(),
            })?;
        if let Some(entry) = config
            .medical
            .iter()
            .find(|entry| entry.credentials.is_none())
        {
            return Err(EngineError::InvalidInput {
                field: "config",
                reason: format!("医保 entry {} has no credentials", entry.name),
            });
        }
        let keyring = Keyring::load(config.keys.clone(), config.merchants())?;
        let clients = build_clients(&config, &runtime)?;
        let numbers = number_generator(&config, &store, &runtime)?;
        let (arbiters, system) = if runtime.single_thread {
            (vec![callers_arbiter()?], None)
        } else {
            let (arbiters, system) = start_actix(runtime.arbiters)?;
            (arbiters, Some(system))
        };
        let nonces = match runtime.nonce_seed {
            Some(seed) => ChaChaNonceSource::seeded(seed ^ 0x5eed),
            None => ChaChaNonceSource::from_entropy(),
        };
        let ticker_arbiter = arbiters.first().cloned();
        let shell = Shell {
            config,
            store,
            clock: runtime.clock.clone(),
            clients: RwLock::new(clients),
            keyring,
            metrics: Metrics::default(),
            effects_in_flight: Default::default(),
            effects_idle: tokio::sync::Notify::new(),
        };
        let engine = Engine {
            inner: Arc::new(Inner {
                shell: Arc::new(shell),
                registry: Arc::new(Registry::new(arbiters, runtime.idle_passivation)),
                numbers,
                nonces,
                system: Mutex::new(system),
                shutting_down: AtomicBool::new(false),
                runtime,
            }),
        };
        if let (Some(tick), Some(arbiter)) = (engine.inner.runtime.background_tick, ticker_arbiter)
        {
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

    fn shell(&self) -> &Shell {
        &self.inner.shell
    }

    async fn send(
        &self,
        order_no: &OrderNumber,
        command: Command,
    ) -> Result<CommandReply, EngineError> {
        if self.inner.shutting_down.load(Ordering::Acquire) {
            return Err(EngineError::ShuttingDown);
        }
        self.inner
            .registry
            .send(&self.inner.shell, order_no, command)
            .await
    }

    /// Issues an order number (for hosts that number orders before creating them).
    pub fn issue_number(
        &self,
        channel: Channel,
        kind: Kind,
        product_type: ProductType,
    ) -> Result<OrderNumber, EngineError> {
        Ok(self.inner.numbers.next(channel, kind, product_type)?)
    }

    /// Creates a business order: `Created`, or `AlreadyExists` for the same number and content.
    pub async fn create_order(&self, new: NewOrder) -> Result<Receipt, EngineError> {
        let order_no = match new.order_no {
            Some(order_no) => order_no,
            None => self.issue_number(Channel::UNSPECIFIED, Kind::Order, new.product_type)?,
        };
        let spec = OrderSpec {
            order_no: order_no.clone(),
            product_type: new.product_type,
            amount: new.amount,
            description: new.description,
            payer_unionid: new.payer_unionid,
            lifetime_ms: i64::from(self.shell().config.order_expiry_s) * 1000,
        };
        let reply = self
            .send(&order_no, Command::Create(Box::new(spec)))
            .await?;
        Ok(Receipt {
            record: reply.record,
            outcome: reply.outcome,
        })
    }
}
