//! `cashier soak` (issue #11), short: 15 seconds at 20 orders/s with the default faults, the
//! engine as its own process over HTTP, then every order checked against WeChat's and NHSA's
//! books with nothing pending. The hour is a documented command (README, "Reliability").

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::Command;

#[test]
fn a_short_soak_ends_with_every_order_agreeing_with_the_books() {
    let output = Command::new(env!("CARGO_BIN_EXE_cashier"))
        .args(["soak", "--seconds", "15", "--rate", "20", "--seed", "3"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "soak failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("every order agrees with WeChat's and NHSA's books; none pending"),
        "{stdout}"
    );
    let orders: usize = stdout
        .lines()
        .find_map(|line| {
            line.split_once(" orders, ")
                .map(|(count, _)| count.trim().parse().unwrap())
        })
        .unwrap();
    assert!(
        orders >= 200,
        "15 s at 20/s should start about 300 orders: {stdout}"
    );
}

#[test]
fn a_soak_with_a_zero_rate_is_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_cashier"))
        .args(["soak", "--seconds", "1", "--rate", "0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--rate"));
}
