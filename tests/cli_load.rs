//! `cashier load` (issue #10): drives orders to paid and reports one JSON object with the
//! fields the issue names (`orders_per_second`, `latency_ms` per operation with `p50`/`p99`,
//! `rss_bytes`, `transitions_per_flush`). A smoke test of the tool, not a timed test.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;

/// Runs `cashier load ARGS --json`, which must succeed with nothing but the JSON line on stdout.
fn load_report(args: &[&str]) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_cashier"))
        .arg("load")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !stdout.contains('\r'),
        "nothing but the JSON line on stdout"
    );
    serde_json::from_str(&stdout).unwrap()
}

#[test]
fn load_drives_every_order_to_paid_and_reports_json() {
    let report = load_report(&["--orders", "60", "--concurrency", "16"]);
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

/// `cashier load --rate R --seconds T` (issue #10: "at a target rate or flat out, for N orders
/// or T seconds"): about R·T orders, every one paid, the rate in the report.
#[test]
fn load_at_a_rate_for_a_time_starts_about_rate_times_seconds_orders() {
    let report = load_report(&["--rate", "40", "--seconds", "2"]);
    let orders = report["orders"].as_u64().unwrap();
    assert!((60..=90).contains(&orders), "{report}");
    assert_eq!(report["paid"].as_u64().unwrap(), orders);
    assert_eq!(report["target_rate"], 40);
}

/// A rate or a duration of zero is refused (exit 2), not run as something else.
#[test]
fn load_refuses_a_zero_rate_or_duration() {
    for args in [["--rate", "0"], ["--seconds", "0"]] {
        let output = Command::new(env!("CARGO_BIN_EXE_cashier"))
            .arg("load")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&output.stdout).contains("must be at least 1"));
    }
}
