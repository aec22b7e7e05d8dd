//! The sled implementation of [`Store`]. Trees: `orders`, `index` (lookups and query filters),
//! `events` (audit), `deadlines`, `feed`, `meta`. A commit goes to the hot layer and the
//! write-ahead log's pending bytes (`log_store.rs`); flushes are group-committed by one flusher
//! thread, which writes the log and calls `fdatasync` once for every caller waiting meanwhile.
//! A checkpointer thread moves the hot layer into sled and syncs sled's files every
//! [`StoreOptions::checkpoint_bytes`] of log, off the flush path. sled's `flush_async` is not
//! used: it deadlocks under concurrency in 0.34.x (perf-anchors row 5c‴, sled#1308).
//!
//! Feed entries are numbered under one mutex held across their commit, so the feed has no
//! gaps in commit order; a reader sees only entries a finished flush made durable.

use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use crate::feed::FeedEntry;
use crate::model::{LoggedEvent, OrderRecord};
use crate::order_number::OrderNumber;
use crate::store::durability;
use crate::store::format::{self, encode, CURRENT_FORMAT};
use crate::store::keys::*;
use crate::store::log_store::{prefix_end, Core};
use crate::store::wal::{TreeId, TreeWrite};
use crate::store::{Commit, FlushFuture, FlushStats, IndexKind, OrderFilter, Store, StoreError};

const FORMAT_KEY: &[u8] = b"format";
const FEED_CURSOR_KEY: &[u8] = b"feed_cursor";

fn storage(error: impl std::fmt::Display) -> StoreError {
    StoreError::Storage(error.to_string())
}

type FlushRequest = tokio::sync::oneshot::Sender<Result<(), StoreError>>;

#[derive(Default)]
struct Counters {
    flushes: AtomicU64,
    requests: AtomicU64,
    /// The last feed sequence committed (not necessarily durable).
    committed_sequence: AtomicU64,
    /// The last feed sequence a finished flush made durable.
    durable_sequence: AtomicU64,
}

/// How a store is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// sled's page cache, 32 MiB by default (sled's own default is 1 GiB, which a long-running
    /// engine fills with pages of orders it will not read again). sled counts pages by their
    /// size in its log, not what they take in memory: in `cashier soak` (200 orders/s) a
    /// 128 MiB cap let the engine grow 43 MB a minute in its third minute, a 16 MiB cap 4 MB.
    pub cache_bytes: u64,
    /// Flush, sync and checkpoint on the asking thread instead of the flusher and checkpointer
    /// threads ([`SledStore::open_inline`]).
    pub inline_flush: bool,
    /// Write-ahead log bytes after which the hot layer moves into sled and the log starts a new
    /// file (16 MiB by default: it bounds the hot layer's memory and what a restart replays).
    pub checkpoint_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            cache_bytes: 32 * 1024 * 1024,
            inline_flush: false,
            checkpoint_bytes: 16 * 1024 * 1024,
        }
    }
}

/// The sled store.
pub struct SledStore {
    core: Arc<Core>,
    meta: sled::Tree,
    next_sequence: Mutex<u64>,
    flush_requests: Mutex<Option<mpsc::Sender<FlushRequest>>>,
    /// The flusher and checkpointer threads (none for an inline store).
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    inline: bool,
    counters: Arc<Counters>,
}

impl SledStore {
    /// Opens (or creates) a store in `path`, replaying its write-ahead log and migrating a
    /// store of an older format. Every group flush is an `fdatasync` of the log; a directory
    /// that was a store and opens empty is refused.
    pub fn open(path: &std::path::Path) -> Result<SledStore, StoreError> {
        SledStore::open_with(path, StoreOptions::default())
    }

    /// Opens a store that flushes, syncs and checkpoints on the thread that asks, with no
    /// threads of its own (and so no group commit): a single-threaded simulation then has no
    /// hand-off whose timing would reorder its wake-ups, and replays exactly.
    pub fn open_inline(path: &std::path::Path) -> Result<SledStore, StoreError> {
        SledStore::open_with(
            path,
            StoreOptions {
                inline_flush: true,
                ..StoreOptions::default()
            },
        )
    }

