//! `cashier soak`: the engine under a steady load for a long time. The simulator (WeChat and
//! the 医保 side, with the default fault mix) runs in this process behind its HTTP server; the
//! engine runs as one `cashier chaos-child --soak-rate R` process on its own store, with
//! notifications through the host layer, and starts R orders a second whatever it is doing.
//! Every minute the engine reports its figures (orders, shed arrivals, `start_payment` p50/p99,
//! its RSS, live actors) and this process adds the simulator's RSS. At the deadline the engine
//! is killed, a recovery-only life finishes every order while virtual time runs out, and the
//! store must agree with WeChat's and NHSA's books with nothing left pending.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cashier_harness::FaultPlan;

use crate::cli::chaos::{drain_and_check, spawn, stop, Life, Rig};

/// The soak's options.
#[derive(Clone, Debug)]
pub struct SoakArguments {
    /// How long the load runs.
    pub duration: Duration,
    /// Orders started per second.
    pub rate: u32,
    /// The seed of the orders and of the simulator.
    pub seed: u64,
    /// WeChat's misbehaviour (the default mix unless told).
    pub faults: FaultPlan,
    /// The `cashier` executable to run as the engine.
    pub executable: PathBuf,
}

/// One minute as the engine and the simulator saw it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SoakMinute {
    /// Minute number (1 = the first full minute).
    pub minute: u64,
    /// Orders started and finished (by their driver) in the minute.
    pub started: u64,
    /// Orders finished by their driver in the minute.
    pub finished: u64,
    /// Arrivals dropped because 1,000 orders were already in flight.
    pub shed: u64,
    /// `start_payment` latency percentiles (ms).
    pub p50_ms: f64,
    /// See `p50_ms`.
    pub p99_ms: f64,
    /// The engine process's resident memory (MB).
    pub engine_rss_mb: u64,
    /// Order actors alive.
    pub live_actors: u64,
    /// This process's resident memory (MB): the simulator holding every order.
    pub simulator_rss_mb: u64,
}

/// What a soak found.
#[derive(Debug, Default)]
pub struct SoakReport {
    /// Every minute's figures.
    pub minutes: Vec<SoakMinute>,
    /// Orders, paid, paid through 医保 (from the store at the end).
    pub orders: (usize, usize, usize),
    /// Problems of the final checks (empty: every order agrees with the books, none pending).
    pub problems: Vec<String>,
    /// Seconds the load ran, and the whole run.
    pub seconds: (f64, f64),
}

/// Reads `soak minute M started S ...` as the child prints it.
fn parse_minute(line: &str) -> Option<SoakMinute> {
    let words: Vec<&str> = line.strip_prefix("soak ")?.split_whitespace().collect();
    let field = |name: &str| -> Option<&str> {
        let at = words.iter().position(|word| *word == name)?;
        words.get(at + 1).copied()
    };
    let number = |name: &str| field(name).and_then(|value| value.parse::<u64>().ok());
    let decimal = |name: &str| field(name).and_then(|value| value.parse::<f64>().ok());
    Some(SoakMinute {
        minute: number("minute")?,
        started: number("started")?,
        finished: number("finished")?,
        shed: number("shed")?,
        p50_ms: decimal("p50_ms")?,
        p99_ms: decimal("p99_ms")?,
        engine_rss_mb: number("rss_mb")?,
        live_actors: number("live_actors")?,
        simulator_rss_mb: 0,
    })
}

