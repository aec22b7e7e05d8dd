//! `cashier chaos`: a crash campaign. The simulator (WeChat and the 医保 side) runs in this
//! process behind its HTTP server; the engine runs as `cashier chaos-child` processes on one
//! store, driving orders over HTTP with notifications through the host layer, and each is
//! killed with SIGKILL after a seeded moment, then restarted on the same store. After every
//! kill the store is opened and every record's invariants are checked (and the requests the
//! kill left in flight counted); at the end a last life only recovers while virtual time runs
//! out, and every order must agree with WeChat's and NHSA's books, nothing paid or refunded
//! twice, no acknowledged notification lost, nothing pending.
//!
//! The 12-kill version runs in the suite (`tests/crash_recovery.rs`); the long campaign is
//! `cargo run --release --features chaos -- chaos --kills 1000 --seed N`. Kills come at
//! wall-clock moments under load and, in a build with the `chaos` feature, every other life is
//! also armed with the engine's seeded failpoints (`cashier_engine::failpoints`): it may abort
//! between commit and sync, between sync and the outgoing call, between WeChat's answer and its
//! record, or during recovery. With `--power-cuts` (same feature) the store lives on the
//! power-cut disk and about one life in three ends with a power cut after its SIGKILL: every
//! write never synced is lost, and every check must still pass.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cashier_engine::model::{AttemptState, MedicalState, OrderRecord, RefundState};
use cashier_engine::store::{SledStore, Store};
use cashier_harness::{HttpSink, SimConfig, SimOptions, Simulator};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// The campaign's options.
#[derive(Clone, Debug)]
pub struct ChaosArguments {
    /// SIGKILLs to deliver.
    pub kills: u32,
    /// The seed of the kill moments, the orders and the simulator.
    pub seed: u64,
    /// The `cashier` executable to run as the engine (this one, normally).
    pub executable: PathBuf,
    /// Where the store lives (a temporary directory when absent).
    pub data_dir: Option<PathBuf>,
    /// Keep the store on the power-cut disk and cut the power after some kills.
    pub power_cuts: bool,
}

/// What a campaign found.
#[derive(Debug, Default)]
pub struct ChaosReport {
    /// Kills delivered.
    pub kills: u32,
    /// Requests the kills left in flight (each resolved by recovery).
    pub caught_in_flight: usize,
    /// Lives that ended at a failpoint (commit before sync, sync before effect, effect before
    /// outcome, recovery) before their SIGKILL; 0 without the `chaos` feature.
    pub failpoint_aborts: u32,
    /// Orders, paid orders, paid through 医保.
    pub orders: (usize, usize, usize),
    /// Power cuts made, and the bytes written but never synced that they dropped.
    pub power_cuts: (u32, u64),
    /// Problems found (empty: all checks passed).
    pub problems: Vec<String>,
}

fn in_flight(record: &OrderRecord) -> usize {
    let attempts = record
        .attempts
        .iter()
        .filter(|attempt| {
            matches!(
                attempt.state,
                AttemptState::Sending | AttemptState::OutcomeUnknown
            )
        })
        .count();
    let refunds = record
        .refunds
        .iter()
        .filter(|refund| {
            matches!(
                refund.state,
                RefundState::Sending | RefundState::OutcomeUnknown
            )
        })
        .count();
    let medical = record
        .medical
        .iter()
        .filter(|attempt| {
            matches!(
                attempt.state,
                MedicalState::PreSettling { .. }
                    | MedicalState::Ordering { .. }
                    | MedicalState::Closing { .. }
            )
        })
        .count();
    let medical_refunds = record
        .medical_refunds()
        .filter(|(_, refund)| !refund.is_final())
        .count();
    attempts + refunds + medical + medical_refunds
}

/// Opens the store a killed life left, checks every record, counts what was in flight.
fn inspect(dir: &Path, kill: u32, problems: &mut Vec<String>) -> usize {
    let store = match SledStore::open(dir) {
        Ok(store) => store,
        Err(error) => {
            problems.push(format!(
                "after kill {kill}: the store does not open: {error}"
            ));
            return 0;
        }
    };
    let records = store.all_orders().unwrap_or_default();
    for record in &records {
        if let Err(violation) = cashier_engine::machine::check_invariants(record) {
            problems.push(format!("after kill {kill}: {violation}"));
        }
    }
    drop(store);
    // The store's flusher thread releases the directory lock as it ends.
    std::thread::sleep(Duration::from_millis(200));
    records.iter().map(in_flight).sum()
}

/// What a life of the engine process does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Life {
    /// Drive orders one after another (and, in a `chaos` build with an odd seed, arm the
    /// failpoints).
    Drive,
    /// Recovery only: no new orders.
    Drain,
    /// Open-loop orders at this rate a second, with a line of figures on stderr every minute.
    Soak(u32),
}