    /// Opens (or creates) a store in `path` with `options`.
    pub fn open_with(
        path: &std::path::Path,
        options: StoreOptions,
    ) -> Result<SledStore, StoreError> {
        let existed = durability::was_created(path);
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(options.cache_bytes)
            // Checkpoints flush and sync sled; the log makes commits durable between them.
            .flush_every_ms(None)
            .open()
            .map_err(storage)?;
        let empty = db.open_tree("orders").map_err(storage)?.is_empty()
            && db.open_tree("meta").map_err(storage)?.is_empty();
        if existed && empty {
            return Err(StoreError::Lost(path.display().to_string()));
        }
        let core = Core::open(db.clone(), Some(path), options.checkpoint_bytes)?;
        let store = SledStore::from_core(&db, core, options.inline_flush)?;
        if !existed {
            // The format key written at upgrade is synced; only then is the marker written.
            durability::mark_created(path)?;
        }
        Ok(store)
    }

    /// A store in a temporary directory removed on drop (tests): the same hot layer and
    /// checkpoints, with no log and no syncs.
    pub fn temporary() -> Result<SledStore, StoreError> {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .map_err(storage)?;
        let core = Core::open(db.clone(), None, StoreOptions::default().checkpoint_bytes)?;
        SledStore::from_core(&db, core, false)
    }

    fn from_core(db: &sled::Db, core: Core, inline: bool) -> Result<SledStore, StoreError> {
        let last_sequence = match core.trees.tree(TreeId::Feed).last().map_err(storage)? {
            Some((key, _)) => sequence_of(&key)?,
            None => 0,
        };
        let core = Arc::new(core);
        let counters = Arc::new(Counters::default());
        counters
            .committed_sequence
            .store(last_sequence, Ordering::Release);
        counters
            .durable_sequence
            .store(last_sequence, Ordering::Release);
        let (sender, receiver) = mpsc::channel::<FlushRequest>();
        let threads = if inline {
            Vec::new()
        } else {
            spawn_threads(&core, receiver, &counters)?
        };
        let store = SledStore {
            meta: db.open_tree("meta").map_err(storage)?,
            core,
            next_sequence: Mutex::new(last_sequence + 1),
            flush_requests: Mutex::new(Some(sender)),
            threads: Mutex::new(threads),
            inline,
            counters,
        };
        store.upgrade()?;
        Ok(store)
    }

    /// Flushes and syncs sled now, on the caller's thread (rare meta writes: format, slots,
    /// cursor).
    fn sync_now(&self) -> Result<(), StoreError> {
        self.core.sync_sled()
    }

    /// Stops the flusher after serving pending flushes, then the checkpointer, makes a last
    /// checkpoint and waits for it (so the directory's lock is released once the store is
    /// dropped, and its sled files hold everything).
    pub fn close(&self) {
        if let Ok(mut sender) = self.flush_requests.lock() {
            sender.take();
        }
        let threads = self
            .threads
            .lock()
            .map(|mut threads| std::mem::take(&mut *threads))
            .unwrap_or_default();
        for thread in threads {
            let _ = thread.join();
        }
        if let Err(error) = self.core.checkpoint() {
            tracing::error!(%error, "store checkpoint at close failed; the next open replays the log");
        }
    }

    /// The format the store's values are in (a new store: the current one).
    pub fn format(&self) -> Result<u8, StoreError> {
        Ok(self
            .meta
            .get(FORMAT_KEY)
            .map_err(storage)?
            .and_then(|bytes| bytes.first().copied())
            .unwrap_or(CURRENT_FORMAT))
    }

    /// Rewrites a store of an older format in the current one: every record and audit line is
    /// migrated, and the indexes the older format lacked are built. Then the format is synced.
    fn upgrade(&self) -> Result<(), StoreError> {
        let stored = self.meta.get(FORMAT_KEY).map_err(storage)?;
        let format = match (&stored, self.core.trees.tree(TreeId::Orders).is_empty()) {
            (Some(bytes), _) => bytes.first().copied().unwrap_or(CURRENT_FORMAT),
            (None, true) => CURRENT_FORMAT,
            (None, false) => 1,
        };
        if format > CURRENT_FORMAT {
            return Err(StoreError::UnknownFormat(format));
        }
        if format < CURRENT_FORMAT {
            self.migrate_all()?;
        }
        if stored.as_deref() != Some(&[CURRENT_FORMAT][..]) {
            self.meta
                .insert(FORMAT_KEY, &[CURRENT_FORMAT])
                .map_err(storage)?;
            self.sync_now()?;
        }
        Ok(())
    }

