//! The sled implementation of [`Store`]. Trees: `orders`, `index` (lookups and query filters),
//! `events` (audit), `deadlines`, `feed`, `meta`. Flushes are group-committed by one flusher
//! thread: every caller waiting while a flush runs is served by the next one, so concurrent
//! orders share a sync. sled's `flush_async` is not used: it deadlocks under concurrency in
//! 0.34.x (perf-anchors row 5c‴, sled#1308).
//!
//! Feed entries are numbered under one mutex held across their commit, so the feed has no
//! gaps in commit order; a reader sees only entries a finished flush made durable.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;

use crate::feed::FeedEntry;
use crate::model::{LoggedEvent, OrderRecord};
use crate::order_number::OrderNumber;
use crate::store::durability::{self, Syncer};
use crate::store::format::{self, encode, CURRENT_FORMAT};
use crate::store::keys::*;
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
    /// Flush and sync on the asking thread instead of the group-commit flusher
    /// ([`SledStore::open_inline`]).
    pub inline_flush: bool,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            cache_bytes: 32 * 1024 * 1024,
            inline_flush: false,
        }
    }
}

/// The sled store.
pub struct SledStore {
    db: sled::Db,
    orders: sled::Tree,
    index: sled::Tree,
    events: sled::Tree,
    deadlines: sled::Tree,
    feed: sled::Tree,
    meta: sled::Tree,
    next_sequence: Mutex<u64>,
    flush_requests: Mutex<Option<mpsc::Sender<FlushRequest>>>,
    flusher: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Set for a store that flushes on the caller's thread (`open_inline`): its syncer.
    inline: Option<Mutex<Option<Syncer>>>,
    counters: Arc<Counters>,
    /// The directory whose files are synced (none for a temporary store).
    sync_path: Option<std::path::PathBuf>,
}

impl SledStore {
    /// Opens (or creates) a store in `path`, migrating a store of an older format first. Every
    /// flush is followed by `fdatasync`; a directory that was a store and opens empty is refused.
    pub fn open(path: &std::path::Path) -> Result<SledStore, StoreError> {
        SledStore::open_with(path, StoreOptions::default())
    }

