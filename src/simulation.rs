//! The engine wired to the in-process simulator, for the demo, the end-to-end tests and the
//! crash test: the simulator is WeChat, the engine runs on the simulator's virtual clock, and
//! the simulator's notifications are delivered straight into the engine's handlers (timing each
//! acknowledgement).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use cashier_adapters::ApiBase;
use cashier_engine::clock::FnClock;
use cashier_engine::config::EngineConfig;
use cashier_engine::store::{SledStore, Store};
use cashier_engine::{Engine, EngineError, EngineRuntime};
use cashier_harness::{
    FaultPlan, NotificationSink, PayCommand, SimConfig, SimOptions, SimTransport, Simulator,
};

/// The engine configuration for the simulator's default world
/// (`fixtures/engine/simulated-world.json`). Its API keys are read from
/// `CASHIER_SIM_KEY_<mch_id>`, which this function sets from the simulator's configuration, as
/// a host's deployment would set them from its secret store.
pub fn engine_config(simulated: &SimConfig) -> Result<EngineConfig, String> {
    for merchant in &simulated.merchants {
        std::env::set_var(
            format!("CASHIER_SIM_KEY_{}", merchant.mch_id),
            &merchant.key,
        );
    }
    EngineConfig::from_json(include_str!("../fixtures/engine/simulated-world.json"))
        .map_err(|error| error.to_string())
}

/// Delivers notifications into the engine and records how long each acknowledgement took.
pub struct EngineSink {
    engine: Engine,
    ack_latencies_us: Mutex<Vec<u64>>,
}

impl EngineSink {
    /// A sink into `engine`.
    pub fn new(engine: Engine) -> EngineSink {
        EngineSink {
            engine,
            ack_latencies_us: Mutex::new(Vec::new()),
        }
    }

    /// Every acknowledgement latency so far, in microseconds.
    pub fn ack_latencies_us(&self) -> Vec<u64> {
        self.ack_latencies_us
            .lock()
            .map(|latencies| latencies.clone())
            .unwrap_or_default()
    }
}

impl NotificationSink for EngineSink {
    fn deliver<'a>(
        &'a self,
        url: &'a str,
        body: Vec<u8>,
    ) -> cashier_harness::simulator::DeliveryFuture<'a> {
        Box::pin(async move {
            let started = Instant::now();
            let response = if url.ends_with("refund-notify") {
                self.engine.handle_refund_notification(&body).await
            } else {
                self.engine.handle_payment_notification(&body).await
            };
            let elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            if let Ok(mut latencies) = self.ack_latencies_us.lock() {
                latencies.push(elapsed_us);
            }
            Ok((200, response.ack))
        })
    }
}

/// The simulator, the engine and the sink between them.
pub struct SimulatedWorld {
    /// WeChat.
    pub simulator: Arc<Simulator>,
    /// The engine under test.
    pub engine: Engine,
    /// The merchant's notification endpoints.
    pub sink: EngineSink,
    /// The engine's store.
    pub store: Arc<SledStore>,
}

impl SimulatedWorld {
    /// Starts a world with `seed` on `store`, with the simulator misbehaving per `faults`.
    pub fn start(
        seed: u64,
        store: Arc<SledStore>,
        faults: FaultPlan,
        arbiters: usize,
    ) -> Result<SimulatedWorld, String> {
        let simulated = SimConfig::embedded_default().map_err(|error| error.to_string())?;
        let config = engine_config(&simulated)?;
        let simulator = Arc::new(Simulator::new(simulated, SimOptions::deterministic(seed)));
        simulator.set_fault_plan(faults)?;
        SimulatedWorld::with_simulator(simulator, config, store, seed, arbiters, |_| {})
    }

    /// Starts an engine on an existing simulator (a restart after a crash keeps WeChat's
    /// state); `tune` adjusts the runtime (passivation, timers) before the start.
    pub fn with_simulator(
        simulator: Arc<Simulator>,
        config: EngineConfig,
        store: Arc<SledStore>,
        seed: u64,
        arbiters: usize,
        tune: impl FnOnce(&mut EngineRuntime),
    ) -> Result<SimulatedWorld, String> {
        let clock_source = simulator.clone();
        let mut runtime = EngineRuntime::new(
            Arc::new(SimTransport::new(simulator.clone())),
            ApiBase::production(),
        );
        runtime.clock = Arc::new(FnClock(move || clock_source.now_ms()));
        runtime.nonce_seed = Some(seed);
        runtime.background_tick = None;
        runtime.arbiters = arbiters.max(1);
        tune(&mut runtime);
        let engine = Engine::start(config, store.clone() as Arc<dyn Store>, runtime)
            .map_err(|error| error.to_string())?;
        Ok(SimulatedWorld {
            simulator,
            sink: EngineSink::new(engine.clone()),
            engine,
            store,
        })
    }

    /// Opens a sled store in `dir`.
    pub fn open_store(dir: &Path) -> Result<Arc<SledStore>, String> {
        SledStore::open(dir)
            .map(Arc::new)
            .map_err(|error| error.to_string())
    }

