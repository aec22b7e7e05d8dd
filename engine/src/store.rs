//! Durable storage behind the [`Store`] trait, implemented on sled 0.34.7.
//!
//! Each transition is one atomic multi-tree transaction (record, lookup indexes, the audit
//! event, the deadline index), made durable by [`Store::flush`] before any effect runs or any
//! notification is acknowledged. Flushes are group-committed by one flusher thread: every
//! caller waiting while a flush runs is served by the next one, so concurrent orders share an
//! fsync. sled's `flush_async` is not used: it deadlocks under concurrency in 0.34.x
//! (perf-anchors row 5c‴, sled#1308).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use crate::model::{LoggedEvent, OrderRecord, RECORD_FORMAT_VERSION};
use crate::order_number::OrderNumber;

/// Why the store failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// sled reported an error (IO, corruption).
    #[error("storage: {0}")]
    Storage(String),
    /// A record was written by an unknown format version.
    #[error("record format version {0} is not known to this build")]
    UnknownFormat(u8),
    /// A record could not be decoded.
    #[error("record decoding: {0}")]
    Decode(String),
    /// The flusher is gone (the store is shutting down).
    #[error("the store is closed")]
    Closed,
}

/// The lookup indexes: WeChat-side numbers → business order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexKind {
    /// `out_trade_no` of an attempt.
    OutTradeNo,
    /// `out_refund_no` of a refund.
    OutRefundNo,
    /// `transaction_id` of a paid attempt.
    TransactionId,
}

impl IndexKind {
    fn prefix(self) -> &'static [u8] {
        match self {
            IndexKind::OutTradeNo => b"t:",
            IndexKind::OutRefundNo => b"r:",
            IndexKind::TransactionId => b"x:",
        }
    }
}

/// A durable flush in progress.
pub type FlushFuture = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>;

/// Counters of the group commit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlushStats {
    /// Flushes made.
    pub flushes: u64,
    /// Flush requests served.
    pub requests: u64,
}

/// What the engine needs from storage. The store is the truth; actors only cache it.
pub trait Store: Send + Sync + 'static {
    /// The record of an order.
    fn load(&self, order_no: &str) -> Result<Option<OrderRecord>, StoreError>;
    /// The order an attempt, refund or transaction belongs to.
    fn find(&self, index: IndexKind, key: &str) -> Result<Option<OrderNumber>, StoreError>;
    /// Writes a transition atomically (not yet durable): the record, its indexes, the audit
    /// event and the deadline index. `previous` is the record before the transition.
    fn commit(
        &self,
        previous: Option<&OrderRecord>,
        record: &OrderRecord,
        event: Option<&LoggedEvent>,
    ) -> Result<(), StoreError>;
    /// Makes every earlier commit durable.
    fn flush(&self) -> FlushFuture;
    /// Orders whose deadline is at or before `now_ms`, earliest first, at most `limit`.
    fn due(&self, now_ms: i64, limit: usize) -> Result<Vec<OrderNumber>, StoreError>;
    /// An order's audit trail.
    fn events(&self, order_no: &str) -> Result<Vec<LoggedEvent>, StoreError>;
    /// Every order (for reports and invariant checks).
    fn all_orders(&self) -> Result<Vec<OrderRecord>, StoreError>;
    /// The order-number timestamp floor reserved so far (Unix seconds).
    fn number_floor(&self) -> Result<i64, StoreError>;
    /// Reserves the floor durably (synchronous: it runs once an hour).
    fn reserve_number_floor(&self, until_s: i64) -> Result<(), StoreError>;
    /// Group-commit counters.
    fn flush_stats(&self) -> FlushStats;
}

fn storage(error: impl std::fmt::Display) -> StoreError {
    StoreError::Storage(error.to_string())
}

/// Encodes a value with the format version byte first.
pub fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let mut bytes = vec![RECORD_FORMAT_VERSION];
    let body = bincode::serde::encode_to_vec(value, bincode::config::standard())
        .map_err(|error| StoreError::Decode(error.to_string()))?;
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

/// Decodes a value written by [`encode`], refusing unknown format versions.
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    let (version, body) = bytes
        .split_first()
        .ok_or_else(|| StoreError::Decode("empty record".into()))?;
    if *version != RECORD_FORMAT_VERSION {
        return Err(StoreError::UnknownFormat(*version));
    }
    bincode::serde::decode_from_slice(body, bincode::config::standard())
        .map(|(value, _)| value)
        .map_err(|error| StoreError::Decode(error.to_string()))
}

