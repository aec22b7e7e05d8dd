//! How sled 0.34.7's resident memory grows with what it stores, with its page cache capped at
//! 128 MiB (the engine's default then; 32 MiB now): 1.5 million orders' worth of keys in the
//! engine's tree layout (a record, an index entry, two audit lines, a deadline and a feed
//! entry each), printing RSS
//! and size on disk every 250,000. Run: `cargo run --release -p cashier-engine --example
//! sled_memory -- DIR` (DIR must not exist or be a scratch directory). With `--count STORE`
//! it instead counts the keys an engine store holds per tree and per order (for instance a
//! `cashier demo --data-dir STORE` run), to compare the engine's layout with the one above. It
//! reads sled directly, so the store must have been closed cleanly (a crashed engine's commits
//! since its last checkpoint are only in the write-ahead log until the next open replays them).

use std::io::Write;

fn rss_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .unwrap_or(0)
        / 1024
}

/// Keys per tree of an engine store, and per order.
fn count(store: &str) -> Result<(), Box<dyn std::error::Error>> {
    let db = sled::Config::new().path(store).open()?;
    let orders = db.open_tree("orders")?.len().max(1);
    let mut total = 0;
    for name in ["orders", "index", "events", "deadlines", "feed", "meta"] {
        let keys = db.open_tree(name)?.len();
        total += keys;
        println!(
            "{name:>9}: {keys:>8} keys, {:.1} per order",
            keys as f64 / orders as f64
        );
    }
    println!(
        "{:>9}: {total:>8} keys, {:.1} per order",
        "all",
        total as f64 / orders as f64
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let first = std::env::args()
        .nth(1)
        .ok_or("usage: sled_memory DIR | --count STORE")?;
    if first == "--count" {
        let store = std::env::args()
            .nth(2)
            .ok_or("usage: sled_memory --count STORE")?;
        return count(&store);
    }
    let dir = first;
    let db = sled::Config::new()
        .path(&dir)
        .cache_capacity(128 * 1024 * 1024)
        .open()?;
    let names = ["orders", "index", "events", "deadlines", "feed"];
    let trees = names
        .iter()
        .map(|name| db.open_tree(name))
        .collect::<Result<Vec<_>, _>>()?;
    let value = vec![7u8; 700];
    let mut out = std::io::stdout();
    for order in 0u64..=1_500_000 {
        let key = format!("0110120261204{order:012}");
        trees[0].insert(key.as_bytes(), value.as_slice())?;
        trees[1].insert(format!("u{key}").as_bytes(), key.as_bytes())?;
        trees[2].insert(format!("{key}/1").as_bytes(), &value[..200])?;
        trees[2].insert(format!("{key}/2").as_bytes(), &value[..200])?;
        trees[3].insert(format!("{order:016}{key}").as_bytes(), &[])?;
        trees[4].insert(order.to_be_bytes(), &value[..300])?;
        if order % 50 == 0 {
            db.flush()?;
        }
        if order % 250_000 == 0 {
            writeln!(
                out,
                "{order:>9} orders: RSS {:>4} MB, on disk {:>5} MB",
                rss_mb(),
                db.size_on_disk()? / (1024 * 1024)
            )?;
        }
    }
    Ok(())
}
