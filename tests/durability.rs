//! Durability (issue #11, first part): every group flush of the store is an `fdatasync` of the
//! store's write-ahead log (sled's own flush only calls `sync_file_range`; its files are synced
//! at checkpoints), checked by running the demo under `strace`; and a store directory whose data is gone refuses to open instead of
//! starting afresh. The strace test is skipped with a loud message where strace is absent
//! (`.ci/run` installs it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::Command;

use cashier_engine::store::{SledStore, StoreError};

#[test]
fn every_group_flush_is_an_fdatasync_of_the_write_ahead_log() {
    if Command::new("strace").arg("-V").output().is_err() {
        eprintln!(
            "SKIPPED: strace is not installed (apt-get install strace); durability unchecked"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace");
    let data = dir.path().join("store");
    let output = Command::new("strace")
        .args(["-f", "-y", "-e", "trace=fdatasync", "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_cashier"))
        .args([
            "demo",
            "--orders",
            "40",
            "--seed",
            "3",
            "--faults",
            "off",
            "--quiet",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let flushes: u64 = stdout
        .lines()
        .find(|line| line.contains("group commit: flushes / requests served"))
        .and_then(|line| line.split_whitespace().rev().nth(2))
        .and_then(|count| count.parse().ok())
        .expect("the demo reports its flushes");
    let trace = std::fs::read_to_string(&trace).unwrap();
    // Lines are `fdatasync(5</…/wal.000000000001>) = 0`, or split in two around another
    // thread's call (`fdatasync(5</…/wal.…> <unfinished ...>` … `<... fdatasync resumed>) = 0`).
    let log_syncs = trace
        .lines()
        .filter(|line| line.contains("fdatasync(") && line.contains("/wal."))
        .count() as u64;
    assert!(
        !trace
            .lines()
            .any(|line| line.contains("fdatasync") && line.contains("= -1")),
        "a sync failed"
    );
    assert!(flushes > 10, "the run flushed ({flushes})");
    assert!(
        log_syncs >= flushes,
        "{log_syncs} fdatasync calls on the log for {flushes} group flushes"
    );
}

#[test]
fn a_store_whose_data_is_gone_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    drop(SledStore::open(&path).unwrap());
    // The log and snapshots are lost (a power cut on a file system that kept nothing).
    for entry in std::fs::read_dir(&path).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "db" || name.starts_with("snap.") {
            std::fs::remove_file(entry.path()).unwrap();
        }
    }
    let reopened = SledStore::open(&path);
    assert!(
        matches!(reopened, Err(StoreError::Lost(_))),
        "{:?}",
        reopened.err()
    );
    // A new directory is a new store, and reopens as itself.
    let fresh = dir.path().join("fresh");
    drop(SledStore::open(&fresh).unwrap());
    assert!(SledStore::open(&fresh).is_ok());
}