fn deadline_key(at_ms: i64, order_no: &str) -> Vec<u8> {
    // Deadlines are after 1970; the big-endian bytes of a non-negative i64 sort numerically.
    let mut key = at_ms.max(0).to_be_bytes().to_vec();
    key.extend_from_slice(order_no.as_bytes());
    key
}

fn event_key(order_no: &str, revision: u64) -> Vec<u8> {
    let mut key = order_no.as_bytes().to_vec();
    key.push(b'/');
    key.extend_from_slice(&revision.to_be_bytes());
    key
}

/// The lookup keys of a record: its attempts' `out_trade_no`, paid attempts' `transaction_id`
/// and refunds' `out_refund_no`.
fn index_keys(record: &OrderRecord) -> Vec<Vec<u8>> {
    let key = |kind: IndexKind, value: &str| {
        let mut key = kind.prefix().to_vec();
        key.extend_from_slice(value.as_bytes());
        key
    };
    let mut keys = Vec::with_capacity(record.attempts.len() * 2 + record.refunds.len());
    for attempt in &record.attempts {
        keys.push(key(IndexKind::OutTradeNo, &attempt.out_trade_no));
        if let crate::model::AttemptState::Paid { transaction_id, .. } = &attempt.state {
            keys.push(key(IndexKind::TransactionId, transaction_id));
        }
    }
    for refund in &record.refunds {
        keys.push(key(IndexKind::OutRefundNo, &refund.out_refund_no));
    }
    keys
}

type FlushRequest = tokio::sync::oneshot::Sender<Result<(), StoreError>>;

/// The sled implementation.
pub struct SledStore {
    db: sled::Db,
    orders: sled::Tree,
    index: sled::Tree,
    events: sled::Tree,
    deadlines: sled::Tree,
    meta: sled::Tree,
    flush_requests: Mutex<Option<mpsc::Sender<FlushRequest>>>,
    stats: Arc<(AtomicU64, AtomicU64)>,
}

impl SledStore {
    /// Opens (or creates) a store in `path`.
    pub fn open(path: &std::path::Path) -> Result<SledStore, StoreError> {
        let db = sled::Config::new().path(path).open().map_err(storage)?;
        SledStore::from_db(db)
    }

    /// A store in a temporary directory removed on drop (tests).
    pub fn temporary() -> Result<SledStore, StoreError> {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .map_err(storage)?;
        SledStore::from_db(db)
    }

    fn from_db(db: sled::Db) -> Result<SledStore, StoreError> {
        let open = |name: &str| db.open_tree(name).map_err(storage);
        let (sender, receiver) = mpsc::channel::<FlushRequest>();
        let stats: Arc<(AtomicU64, AtomicU64)> = Arc::default();
        let flusher_db = db.clone();
        let flusher_stats = stats.clone();
        std::thread::Builder::new()
            .name("cashier-flusher".into())
            .spawn(move || flusher(flusher_db, receiver, flusher_stats))
            .map_err(storage)?;
        Ok(SledStore {
            orders: open("orders")?,
            index: open("index")?,
            events: open("events")?,
            deadlines: open("deadlines")?,
            meta: open("meta")?,
            db,
            flush_requests: Mutex::new(Some(sender)),
            stats,
        })
    }

    /// Stops the flusher after serving pending flushes.
    pub fn close(&self) {
        if let Ok(mut sender) = self.flush_requests.lock() {
            sender.take();
        }
    }
}

/// The group-commit loop: takes one request, gathers every request queued meanwhile, flushes
/// once, answers them all.
fn flusher(
    db: sled::Db,
    receiver: mpsc::Receiver<FlushRequest>,
    stats: Arc<(AtomicU64, AtomicU64)>,
) {
    while let Ok(first) = receiver.recv() {
        let mut waiting = vec![first];
        while let Ok(next) = receiver.try_recv() {
            waiting.push(next);
        }
        let result = db.flush().map(|_| ()).map_err(storage);
        stats.0.fetch_add(1, Ordering::Relaxed);
        stats.1.fetch_add(waiting.len() as u64, Ordering::Relaxed);
        for waiter in waiting {
            let _ = waiter.send(result.clone());
        }
    }
}

