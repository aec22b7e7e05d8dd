//! `cashier load` (issue #10): drives orders to paid and reports one JSON object with the
//! fields the issue names (`orders_per_second`, `latency_ms` per operation with `p50`/`p99`,
//! `rss_bytes`, `transitions_per_flush`). A smoke test of the tool, not a timed test.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;

#[test]
fn load_drives_every_order_to_paid_and_reports_json() {
    let output = Command::new(env!("CARGO_BIN_EXE_cashier"))
        .args(["load", "--orders", "60", "--concurrency", "16", "--json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["paid"], 60);
    assert!(report["orders_per_second"].as_f64().unwrap() > 0.0);
    for operation in ["create_order", "start_payment", "notification_ack"] {
        assert!(
            report["latency_ms"][operation]["p99"].as_f64().is_some(),
            "{report}"
        );
    }
    assert!(report["rss_bytes"].as_u64().unwrap() > 0);
    assert!(report["transitions_per_flush"].as_f64().unwrap() >= 1.0);
    assert!(
        !stdout.contains('\r'),
        "nothing but the JSON line on stdout"
    );
}

/// `cashier load --notify-http` (issue #8): the same notifications acknowledged through axum,
/// actix-web and the raw engine call, every one SUCCESS, with percentiles for each.
#[test]
fn notify_http_acknowledges_through_both_frameworks_and_the_engine() {
    let output = Command::new(env!("CARGO_BIN_EXE_cashier"))
        .args(["load", "--notify-http", "--orders", "40", "--rate", "400"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for target in ["axum (HTTP)", "actix-web (HTTP)", "engine call"] {
        let line = stdout.lines().find(|line| line.contains(target)).unwrap();
        assert!(line.contains("(40 acks, 0 not SUCCESS)"), "{line}");
    }
}

/// `cashier load --chart` (issue #10): an SVG of throughput and latency over the run.
#[test]
fn load_draws_a_chart_of_throughput_and_latency() {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("load.svg");
    let output = Command::new(env!("CARGO_BIN_EXE_cashier"))
        .args(["load", "--orders", "64", "--concurrency", "16", "--chart"])
        .arg(&chart)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    assert_eq!(svg.matches("<polyline").count(), 3, "throughput, p50, p99");
}
