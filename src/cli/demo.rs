//! `cashier demo`: the main job. The engine runs on a temporary sled directory (or
//! `--data-dir`) with the in-process simulator as WeChat and drives a realistic, seeded mix of
//! orders across every entry point (official account, mini program through the web-view
//! bridge, APP, Native, H5; direct and service-provider mode; MD5 and HMAC; 医保 pay 1.0 with
//! pay_type 2 and 3, `demo_medical.rs`) through payment,
//! cancellation, expiry, merchant closes, partial and full refunds, with the simulator's faults
//! on. It shows a progress bar, then a summary: orders by final state, notifications,
//! rescues, refunds, invariant checks, throughput and latency percentiles.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use cashier_adapters::{AmountFen, OpenId, OutTradeNo};
use cashier_engine::machine::Outcome;
use cashier_engine::model::{
    ClientResult, Description, OrderRecord, RefundReason, RefundState, RequestKey,
};
use cashier_engine::order_number::{OrderNumber, ProductType};
use cashier_engine::{EngineError, NewOrder, PaymentRequest, RefundRequest};
use cashier_harness::FaultPlan;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::simulation::SimulatedWorld;

/// How hostile WeChat is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultLevel {
    /// No faults.
    Off,
    /// `FaultPlan::default_mix()`.
    Default,
    /// `FaultPlan::heavy()`.
    Heavy,
}

impl FaultLevel {
    /// Parses `off`, `default` or `heavy`.
    pub fn parse(text: &str) -> Result<FaultLevel, String> {
        match text {
            "off" => Ok(FaultLevel::Off),
            "default" => Ok(FaultLevel::Default),
            "heavy" => Ok(FaultLevel::Heavy),
            other => Err(format!(
                "--faults must be off, default or heavy, not {other:?}"
            )),
        }
    }

    /// The word `parse` reads.
    pub fn name(self) -> &'static str {
        match self {
            FaultLevel::Off => "off",
            FaultLevel::Default => "default",
            FaultLevel::Heavy => "heavy",
        }
    }

    /// The fault plan of this level.
    pub fn plan(self) -> FaultPlan {
        match self {
            FaultLevel::Off => FaultPlan::none(),
            FaultLevel::Default => FaultPlan::default_mix(),
            FaultLevel::Heavy => FaultPlan::heavy(),
        }
    }
}

/// The demo's options.
#[derive(Clone, Debug)]
pub struct DemoArguments {
    /// Orders to drive.
    pub orders: usize,
    /// The seed of the mix and of the simulator.
    pub seed: u64,
    /// Faults.
    pub faults: FaultLevel,
    /// Where the store lives (a temporary directory when absent).
    pub data_dir: Option<std::path::PathBuf>,
    /// Orders driven at the same time.
    pub concurrency: usize,
    /// Show the progress bar.
    pub progress: bool,
    /// Run everything on the calling thread's actix System, so the seed replays the run exactly
    /// (the caller runs [`run`] inside `actix_rt::System::new().block_on`).
    pub deterministic: bool,
}

/// The engine's runtime in a deterministic run: actors on the caller's arbiter, and no
/// passivation by wall-clock time (a day is far beyond any demo).
fn tune(deterministic: bool) -> impl Fn(&mut cashier_engine::EngineRuntime) {
    move |runtime| {
        if deterministic {
            runtime.single_thread = true;
            runtime.idle_passivation = std::time::Duration::from_secs(24 * 3600);
        }
    }
}

/// What the payer does with an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Pays and keeps it.
    PayAndKeep,
    /// Pays; part is refunded.
    PayThenPartialRefund,
    /// Pays; all is refunded.
    PayThenFullRefund,
    /// Pays, and the client reports ok (a hint that makes the engine query).
    ClientOkThenPay,
    /// Cancels (or fails), then the order expires.
    CancelThenExpire,
    /// Never pays.
    NeverPay,
    /// The merchant closes the order.
    MerchantCloses,
}

const ENTRIES: [(&str, Option<&str>); 6] = [
    ("official_account", Some("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")),
    ("mini_program", Some("oMiniPayer0000000000000001")),
    ("app", None),
    ("native", None),
    ("h5", None),
    ("sp_mini_program", Some("oUpF8uN95-Ptaags6E_roPHg7AG0")),
];

