//! How long a restart takes to get a store back: `SledStore::open` (which replays the
//! write-ahead log left by a crash), then a scan of every order with a deadline, which is what
//! the engine re-arms (it keeps no per-order state at start: the first due run wakes orders
//! from the deadline index as their time comes). Run on a store a killed engine left, e.g.
//! `cashier load --rate 5000 --seconds 30 --data-dir STORE` killed with SIGKILL midway:
//! `cargo run --release -p cashier-engine --example reopen -- STORE`.

use std::time::Instant;

use cashier_engine::store::{SledStore, Store};

fn log_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|entry| entry.file_name().to_string_lossy().starts_with("wal."))
                .filter_map(|entry| entry.metadata().ok())
                .map(|metadata| metadata.len())
                .sum()
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: reopen STORE");
        std::process::exit(2);
    };
    let dir = std::path::PathBuf::from(dir);
    let log = log_bytes(&dir);
    let began = Instant::now();
    let store = SledStore::open(&dir)?;
    let open_ms = began.elapsed().as_secs_f64() * 1000.0;
    let began = Instant::now();
    let with_deadlines = store.due(i64::MAX, usize::MAX)?.len();
    let scan_ms = began.elapsed().as_secs_f64() * 1000.0;
    println!(
        "open (replaying {:.1} MB of log): {open_ms:.0} ms; {with_deadlines} orders with deadlines, scanned in {scan_ms:.0} ms",
        log as f64 / 1_048_576.0
    );
    Ok(())
}
