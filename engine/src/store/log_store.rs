//! The store's core: sled's trees, the hot layer in front of them (`overlay.rs`) and the
//! write-ahead log (`wal.rs`). A commit goes to the hot layer and the log's pending bytes; a
//! group sync writes those bytes and calls `fdatasync` once; a checkpoint moves the hot layer
//! into sled, syncs sled's files and removes the log files that held it. Opening replays what
//! the log holds beyond sled's last checkpoint.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::store::durability::Syncer;
use crate::store::overlay::{KeyRange, Layer, Merged, Overlay};
use crate::store::wal::{self, LogFile, TreeId, TreeWrite};
use crate::store::StoreError;

fn storage(error: impl std::fmt::Display) -> StoreError {
    StoreError::Storage(error.to_string())
}

/// The trees a commit writes.
pub(crate) struct Trees {
    orders: sled::Tree,
    index: sled::Tree,
    events: sled::Tree,
    deadlines: sled::Tree,
    feed: sled::Tree,
}

impl Trees {
    pub(crate) fn open(db: &sled::Db) -> Result<Trees, StoreError> {
        let open = |name: &str| db.open_tree(name).map_err(storage);
        Ok(Trees {
            orders: open("orders")?,
            index: open("index")?,
            events: open("events")?,
            deadlines: open("deadlines")?,
            feed: open("feed")?,
        })
    }

    pub(crate) fn tree(&self, tree: TreeId) -> &sled::Tree {
        match tree {
            TreeId::Orders => &self.orders,
            TreeId::Index => &self.index,
            TreeId::Events => &self.events,
            TreeId::Deadlines => &self.deadlines,
            TreeId::Feed => &self.feed,
        }
    }

    fn apply(&self, write: &TreeWrite) -> Result<(), StoreError> {
        put_or_remove(self.tree(write.tree), &write.key, write.value.as_deref())
    }

    fn apply_layer(&self, layer: &Layer) -> Result<(), StoreError> {
        for (position, changes) in layer.iter().enumerate() {
            let tree = self.tree(TREES[position]);
            for (key, value) in changes {
                put_or_remove(tree, key, value.as_deref())?;
            }
        }
        Ok(())
    }
}

/// Inserts a value, or removes the key for none.
fn put_or_remove(tree: &sled::Tree, key: &[u8], value: Option<&[u8]>) -> Result<(), StoreError> {
    match value {
        Some(value) => tree.insert(key, value),
        None => tree.remove(key),
    }
    .map(|_| ())
    .map_err(storage)
}

const TREES: [TreeId; TreeId::COUNT] = [
    TreeId::Orders,
    TreeId::Index,
    TreeId::Events,
    TreeId::Deadlines,
    TreeId::Feed,
];

/// The log file being appended to (none for a temporary store) and what it holds.
struct LogWriter {
    file: Option<LogFile>,
    number: u64,
    bytes: u64,
}

/// Shared by the store, its flusher and its checkpointer.
pub(crate) struct Core {
    db: sled::Db,
    pub(crate) trees: Trees,
    overlay: Overlay,
    log: Mutex<LogWriter>,
    /// Held through a checkpoint, so one runs at a time.
    checkpointing: Mutex<()>,
    /// The store directory and its syncer (none for a temporary store).
    disk: Option<(PathBuf, Mutex<Syncer>)>,
    checkpoint_bytes: u64,
    /// Set when a log write or sync failed: what it held is in an unknown state on disk, so
    /// no later flush may report durability (restart, which replays the log).
    failed: AtomicBool,
}

impl Core {
    /// Opens the core of the store in `dir` (none: temporary), replaying its log first.
    pub(crate) fn open(
        db: sled::Db,
        dir: Option<&Path>,
        checkpoint_bytes: u64,
    ) -> Result<Core, StoreError> {
        let trees = Trees::open(&db)?;
        let (disk, file, number) = match dir {
            Some(dir) => {
                let mut syncer = Syncer::open(dir)?;
                let number = replay(&db, &trees, &mut syncer, dir)?;
                let file = LogFile::create(dir, number)?;
                (
                    Some((dir.to_path_buf(), Mutex::new(syncer))),
                    Some(file),
                    number,
                )
            }
            None => (None, None, 1),
        };
        Ok(Core {
            db,
            trees,
            overlay: Overlay::default(),
            log: Mutex::new(LogWriter {
                file,
                number,
                bytes: 0,
            }),
            checkpointing: Mutex::new(()),
            disk,
            checkpoint_bytes: checkpoint_bytes.max(1),
            failed: AtomicBool::new(false),
        })
    }

    /// Records a commit (durable after the next group sync).
    pub(crate) fn commit(&self, writes: Vec<TreeWrite>) -> Result<(), StoreError> {
        self.overlay.commit(writes)
    }

    /// Writes the pending frames and syncs the log; false when there was nothing to write
    /// (every earlier commit was synced by an earlier group).
    pub(crate) fn sync_group(&self) -> Result<bool, StoreError> {
        let mut log = self.log.lock().map_err(|_| StoreError::Closed)?;
        self.refuse_after_failure()?;
        let pending = self.overlay.take_pending()?;
        self.append(&mut log, &pending)?;
        Ok(!pending.is_empty())
    }