fn scenario(draw: u32) -> Scenario {
    match draw % 100 {
        0..=34 => Scenario::PayAndKeep,
        35..=49 => Scenario::PayThenPartialRefund,
        50..=59 => Scenario::PayThenFullRefund,
        60..=71 => Scenario::ClientOkThenPay,
        72..=81 => Scenario::CancelThenExpire,
        82..=91 => Scenario::NeverPay,
        _ => Scenario::MerchantCloses,
    }
}

struct Planned {
    order_no: OrderNumber,
    scenario: Scenario,
    amount_fen: u64,
    /// True for 医保 orders.
    medical: bool,
    /// For 医保 orders, the cash part of NHSA's split (partial refunds return cash only).
    medical_cash_fen: Option<u64>,
}

/// The demo's results.
#[derive(Debug, Default)]
pub struct DemoReport {
    /// Orders by final state.
    pub states: BTreeMap<String, usize>,
    /// The engine's counters.
    pub metrics: cashier_engine::metrics::MetricsSnapshot,
    /// Notification deliveries the simulator made.
    pub deliveries: usize,
    /// Invariant checks: name → failures (empty when OK).
    pub checks: Vec<(String, Vec<String>)>,
    /// Seconds of wall time driving orders (payments and refunds).
    pub drive_s: f64,
    /// Seconds of wall time in all.
    pub total_s: f64,
    /// start_payment latencies (µs).
    pub start_payment_us: Vec<u64>,
    /// Notification acknowledgement latencies (µs).
    pub ack_us: Vec<u64>,
    /// Orders driven.
    pub orders: usize,
    /// Refunds by final state.
    pub refunds: BTreeMap<String, usize>,
    /// Fen refunded successfully.
    pub refunded_fen: u64,
    /// Group-commit flushes and the requests they served.
    pub flushes: (u64, u64),
    /// Alerts recorded.
    pub alerts: usize,
    /// Repeated refund requests made, and answered as the same refund.
    pub repeats: (usize, usize),
    /// Engine restarts during the run.
    pub restarts: usize,
    /// The reconciliation of the run's day: payments, refunds, resolved, unresolved.
    pub reconciliation: (usize, usize, usize, usize),
    /// 医保 orders by final state, and paid ones by pay_type.
    pub medical: Vec<(String, usize)>,
    /// FNV-1a over every stored record and WeChat's ledger at the end: equal fingerprints mean
    /// equal end states.
    pub fingerprint: u64,
}

/// "p50 µs / p99 µs" of latency samples, sorting them once for both.
fn p50_p99_us(values: &[u64]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let percentile = |fraction: f64| {
        let index = (sorted.len().saturating_sub(1) as f64 * fraction).round() as usize;
        sorted.get(index).copied().unwrap_or(0)
    };
    format!("{} µs / {} µs", percentile(0.50), percentile(0.99))
}

fn progress(done: usize, total: usize, label: &str, enabled: bool) {
    if !enabled {
        return;
    }
    let width = 40;
    let filled = (done * width)
        .checked_div(total)
        .unwrap_or(width)
        .min(width);
    let mut stderr = std::io::stderr();
    let _ = write!(
        stderr,
        "\r{label:<10} [{}{}] {done}/{total}",
        "#".repeat(filled),
        " ".repeat(width - filled)
    );
    if done >= total {
        let _ = writeln!(stderr);
    }
    let _ = stderr.flush();
}

async fn drive_payment(
    world: &SimulatedWorld,
    index: usize,
    rng_draws: (u32, u32),
    started: &std::sync::Mutex<Vec<u64>>,
) -> Result<Planned, EngineError> {
    let (entry, openid) = ENTRIES[index % ENTRIES.len()];
    let scenario = scenario(rng_draws.0);
    let amount_fen = 100 + u64::from(rng_draws.1 % 49_900);
    let description =
        Description::new("仁心医院-门诊缴费").map_err(|error| EngineError::InvalidInput {
            field: "description",
            reason: error.to_string(),
        })?;
    let created = world
        .engine
        .create_order(NewOrder {
            order_no: None,
            product_type: ProductType((index % 20) as u8),
            amount: AmountFen::from_fen(amount_fen),
            description,
            payer_unionid: None,
        })
        .await?;
    let order_no = created.record.order_no;
    let begin = Instant::now();
    if crate::cli::demo_medical::is_medical(index) {
        let medical_cash_fen =
            crate::cli::demo_medical::drive(world, index, &order_no, scenario).await;
        if let Ok(mut latencies) = started.lock() {
            latencies.push(u64::try_from(begin.elapsed().as_micros()).unwrap_or(u64::MAX));
        }
        return Ok(Planned {
            order_no,
            scenario,
            amount_fen,
            medical: true,
            medical_cash_fen,
        });
    }
    let openid = openid.and_then(|openid| OpenId::new(openid).ok());
    let request = PaymentRequest {
        entry: entry.into(),
        openid,
        client_ip: CLIENT_IP,
    };
    let start = world.engine.start_payment(&order_no, request).await;
    if let Ok(mut latencies) = started.lock() {
        latencies.push(u64::try_from(begin.elapsed().as_micros()).unwrap_or(u64::MAX));
    }
    let out_trade_no = match start {
        Ok(start) => Some(start.out_trade_no),
        // WeChat failing or a reply lost: the engine resolves it on its own deadlines.
        Err(EngineError::PaymentNotReady { out_trade_no, .. }) => Some(out_trade_no),
        Err(_) => None,
    };
    if let Some(out_trade_no) = &out_trade_no {
        pay_as_the_payer(world, out_trade_no, scenario).await;
    }
    Ok(Planned {
        order_no,
        scenario,
        amount_fen,
        medical: false,
        medical_cash_fen: None,
    })
}