/// Runs the soak, printing each minute's line to stderr as it comes.
pub async fn run(arguments: &SoakArguments) -> Result<SoakReport, String> {
    let began = Instant::now();
    let rig = Rig::start(arguments.seed).await?;
    rig.simulator.set_fault_plan(arguments.faults.clone())?;
    // Notifications go out many at a time, so a slow acknowledgement delays its own order,
    // not every later one (and the clock loop keeps up with the wall clock).
    rig.simulator.set_delivery_window(64);
    let temporary = tempfile::tempdir().map_err(|error| error.to_string())?;
    let dir = temporary.path().join("store");
    let mut child = spawn(
        &arguments.executable,
        &rig.sim,
        &dir,
        rig.port,
        arguments.seed,
        Life::Soak(arguments.rate),
    )?;
    let (lines, received) = std::sync::mpsc::channel();
    if let Some(stderr) = child.stderr.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
    }
    let mut report = SoakReport::default();
    let deadline = began + arguments.duration;
    // Virtual time follows the wall clock, one second a step; the load stops at the deadline
    // whatever the outbox holds (the recovery-only life delivers the rest).
    while Instant::now() < deadline {
        let step_began = Instant::now();
        rig.simulator.advance(1, &rig.sink).await;
        while let Ok(line) = received.try_recv() {
            match parse_minute(&line) {
                Some(mut minute) => {
                    minute.simulator_rss_mb =
                        crate::cli::load::process_counters().1 / (1024 * 1024);
                    eprintln!("{}", render_minute(&minute));
                    report.minutes.push(minute);
                }
                None => eprintln!("engine: {line}"),
            }
        }
        let rest = Duration::from_secs(1).saturating_sub(step_began.elapsed());
        tokio::time::sleep(rest.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
    report.seconds.0 = began.elapsed().as_secs_f64();
    if stop(child) {
        report
            .problems
            .push("the engine ended by itself during the load".into());
    }
    let (orders, problems) =
        drain_and_check(&rig, &arguments.executable, &dir, arguments.seed).await?;
    report.orders = orders;
    report.problems.extend(problems);
    rig.server.shutdown().await;
    report.seconds.1 = began.elapsed().as_secs_f64();
    Ok(report)
}

fn render_minute(minute: &SoakMinute) -> String {
    format!(
        "minute {:>3}: {:>6} started, {:>6} finished, {:>4} shed; start_payment p50 {:>6.1} ms p99 {:>7.1} ms; engine RSS {:>5} MB, {:>6} live actors; simulator RSS {:>5} MB",
        minute.minute,
        minute.started,
        minute.finished,
        minute.shed,
        minute.p50_ms,
        minute.p99_ms,
        minute.engine_rss_mb,
        minute.live_actors,
        minute.simulator_rss_mb
    )
}

/// Engine RSS growth (MB a minute) from the first minute after warm-up to the last, by a
/// least-squares line through the minutes after the first fifth of the run.
pub fn engine_rss_slope_mb_per_minute(minutes: &[SoakMinute]) -> Option<f64> {
    let settled: Vec<&SoakMinute> = minutes.iter().skip(minutes.len() / 5).collect();
    if settled.len() < 2 {
        return None;
    }
    let count = settled.len() as f64;
    let mean_x = settled.iter().map(|m| m.minute as f64).sum::<f64>() / count;
    let mean_y = settled.iter().map(|m| m.engine_rss_mb as f64).sum::<f64>() / count;
    let covariance: f64 = settled
        .iter()
        .map(|m| (m.minute as f64 - mean_x) * (m.engine_rss_mb as f64 - mean_y))
        .sum();
    let variance: f64 = settled
        .iter()
        .map(|m| (m.minute as f64 - mean_x).powi(2))
        .sum();
    (variance > 0.0).then(|| covariance / variance)
}

/// The report as text.
pub fn render(report: &SoakReport, arguments: &SoakArguments) -> String {
    let mut out = format!(
        "cashier soak: {:.0} s at {} orders/s, seed {}; load {:.0} s, whole run {:.0} s\n",
        arguments.duration.as_secs_f64(),
        arguments.rate,
        arguments.seed,
        report.seconds.0,
        report.seconds.1
    );
    for minute in &report.minutes {
        out.push_str(&render_minute(minute));
        out.push('\n');
    }
    let shed: u64 = report.minutes.iter().map(|minute| minute.shed).sum();
    let worst_p99 = report
        .minutes
        .iter()
        .map(|minute| minute.p99_ms)
        .fold(0.0, f64::max);
    out.push_str(&format!(
        "{} orders, {} paid ({} through 医保); {shed} arrivals shed; worst minute's start_payment p99 {worst_p99:.1} ms\n",
        report.orders.0, report.orders.1, report.orders.2
    ));
    if let Some(slope) = engine_rss_slope_mb_per_minute(&report.minutes) {
        out.push_str(&format!(
            "engine RSS after warm-up: {slope:+.2} MB a minute (least squares over the last four fifths)\n"
        ));
    }
    if report.problems.is_empty() {
        out.push_str("every order agrees with WeChat's and NHSA's books; none pending\n");
    } else {
        out.push_str(&format!(
            "{} problems (replay with --seed {}):\n",
            report.problems.len(),
            arguments.seed
        ));
        // An hour's problems can run to thousands: a count per check, then the first few.
        let mut per_check = std::collections::BTreeMap::new();
        for problem in &report.problems {
            let check = problem.split(": ").next().unwrap_or(problem);
            *per_check.entry(check).or_insert(0usize) += 1;
        }
        for (check, count) in per_check {
            out.push_str(&format!("  {count:>7}  {check}\n"));
        }
        for problem in report.problems.iter().take(50) {
            out.push_str(&format!("  {problem}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_childs_minute_line_reads_back() {
        let line = "soak minute 3 started 12000 finished 11990 shed 0 in_flight 10 p50_ms 4.1 p99_ms 20.5 rss_mb 120 live_actors 900";
        let minute = parse_minute(line).unwrap();
        assert_eq!(
            (minute.minute, minute.started, minute.engine_rss_mb),
            (3, 12000, 120)
        );
        assert_eq!(minute.p99_ms, 20.5);
        assert!(parse_minute("engine: something else").is_none());
    }

    #[test]
    fn a_flat_rss_has_a_slope_near_zero_and_a_leak_does_not() {
        let minutes = |growth: u64| -> Vec<SoakMinute> {
            (1..=10)
                .map(|minute| SoakMinute {
                    minute,
                    engine_rss_mb: 100 + growth * minute,
                    ..SoakMinute::default()
                })
                .collect()
        };
        assert_eq!(engine_rss_slope_mb_per_minute(&minutes(0)), Some(0.0));
        assert_eq!(engine_rss_slope_mb_per_minute(&minutes(3)), Some(3.0));
    }
}
