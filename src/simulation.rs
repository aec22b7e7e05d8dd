//! The engine wired to the in-process simulator, for the demo, the end-to-end tests and the
//! crash test: the simulator is WeChat, the engine runs on the simulator's virtual clock, and
//! the simulator's notifications are delivered straight into the engine's handlers (timing each
//! acknowledgement).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use cashier_adapters::medical::nhsa::envelope::NhsaCredentials;
use cashier_adapters::medical::sm::{Sm2PrivateKey, Sm2PublicKey};
use cashier_adapters::medical::user_query::PartnerCredentials;
use cashier_adapters::{ApiBase, ApiKey, MchId, OutTradeNo};
use cashier_engine::clock::FnClock;
use cashier_engine::config::EngineConfig;
use cashier_engine::keys::{MerchantKeys, StaticKeys};
use cashier_engine::medical_config::MedicalCredentials;
use cashier_engine::model::{AttemptState, OrderRecord, OrderState, RefundState};
use cashier_engine::store::{SledStore, Store};
use cashier_engine::{Engine, EngineError, EngineRuntime};
use cashier_harness::{
    FaultPlan, Ledger, NotificationSink, PayCommand, SimConfig, SimOptions, SimRefund,
    SimTransport, Simulator,
};

/// The engine configuration for the simulator's default world
/// (`fixtures/engine/simulated-world.json`), with the simulated merchants' API keys handed in
/// directly through a key provider, as a host's vault client would.
pub fn engine_config(simulated: &SimConfig) -> Result<EngineConfig, String> {
    let mut config = EngineConfig::from_json_with_keys(
        include_str!("../fixtures/engine/simulated-world.json"),
        Arc::new(simulated_keys(simulated)?),
    )
    .map_err(|error| error.to_string())?;
    let credentials = simulated_medical_credentials(simulated)?;
    for entry in &mut config.medical {
        entry.credentials = Some(credentials.clone());
    }
    Ok(config)
}

/// The simulated world's engine configuration for an engine whose notification endpoints are
/// the host layer's at `notify_base` (`http://ADDR`) and whose 医保 services are at `sim_base`,
/// with the simulated keys and 医保 credentials handed in.
pub fn engine_config_at(
    simulated: &SimConfig,
    notify_base: &str,
    sim_base: &str,
) -> Result<EngineConfig, String> {
    let text = include_str!("../fixtures/engine/simulated-world.json")
        .replace(
            "http://127.0.0.1:9/wechat/pay-notify",
            &format!("{notify_base}/notify/pay"),
        )
        .replace(
            "http://127.0.0.1:9/wechat/refund-notify",
            &format!("{notify_base}/notify/refund"),
        )
        .replace(
            "http://127.0.0.1:9/medical/pay-notify",
            &format!("{notify_base}/notify/medical"),
        )
        .replace("http://sim.invalid", sim_base);
    let mut config = EngineConfig::from_json_with_keys(&text, Arc::new(simulated_keys(simulated)?))
        .map_err(|error| error.to_string())?;
    let credentials = simulated_medical_credentials(simulated)?;
    for entry in &mut config.medical {
        entry.credentials = Some(credentials.clone());
    }
    Ok(config)
}

/// The simulated 医保 world's credentials (NHSA appId/secret, the hospital's SM2 key from
/// `fixtures/medical/keys.json`, the centre's public key, the userQuery partner, the
/// payinsurance access token), handed in directly as a host's vault client would.
pub fn simulated_medical_credentials(simulated: &SimConfig) -> Result<MedicalCredentials, String> {
    let medical = simulated
        .medical
        .as_ref()
        .ok_or("the simulated world has no 医保 side")?;
    let keys: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/medical/keys.json"))
            .map_err(|error| error.to_string())?;
    let hex = |name: &str| -> Result<Vec<u8>, String> {
        let text = keys[name]
            .as_str()
            .ok_or(format!("keys.json has no {name}"))?;
        (0..text.len())
            .step_by(2)
            .map(|index| {
                text.get(index..index + 2)
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                    .ok_or(format!("{name} is not hex"))
            })
            .collect()
    };
    let private_key = Sm2PrivateKey::from_bytes(&hex("hospital_private_key")?)
        .map_err(|error| error.to_string())?;
    let platform_key =
        Sm2PublicKey::from_sec1(&hex("platform_public_key")?).map_err(|error| error.to_string())?;
    Ok(MedicalCredentials::new(
        NhsaCredentials::new(
            medical.nhsa_app_id.clone(),
            medical.nhsa_app_secret.clone(),
            private_key,
            platform_key,
        ),
        PartnerCredentials::new(medical.partner_id.clone(), medical.partner_secret.clone()),
        medical.access_token.clone(),
    ))
}