const CLIENT_IP: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::new(123, 12, 12, 123));

async fn pay_as_the_payer(world: &SimulatedWorld, out_trade_no: &OutTradeNo, scenario: Scenario) {
    match scenario {
        Scenario::PayAndKeep | Scenario::PayThenPartialRefund | Scenario::PayThenFullRefund => {
            let _ = world.payer(out_trade_no, "success");
        }
        Scenario::ClientOkThenPay => {
            let _ = world.payer(out_trade_no, "success");
            let _ = world
                .engine
                .report_client_result(out_trade_no, ClientResult::Ok)
                .await;
        }
        Scenario::CancelThenExpire => {
            let _ = world.payer(out_trade_no, "cancel");
            let _ = world
                .engine
                .report_client_result(out_trade_no, ClientResult::Cancel)
                .await;
        }
        Scenario::NeverPay | Scenario::MerchantCloses => {}
    }
}

/// The refund a scenario asks for, under a key derived from the order (as a host would use its
/// own refund number), so a retry is recognisable.
fn refund_request(order: &Planned) -> Option<RefundRequest> {
    let (amount_fen, reason) = match (order.scenario, order.medical_cash_fen) {
        // 医保: a partial refund returns cash only; with no cash, the whole payment goes back.
        (Scenario::PayThenPartialRefund, Some(cash_fen)) if cash_fen > 0 => {
            ((cash_fen / 2).max(1), "部分退费")
        }
        (Scenario::PayThenPartialRefund, Some(_)) => (order.amount_fen, "全额退费"),
        (Scenario::PayThenPartialRefund, None) => (order.amount_fen / 3, "部分退款"),
        (Scenario::PayThenFullRefund, _) => (order.amount_fen, "全额退款"),
        _ => return None,
    };
    Some(RefundRequest {
        key: RequestKey::new(format!("demo-{}", order.order_no)).ok()?,
        amount: AmountFen::from_fen(amount_fen),
        reason: RefundReason::new(reason).ok()?,
    })
}

/// The host's repeated refund requests: how many were made after a first one had been
/// accepted, and how many were answered as that same refund (`RefundAlreadyRequested`).
#[derive(Debug, Default)]
pub struct Repeats {
    made: usize,
    recognised: usize,
    failures: Vec<String>,
}

type RefundAnswers = (OrderNumber, Vec<Result<Outcome, EngineError>>);

/// Asks for every scenario's refund `times` times in a row (a host retrying after a timeout).
async fn ask_refunds(
    world: &SimulatedWorld,
    planned: &[Planned],
    times: usize,
    batch: usize,
) -> Vec<RefundAnswers> {
    let mut tasks = tokio::task::JoinSet::new();
    let mut answers = Vec::new();
    for order in planned {
        let Some(request) = refund_request(order) else {
            continue;
        };
        let (engine, order_no) = (world.engine.clone(), order.order_no.clone());
        tasks.spawn(async move {
            let mut outcomes = Vec::new();
            for _ in 0..times {
                outcomes.push(
                    engine
                        .refund(&order_no, request.clone())
                        .await
                        .map(|receipt| receipt.outcome),
                );
            }
            (order_no, outcomes)
        });
        while tasks.len() >= batch {
            if let Some(Ok(done)) = tasks.join_next().await {
                answers.push(done);
            }
        }
    }
    while let Some(result) = tasks.join_next().await {
        if let Ok(done) = result {
            answers.push(done);
        }
    }
    answers
}

