//! The power-cut disk under a real mount: what a sync covers survives a cut, nothing else does
//! (issue #11: "strace proves calls, not survival"); and the disk bites: sled 0.34.7's own
//! `flush` (`sync_file_range`, no `fdatasync`) loses acknowledged data in a cut. Each test skips
//! with a message where FUSE cannot be mounted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use cashier_powercut::PowerCutDisk;

fn mounted() -> Option<(tempfile::TempDir, PowerCutDisk)> {
    let dir = tempfile::tempdir().ok()?;
    match PowerCutDisk::mount(dir.path()) {
        Ok(disk) => Some((dir, disk)),
        Err(error) => {
            eprintln!("SKIPPED: cannot mount the power-cut disk here (FUSE): {error}");
            None
        }
    }
}

#[test]
fn synced_data_and_names_survive_a_cut_unsynced_writes_do_not() {
    let Some((_dir, mut disk)) = mounted() else {
        return;
    };
    let root = disk.path().to_path_buf();
    std::fs::create_dir(root.join("store")).unwrap();
    std::fs::File::open(&root).unwrap().sync_all().unwrap();
    let path = root.join("store").join("log");
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(b"acknowledged").unwrap();
    file.sync_data().unwrap();
    file.write_all(b" and then some").unwrap();
    std::fs::write(root.join("store").join("never-synced"), b"lost").unwrap();
    drop(file);
    // The 14 bytes appended after the sync, and the 4 of the file never synced.
    assert_eq!(disk.unsynced_bytes(), 14 + 4);
    assert_eq!(disk.cut().unwrap(), 14 + 4);
    assert_eq!(std::fs::read(&path).unwrap(), b"acknowledged");
    assert!(!root.join("store").join("never-synced").exists());
    disk.unmount().unwrap();
}

#[test]
fn a_directory_created_but_never_synced_is_gone_after_a_cut() {
    let Some((_dir, mut disk)) = mounted() else {
        return;
    };
    let root = disk.path().to_path_buf();
    std::fs::create_dir_all(root.join("a").join("b")).unwrap();
    let mut file = std::fs::File::create(root.join("a").join("b").join("f")).unwrap();
    file.write_all(b"x").unwrap();
    file.sync_all().unwrap();
    drop(file);
    disk.cut().unwrap();
    assert!(!root.join("a").exists());
}

/// Child half of the sled test: inserts, flushes with sled's own `flush`, says so, and waits to
/// be killed (a clean drop would sync).
fn sled_child(dir: &str) -> ! {
    let db = sled::open(dir).unwrap();
    db.insert(b"paid", b"acknowledged".as_slice()).unwrap();
    db.flush().unwrap();
    println!("flushed");
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

#[test]
fn sled_flush_alone_loses_acknowledged_data_in_a_cut() {
    if let Ok(dir) = std::env::var("POWERCUT_SLED_CHILD") {
        sled_child(&dir);
    }
    let Some((_dir, mut disk)) = mounted() else {
        return;
    };
    let store = disk.path().join("sled");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "sled_flush_alone_loses_acknowledged_data_in_a_cut",
            "--exact",
            "--nocapture",
        ])
        .env("POWERCUT_SLED_CHILD", &store)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let flushed = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains("flushed"));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(flushed, "the child never flushed");
    let dropped = disk.cut().unwrap();
    assert!(dropped > 0);
    // What sled said was flushed is gone: the directory, or the key in a store opened afresh.
    let survived = store.exists()
        && sled::open(&store)
            .ok()
            .and_then(|db| db.get(b"paid").ok().flatten())
            .is_some();
    assert!(
        !survived,
        "sled's flush survived a cut; the disk would not bite"
    );
    disk.unmount().unwrap();
}