    fn migrate_all(&self) -> Result<(), StoreError> {
        for entry in self.core.trees.tree(TreeId::Orders).iter() {
            let (_, bytes) = entry.map_err(storage)?;
            let record = format::decode_record(&bytes)?;
            self.core
                .trees
                .tree(TreeId::Orders)
                .insert(record.order_no.as_str().as_bytes(), encode(&record)?)
                .map_err(storage)?;
            for key in index_keys(&record) {
                self.core
                    .trees
                    .tree(TreeId::Index)
                    .insert(key.as_slice(), index_value(&record, &key))
                    .map_err(storage)?;
            }
        }
        for entry in self.core.trees.tree(TreeId::Events).iter() {
            let (key, bytes) = entry.map_err(storage)?;
            if format::version_of(&bytes) != Some(CURRENT_FORMAT) {
                let event = format::decode_event(&bytes)?;
                self.core
                    .trees
                    .tree(TreeId::Events)
                    .insert(key, encode(&event)?)
                    .map_err(storage)?;
            }
        }
        Ok(())
    }

    fn write(&self, commit: &Commit<'_>, sequence: u64) -> Result<(), StoreError> {
        self.core.commit(tree_writes(commit, sequence)?)
    }
}

/// A commit's writes: the record, its index changes, its audit line, its deadline move and its
/// feed entries numbered from `sequence`.
fn tree_writes(commit: &Commit<'_>, sequence: u64) -> Result<Vec<TreeWrite>, StoreError> {
    let order_no = commit.record.order_no.as_str();
    let put = |tree, key: Vec<u8>, value: Vec<u8>| TreeWrite {
        tree,
        key,
        value: Some(value),
    };
    let remove = |tree, key: Vec<u8>| TreeWrite {
        tree,
        key,
        value: None,
    };
    let mut writes = vec![put(
        TreeId::Orders,
        order_no.as_bytes().to_vec(),
        encode(commit.record)?,
    )];
    let known = commit.previous.map(index_keys).unwrap_or_default();
    let fresh = index_keys(commit.record);
    for key in fresh.iter().filter(|key| !known.contains(key)) {
        writes.push(put(
            TreeId::Index,
            key.clone(),
            index_value(commit.record, key),
        ));
    }
    for key in known.iter().filter(|key| !fresh.contains(key)) {
        writes.push(remove(TreeId::Index, key.clone()));
    }
    writes.push(put(
        TreeId::Events,
        event_key(order_no, commit.event.revision),
        encode(commit.event)?,
    ));
    let old_deadline = commit.previous.and_then(|previous| previous.deadline_ms);
    let new_deadline = commit.record.deadline_ms;
    if old_deadline != new_deadline {
        if let Some(old) = old_deadline {
            writes.push(remove(TreeId::Deadlines, deadline_key(old, order_no)));
        }
        if let Some(new) = new_deadline {
            writes.push(put(
                TreeId::Deadlines,
                deadline_key(new, order_no),
                Vec::new(),
            ));
        }
    }
    for (key, bytes) in feed_entries(commit, sequence)? {
        writes.push(put(TreeId::Feed, key, bytes));
    }
    Ok(writes)
}

fn sequence_of(key: &[u8]) -> Result<u64, StoreError> {
    <[u8; 8]>::try_from(key)
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Decode("feed key".into()))
}

/// Lookup entries point at their order; filter entries carry the order in the key.
fn index_value(record: &OrderRecord, key: &[u8]) -> Vec<u8> {
    let lookup = [
        IndexKind::OutTradeNo,
        IndexKind::OutRefundNo,
        IndexKind::TransactionId,
    ]
    .iter()
    .any(|kind| key.starts_with(index_prefix(*kind)));
    if lookup || key.is_empty() {
        record.order_no.as_str().as_bytes().to_vec()
    } else {
        Vec::new()
    }
}

/// A key and its value, encoded.
type Encoded = (Vec<u8>, Vec<u8>);

fn feed_entries(commit: &Commit<'_>, first: u64) -> Result<Vec<Encoded>, StoreError> {
    commit
        .notices
        .iter()
        .zip(first..)
        .map(|(notice, sequence)| {
            let entry = FeedEntry {
                sequence,
                order_no: commit.record.order_no.clone(),
                at_ms: commit.event.at_ms,
                notice: notice.clone(),
            };
            Ok((sequence.to_be_bytes().to_vec(), encode(&entry)?))
        })
        .collect()
}

/// Starts the flusher, and the checkpointer it wakes when the log is due.
fn spawn_threads(
    core: &Arc<Core>,
    receiver: mpsc::Receiver<FlushRequest>,
    counters: &Arc<Counters>,
) -> Result<Vec<std::thread::JoinHandle<()>>, StoreError> {
    let (wake_checkpointer, checkpoint_requests) = mpsc::sync_channel::<()>(1);
    let checkpointer_core = core.clone();
    let checkpointer = std::thread::Builder::new()
        .name("cashier-checkpoint".into())
        .spawn(move || checkpointer(&checkpointer_core, &checkpoint_requests))
        .map_err(storage)?;
    let flusher_core = core.clone();
    let flusher_counters = counters.clone();
    let flusher = std::thread::Builder::new()
        .name("cashier-flusher".into())
        .spawn(move || {
            flusher(
                &flusher_core,
                &receiver,
                &flusher_counters,
                &wake_checkpointer,
            )
        })
        .map_err(storage)?;
    // The flusher first: its end drops the checkpointer's wake-up sender, which ends that.
    Ok(vec![flusher, checkpointer])
}

