//! `cashier load`: drives the engine flat out or at a rate, for N orders or T seconds (create →
//! start payment → paid by notification, every transition durable before its effect or
//! acknowledgement) against the in-process simulator, and reports throughput, per-operation
//! latency percentiles (p50/p90/p99/p99.9/max), flushes and transitions per flush, context
//! switches and RSS, as text or one JSON object (`--json`). Orders are pipelined: each runs its
//! own life, at most `--concurrency` at once, while a delivery task hands WeChat's
//! notifications to the engine as they fall due. The measuring tool for issue #10's work; no
//! timed test uses it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cashier_adapters::{AmountFen, OutTradeNo};
use cashier_engine::model::Description;
use cashier_engine::order_number::ProductType;
use cashier_engine::{NewOrder, PaymentRequest};
use cashier_harness::FaultPlan;
use serde_json::json;

use crate::simulation::SimulatedWorld;

/// The command's options.
#[derive(Clone, Debug)]
pub struct LoadArguments {
    /// Orders to drive.
    pub orders: usize,
    /// Orders in flight at once.
    pub concurrency: usize,
    /// Where the store lives (a temporary directory when absent).
    pub data_dir: Option<std::path::PathBuf>,
    /// One JSON object instead of text.
    pub json: bool,
    /// Draw throughput and latency over time into this SVG file.
    pub chart: Option<std::path::PathBuf>,
    /// Orders started per second (flat out when absent).
    pub rate: Option<u32>,
    /// Drive for this long instead of for `orders` orders.
    pub seconds: Option<u64>,
    /// Leave every order waiting for its payer (a store of non-terminal orders, each with a
    /// deadline, for measuring a restart).
    pub unpaid: bool,
}

/// Latencies of one operation, in microseconds.
#[derive(Default)]
struct Samples(Vec<u64>);

