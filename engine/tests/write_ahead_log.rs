//! The store's write-ahead log (issues #10 and #11): a flush is one `fdatasync` of the log, and
//! sled's own files are synced only at checkpoints. These tests check what that must keep: a
//! commit whose flush returned survives a crash that left sled's files behind; a log file from
//! before a finished checkpoint is not replayed over newer data; checkpoints keep one log file,
//! and a closed store's sled files hold everything without the log.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};

mod common;

use cashier_engine::model::{Event, LoggedEvent, OrderRecord};
use cashier_engine::store::{Commit, SledStore, Store, StoreOptions};

fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("wal.")
        })
        .collect();
    files.sort();
    files
}

/// Copies the log files of store `from` into directory `to`.
fn copy_log_files(from: &Path, to: &Path) {
    for file in log_files(from) {
        std::fs::copy(&file, to.join(file.file_name().unwrap())).unwrap();
    }
}

/// A copy of the format-3 fixture store, opened.
fn fixture_store(dir: &Path, options: StoreOptions) -> (SledStore, Vec<OrderRecord>) {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/engine/store-v3");
    common::copy_dir(&fixture, dir);
    let store = SledStore::open_with(dir, options).unwrap();
    let records = store.all_orders().unwrap();
    assert!(records.len() >= 30);
    (store, records)
}

/// Commits the next revision of every record, with a new deadline, and flushes.
fn commit_next_revisions(store: &SledStore, records: &[OrderRecord]) -> Vec<OrderRecord> {
    let next: Vec<OrderRecord> = records
        .iter()
        .enumerate()
        .map(|(position, record)| {
            let mut next = record.clone();
            next.revision += 1;
            next.deadline_ms = Some(4_000_000_000_000 + position as i64 + next.revision as i64);
            let event = LoggedEvent {
                revision: next.revision,
                at_ms: 1,
                event: Event::Created {
                    amount: record.amount,
                },
            };
            store
                .commit(Commit {
                    previous: Some(record),
                    record: &next,
                    event: &event,
                    notices: &[],
                })
                .unwrap();
            next
        })
        .collect();
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(store.flush())
        .unwrap();
    next
}

fn assert_holds(store: &SledStore, expected: &[OrderRecord]) {
    for record in expected {
        let stored = store.load(&record.order_no).unwrap().unwrap();
        assert_eq!(&stored, record);
        let events = store.events(&record.order_no).unwrap();
        assert_eq!(events.last().unwrap().revision, record.revision);
    }
    let due = store.due(i64::MAX, 10_000).unwrap();
    for record in expected {
        assert!(due.contains(&record.order_no), "{} is due", record.order_no);
    }
    assert_eq!(
        due.len(),
        store
            .all_orders()
            .unwrap()
            .iter()
            .filter(|record| record.deadline_ms.is_some())
            .count(),
        "one deadline per order, the old ones moved"
    );
}

#[test]
fn a_flushed_commit_survives_a_crash_that_left_only_sled_files_and_the_synced_log() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let (store, records) = fixture_store(&live, StoreOptions::default());
    // The crash image: sled's files from before the commits (sled had not written them; it
    // may or may not have by the crash), and the log as the flush synced it.
    let image = dir.path().join("image");
    common::copy_dir(&live, &image);
    let next = commit_next_revisions(&store, &records);
    for file in log_files(&image) {
        std::fs::remove_file(file).unwrap();
    }
    copy_log_files(&live, &image);
    assert!(std::fs::metadata(&log_files(&image)[0]).unwrap().len() > 1_000);
    drop(store);

    let reopened = SledStore::open(&image).unwrap();
    assert_holds(&reopened, &next);
    assert_eq!(
        log_files(&image).len(),
        1,
        "the replayed log is removed, a new one begun"
    );
}

#[test]
fn a_log_file_left_from_before_a_finished_checkpoint_is_not_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let (store, records) = fixture_store(&live, StoreOptions::default());
    let second = commit_next_revisions(&store, &records);
    let stale = dir.path().join("stale");
    std::fs::create_dir(&stale).unwrap();
    copy_log_files(&live, &stale);
    let third = commit_next_revisions(&store, &second);
    drop(store);
    // Two more checkpoints (a close each), so the stale file's number is followed by a gap.
    drop(SledStore::open(&live).unwrap());
    // Its removal did not survive (a file system that lost it): the file comes back.
    copy_log_files(&stale, &live);
    assert_eq!(log_files(&live).len(), 2);

    let reopened = SledStore::open(&live).unwrap();
    assert_holds(&reopened, &third);
}

#[test]
fn checkpoints_keep_one_log_file_and_a_closed_store_needs_no_log() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let options = StoreOptions {
        checkpoint_bytes: 8 * 1024,
        ..StoreOptions::default()
    };
    let (store, mut records) = fixture_store(&live, options);
    let first_log = log_files(&live);
    for _ in 0..5 {
        records = commit_next_revisions(&store, &records);
        // The flusher may be between creating the next file and removing the older one.
        assert!(log_files(&live).len() <= 2);
    }
    drop(store);
    assert_eq!(log_files(&live).len(), 1);
    assert_ne!(log_files(&live), first_log, "the log moved to new files");
    for file in log_files(&live) {
        std::fs::remove_file(file).unwrap();
    }

    let reopened = SledStore::open(&live).unwrap();
    assert_holds(&reopened, &records);
}

#[test]
fn reads_during_checkpoints_never_go_back_nor_lose_an_order_or_its_audit_line() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    // A checkpoint after nearly every flush: the hot layer is frozen, applied to sled and
    // dropped while the reader reads.
    let options = StoreOptions {
        checkpoint_bytes: 4 * 1024,
        ..StoreOptions::default()
    };
    let (store, records) = fixture_store(&dir.path().join("live"), options);
    let store = Arc::new(store);
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let store = store.clone();
        let done = done.clone();
        let orders: Vec<_> = records
            .iter()
            .map(|record| record.order_no.clone())
            .collect();
        std::thread::spawn(move || {
            let mut last_seen = vec![0u64; orders.len()];
            let mut passes = 0;
            while passes == 0 || !done.load(Ordering::Acquire) {
                for (order_no, last) in orders.iter().zip(&mut last_seen) {
                    let record = store
                        .load(order_no)
                        .unwrap()
                        .expect("an order never vanishes");
                    assert!(record.revision >= *last, "{order_no} went back");
                    *last = record.revision;
                    let events = store.events(order_no).unwrap();
                    assert!(events.last().unwrap().revision >= record.revision);
                }
                assert_eq!(store.all_orders().unwrap().len(), orders.len());
                passes += 1;
            }
            passes
        })
    };
    let mut current = records;
    for _ in 0..20 {
        current = commit_next_revisions(&store, &current);
    }
    done.store(true, Ordering::Release);
    assert!(reader.join().unwrap() > 0);
    assert_holds(&store, &current);
}
