//! Crash recovery (issues #4, #7, #11): `cashier chaos` with 12 kills. The engine runs as
//! `cashier chaos-child` processes on one sled directory, talking to the simulator (WeChat and
//! the 医保 side, in this test process) over HTTP on loopback with notifications through the
//! host layer, and is killed with SIGKILL at seeded moments under load, then restarted on the
//! same directory. Every record keeps its invariants after every kill; after a final life that
//! only recovers, every order matches WeChat's and NHSA's books, nothing is paid or refunded
//! twice, no acknowledged notification is lost, and some kill interrupted a request (so
//! recovery was exercised, not passed vacuously). The long campaign is
//! `cargo run --release -- chaos --kills 1000 --seed N`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_killed_at_random_moments_recovers_without_losing_or_doubling_money() {
    let seed: u64 = std::env::var("CASHIER_CRASH_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(2026);
    eprintln!("crash test seed {seed} (replay with CASHIER_CRASH_SEED={seed})");
    let arguments = cashier::cli::chaos::ChaosArguments {
        kills: 12,
        seed,
        executable: env!("CARGO_BIN_EXE_cashier").into(),
        data_dir: None,
        power_cuts: false,
    };
    let report = cashier::cli::chaos::run(&arguments).await.unwrap();
    eprintln!("{}", cashier::cli::chaos::render(&report, seed));
    assert!(
        report.orders.0 >= 10,
        "the children must have driven orders: {report:?}"
    );
    assert!(
        report.orders.2 > 0,
        "the children must have driven 医保 orders too: {report:?}"
    );
    assert!(
        report.problems.is_empty(),
        "{}",
        cashier::cli::chaos::render(&report, seed)
    );
}