impl Samples {
    fn percentiles(&mut self) -> serde_json::Value {
        self.0.sort_unstable();
        let at = |fraction: f64| {
            let index = ((self.0.len().saturating_sub(1)) as f64 * fraction).round() as usize;
            self.0.get(index).copied().unwrap_or(0) as f64 / 1000.0
        };
        json!({ "p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "p99.9": at(0.999), "max": at(1.0), "count": self.0.len() })
    }
}

fn micros(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

fn status_field(status: &str, name: &str) -> u64 {
    status
        .lines()
        .find(|line| line.starts_with(name))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|value| value.parse::<u64>().ok())
        .unwrap_or(0)
}

/// `(context switches of every thread, resident bytes)` of this process, from /proc.
pub(crate) fn process_counters() -> (u64, u64) {
    let mut switches = 0;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
            switches += status_field(&status, "voluntary_ctxt_switches:")
                + status_field(&status, "nonvoluntary_ctxt_switches:");
        }
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    (switches, status_field(&status, "VmRSS:") * 1024)
}

/// One order through its life; returns (create, start_payment) latencies and the attempt.
async fn one_order(world: &SimulatedWorld, index: usize) -> Result<(u64, u64, OutTradeNo), String> {
    let began = Instant::now();
    let order = NewOrder {
        order_no: None,
        product_type: ProductType((index % 100) as u8),
        amount: AmountFen::from_fen(100 + (index as u64 % 9_900)),
        description: Description::new("load").map_err(|error| error.to_string())?,
        payer_unionid: None,
    };
    let created = world
        .engine
        .create_order(order)
        .await
        .map_err(|error| error.to_string())?;
    let create_us = micros(began);
    let began = Instant::now();
    let request = PaymentRequest {
        entry: "native".into(),
        openid: None,
        client_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
    };
    let start = world
        .engine
        .start_payment(&created.record.order_no, request)
        .await
        .map_err(|error| error.to_string())?;
    Ok((create_us, micros(began), start.out_trade_no))
}

/// One order's life as the driver saw it: when it finished (seconds into the run) and its
/// create and start latencies; none for an order that failed.
type Finished = Option<(f64, u64, u64)>;

/// Hands WeChat's due notifications to the engine until `stop`.
async fn deliver_until(world: Arc<SimulatedWorld>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Acquire) {
        if world.simulator.deliver_due(&world.sink).await == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// Starts orders (at the rate, or as fast as `concurrency` allows) until the count or the time
/// is reached; returns every order's outcome.
async fn drive(
    world: &Arc<SimulatedWorld>,
    arguments: &LoadArguments,
    began: Instant,
) -> Vec<Finished> {
    let slots = Arc::new(tokio::sync::Semaphore::new(arguments.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let mut finished = Vec::new();
    let deadline = arguments
        .seconds
        .map(|seconds| began + Duration::from_secs(seconds));
    let mut index = 0usize;
    while deadline.map_or(index < arguments.orders, |deadline| {
        Instant::now() < deadline
    }) {
        if let Some(rate) = arguments.rate {
            let due = began + Duration::from_secs_f64(index as f64 / f64::from(rate));
            tokio::time::sleep_until(due.into()).await;
        }
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let world = world.clone();
        let unpaid = arguments.unpaid;
        tasks.spawn(async move {
            let _slot = slot;
            let (create_us, start_us, out_trade_no) = one_order(&world, index).await.ok()?;
            if !unpaid {
                world.payer(&out_trade_no, "success").ok()?;
            }
            Some((began.elapsed().as_secs_f64(), create_us, start_us))
        });
        index += 1;
        while let Some(done) = tasks.try_join_next() {
            finished.push(done.ok().flatten());
        }
    }
    while let Some(done) = tasks.join_next().await {
        finished.push(done.ok().flatten());
    }
    finished
}

/// Waits until the engine has applied `expected` payment notifications (or a minute passes).
async fn await_paid(world: &SimulatedWorld, expected: usize) {
    let give_up = Instant::now() + Duration::from_secs(60);
    while (world.engine.metrics().payment_notifications_applied as usize) < expected
        && Instant::now() < give_up
    {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Throughput and `start_payment` latency per second of the run, for the chart.
fn chart_points(finished: &[(f64, u64, u64)]) -> Vec<crate::cli::load_chart::Point> {
    let seconds = finished
        .iter()
        .map(|order| order.0 as usize)
        .max()
        .unwrap_or(0);
    (0..=seconds)
        .filter_map(|second| {
            let mut latencies = Samples(
                finished
                    .iter()
                    .filter(|order| order.0 as usize == second)
                    .map(|order| order.2)
                    .collect(),
            );
            if latencies.0.is_empty() {
                return None;
            }
            let count = latencies.0.len();
            let latency = latencies.percentiles();
            Some(crate::cli::load_chart::Point {
                at_s: second as f64 + 1.0,
                orders_per_second: count as f64,
                start_p50_ms: latency["p50"].as_f64().unwrap_or(0.0),
                start_p99_ms: latency["p99"].as_f64().unwrap_or(0.0),
            })
        })
        .collect()
}

/// Runs the load and returns the report (text or JSON) and whether every order was paid.
pub async fn run(arguments: &LoadArguments) -> Result<(String, bool), String> {
    if arguments.rate == Some(0) {
        return Err("--rate must be at least 1 (leave it out to drive flat out)".into());
    }
    if arguments.seconds == Some(0) {
        return Err("--seconds must be at least 1".into());
    }
    let temporary = tempfile::tempdir().map_err(|error| error.to_string())?;
    let dir = arguments
        .data_dir
        .clone()
        .unwrap_or_else(|| temporary.path().join("store"));
    let store = SimulatedWorld::open_store(&dir)?;
    let arbiters = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(2);
    let world = Arc::new(SimulatedWorld::start(
        1,
        store,
        FaultPlan::none(),
        arbiters,
    )?);
    // WeChat's many servers notify many orders at once; one at a time, each waiting for its
    // own acknowledgement's sync, the simulator (not the engine) set the pace.
    world
        .simulator
        .set_delivery_window(arguments.concurrency.max(1));
    let (switches_before, _) = process_counters();
    let began = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let deliverer = tokio::spawn(deliver_until(world.clone(), stop.clone()));
    let outcomes = drive(&world, arguments, began).await;
    let finished: Vec<(f64, u64, u64)> = outcomes.iter().flatten().copied().collect();
    let failures = outcomes.len() - finished.len();
    let expected_paid = if arguments.unpaid { 0 } else { finished.len() };
    await_paid(&world, expected_paid).await;
    stop.store(true, Ordering::Release);
    let _ = deliverer.await;
    world.settle().await;
    let elapsed_s = began.elapsed().as_secs_f64();
    if let Some(path) = &arguments.chart {
        let title = format!(
            "cashier load: {} orders, concurrency {}",
            outcomes.len(),
            arguments.concurrency
        );
        std::fs::write(
            path,
            crate::cli::load_chart::svg(&chart_points(&finished), &title),
        )
        .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    }
    let (switches_after, rss_bytes) = process_counters();
    let metrics = world.engine.metrics();
    let stats = world.engine.flush_stats();
    let mut create = Samples(finished.iter().map(|order| order.1).collect());
    let mut start = Samples(finished.iter().map(|order| order.2).collect());
    let mut acks = Samples(world.sink.ack_latencies_us());
    let paid = metrics.payment_notifications_applied as usize;
    world.engine.shutdown().await;
    let report = json!({
        "orders": outcomes.len(),
        "paid": paid,
        "failures": failures,
        "seconds": elapsed_s,
        "orders_per_second": outcomes.len() as f64 / elapsed_s.max(1e-9),
        "target_rate": arguments.rate,
        "concurrency": arguments.concurrency,
        "latency_ms": { "create_order": create.percentiles(), "start_payment": start.percentiles(), "notification_ack": acks.percentiles() },
        "flushes": stats.flushes,
        "flush_requests": stats.requests,
        "transitions_per_flush": stats.requests as f64 / (stats.flushes.max(1)) as f64,
        // Threads that ended during the run are not counted: a lower bound.
        "context_switches": switches_after.saturating_sub(switches_before),
        "rss_bytes": rss_bytes,
    });
    let ok = failures == 0 && paid == expected_paid;
    if arguments.json {
        return Ok((format!("{report}\n"), ok));
    }
    Ok((render(&report), ok))
}

fn render(report: &serde_json::Value) -> String {
    let mut out = format!(
        "cashier load: {} orders ({} paid, {} failed) in {:.2} s: {:.0} orders/s\n",
        report["orders"],
        report["paid"],
        report["failures"],
        report["seconds"].as_f64().unwrap_or(0.0),
        report["orders_per_second"].as_f64().unwrap_or(0.0)
    );
    for operation in ["create_order", "start_payment", "notification_ack"] {
        let latency = &report["latency_ms"][operation];
        out.push_str(&format!(
            "  {operation:<18} p50 {} ms  p90 {} ms  p99 {} ms  p99.9 {} ms  max {} ms\n",
            latency["p50"], latency["p90"], latency["p99"], latency["p99.9"], latency["max"]
        ));
    }
    out.push_str(&format!(
        "  flushes {} for {} requests ({:.1} per flush), context switches {}, RSS {} MB\n",
        report["flushes"],
        report["flush_requests"],
        report["transitions_per_flush"].as_f64().unwrap_or(0.0),
        report["context_switches"],
        report["rss_bytes"].as_u64().unwrap_or(0) / (1024 * 1024)
    ));
    out
}