impl Store for SledStore {
    fn load(&self, order_no: &str) -> Result<Option<OrderRecord>, StoreError> {
        match self.orders.get(order_no.as_bytes()).map_err(storage)? {
            None => Ok(None),
            Some(bytes) => decode(&bytes).map(Some),
        }
    }

    fn find(&self, index: IndexKind, key: &str) -> Result<Option<OrderNumber>, StoreError> {
        let mut full = index.prefix().to_vec();
        full.extend_from_slice(key.as_bytes());
        match self.index.get(full).map_err(storage)? {
            None => Ok(None),
            Some(bytes) => OrderNumber::parse(String::from_utf8_lossy(&bytes).into_owned())
                .map(Some)
                .map_err(|error| StoreError::Decode(error.to_string())),
        }
    }

    fn commit(
        &self,
        previous: Option<&OrderRecord>,
        record: &OrderRecord,
        event: Option<&LoggedEvent>,
    ) -> Result<(), StoreError> {
        let order_no = record.order_no.as_str();
        let record_bytes = encode(record)?;
        let event_bytes = match event {
            Some(event) => Some(encode(event)?),
            None => None,
        };
        // Only keys the transition adds are written: the others are already in the index.
        let known = previous.map(index_keys).unwrap_or_default();
        let index_entries: Vec<Vec<u8>> = index_keys(record)
            .into_iter()
            .filter(|key| !known.contains(key))
            .collect();
        let old_deadline = previous.and_then(|previous| previous.deadline_ms);
        let result: Result<(), TransactionError<()>> =
            (&self.orders, &self.index, &self.events, &self.deadlines).transaction(
                |(orders, index, events, deadlines)| {
                    orders.insert(order_no.as_bytes(), record_bytes.as_slice())?;
                    for key in &index_entries {
                        index.insert(key.as_slice(), order_no.as_bytes())?;
                    }
                    if let (Some(event), Some(bytes)) = (event, &event_bytes) {
                        events.insert(event_key(order_no, event.revision), bytes.as_slice())?;
                    }
                    if old_deadline != record.deadline_ms {
                        if let Some(old) = old_deadline {
                            deadlines.remove(deadline_key(old, order_no))?;
                        }
                        if let Some(new) = record.deadline_ms {
                            deadlines.insert(deadline_key(new, order_no), &[] as &[u8])?;
                        }
                    }
                    Ok::<(), ConflictableTransactionError<()>>(())
                },
            );
        result.map_err(|error| storage(format!("{error:?}")))
    }

    fn flush(&self) -> FlushFuture {
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

    fn events(&self, order_no: &str) -> Result<Vec<LoggedEvent>, StoreError> {
        let mut prefix = order_no.as_bytes().to_vec();
        prefix.push(b'/');
        self.events
            .scan_prefix(prefix)
            .map(|entry| entry.map_err(storage).and_then(|(_, bytes)| decode(&bytes)))
            .collect()
    }

    fn all_orders(&self) -> Result<Vec<OrderRecord>, StoreError> {
        self.orders
            .iter()
            .map(|entry| entry.map_err(storage).and_then(|(_, bytes)| decode(&bytes)))
            .collect()
    }

    fn number_floor(&self) -> Result<i64, StoreError> {
        match self.meta.get(b"number_floor_s").map_err(storage)? {
            None => Ok(0),
            Some(bytes) => {
                let array: [u8; 8] = bytes
                    .as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Decode("number floor".into()))?;
                Ok(i64::from_be_bytes(array))
            }
        }
    }

    fn reserve_number_floor(&self, until_s: i64) -> Result<(), StoreError> {
        self.meta
            .fetch_and_update(b"number_floor_s", |old| {
                let old = old
                    .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
                    .map(i64::from_be_bytes)
                    .unwrap_or(0);
                Some(old.max(until_s).to_be_bytes().to_vec())
            })
            .map_err(storage)?;
        self.db.flush().map_err(storage)?;
        Ok(())
    }

    fn flush_stats(&self) -> FlushStats {
        FlushStats {
            flushes: self.stats.0.load(Ordering::Relaxed),
            requests: self.stats.1.load(Ordering::Relaxed),
        }
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        self.close();
    }
}