/// The simulated merchants' keys as a key provider.
pub fn simulated_keys(simulated: &SimConfig) -> Result<StaticKeys, String> {
    let keys = StaticKeys::new();
    for merchant in &simulated.merchants {
        let mch_id = MchId::new(merchant.mch_id.clone()).map_err(|error| error.to_string())?;
        let key = ApiKey::new(merchant.key.clone()).map_err(|error| error.to_string())?;
        keys.set(mch_id, MerchantKeys::single(key));
    }
    Ok(keys)
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
            } else if url.contains("/medical/") {
                self.engine.handle_medical_notification(&body).await
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
        SimulatedWorld::start_tuned(seed, store, faults, arbiters, |_| {})
    }

    /// [`SimulatedWorld::start`], with `tune` adjusting the engine's runtime.
    pub fn start_tuned(
        seed: u64,
        store: Arc<SledStore>,
        faults: FaultPlan,
        arbiters: usize,
        tune: impl FnOnce(&mut EngineRuntime),
    ) -> Result<SimulatedWorld, String> {
        let simulated = SimConfig::embedded_default().map_err(|error| error.to_string())?;
        let config = engine_config(&simulated)?;
        let simulator = Arc::new(Simulator::new(simulated, SimOptions::deterministic(seed)));
        simulator.set_fault_plan(faults)?;
        SimulatedWorld::with_simulator(simulator, config, store, seed, arbiters, tune)
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

    /// Opens a sled store in `dir` that flushes on the caller's thread (deterministic runs).
    pub fn open_store_inline(dir: &Path) -> Result<Arc<SledStore>, String> {
        SledStore::open_inline(dir)
            .map(Arc::new)
            .map_err(|error| error.to_string())
    }

    /// Moves virtual time in steps of at most `step_s`, delivering notifications into the
    /// engine and running its deadlines after each step, each time until every WeChat call
    /// the engine started has had its answer applied.
    pub async fn advance(&self, seconds: i64, step_s: i64) -> Result<(), EngineError> {
        let mut remaining = seconds;
        while remaining > 0 {
            let step = remaining.min(step_s.max(1));
            self.simulator.advance(step, &self.sink).await;
            self.settle().await;
            self.engine.run_due().await?;
            self.settle().await;
            remaining -= step;
        }
        self.simulator.deliver_due(&self.sink).await;
        self.settle().await;
        self.engine.run_due().await?;
        self.settle().await;
        Ok(())
    }

    /// Waits until every effect the engine started has settled (a simulated WeChat answers at
    /// once, so this is short; a minute is the bound for a stuck run).
    pub async fn settle(&self) {
        if !self.engine.settle(std::time::Duration::from_secs(60)).await {
            eprintln!("warning: engine effects still in flight after a minute");
        }
    }

    /// The payer pays (`success`), fails or cancels an attempt at WeChat.
    pub fn payer(&self, out_trade_no: &OutTradeNo, outcome: &str) -> Result<(), String> {
        self.simulator
            .pay(&PayCommand {
                out_trade_no: Some(out_trade_no.to_string()),
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
/// nothing is left pending or without a deadline, no refund went out twice, every
/// notification (payment, refund, 医保) WeChat saw acknowledged was applied, and the 医保
/// checks of `medical_checks`. Each check names its failures (none = OK).
pub fn ledger_checks(records: &[OrderRecord], simulator: &Simulator) -> Vec<(String, Vec<String>)> {
    let ledger = simulator.ledger();
    let mut checks = vec![
        (
            "engine payments match WeChat's ledger".to_owned(),
            payment_mismatches(records, &ledger),
        ),
        (
            "engine refunds match WeChat's, none twice".to_owned(),
            refund_mismatches(records, &ledger),
        ),
        (
            "one payment kept, refunds ≤ payments, none pending".to_owned(),
            invariant_violations(records),
        ),
        (
            "refunded ≤ paid at WeChat".to_owned(),
            over_refunded(&ledger),
        ),
        (
            "every acknowledged notification applied".to_owned(),
            unapplied_acknowledged(records, simulator, &ledger),
        ),
    ];
    checks.extend(crate::medical_checks::medical_checks(records, simulator));
    checks
}

fn invariant_violations(records: &[OrderRecord]) -> Vec<String> {
    let mut violations = Vec::new();
    for record in records {
        if let Err(violation) = cashier_engine::machine::check_invariants(record) {
            violations.push(violation);
        }
        if matches!(record.state, OrderState::Paying | OrderState::Created) {
            violations.push(format!("{} still {:?}", record.order_no, record.state));
        }
        for attempt in record
            .attempts
            .iter()
            .filter(|attempt| attempt.state.is_live())
        {
            violations.push(format!(
                "{} still {}",
                attempt.out_trade_no,
                attempt.state.name()
            ));
        }
        for refund in record
            .refunds
            .iter()
            .filter(|refund| !refund.state.is_final())
        {
            violations.push(format!(
                "{} still {}",
                refund.out_refund_no,
                refund.state.name()
            ));
        }
    }
    violations
}

fn payment_mismatches(records: &[OrderRecord], ledger: &Ledger) -> Vec<String> {
    let paid_at_wechat: HashSet<&str> = ledger
        .orders
        .values()
        .filter(|order| order.is_paid())
        .map(|order| order.key.out_trade_no.as_str())
        .collect();
    let mut mismatches = Vec::new();
    let mut paid_in_engine = HashSet::new();
    for attempt in records.iter().flat_map(|record| record.attempts.iter()) {
        let engine_paid = matches!(attempt.state, AttemptState::Paid { .. });
        let wechat_paid = paid_at_wechat.contains(attempt.out_trade_no.as_str());
        if engine_paid {
            paid_in_engine.insert(attempt.out_trade_no.as_str());
        }
        if engine_paid != wechat_paid {
            mismatches.push(format!(
                "{}: engine paid={engine_paid}, WeChat paid={wechat_paid}",
                attempt.out_trade_no
            ));
        }
    }
    let known: HashSet<&str> = records
        .iter()
        .flat_map(|record| record.attempts.iter())
        .map(|attempt| attempt.out_trade_no.as_str())
        .collect();
    for out_trade_no in paid_at_wechat.difference(&paid_in_engine) {
        if !known.contains(out_trade_no) {
            mismatches.push(format!(
                "{out_trade_no}: paid at WeChat, unknown to the engine"
            ));
        }
    }
    mismatches
}

/// WeChat's refunds by `out_refund_no` (any merchant), so every check is a lookup.
fn wechat_refunds(ledger: &Ledger) -> HashMap<&str, Vec<&SimRefund>> {
    let mut refunds: HashMap<&str, Vec<&SimRefund>> = HashMap::new();
    for refund in ledger.refunds.values() {
        refunds
            .entry(refund.key.out_refund_no.as_str())
            .or_default()
            .push(refund);
    }
    refunds
}

fn refund_mismatches(records: &[OrderRecord], ledger: &Ledger) -> Vec<String> {
    let mut mismatches = Vec::new();
    let by_number = wechat_refunds(ledger);
    for refund in records.iter().flat_map(|record| record.refunds.iter()) {
        let at_wechat = by_number
            .get(refund.out_refund_no.as_str())
            .cloned()
            .unwrap_or_default();
        if at_wechat.len() > 1 {
            mismatches.push(format!(
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
            mismatches.push(format!(
                "{}: engine refunded={engine_done}, WeChat refunded={wechat_done}",
                refund.out_refund_no
            ));
        }
    }
    mismatches
}

fn over_refunded(ledger: &Ledger) -> Vec<String> {
    ledger
        .orders
        .values()
        .filter(|order| ledger.refunded_fen(order) > order.total_fee)
        .map(|order| {
            format!(
                "{} refunded more than paid at WeChat",
                order.key.out_trade_no
            )
        })
        .collect()
}

/// The engine state an acknowledged refund notification must have left, from WeChat's final
/// status of that refund.
fn refund_applied(refund: &cashier_engine::model::RefundRecord, wechat_status: &str) -> bool {
    match wechat_status {
        "SUCCESS" => matches!(refund.state, RefundState::Succeeded { .. }),
        "CHANGE" => refund.state == RefundState::Abnormal,
        "REFUNDCLOSE" => refund.state == RefundState::Closed,
        _ => true,
    }
}

fn unapplied_acknowledged(
    records: &[OrderRecord],
    simulator: &Simulator,
    ledger: &Ledger,
) -> Vec<String> {
    let mut unapplied = Vec::new();
    let paid: HashSet<&str> = records
        .iter()
        .flat_map(|record| {
            let wechat = record
                .paid_attempts()
                .map(|attempt| attempt.out_trade_no.as_str());
            let medical = record
                .paid_medical()
                .map(|attempt| attempt.out_trade_no.as_str());
            wechat.chain(medical)
        })
        .collect();
    let engine_refunds: HashMap<&str, &cashier_engine::model::RefundRecord> = records
        .iter()
        .flat_map(|record| record.refunds.iter())
        .map(|refund| (refund.out_refund_no.as_str(), refund))
        .collect();
    let wechat = wechat_refunds(ledger);
    for delivery in simulator
        .delivery_log()
        .iter()
        .filter(|record| record.acknowledged)
    {
        let applied = match &delivery.out_refund_no {
            None => paid.contains(delivery.out_trade_no.as_str()),
            Some(out_refund_no) => {
                let status = wechat
                    .get(out_refund_no.as_str())
                    .and_then(|refunds| refunds.first())
                    .map_or("", |sim| sim.refund_status.as_str());
                engine_refunds
                    .get(out_refund_no.as_str())
                    .is_some_and(|refund| refund_applied(refund, status))
            }
        };
        if !applied {
            let what = delivery
                .out_refund_no
                .as_deref()
                .unwrap_or(&delivery.out_trade_no);
            unapplied.push(format!("acknowledged notification for {what} not applied"));
        }
    }
    unapplied
}
