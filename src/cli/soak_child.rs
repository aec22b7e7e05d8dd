//! The engine side of `cashier soak`: orders arrive at a fixed rate whatever the engine is
//! doing (open loop: a slow engine meets a growing queue, as a hospital's would), each one
//! through the chaos mix, with at most [`MAX_IN_FLIGHT`] orders at once (arrivals beyond are
//! counted as shed). Every minute one line of figures goes to stderr, `soak minute ...`, which
//! the parent reads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cashier_adapters::ReqwestTransport;
use cashier_engine::Engine;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

/// Orders in flight at most; a queue beyond this means the engine cannot keep the rate.
pub const MAX_IN_FLIGHT: u64 = 1_000;

#[derive(Default)]
struct Minute {
    started: AtomicU64,
    finished: AtomicU64,
    shed: AtomicU64,
    in_flight: AtomicU64,
    start_payment_us: Mutex<Vec<u64>>,
}

fn percentile_ms(sorted: &[u64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)] as f64 / 1000.0
}

/// The minute's line: `soak minute M started S finished F shed X in_flight I p50_ms A p99_ms B
/// rss_mb R live_actors L`.
fn report(minute: u64, stats: &Minute, engine: &Engine) -> String {
    let mut latencies = stats
        .start_payment_us
        .lock()
        .map(|mut samples| std::mem::take(&mut *samples))
        .unwrap_or_default();
    latencies.sort_unstable();
    let (_, rss_bytes) = crate::cli::load::process_counters();
    format!(
        "soak minute {minute} started {} finished {} shed {} in_flight {} p50_ms {:.1} p99_ms {:.1} rss_mb {} live_actors {}",
        stats.started.swap(0, Ordering::Relaxed),
        stats.finished.swap(0, Ordering::Relaxed),
        stats.shed.swap(0, Ordering::Relaxed),
        stats.in_flight.load(Ordering::Relaxed),
        percentile_ms(&latencies, 0.50),
        percentile_ms(&latencies, 0.99),
        rss_bytes / (1024 * 1024),
        engine.live_actors(),
    )
}

/// Starts `rate` orders a second until the process is killed.
pub async fn drive(engine: Engine, http: Arc<ReqwestTransport>, sim: String, seed: u64, rate: u32) {
    let stats = Arc::new(Minute::default());
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    // Open loop: ticks missed while the runtime was busy are made up at once.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let began = Instant::now();
    let mut minute = 0_u64;
    let mut index = 0_u64;
    loop {
        ticker.tick().await;
        if began.elapsed() >= Duration::from_secs(60 * (minute + 1)) {
            minute += 1;
            eprintln!("{}", report(minute, &stats, &engine));
        }
        if stats.in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT {
            stats.shed.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        index += 1;
        stats.started.fetch_add(1, Ordering::Relaxed);
        stats.in_flight.fetch_add(1, Ordering::Relaxed);
        let (engine, http, sim, stats) = (engine.clone(), http.clone(), sim.clone(), stats.clone());
        tokio::spawn(async move {
            let mut rng =
                ChaCha8Rng::seed_from_u64(seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let start_payment =
                crate::cli::chaos_child::one_order(&engine, &http, &sim, &mut rng).await;
            if let (Some(took), Ok(mut samples)) = (start_payment, stats.start_payment_us.lock()) {
                samples.push(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
            }
            stats.in_flight.fetch_sub(1, Ordering::Relaxed);
            stats.finished.fetch_add(1, Ordering::Relaxed);
        });
    }
}