/// The group-commit loop: takes one request, gathers every request queued meanwhile, syncs
/// once, answers them all, and wakes the checkpointer when the log is due. Feed entries
/// committed before a sync started are durable after it.
fn flusher(
    core: &Core,
    receiver: &mpsc::Receiver<FlushRequest>,
    counters: &Counters,
    wake_checkpointer: &mpsc::SyncSender<()>,
) {
    while let Ok(first) = receiver.recv() {
        let mut waiting = vec![first];
        while let Ok(next) = receiver.try_recv() {
            waiting.push(next);
        }
        let result = flush_and_sync(core, counters, waiting.len() as u64);
        for waiter in waiting {
            let _ = waiter.send(result.clone());
        }
        if core.checkpoint_due() {
            // Full: a wake-up is already queued.
            let _ = wake_checkpointer.try_send(());
        }
    }
}

fn checkpointer(core: &Core, requests: &mpsc::Receiver<()>) {
    while requests.recv().is_ok() {
        // A wake-up queued while the last checkpoint ran may find the new log still small.
        if !core.checkpoint_due() {
            continue;
        }
        if let Err(error) = core.checkpoint() {
            tracing::error!(%error, "store checkpoint failed; the next one retries it");
        }
    }
}

/// One log sync serving `requests` flush requests; feed entries committed before it started
/// are durable once it succeeds.
fn flush_and_sync(core: &Core, counters: &Counters, requests: u64) -> Result<(), StoreError> {
    let covered = counters.committed_sequence.load(Ordering::Acquire);
    let synced = core.sync_group()?;
    counters
        .durable_sequence
        .fetch_max(covered, Ordering::AcqRel);
    if synced {
        counters.flushes.fetch_add(1, Ordering::Relaxed);
    }
    counters.requests.fetch_add(requests, Ordering::Relaxed);
    Ok(())
}

/// Decodes merged entries' values.
fn decoded<T>(
    entries: impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), StoreError>>,
    decode: fn(&[u8]) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    entries
        .map(|entry| entry.and_then(|(_, bytes)| decode(&bytes)))
        .collect()
}

impl Store for SledStore {
    fn load(&self, order_no: &OrderNumber) -> Result<Option<OrderRecord>, StoreError> {
        self.core
            .get(TreeId::Orders, order_no.as_str().as_bytes())?
            .map(|bytes| format::decode_record(&bytes))
            .transpose()
    }

    fn find(&self, index: IndexKind, key: &str) -> Result<Option<OrderNumber>, StoreError> {
        self.core
            .get(TreeId::Index, &lookup_key(index, key))?
            .map(|bytes| {
                OrderNumber::parse(String::from_utf8_lossy(&bytes).into_owned())
                    .map_err(|error| StoreError::Decode(error.to_string()))
            })
            .transpose()
    }

    fn commit(&self, commit: Commit<'_>) -> Result<(), StoreError> {
        if commit.notices.is_empty() {
            return self.write(&commit, 0);
        }
        // Numbering and committing under one lock keeps the feed gap-free in commit order.
        let mut next = self.next_sequence.lock().map_err(|_| StoreError::Closed)?;
        let first = *next;
        self.write(&commit, first)?;
        let last = first + commit.notices.len() as u64 - 1;
        *next = last + 1;
        self.counters
            .committed_sequence
            .store(last, Ordering::Release);
        Ok(())
    }

    fn flush(&self) -> FlushFuture {
        if self.inline {
            let result = flush_and_sync(&self.core, &self.counters, 1).and_then(|()| {
                match self.core.checkpoint_due() {
                    true => self.core.checkpoint(),
                    false => Ok(()),
                }
            });
            return Box::pin(std::future::ready(result));
        }
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let queued = self
            .flush_requests
            .lock()
            .ok()
            .and_then(|requests| {
                requests
                    .as_ref()
                    .map(|requests| requests.send(sender).is_ok())
            })
            .unwrap_or(false);
        Box::pin(async move {
            if !queued {
                return Err(StoreError::Closed);
            }
            receiver.await.unwrap_or(Err(StoreError::Closed))
        })
    }