    fn append(&self, log: &mut LogWriter, bytes: &[u8]) -> Result<(), StoreError> {
        if let Some(file) = log.file.as_mut() {
            if let Err(error) = file.append_and_sync(bytes) {
                self.failed.store(true, Ordering::Release);
                return Err(error);
            }
        }
        log.bytes += bytes.len() as u64;
        Ok(())
    }

    fn refuse_after_failure(&self) -> Result<(), StoreError> {
        if self.failed.load(Ordering::Acquire) {
            return Err(StoreError::Storage(
                "an earlier write-ahead log write failed; restart the engine to replay the log"
                    .into(),
            ));
        }
        Ok(())
    }

    /// True when the log has grown past the checkpoint size.
    pub(crate) fn checkpoint_due(&self) -> bool {
        self.log
            .lock()
            .map(|log| log.bytes >= self.checkpoint_bytes)
            .unwrap_or(false)
    }

    /// Freezes the hot layer and moves the log to a new file; then applies the frozen layer to
    /// sled, syncs sled's files, drops the layer and removes the older log files.
    pub(crate) fn checkpoint(&self) -> Result<(), StoreError> {
        let _one_at_a_time = self.checkpointing.lock().map_err(|_| StoreError::Closed)?;
        let next_number = self.log.lock().map_err(|_| StoreError::Closed)?.number + 1;
        let next_file = match &self.disk {
            Some((dir, _)) => Some(LogFile::create(dir, next_number)?),
            None => None,
        };
        let frozen = {
            let mut log = self.log.lock().map_err(|_| StoreError::Closed)?;
            self.refuse_after_failure()?;
            let (frozen, pending) = self.overlay.freeze()?;
            self.append(&mut log, &pending)?;
            *log = LogWriter {
                file: next_file,
                number: next_number,
                bytes: 0,
            };
            frozen
        };
        self.trees.apply_layer(&frozen)?;
        self.sync_sled()?;
        self.overlay.thaw()?;
        match &self.disk {
            Some((dir, _)) => wal::remove_before(dir, next_number),
            None => Ok(()),
        }
    }

    /// Flushes sled and syncs its files (checkpoints, and the rare direct meta writes).
    pub(crate) fn sync_sled(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(storage)?;
        match &self.disk {
            Some((_, syncer)) => syncer.lock().map_err(|_| StoreError::Closed)?.sync(),
            None => Ok(()),
        }
    }

    /// A key's committed value.
    pub(crate) fn get(&self, tree: TreeId, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.overlay.get(tree, key)? {
            Some(value) => Ok(value),
            None => Ok(self
                .trees
                .tree(tree)
                .get(key)
                .map_err(storage)?
                .map(|value| value.to_vec())),
        }
    }

    /// Committed entries in a range, in key order.
    pub(crate) fn range(&self, tree: TreeId, range: KeyRange) -> Result<Merged, StoreError> {
        let hot = self.overlay.range(tree, &range)?;
        Ok(Merged::new(hot, self.trees.tree(tree).range(range)))
    }

    /// Committed entries whose key starts with `prefix`.
    pub(crate) fn scan_prefix(&self, tree: TreeId, prefix: &[u8]) -> Result<Merged, StoreError> {
        self.range(tree, (Bound::Included(prefix.to_vec()), prefix_end(prefix)))
    }
}

/// The first key after every key starting with `prefix`.
pub(crate) fn prefix_end(prefix: &[u8]) -> Bound<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Bound::Excluded(end);
        }
    }
    Bound::Unbounded
}

/// Replays the log files beyond sled's last checkpoint into sled, syncs sled and removes
/// them; the number of the next log file.
fn replay(
    db: &sled::Db,
    trees: &Trees,
    syncer: &mut Syncer,
    dir: &Path,
) -> Result<u64, StoreError> {
    let files = wal::files(dir)?;
    let Some(last) = files.last().map(|(number, _)| *number) else {
        return Ok(1);
    };
    let mut replayed = 0u64;
    for (number, path) in wal::replayable(&files) {
        let contents = wal::read(path)?;
        if !contents.clean && *number != last {
            return Err(StoreError::Storage(format!(
                "the write-ahead log {} is damaged before its end (it was synced whole)",
                path.display()
            )));
        }
        for frame in &contents.frames {
            for write in &frame.writes {
                trees.apply(write)?;
            }
        }
        replayed += contents.frames.len() as u64;
    }
    if replayed > 0 {
        db.flush().map_err(storage)?;
        syncer.sync()?;
        tracing::info!(replayed, "store: commits replayed from the write-ahead log");
    }
    wal::remove_before(dir, last + 1)?;
    Ok(last + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_at_its_last_byte_plus_one_carrying_over_0xff() {
        assert_eq!(prefix_end(b"ab"), Bound::Excluded(b"ac".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Bound::Excluded(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), Bound::Unbounded);
        assert_eq!(prefix_end(b""), Bound::Unbounded);
    }
}
