//! The main job (`cashier demo`) runs on embedded defaults and its invariant checks pass, with
//! faults off and heavy.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;

fn demo(faults: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_cashier"))
        .args([
            "demo", "--orders", "120", "--seed", "5", "--faults", faults, "--quiet",
        ])
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
        let report = demo(faults);
        let checks: Vec<&str> = report
            .lines()
            .skip_while(|line| !line.starts_with("Invariant checks"))
            .skip(1)
            .take(5)
            .collect();
        assert_eq!(checks.len(), 5, "{report}");
        assert!(
            checks.iter().all(|line| line.trim_end().ends_with(" OK")),
            "{report}"
        );
        assert!(report.contains("notification ack latency p50 / p99"));
    }
}