fn count_repeats(
    answers: Vec<RefundAnswers>,
    accepted: &mut HashSet<OrderNumber>,
    repeats: &mut Repeats,
) {
    for (order_no, outcomes) in answers {
        for outcome in outcomes {
            if accepted.contains(&order_no) {
                repeats.made += 1;
                match outcome {
                    Ok(Outcome::RefundAlreadyRequested(_)) => repeats.recognised += 1,
                    other => repeats
                        .failures
                        .push(format!("{order_no}: repeat answered {other:?}")),
                }
            } else if matches!(outcome, Ok(Outcome::RefundRequested(_))) {
                accepted.insert(order_no.clone());
            }
        }
    }
}

async fn merchant_closes(world: &SimulatedWorld, planned: &[Planned]) {
    for order in planned
        .iter()
        .filter(|order| order.scenario == Scenario::MerchantCloses)
    {
        let _ = world.engine.close(&order.order_no).await;
    }
}

/// Every order number, attempt number and host refund number must carry the Beijing time it
/// was issued at (±1 s), whatever restarts happened (the record's creation time is the issue
/// time: the virtual clock does not move while orders are driven).
fn number_time_violations(records: &[OrderRecord]) -> Vec<String> {
    let within = |number: &str, at_ms: i64| {
        let stamp = OrderNumber::parse(number.to_owned()).map(|number| number.parts().timestamp);
        let issued_s = stamp
            .ok()
            .and_then(|stamp| cashier_adapters::wechat::time::parse_compact(&format!("20{stamp}")));
        issued_s.is_some_and(|issued_s| (issued_s - at_ms.div_euclid(1000)).abs() <= 1)
    };
    let mut violations = Vec::new();
    for record in records {
        let mut numbers = vec![(record.order_no.to_string(), record.created_ms)];
        numbers.extend(
            record
                .attempts
                .iter()
                .map(|attempt| (attempt.out_trade_no.to_string(), attempt.created_ms)),
        );
        numbers.extend(
            record
                .refunds
                .iter()
                .filter(|refund| refund.request_key().is_some())
                .map(|refund| (refund.out_refund_no.to_string(), refund.created_ms)),
        );
        violations.extend(
            numbers
                .into_iter()
                .filter(|(number, at_ms)| !within(number, *at_ms))
                .map(|(number, _)| format!("{number} does not carry its time of issue")),
        );
    }
    violations
}

/// Refunds at WeChat per host request key: exactly one each.
fn repeated_refund_violations(
    records: &[OrderRecord],
    repeats: &Repeats,
    simulator: &cashier_harness::Simulator,
) -> Vec<String> {
    let mut violations = repeats.failures.clone();
    if repeats.made == 0 {
        violations.push("no repeated refund request was made".into());
    }
    let ledger = simulator.ledger();
    for record in records {
        let host_refunds = record
            .refunds
            .iter()
            .filter(|refund| refund.request_key().is_some())
            .count();
        if host_refunds > 1 {
            violations.push(format!(
                "{} has {host_refunds} host refunds",
                record.order_no
            ));
        }
        for attempt in record.paid_attempts() {
            let at_wechat = ledger
                .refunds
                .values()
                .filter(|refund| refund.out_trade_no == attempt.out_trade_no.as_str())
                .count();
            let in_engine = record
                .refunds
                .iter()
                .filter(|refund| refund.out_trade_no == attempt.out_trade_no)
                .count();
            if at_wechat > in_engine {
                violations.push(format!(
                    "{}: {at_wechat} refunds at WeChat, {in_engine} asked",
                    attempt.out_trade_no
                ));
            }
        }
    }
    violations
}

/// What the engines of one run measured, summed across restarts.
#[derive(Default)]
struct Totals {
    acks_us: Vec<u64>,
    metrics: cashier_engine::metrics::MetricsSnapshot,
    flushes: (u64, u64),
}

impl Totals {
    fn add(&mut self, world: &SimulatedWorld) {
        self.acks_us.extend(world.sink.ack_latencies_us());
        self.metrics = self.metrics.plus(world.engine.metrics());
        // One store serves every restart: its counters are already cumulative.
        let stats = world.engine.flush_stats();
        self.flushes = (stats.flushes, stats.requests);
    }
}