    /// Moves virtual time in steps of at most `step_s`, delivering notifications into the
    /// engine and running its deadlines after each step.
    pub async fn advance(&self, seconds: i64, step_s: i64) -> Result<(), EngineError> {
        let mut remaining = seconds;
        while remaining > 0 {
            let step = remaining.min(step_s.max(1));
            self.simulator.advance(step, &self.sink).await;
            self.engine.run_due().await?;
            remaining -= step;
        }
        self.simulator.deliver_due(&self.sink).await;
        self.engine.run_due().await?;
        Ok(())
    }

    /// The payer pays (`success`), fails or cancels an attempt at WeChat.
    pub fn payer(&self, out_trade_no: &str, outcome: &str) -> Result<(), String> {
        self.simulator
            .pay(&PayCommand {
                out_trade_no: Some(out_trade_no.to_owned()),
                prepay_id: None,
                outcome: outcome.to_owned(),
                bank_type: None,
                coupons: Vec::new(),
            })
            .map(|_| ())
            .map_err(|error| error.to_string())
    }
}

/// The checks of a finished run: the engine agrees with WeChat's ledger (payments, refunds),
/// at most one payment is kept per order, refunds never exceed payments (engine and WeChat),
/// nothing is left pending or without a deadline, no refund went out twice, and every
/// notification WeChat saw acknowledged was applied. Each check names its failures (none = OK).
pub fn ledger_checks(
    records: &[cashier_engine::model::OrderRecord],
    simulator: &Simulator,
) -> Vec<(String, Vec<String>)> {
    use cashier_engine::model::{AttemptState, OrderState, RefundState};
    let ledger = simulator.ledger();
    let mut payments = Vec::new();
    let mut refunds = Vec::new();
    let mut invariants = Vec::new();
    let mut acknowledged = Vec::new();
    for record in records {
        if let Err(violation) = cashier_engine::machine::check_invariants(record) {
            invariants.push(violation);
        }
        if matches!(record.state, OrderState::Paying | OrderState::Created) {
            invariants.push(format!("{} still {:?}", record.order_no, record.state));
        }
        for attempt in &record.attempts {
            let engine_paid = matches!(attempt.state, AttemptState::Paid { .. });
            let wechat_paid = ledger
                .orders
                .values()
                .any(|order| order.key.out_trade_no == attempt.out_trade_no && order.is_paid());
            if engine_paid != wechat_paid {
                payments.push(format!(
                    "{}: engine paid={engine_paid}, WeChat paid={wechat_paid}",
                    attempt.out_trade_no
                ));
            }
            if attempt.state.is_live() {
                invariants.push(format!(
                    "{} still {:?}",
                    attempt.out_trade_no, attempt.state
                ));
            }
        }
        for refund in &record.refunds {
            let at_wechat: Vec<_> = ledger
                .refunds
                .values()
                .filter(|sim| sim.key.out_refund_no == refund.out_refund_no)
                .collect();
            if at_wechat.len() > 1 {
                refunds.push(format!(
                    "{} refunded {} times",
                    refund.out_refund_no,
                    at_wechat.len()
                ));
            }
            let engine_done = matches!(refund.state, RefundState::Succeeded { .. });
            let wechat_done = at_wechat
                .first()
                .is_some_and(|sim| sim.refund_status == "SUCCESS");
            if engine_done != wechat_done {
                refunds.push(format!(
                    "{}: engine refunded={engine_done}, WeChat refunded={wechat_done}",
                    refund.out_refund_no
                ));
            }
        }
    }
    for order in ledger.orders.values().filter(|order| order.is_paid()) {
        if !records.iter().any(|record| {
            record
                .paid_attempts()
                .any(|attempt| attempt.out_trade_no == order.key.out_trade_no)
        }) {
            payments.push(format!(
                "{}: paid at WeChat, unknown to the engine",
                order.key.out_trade_no
            ));
        }
    }
    let over_refunded = ledger
        .orders
        .values()
        .filter(|order| ledger.refunded_fen(order) > order.total_fee)
        .map(|order| {
            format!(
                "{} refunded more than paid at WeChat",
                order.key.out_trade_no
            )
        })
        .collect();
    for delivery in simulator
        .delivery_log()
        .iter()
        .filter(|record| record.acknowledged && record.out_refund_no.is_none())
    {
        if !records.iter().any(|record| {
            record
                .paid_attempts()
                .any(|attempt| attempt.out_trade_no == delivery.out_trade_no)
        }) {
            acknowledged.push(format!(
                "acknowledged notification for {} not applied",
                delivery.out_trade_no
            ));
        }
    }
    vec![
        ("engine payments match WeChat's ledger".to_owned(), payments),
        (
            "engine refunds match WeChat's, none twice".to_owned(),
            refunds,
        ),
        (
            "one payment kept, refunds ≤ payments, none pending".to_owned(),
            invariants,
        ),
        ("refunded ≤ paid at WeChat".to_owned(), over_refunded),
        (
            "every acknowledged notification applied".to_owned(),
            acknowledged,
        ),
    ]
}
