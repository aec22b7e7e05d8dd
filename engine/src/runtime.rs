//! What the engine runs on ([`EngineRuntime`]): clock, transports per merchant, where WeChat
//! is, randomness, timers, threads. `EngineRuntime::production` builds one rustls transport per
//! merchant with its client certificate, read again whenever credentials are reloaded.

use std::sync::Arc;
use std::time::Duration;

use cashier_adapters::{ApiBase, Transport};

use crate::clock::Clock;
use crate::config::{load_client_identity, EntryConfig};

/// Builds the transport of an entry's merchant (called at start and on every credentials
/// reload, so a renewed client certificate is picked up).
pub type TransportFactory =
    dyn Fn(&EntryConfig) -> Result<Arc<dyn Transport>, String> + Send + Sync;

/// What the engine runs on.
pub struct EngineRuntime {
    /// "Now".
    pub clock: Arc<dyn Clock>,
    /// Transports per merchant.
    pub transports: Box<TransportFactory>,
    /// Production, backup, or a simulator (the sandbox prefix is added per entry).
    pub api_base: ApiBase,
    /// Seeds nonces for replayable runs; `None` uses OS entropy.
    pub nonce_seed: Option<u64>,
    /// Runs due deadlines every so often in the background; `None` leaves it to the host
    /// (`Engine::run_due`), as simulations on a virtual clock do.
    pub background_tick: Option<Duration>,
    /// Arbiters (threads) for order actors; one per core by default.
    pub arbiters: usize,
    /// Runs the order actors on the arbiter of the thread that starts the engine, which must be
    /// inside an actix System, instead of on arbiters of the engine's own. With a virtual clock,
    /// seeded nonces, an inline store and no passivation by wall-clock time, a whole simulation
    /// then runs on one thread and replays exactly from its seed (`cashier demo --deterministic`).
    pub single_thread: bool,
    /// How long an order actor stays in memory without commands (5 s by default).
    pub idle_passivation: Duration,
    /// How long `start_payment` waits for WeChat's unified order before answering
    /// `PaymentNotReady` (the engine keeps trying on its own).
    pub start_payment_wait: Duration,
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
            single_thread: false,
            idle_passivation: crate::actor::IDLE_PASSIVATION,
            start_payment_wait: Duration::from_secs(10),
        }
    }

    /// Production: WeChat's API host (failing over to the backup domain when it cannot be
    /// connected to), the system clock, and per merchant a rustls transport carrying that
    /// entry's client certificate.
    pub fn production() -> EngineRuntime {
        let mut runtime = EngineRuntime::new(Arc::new(NoTransport), ApiBase::production());
        runtime.transports = Box::new(|entry| {
            let identity = load_client_identity(entry).map_err(|error| error.to_string())?;
            let transport =
                cashier_adapters::ReqwestTransport::new(cashier_adapters::ReqwestTransportConfig {
                    client_identity: identity,
                    ..cashier_adapters::ReqwestTransportConfig::default()
                })
                .map_err(|error| error.to_string())?;
            // Connection failures retry on WeChat's backup domain; nothing else fails over.
            Ok(
                Arc::new(cashier_adapters::FailoverTransport::wechat(transport))
                    as Arc<dyn Transport>,
            )
        });
        runtime
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