/// Restarts the engine on the same store and the same simulated WeChat (a deploy, a crash
/// after every effect settled), keeping the acknowledgement latencies measured so far.
async fn restart(
    world: Arc<SimulatedWorld>,
    arguments: &DemoArguments,
    arbiters: usize,
    totals: &mut Totals,
) -> Result<Arc<SimulatedWorld>, String> {
    world.settle().await;
    totals.add(&world);
    world.engine.shutdown().await;
    let config = crate::simulation::engine_config(world.simulator.config())?;
    let next = SimulatedWorld::with_simulator(
        world.simulator.clone(),
        config,
        world.store.clone(),
        arguments.seed,
        arbiters,
        tune(arguments.deterministic),
    )?;
    Ok(Arc::new(next))
}

async fn drive_payments(
    world: &Arc<SimulatedWorld>,
    arguments: &DemoArguments,
    draws: &[(u32, u32)],
    latencies: &Arc<std::sync::Mutex<Vec<u64>>>,
) -> Result<(Vec<Planned>, Vec<String>), String> {
    let mut planned = Vec::with_capacity(draws.len());
    let mut unaccounted = Vec::new();
    let batch = arguments.concurrency.max(1);
    for (chunk_index, chunk) in draws.chunks(batch).enumerate() {
        let mut tasks = tokio::task::JoinSet::new();
        for (offset, draw) in chunk.iter().enumerate() {
            let (world, latencies, draw) = (world.clone(), latencies.clone(), *draw);
            let index = chunk_index * batch + offset;
            tasks.spawn(
                async move { (index, drive_payment(&world, index, draw, &latencies).await) },
            );
        }
        while let Some(result) = tasks.join_next().await {
            match result {
                Ok((_, Ok(order))) => planned.push(order),
                Ok((index, Err(error))) => unaccounted.push(format!("order {index}: {error}")),
                Err(error) => unaccounted.push(format!("an order's task failed: {error}")),
            }
        }
        world
            .advance(2, 2)
            .await
            .map_err(|error| error.to_string())?;
        progress(
            planned.len() + unaccounted.len(),
            arguments.orders,
            "payments",
            arguments.progress,
        );
    }
    Ok((planned, unaccounted))
}

/// Runs the demo: payments, a restart, refunds (each asked twice), a restart, the same refunds
/// asked again, merchant closes, then three hours of virtual time; then the checks.
pub async fn run(arguments: &DemoArguments) -> Result<DemoReport, String> {
    let began = Instant::now();
    let temporary = tempfile::tempdir().map_err(|error| error.to_string())?;
    let dir = arguments
        .data_dir
        .clone()
        .unwrap_or_else(|| temporary.path().to_path_buf());
    let store = if arguments.deterministic {
        SimulatedWorld::open_store_inline(&dir)?
    } else {
        SimulatedWorld::open_store(&dir)?
    };
    let arbiters = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(2);
    let mut world = Arc::new(SimulatedWorld::start_tuned(
        arguments.seed,
        store,
        arguments.faults.plan(),
        arbiters,
        tune(arguments.deterministic),
    )?);
    let mut rng = ChaCha8Rng::seed_from_u64(arguments.seed);
    let draws: Vec<(u32, u32)> = (0..arguments.orders)
        .map(|_| (rng.next_u32(), rng.next_u32()))
        .collect();
    let start_latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut totals = Totals::default();

    let drive_began = Instant::now();
    let (mut planned, unaccounted) =
        drive_payments(&world, arguments, &draws, &start_latencies).await?;
    // Notifications, lost-notification queries, retries.
    world
        .advance(60, 5)
        .await
        .map_err(|error| error.to_string())?;
    // 医保 payers whose order was not ready at once come back and pay (the page polls).
    for order in planned.iter_mut().filter(|order| order.medical) {
        if order.medical_cash_fen.is_none() {
            order.medical_cash_fen =
                crate::cli::demo_medical::pay_late(&world, &order.order_no, order.scenario).await;
        }
    }
    world
        .advance(30, 5)
        .await
        .map_err(|error| error.to_string())?;
    world = restart(world, arguments, arbiters, &mut totals).await?;

    let batch = arguments.concurrency.max(1);
    let mut repeats = Repeats::default();
    let mut accepted = HashSet::new();
    count_repeats(
        ask_refunds(&world, &planned, 2, batch).await,
        &mut accepted,
        &mut repeats,
    );
    merchant_closes(&world, &planned).await;
    progress(planned.len(), planned.len(), "refunds", arguments.progress);
    let drive_s = drive_began.elapsed().as_secs_f64();
    world
        .advance(30, 5)
        .await
        .map_err(|error| error.to_string())?;
    world = restart(world, arguments, arbiters, &mut totals).await?;
    count_repeats(
        ask_refunds(&world, &planned, 1, batch).await,
        &mut accepted,
        &mut repeats,
    );

    settle_virtual_time(&world, arguments.progress).await?;
    // The checks against WeChat's ledger first: reconciliation seeds differences into it.
    let mut report = report_of(&world, &planned, Totals::default(), &repeats)?;
    let reconciliation = reconcile_the_day(&world, &planned).await?;
    totals.add(&world);
    report.ack_us = totals.acks_us;
    report.metrics = totals.metrics;
    report.flushes = totals.flushes;
    report.reconciliation = reconciliation.0;
    report.checks.push((
        "reconciliation finds every seeded discrepancy, nothing else".into(),
        reconciliation.1,
    ));
    report.checks.push((
        "every order meant to be driven accounted for".into(),
        unaccounted,
    ));
    report.drive_s = drive_s;
    report.start_payment_us = start_latencies
        .lock()
        .map(|latencies| latencies.clone())
        .unwrap_or_default();
    report.total_s = began.elapsed().as_secs_f64();
    report.fingerprint = fingerprint(&world)?;
    world.engine.shutdown().await;
    Ok(report)
}

