//! What makes sled's files survive a power cut at a checkpoint. sled 0.34.7's `flush` writes its
//! log with `pwrite` + `sync_file_range`, which flushes neither the file's metadata nor the
//! disk's write cache, and writes values over ~128 KB to `blobs/` with no sync at all. After each
//! checkpoint's flush, [`Syncer::sync`] calls `fdatasync` on sled's log file and `fsync` on any
//! new blob file and on the blob directory. (Between checkpoints, commits are made durable by
//! the store's own write-ahead log, `wal.rs`.)
//!
//! A store directory also carries a marker written at creation: if the marker is there but the
//! store opens empty (its log lost or truncated), opening refuses instead of starting afresh.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::store::StoreError;

/// The marker file in a store directory.
pub(crate) const MARKER_FILE: &str = "cashier-store";

fn io(what: &str, path: &Path, error: std::io::Error) -> StoreError {
    StoreError::Storage(format!("{what} {}: {error}", path.display()))
}

/// Syncs a store directory's files after sled flushed them.
pub(crate) struct Syncer {
    log: File,
    blobs: PathBuf,
    synced_blobs: HashSet<OsString>,
}

impl Syncer {
    /// A syncer for the store in `dir` (after sled opened it, so the files exist).
    pub(crate) fn open(dir: &Path) -> Result<Syncer, StoreError> {
        let log_path = dir.join("db");
        let log = File::open(&log_path).map_err(|error| io("opening", &log_path, error))?;
        Ok(Syncer {
            log,
            blobs: dir.join("blobs"),
            synced_blobs: HashSet::new(),
        })
    }

    /// `fdatasync` the log; `fsync` new blobs and their directory.
    pub(crate) fn sync(&mut self) -> Result<(), StoreError> {
        self.log
            .sync_data()
            .map_err(|error| StoreError::Storage(format!("fdatasync of the log: {error}")))?;
        let Ok(entries) = std::fs::read_dir(&self.blobs) else {
            return Ok(());
        };
        let mut new_blob = false;
        for entry in entries.flatten() {
            if self.synced_blobs.contains(&entry.file_name()) {
                continue;
            }
            let path = entry.path();
            File::open(&path)
                .and_then(|file| file.sync_all())
                .map_err(|error| io("fsync of blob", &path, error))?;
            self.synced_blobs.insert(entry.file_name());
            new_blob = true;
        }
        if new_blob {
            sync_directory(&self.blobs)?;
        }
        Ok(())
    }
}

/// `fsync` a directory, so the names of files created in it survive.
pub(crate) fn sync_directory(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|directory| directory.sync_all())
        .map_err(|error| io("fsync of directory", dir, error))
}

/// True when the directory was made a store before (its marker exists).
pub(crate) fn was_created(dir: &Path) -> bool {
    dir.join(MARKER_FILE).exists()
}

/// Marks the directory as a store, durably: the marker and its directory entry are synced, and
/// so is the parent's entry for the directory (sled may have just created it), or a power cut
/// could take the whole store away, marker included, and the next start would begin afresh.
pub(crate) fn mark_created(dir: &Path) -> Result<(), StoreError> {
    let path = dir.join(MARKER_FILE);
    std::fs::write(&path, b"cashier store: its data must never be empty\n")
        .and_then(|()| File::open(&path)?.sync_all())
        .map_err(|error| io("writing", &path, error))?;
    sync_directory(dir)?;
    match dir.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        Some(parent) => sync_directory(parent),
        None => sync_directory(Path::new(".")),
    }
}