    fn due(&self, now_ms: i64, limit: usize) -> Result<Vec<OrderNumber>, StoreError> {
        let end = deadline_key(now_ms.saturating_add(1), "");
        let mut due = Vec::new();
        let range = (Bound::Unbounded, Bound::Excluded(end));
        for entry in self.core.range(TreeId::Deadlines, range)?.take(limit) {
            let (key, _) = entry?;
            let order_no = String::from_utf8_lossy(key.get(8..).unwrap_or_default()).into_owned();
            if let Ok(order_no) = OrderNumber::parse(order_no) {
                due.push(order_no);
            }
        }
        Ok(due)
    }

    fn events(&self, order_no: &OrderNumber) -> Result<Vec<LoggedEvent>, StoreError> {
        let mut prefix = order_no.as_str().as_bytes().to_vec();
        prefix.push(b'/');
        decoded(
            self.core.scan_prefix(TreeId::Events, &prefix)?,
            format::decode_event,
        )
    }

    fn all_orders(&self) -> Result<Vec<OrderRecord>, StoreError> {
        let everything = (Bound::Unbounded, Bound::Unbounded);
        decoded(
            self.core.range(TreeId::Orders, everything)?,
            format::decode_record,
        )
    }

    fn orders_by(
        &self,
        filter: &OrderFilter,
        after: Option<&OrderNumber>,
        limit: usize,
    ) -> Result<Vec<OrderNumber>, StoreError> {
        let prefix = filter_prefix(filter);
        let mut start = prefix.clone();
        if let Some(after) = after {
            start.extend_from_slice(after.as_str().as_bytes());
            start.push(0);
        }
        let range = (Bound::Included(start), prefix_end(&prefix));
        let mut orders = Vec::new();
        for entry in self.core.range(TreeId::Index, range)?.take(limit) {
            let (key, _) = entry?;
            let order_no = key.get(prefix.len()..).unwrap_or_default();
            let order_no = OrderNumber::parse(String::from_utf8_lossy(order_no).into_owned())
                .map_err(|error| StoreError::Decode(error.to_string()))?;
            orders.push(order_no);
        }
        Ok(orders)
    }

    fn feed(&self, after: u64, limit: usize) -> Result<Vec<FeedEntry>, StoreError> {
        let durable = self.counters.durable_sequence.load(Ordering::Acquire);
        let start = after.saturating_add(1);
        if start > durable {
            return Ok(Vec::new());
        }
        let range = (
            Bound::Included(start.to_be_bytes().to_vec()),
            Bound::Included(durable.to_be_bytes().to_vec()),
        );
        decoded(
            self.core.range(TreeId::Feed, range)?.take(limit),
            format::decode_feed,
        )
    }

    fn feed_cursor(&self) -> Result<u64, StoreError> {
        Ok(self
            .meta
            .get(FEED_CURSOR_KEY)
            .map_err(storage)?
            .map(|bytes| sequence_of(&bytes))
            .transpose()?
            .unwrap_or(0))
    }

    fn acknowledge_feed(&self, sequence: u64) -> Result<(), StoreError> {
        let durable = self.counters.durable_sequence.load(Ordering::Acquire);
        let sequence = sequence.min(durable);
        self.meta
            .fetch_and_update(FEED_CURSOR_KEY, |old| {
                let old = old.and_then(|bytes| sequence_of(bytes).ok()).unwrap_or(0);
                Some(old.max(sequence).to_be_bytes().to_vec())
            })
            .map_err(storage)?;
        self.sync_now()
    }

    fn number_slots(&self) -> Result<Vec<i64>, StoreError> {
        (0..=99u8)
            .map(|slot| {
                Ok(match self.meta.get(slot_key(slot)).map_err(storage)? {
                    None => 0,
                    Some(bytes) => <[u8; 8]>::try_from(bytes.as_ref())
                        .map(i64::from_be_bytes)
                        .map_err(|_| StoreError::Decode("number slot".into()))?,
                })
            })
            .collect()
    }

    fn reserve_number_slot(&self, slot: u8, until_s: i64) -> Result<(), StoreError> {
        self.meta
            .fetch_and_update(slot_key(slot), |old| {
                let old = old
                    .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
                    .map(i64::from_be_bytes)
                    .unwrap_or(0);
                Some(old.max(until_s).to_be_bytes().to_vec())
            })
            .map_err(storage)?;
        self.sync_now()
    }

    fn flush_stats(&self) -> FlushStats {
        FlushStats {
            flushes: self.counters.flushes.load(Ordering::Relaxed),
            requests: self.counters.requests.load(Ordering::Relaxed),
        }
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        self.close();
    }
}