/// FNV-1a (64-bit) over every record in the store, in order-number order, then WeChat's
/// ledger (orders and refunds in key order) and its 医保 books.
fn fingerprint(world: &SimulatedWorld) -> Result<u64, String> {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut add = |bytes: &[u8]| {
        for byte in bytes {
            hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    let mut records = world.engine.orders().map_err(|error| error.to_string())?;
    records.sort_by(|left, right| left.order_no.cmp(&right.order_no));
    for record in &records {
        add(&serde_json::to_vec(record).map_err(|error| error.to_string())?);
    }
    add(&serde_json::to_vec(&world.simulator.ledger()).map_err(|error| error.to_string())?);
    add(world.simulator.medical_view().to_string().as_bytes());
    Ok(hash)
}

/// The summary of a finished run: states, refunds, counters summed over restarts, checks.
fn report_of(
    world: &SimulatedWorld,
    planned: &[Planned],
    totals: Totals,
    repeats: &Repeats,
) -> Result<DemoReport, String> {
    let records = this_runs_records(world, planned)?;
    let mut report = DemoReport {
        orders: planned.len(),
        ack_us: totals.acks_us,
        metrics: totals.metrics,
        flushes: totals.flushes,
        deliveries: world.simulator.delivery_log().len(),
        repeats: (repeats.made, repeats.recognised),
        restarts: 2,
        ..DemoReport::default()
    };
    tally(&mut report, &records);
    report.medical = crate::cli::demo_medical::tally(&records);
    report.checks = crate::simulation::ledger_checks(&records, &world.simulator);
    report.checks.push((
        "repeated refund requests applied once".into(),
        repeated_refund_violations(&records, repeats, &world.simulator),
    ));
    report.checks.push((
        "order number timestamps within 1 s of issue".into(),
        number_time_violations(&records),
    ));
    Ok(report)
}

/// Seeds two discrepancies at WeChat (a payment the engine never made; another amount on a
/// paid attempt), moves to 09:30 the next day when the bill exists, reconciles, and checks that
/// exactly the seeded ones are left unresolved.
async fn reconcile_the_day(
    world: &SimulatedWorld,
    planned: &[Planned],
) -> Result<((usize, usize, usize, usize), Vec<String>), String> {
    use cashier_engine::reconcile::Discrepancy;
    let day_text = cashier_adapters::wechat::time::format_compact(world.simulator.now_ms() / 1000);
    let day: u32 = day_text
        .get(0..8)
        .and_then(|day| day.parse().ok())
        .unwrap_or(0);
    let mut failures = Vec::new();
    world
        .simulator
        .seed_unknown_payment("10000100", "DEMOFOREIGN01", 4321, None);
    let mut altered = None;
    for order in planned {
        let record = world
            .engine
            .query(&order.order_no)
            .await
            .map_err(|error| error.to_string())?;
        let paid = record.primary_payment().filter(|attempt| {
            attempt.channel.mch_id.as_str() == "10000100" && attempt.channel.sub_mch_id.is_none()
        });
        if let Some(attempt) = paid {
            if world.simulator.seed_amount_change(
                attempt.out_trade_no.as_str(),
                attempt.request.total.fen() + 1,
            ) {
                altered = Some(attempt.out_trade_no.to_string());
                break;
            }
        }
    }
    let now_s = world.simulator.now_ms() / 1000;
    let next_morning_s = cashier_adapters::wechat::time::parse_date(&day.to_string())
        .unwrap_or(now_s)
        + 86_400
        + 9 * 3600
        + 1800;
    world
        .advance((next_morning_s - now_s).max(0), 3600)
        .await
        .map_err(|error| error.to_string())?;
    let report = world
        .engine
        .reconcile(day)
        .await
        .map_err(|error| error.to_string())?;
    // A reused --data-dir holds earlier runs' orders, which this run's WeChat never saw: only
    // differences about this run's orders (or none) are judged.
    let this_run: HashSet<&OrderNumber> = planned.iter().map(|order| &order.order_no).collect();
    let judged: Vec<&Discrepancy> = report
        .unresolved
        .iter()
        .chain(report.resolved.iter())
        .filter(|found| {
            found
                .order_no()
                .is_none_or(|order_no| this_run.contains(order_no))
        })
        .collect();
    for found in judged.iter().copied() {
        let seeded = match found {
            Discrepancy::PaidAtWechatUnknownToEngine { out_trade_no, .. } => {
                out_trade_no == "DEMOFOREIGN01"
            }
            Discrepancy::AmountMismatch { out_trade_no, .. } => {
                Some(out_trade_no) == altered.as_ref()
            }
            _ => false,
        };
        if !seeded {
            failures.push(format!("unexpected: {found:?}"));
        }
    }
    let expected = 1 + usize::from(altered.is_some());
    if judged.len() != expected {
        failures.push(format!(
            "{} discrepancies, expected the {expected} seeded",
            judged.len()
        ));
    }
    Ok((
        (
            report.payments,
            report.refunds,
            report.resolved.len(),
            report.unresolved.len(),
        ),
        failures,
    ))
}

/// Lets virtual time run out: expiries and closes, refund completions, notification retries.
async fn settle_virtual_time(world: &SimulatedWorld, show: bool) -> Result<(), String> {
    let settle_s: i64 = 3 * 3600;
    let step_s = 30;
    for elapsed in (0..settle_s).step_by(step_s as usize) {
        world
            .advance(step_s, step_s)
            .await
            .map_err(|error| error.to_string())?;
        let step = ((elapsed + step_s) / step_s) as usize;
        if step % 20 == 0 {
            progress(step, (settle_s / step_s) as usize, "settling", show);
        }
    }
    Ok(())
}

/// Only this run's orders: a reused --data-dir holds earlier runs' orders, which this run's
/// simulator (a fresh WeChat) has never seen.
fn this_runs_records(
    world: &SimulatedWorld,
    planned: &[Planned],
) -> Result<Vec<OrderRecord>, String> {
    let this_run: std::collections::BTreeSet<_> =
        planned.iter().map(|order| order.order_no.clone()).collect();
    Ok(world
        .engine
        .orders()
        .map_err(|error| error.to_string())?
        .into_iter()
        .filter(|record| this_run.contains(&record.order_no))
        .collect())
}

fn tally(report: &mut DemoReport, records: &[OrderRecord]) {
    for record in records {
        *report
            .states
            .entry(format!("{:?}", record.state))
            .or_default() += 1;
        report.alerts += record.alerts.len();
        for refund in &record.refunds {
            let state = match &refund.state {
                RefundState::Succeeded { .. } => "Succeeded",
                RefundState::Closed => "Closed",
                RefundState::Abnormal => "Abnormal",
                RefundState::Failed { .. } => "Failed",
                _ => "Pending",
            };
            *report.refunds.entry(state.to_owned()).or_default() += 1;
            if matches!(refund.state, RefundState::Succeeded { .. }) {
                report.refunded_fen += refund.amount.fen();
            }
        }
    }
}

/// Formats the summary table.
pub fn render(report: &DemoReport, arguments: &DemoArguments) -> String {
    let mut out = String::new();
    let line = |out: &mut String, label: &str, value: String| {
        out.push_str(&format!("  {label:<44} {value}\n"))
    };
    out.push_str(&format!(
        "cashier demo: {} orders, seed {}, faults {:?}\n\n",
        report.orders, arguments.seed, arguments.faults
    ));
    out.push_str("Orders by final state\n");
    for (state, count) in &report.states {
        line(&mut out, state, count.to_string());
    }
    out.push_str("\n医保 orders (pay 1.0: NHSA pre-settlement, payinsurance, the jump)\n");
    for (state, count) in &report.medical {
        line(&mut out, state, count.to_string());
    }
    let metrics = &report.metrics;
    out.push_str("\nNotifications\n");
    line(
        &mut out,
        "deliveries by WeChat (simulator)",
        report.deliveries.to_string(),
    );
    line(
        &mut out,
        "payment: applied / deduplicated / rejected",
        format!(
            "{} / {} / {}",
            metrics.payment_notifications_applied,
            metrics.payment_notifications_duplicate,
            metrics.payment_notifications_rejected
        ),
    );
    line(
        &mut out,
        "refund: applied / deduplicated / rejected",
        format!(
            "{} / {} / {}",
            metrics.refund_notifications_applied,
            metrics.refund_notifications_duplicate,
            metrics.refund_notifications_rejected
        ),
    );
    line(
        &mut out,
        "医保: applied / deduplicated / rejected",
        format!(
            "{} / {} / {}",
            metrics.medical_notifications_applied,
            metrics.medical_notifications_duplicate,
            metrics.medical_notifications_rejected
        ),
    );
    line(
        &mut out,
        "payments found by query before any notification",
        metrics.queries_rescued_payment.to_string(),
    );
    out.push_str("\nWeChat calls\n");
    line(
        &mut out,
        "unified orders / retries with same params",
        format!("{} / {}", metrics.unified_orders_sent, metrics.retries),
    );
    line(
        &mut out,
        "order queries / closes",
        format!("{} / {}", metrics.order_queries, metrics.closes_sent),
    );
    line(
        &mut out,
        "refunds sent / refund queries",
        format!("{} / {}", metrics.refunds_sent, metrics.refund_queries),
    );
    line(
        &mut out,
        "医保 calls (userQuery excluded; NHSA, payinsurance)",
        metrics.medical_calls.to_string(),
    );
    out.push_str("\nRefunds\n");
    for (state, count) in &report.refunds {
        line(&mut out, state, count.to_string());
    }
    line(
        &mut out,
        "refunded in all",
        format!("{} fen", report.refunded_fen),
    );
    line(&mut out, "alerts recorded", report.alerts.to_string());
    line(
        &mut out,
        "repeated requests / answered as the same refund",
        format!("{} / {}", report.repeats.0, report.repeats.1),
    );
    line(
        &mut out,
        "engine restarts during the run",
        report.restarts.to_string(),
    );
    let (payments, refunds, resolved, unresolved) = report.reconciliation;
    out.push_str("\nReconciliation (WeChat's bill of the day, two discrepancies seeded)\n");
    line(
        &mut out,
        "bill payments / refunds",
        format!("{payments} / {refunds}"),
    );
    line(
        &mut out,
        "discrepancies resolved by query / left as alerts",
        format!("{resolved} / {unresolved}"),
    );
    out.push_str("\nInvariant checks\n");
    for (name, failures) in &report.checks {
        let verdict = if failures.is_empty() {
            "OK".to_owned()
        } else {
            format!(
                "FAIL ({}): {}",
                failures.len(),
                failures
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        };
        line(&mut out, name, verdict);
    }
    out.push_str("\nPerformance\n");
    line(
        &mut out,
        "orders driven per second (payments+refunds)",
        format!("{:.0}", report.orders as f64 / report.drive_s.max(1e-9)),
    );
    line(
        &mut out,
        "start_payment latency p50 / p99",
        p50_p99_us(&report.start_payment_us),
    );
    line(
        &mut out,
        "notification ack latency p50 / p99",
        p50_p99_us(&report.ack_us),
    );
    line(
        &mut out,
        "group commit: flushes / requests served",
        format!("{} / {}", report.flushes.0, report.flushes.1),
    );
    line(
        &mut out,
        "wall time (drive / total)",
        format!("{:.2} s / {:.2} s", report.drive_s, report.total_s),
    );
    out.push_str(
        "\nReplay
",
    );
    line(
        &mut out,
        "end-state fingerprint",
        format!("{:016x}", report.fingerprint),
    );
    let replay = format!(
        "cashier demo --orders {} --seed {} --faults {} --concurrency {} --deterministic",
        report.orders,
        arguments.seed,
        arguments.faults.name(),
        arguments.concurrency
    );
    if arguments.deterministic {
        line(&mut out, "replays exactly (same fingerprint)", replay);
    } else {
        line(
            &mut out,
            "threads interleave freely; to replay exactly",
            replay,
        );
    }
    out
}

/// True when every invariant check passed.
pub fn all_ok(report: &DemoReport) -> bool {
    report
        .checks
        .iter()
        .all(|(_, failures)| failures.is_empty())
}
