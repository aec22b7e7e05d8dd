//! The main job (`cashier demo`) runs on embedded defaults and its invariant checks pass, with
//! faults off and heavy, and again on a reused data directory.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;

fn demo(faults: &str, extra: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_cashier"))
        .args([
            "demo", "--orders", "120", "--seed", "5", "--faults", faults, "--quiet",
        ])
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn demo_checks_pass_without_and_with_heavy_faults() {
    for faults in ["off", "heavy"] {
        let report = demo(faults, &[]);
        assert!(all_checks_ok(&report), "{report}");
        assert!(report.contains("notification ack latency p50 / p99"));
        assert!(
            report.contains("paid with pay_type 3 (insurance + cash)"),
            "{report}"
        );
    }
}

/// Every invariant line says OK, the issue #9 lines among them (the run restarts the engine
/// twice and repeats every refund request) and the 医保 lines of issue #7.
fn all_checks_ok(report: &str) -> bool {
    let checks: Vec<&str> = report
        .lines()
        .skip_while(|line| !line.starts_with("Invariant checks"))
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .collect();
    let named = [
        "repeated refund requests applied once",
        "order number timestamps within 1 s of issue",
        "every order meant to be driven accounted for",
        "every acknowledged notification applied",
        "reconciliation finds every seeded discrepancy, nothing else",
        "engine split == NHSA split",
        "fund + account + cash == total, no leg refunded beyond what it paid",
        "医保 refunds match WeChat's cash and NHSA's insurance",
        "NHSA personal accounts balance",
    ];
    checks.len() == 13
        && checks.iter().all(|line| line.trim_end().ends_with(" OK"))
        && named
            .iter()
            .all(|name| checks.iter().any(|line| line.contains(name)))
        && report.contains("engine restarts during the run               2")
}

#[test]
fn demo_runs_again_on_the_same_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("store").to_string_lossy().into_owned();
    for _ in 0..2 {
        let report = demo("default", &["--data-dir", &data_dir]);
        assert!(all_checks_ok(&report), "{report}");
    }
}