pub(crate) fn spawn(
    executable: &Path,
    sim: &str,
    dir: &Path,
    port: u16,
    seed: u64,
    life: Life,
) -> Result<Child, String> {
    let mut command = Command::new(executable);
    command
        .args([
            "chaos-child",
            "--sim",
            sim,
            "--notify-port",
            &port.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .arg("--data-dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match life {
        Life::Drain => {
            command.arg("--drain");
        }
        Life::Soak(rate) => {
            command
                .args(["--soak-rate", &rate.to_string()])
                .stderr(Stdio::piped());
        }
        Life::Drive if seed % 2 == 1 && cashier_engine::failpoints::COMPILED_IN => {
            // Every other life may also end at a dangerous instant, not only at a wall-clock one.
            command.args(["--failpoints", &seed.to_string()]);
        }
        Life::Drive => {}
    }
    command
        .spawn()
        .map_err(|error| format!("cannot run {}: {error}", executable.display()))
}

/// Stops a life; true when it had already ended by itself (a failpoint).
pub(crate) fn stop(mut child: Child) -> bool {
    let ended = matches!(child.try_wait(), Ok(Some(_)));
    let _ = child.kill();
    let _ = child.wait();
    ended
}

/// What a campaign runs against: the simulator of a seed behind its HTTP server on loopback,
/// the port the engine serves notifications on, and the simulator's delivery client.
pub(crate) struct Rig {
    pub(crate) simulator: Arc<Simulator>,
    pub(crate) server: cashier_harness::server::RunningServer,
    pub(crate) sim: String,
    pub(crate) port: u16,
    pub(crate) sink: HttpSink,
}

impl Rig {
    pub(crate) async fn start(seed: u64) -> Result<Rig, String> {
        let simulator = Arc::new(Simulator::new(
            SimConfig::embedded_default().map_err(|error| error.to_string())?,
            SimOptions::deterministic(seed),
        ));
        let server = cashier_harness::server::start(
            simulator.clone(),
            "127.0.0.1:0".parse().map_err(|_| "address")?,
            None,
        )
        .await
        .map_err(|error| error.to_string())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .map_err(|error| error.to_string())?;
        Ok(Rig {
            simulator,
            sim: server.base_url(),
            server,
            port,
            sink: HttpSink::new()?,
        })
    }
}

/// Runs the campaign.
pub async fn run(arguments: &ChaosArguments) -> Result<ChaosReport, String> {
    let rig = Rig::start(arguments.seed).await?;
    let (simulator, sim, port, sink) = (&rig.simulator, rig.sim.as_str(), rig.port, &rig.sink);
    let executable = arguments.executable.as_path();
    let temporary = tempfile::tempdir().map_err(|error| error.to_string())?;
    let mut power = match (arguments.power_cuts, &arguments.data_dir) {
        (true, Some(_)) => {
            return Err("--power-cuts keeps the store on its own disk: no --data-dir".into())
        }
        (true, None) => Some(crate::cli::chaos_power::PowerCuts::mount()?),
        (false, _) => None,
    };
    let dir = match (&power, &arguments.data_dir) {
        (Some(power), _) => power.store_dir(),
        (None, Some(dir)) => dir.clone(),
        (None, None) => temporary.path().join("store"),
    };
    let mut rng = ChaCha8Rng::seed_from_u64(arguments.seed);
    let mut report = ChaosReport::default();
    for kill in 0..arguments.kills {
        let child = spawn(
            executable,
            sim,
            &dir,
            port,
            arguments.seed.wrapping_add(u64::from(kill)),
            Life::Drive,
        )?;
        let life = Duration::from_millis(250 + u64::from(rng.next_u32() % 600));
        let started = Instant::now();
        while started.elapsed() < life {
            simulator.advance(3, sink).await;
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        report.failpoint_aborts += u32::from(stop(child));
        report.kills += 1;
        if let Some(power) = power.as_mut().filter(|_| rng.next_u32() % 3 == 0) {
            power.cut()?;
        }
        report.caught_in_flight += inspect(&dir, kill, &mut report.problems);
    }
    let (orders, problems) = drain_and_check(&rig, executable, &dir, arguments.seed).await?;
    report.orders = orders;
    report.problems.extend(problems);
    if report.kills > 0 && report.caught_in_flight == 0 {
        report
            .problems
            .push("no kill interrupted a request: recovery was not exercised".into());
    }
    if let Some(power) = &power {
        report.power_cuts = (power.cuts, power.dropped_bytes);
    }
    rig.server.shutdown().await;
    Ok(report)
}

/// Recovery-only lives a drain may take before its check runs anyway.
const MAX_DRAIN_LIVES: u32 = 30;

/// True once something accepts connections on the loopback `port` (the child binds its
/// notification port only after its engine has opened the store and started); false if the
/// child ended first or `limit` passed.
async fn listening_within(child: &mut Child, port: u16, limit: Duration) -> bool {
    let began = Instant::now();
    while began.elapsed() < limit {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return false;
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Starts a recovery-only life and waits until its engine listens: opening a large store takes
/// a while, and time moved before the engine is up only makes its first deadline run bigger.
/// A life that ends before listening is started again, up to five times: right after this
/// process has read the store between lives, sled can still hold the store's lock for a
/// moment (a 30-minute soak's third life ended at once, most likely so).
async fn start_drain_life(
    rig: &Rig,
    executable: &Path,
    dir: &Path,
    seed: u64,
    life: u32,
    problems: &mut Vec<String>,
) -> Result<Child, String> {
    let mut attempt = 1;
    loop {
        let mut child = spawn(executable, &rig.sim, dir, rig.port, seed, Life::Drain)?;
        if listening_within(&mut child, rig.port, Duration::from_secs(600)).await {
            return Ok(child);
        }
        let ended = matches!(child.try_wait(), Ok(Some(_)));
        if !ended || attempt == 5 {
            problems.push(format!(
                "recovery-only life {life} did not start (attempt {attempt})"
            ));
            return Ok(child);
        }
        attempt += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Orders whose store still holds a deadline (pending work), read with the engine stopped.
fn orders_with_deadlines(dir: &Path) -> Result<usize, String> {
    let store = SledStore::open(dir).map_err(|error| error.to_string())?;
    let pending = store
        .due(i64::MAX, 1_000_000)
        .map_err(|error| error.to_string())?;
    store.close();
    Ok(pending.len())
}

/// The last lives: no new orders; recovery resumes everything while virtual time runs out
/// (three hours and more, then ten more a life while deadlines remain). Then the store is
/// checked against WeChat's and NHSA's books.
/// Returns (orders, paid, paid through 医保) and the problems found.
pub(crate) async fn drain_and_check(
    rig: &Rig,
    executable: &Path,
    dir: &Path,
    seed: u64,
) -> Result<((usize, usize, usize), Vec<String>), String> {
    let mut problems = Vec::new();
    // A large backlog can take the engine longer than one life's schedule: further lives
    // follow, each with ten more virtual hours and more wall time, until no order has a
    // deadline left.
    for life in 1..=MAX_DRAIN_LIVES {
        let started = Instant::now();
        let child = start_drain_life(rig, executable, dir, seed, life, &mut problems).await?;
        if started.elapsed() > Duration::from_secs(5) {
            eprintln!(
                "drain: recovery life {life} took {:.0} s to start",
                started.elapsed().as_secs_f64()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (schedule, pause_ms): (&[(u32, i64)], u64) = if life == 1 {
            (&[(200, 60), (40, 900)], 30)
        } else {
            (&[(40, 900)], 250)
        };
        for &(steps, seconds) in schedule {
            for _ in 0..steps {
                rig.simulator.advance(seconds, &rig.sink).await;
                tokio::time::sleep(Duration::from_millis(pause_ms)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        if stop(child) {
            problems.push(format!("recovery-only life {life} ended by itself"));
        }
        let pending = orders_with_deadlines(dir)?;
        if pending == 0 {
            break;
        }
        eprintln!("drain: after recovery life {life}, {pending} orders still have deadlines");
    }
    let simulator = &rig.simulator;
    let store = SledStore::open(dir).map_err(|error| error.to_string())?;
    let records = store.all_orders().map_err(|error| error.to_string())?;
    let orders = (
        records.len(),
        records
            .iter()
            .filter(|record| record.paid_fen() > 0)
            .count(),
        records
            .iter()
            .filter(|record| record.paid_medical().next().is_some())
            .count(),
    );
    for (check, failures) in crate::simulation::ledger_checks(&records, simulator) {
        problems.extend(
            failures
                .into_iter()
                .map(|failure| format!("{check}: {failure}")),
        );
    }
    store.close();
    Ok((orders, problems))
}

/// The report as text.
pub fn render(report: &ChaosReport, seed: u64) -> String {
    let cuts = if report.power_cuts.0 > 0 {
        " --power-cuts"
    } else {
        ""
    };
    let replay = format!(
        "replay: cashier chaos --kills {} --seed {seed}{cuts} (the seed fixes the kill moments, the orders, the failpoints and WeChat's faults; the processes' timing is the machine's)\n",
        report.kills
    );
    let mut out = format!(
        "cashier chaos: seed {seed}, {} kills ({} of them at a failpoint first), {} requests caught in flight\n{} orders, {} paid ({} through 医保)\n",
        report.kills, report.failpoint_aborts, report.caught_in_flight, report.orders.0, report.orders.1, report.orders.2
    );
    if report.power_cuts.0 > 0 {
        out.push_str(&format!(
            "{} power cuts dropped {} KB written but never synced\n",
            report.power_cuts.0,
            report.power_cuts.1 / 1024
        ));
    }
    if report.problems.is_empty() {
        out.push_str("every check OK\n");
    } else {
        out.push_str(&format!(
            "{} problems (replay with --seed {seed}):\n",
            report.problems.len()
        ));
        for problem in &report.problems {
            out.push_str(&format!("  {problem}\n"));
        }
    }
    out.push_str(&replay);
    out
}