    /// Opens a store that flushes and syncs on the thread that asks, with no flusher thread
    /// (and so no group commit): a single-threaded simulation then has no hand-off whose
    /// timing would reorder its wake-ups, and replays exactly.
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
        let inline = options.inline_flush;
        let existed = durability::was_created(path);
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(options.cache_bytes)
            .open()
            .map_err(storage)?;
        let empty = db.open_tree("orders").map_err(storage)?.is_empty()
            && db.open_tree("meta").map_err(storage)?.is_empty();
        if existed && empty {
            return Err(StoreError::Lost(path.display().to_string()));
        }
        let syncer = Syncer::open(path)?;
        let store = SledStore::from_db(db, Some(syncer), inline)?;
        if !existed {
            // The format key written at upgrade is synced; only then is the marker written.
            durability::mark_created(path)?;
        }
        Ok(store)
    }

    /// A store in a temporary directory removed on drop (tests; flushed, never synced).
    pub fn temporary() -> Result<SledStore, StoreError> {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .map_err(storage)?;
        SledStore::from_db(db, None, false)
    }

    fn from_db(
        db: sled::Db,
        syncer: Option<Syncer>,
        inline: bool,
    ) -> Result<SledStore, StoreError> {
        let open = |name: &str| db.open_tree(name).map_err(storage);
        let feed = open("feed")?;
        let last_sequence = match feed.last().map_err(storage)? {
            Some((key, _)) => sequence_of(&key)?,
            None => 0,
        };
        let (sender, receiver) = mpsc::channel::<FlushRequest>();
        let sync_path = syncer.as_ref().map(Syncer::dir);
        let counters = Arc::new(Counters::default());
        counters
            .committed_sequence
            .store(last_sequence, Ordering::Release);
        counters
            .durable_sequence
            .store(last_sequence, Ordering::Release);
        let (flusher_thread, inline) = if inline {
            (None, Some(Mutex::new(syncer)))
        } else {
            let flusher_db = db.clone();
            let flusher_counters = counters.clone();
            let thread = std::thread::Builder::new()
                .name("cashier-flusher".into())
                .spawn(move || flusher(flusher_db, syncer, receiver, flusher_counters))
                .map_err(storage)?;
            (Some(thread), None)
        };
        let store = SledStore {
            orders: open("orders")?,
            index: open("index")?,
            events: open("events")?,
            deadlines: open("deadlines")?,
            meta: open("meta")?,
            feed,
            db,
            next_sequence: Mutex::new(last_sequence + 1),
            flush_requests: Mutex::new(Some(sender)),
            flusher: Mutex::new(flusher_thread),
            inline,
            counters,
            sync_path,
        };
        store.upgrade()?;
        Ok(store)
    }

    /// Flushes and syncs now, on the caller's thread (rare meta writes: format, slots, cursor).
    fn sync_now(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(storage)?;
        match &self.sync_path {
            Some(path) => Syncer::open(path)?.sync(),
            None => Ok(()),
        }
    }

    /// Stops the flusher after serving pending flushes, and waits for it (so the directory's
    /// lock is released once the store is dropped).
    pub fn close(&self) {
        if let Ok(mut sender) = self.flush_requests.lock() {
            sender.take();
        }
        let handle = self
            .flusher
            .lock()
            .ok()
            .and_then(|mut handle| handle.take());
        if let Some(handle) = handle {
            let _ = handle.join();
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
        let format = match (&stored, self.orders.is_empty()) {
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
        for entry in self.orders.iter() {
            let (_, bytes) = entry.map_err(storage)?;
            let record = format::decode_record(&bytes)?;
            self.orders
                .insert(record.order_no.as_str().as_bytes(), encode(&record)?)
                .map_err(storage)?;
            for key in index_keys(&record) {
                self.index
                    .insert(key.as_slice(), index_value(&record, &key))
                    .map_err(storage)?;
            }
        }
        for entry in self.events.iter() {
            let (key, bytes) = entry.map_err(storage)?;
            if format::version_of(&bytes) != Some(CURRENT_FORMAT) {
                let event = format::decode_event(&bytes)?;
                self.events.insert(key, encode(&event)?).map_err(storage)?;
            }
        }
        Ok(())
    }

    fn write(&self, commit: &Commit<'_>, sequence: u64) -> Result<(), StoreError> {
        let order_no = commit.record.order_no.as_str();
        let record_bytes = encode(commit.record)?;
        let event_bytes = encode(commit.event)?;
        let entries = feed_entries(commit, sequence)?;
        let known = commit.previous.map(index_keys).unwrap_or_default();
        let fresh = index_keys(commit.record);
        let added: Vec<&Vec<u8>> = fresh.iter().filter(|key| !known.contains(key)).collect();
        let removed: Vec<&Vec<u8>> = known.iter().filter(|key| !fresh.contains(key)).collect();
        let old_deadline = commit.previous.and_then(|previous| previous.deadline_ms);
        let new_deadline = commit.record.deadline_ms;
        let result: Result<(), TransactionError<()>> = (
            &self.orders,
            &self.index,
            &self.events,
            &self.deadlines,
            &self.feed,
        )
            .transaction(|(orders, index, events, deadlines, feed)| {
                orders.insert(order_no.as_bytes(), record_bytes.as_slice())?;
                for key in &added {
                    index.insert(key.as_slice(), index_value(commit.record, key))?;
                }
                for key in &removed {
                    index.remove(key.as_slice())?;
                }
                events.insert(
                    event_key(order_no, commit.event.revision),
                    event_bytes.as_slice(),
                )?;
                move_deadline(deadlines, order_no, old_deadline, new_deadline)?;
                for (key, bytes) in &entries {
                    feed.insert(key.as_slice(), bytes.as_slice())?;
                }
                Ok::<(), ConflictableTransactionError<()>>(())
            });
        result.map_err(|error| storage(format!("{error:?}")))
    }
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

fn move_deadline(
    deadlines: &TransactionalTree,
    order_no: &str,
    old: Option<i64>,
    new: Option<i64>,
) -> Result<(), ConflictableTransactionError<()>> {
    if old == new {
        return Ok(());
    }
    if let Some(old) = old {
        deadlines.remove(deadline_key(old, order_no))?;
    }
    if let Some(new) = new {
        deadlines.insert(deadline_key(new, order_no), &[] as &[u8])?;
    }
    Ok(())
}

/// The group-commit loop: takes one request, gathers every request queued meanwhile, flushes
/// and syncs once, answers them all. Feed entries committed before the flush started are
/// durable after it.
fn flusher(
    db: sled::Db,
    mut syncer: Option<Syncer>,
    receiver: mpsc::Receiver<FlushRequest>,
    counters: Arc<Counters>,
) {
    while let Ok(first) = receiver.recv() {
        let mut waiting = vec![first];
        while let Ok(next) = receiver.try_recv() {
            waiting.push(next);
        }
        let result = flush_and_sync(&db, &mut syncer, &counters, waiting.len() as u64);
        for waiter in waiting {
            let _ = waiter.send(result.clone());
        }
    }
}

/// One flush and sync serving `requests` flush requests; feed entries committed before it
/// started are durable once it succeeds.
fn flush_and_sync(
    db: &sled::Db,
    syncer: &mut Option<Syncer>,
    counters: &Counters,
    requests: u64,
) -> Result<(), StoreError> {
    let covered = counters.committed_sequence.load(Ordering::Acquire);
    let result = db
        .flush()
        .map(|_| ())
        .map_err(storage)
        .and_then(|()| match syncer {
            Some(syncer) => syncer.sync(),
            None => Ok(()),
        });
    if result.is_ok() {
        counters
            .durable_sequence
            .fetch_max(covered, Ordering::AcqRel);
    }
    counters.flushes.fetch_add(1, Ordering::Relaxed);
    counters.requests.fetch_add(requests, Ordering::Relaxed);
    result
}

impl Store for SledStore {
    fn load(&self, order_no: &OrderNumber) -> Result<Option<OrderRecord>, StoreError> {
        match self
            .orders
            .get(order_no.as_str().as_bytes())
            .map_err(storage)?
        {
            None => Ok(None),
            Some(bytes) => format::decode_record(&bytes).map(Some),
        }
    }

    fn find(&self, index: IndexKind, key: &str) -> Result<Option<OrderNumber>, StoreError> {
        match self.index.get(lookup_key(index, key)).map_err(storage)? {
            None => Ok(None),
            Some(bytes) => OrderNumber::parse(String::from_utf8_lossy(&bytes).into_owned())
                .map(Some)
                .map_err(|error| StoreError::Decode(error.to_string())),
        }
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
        if let Some(syncer) = &self.inline {
            let result = match syncer.lock() {
                Ok(mut syncer) => flush_and_sync(&self.db, &mut syncer, &self.counters, 1),
                Err(_) => Err(StoreError::Closed),
            };
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
        for entry in self.deadlines.range(..end).take(limit) {
            let (key, _) = entry.map_err(storage)?;
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
        self.events
            .scan_prefix(prefix)
            .map(|entry| {
                entry
                    .map_err(storage)
                    .and_then(|(_, bytes)| format::decode_event(&bytes))
            })
            .collect()
    }

    fn all_orders(&self) -> Result<Vec<OrderRecord>, StoreError> {
        self.orders
            .iter()
            .map(|entry| {
                entry
                    .map_err(storage)
                    .and_then(|(_, bytes)| format::decode_record(&bytes))
            })
            .collect()
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
        let mut orders = Vec::new();
        for entry in self.index.range(start..) {
            let (key, _) = entry.map_err(storage)?;
            let Some(order_no) = key.strip_prefix(prefix.as_slice()) else {
                break;
            };
            let order_no = OrderNumber::parse(String::from_utf8_lossy(order_no).into_owned())
                .map_err(|error| StoreError::Decode(error.to_string()))?;
            orders.push(order_no);
            if orders.len() >= limit {
                break;
            }
        }
        Ok(orders)
    }

    fn feed(&self, after: u64, limit: usize) -> Result<Vec<FeedEntry>, StoreError> {
        let durable = self.counters.durable_sequence.load(Ordering::Acquire);
        let start = after.saturating_add(1);
        if start > durable {
            return Ok(Vec::new());
        }
        self.feed
            .range(start.to_be_bytes()..=durable.to_be_bytes())
            .take(limit)
            .map(|entry| {
                entry
                    .map_err(storage)
                    .and_then(|(_, bytes)| format::decode_feed(&bytes))
            })
            .collect()
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
