//! Durable storage behind the [`Store`] trait, implemented on sled 0.34.7 ([`SledStore`]).
//!
//! One transition is one atomic commit: the record, its lookup and query indexes, the audit
//! event, the deadline index and the host feed's notices. [`Store::flush`] makes every earlier
//! commit durable before any effect runs or any notification is acknowledged.
//!
//! - `sled_store.rs`: the sled implementation with group commit.
//! - `durability.rs`: the `fdatasync` after each group flush, and the store marker.
//! - `keys.rs`: the key layouts of the trees.
//! - `format.rs`: versioned encoding; `v1.rs`, `v1_events.rs`: format 1 and its migration.

mod durability;
mod format;
mod keys;
mod log_store;
mod overlay;
mod sled_store;
mod v1;
mod v1_events;
mod v2;
mod wal;

use std::future::Future;
use std::pin::Pin;

use cashier_adapters::OpenId;

pub use format::{decode_event, decode_record, encode, version_of, CURRENT_FORMAT};
pub use sled_store::{SledStore, StoreOptions};

use crate::feed::{FeedEntry, Notice};
use crate::model::{LoggedEvent, OrderRecord, OrderState, UnionId};
use crate::order_number::OrderNumber;

/// Why the store failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// sled reported an error (IO, corruption).
    #[error("storage: {0}")]
    Storage(String),
    /// A value was written by an unknown format version.
    #[error("stored format {0} is not known to this build")]
    UnknownFormat(u8),
    /// A value could not be decoded.
    #[error("stored value decoding: {0}")]
    Decode(String),
    /// A value of an older format could not be migrated.
    #[error("migration: {0}")]
    Migration(String),
    /// The flusher is gone (the store is shutting down).
    #[error("the store is closed")]
    Closed,
    /// The directory was a store and its data is gone (a lost or truncated log): starting
    /// afresh would forget acknowledged payments, so opening refuses.
    #[error("{0} was a cashier store and opens empty: its data is lost; restore it, or remove the directory to start a new store")]
    Lost(String),
}

impl StoreError {
    /// True for failures a retry may get past (IO); decoding and format errors are not.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Storage(_))
    }
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

/// Which orders to list (each served by an index, never a scan of all orders).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderFilter {
    /// Orders of a person (their unionid).
    UnionId(UnionId),
    /// Orders an openid started a payment of.
    OpenId(OpenId),
    /// Orders in a state now.
    State(OrderState),
    /// Orders created on a Beijing calendar day (`yyyymmdd`).
    Day(u32),
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

/// One transition to write.
#[derive(Clone, Copy, Debug)]
pub struct Commit<'a> {
    /// The record before (None for a new order).
    pub previous: Option<&'a OrderRecord>,
    /// The record after.
    pub record: &'a OrderRecord,
    /// The audit line.
    pub event: &'a LoggedEvent,
    /// What the host's feed gets.
    pub notices: &'a [Notice],
}

/// What the engine needs from storage. The store is the truth; actors only cache it.
pub trait Store: Send + Sync + 'static {
    /// The record of an order.
    fn load(&self, order_no: &OrderNumber) -> Result<Option<OrderRecord>, StoreError>;
    /// The order an attempt, refund or transaction belongs to.
    fn find(&self, index: IndexKind, key: &str) -> Result<Option<OrderNumber>, StoreError>;
    /// Writes a transition atomically (not yet durable).
    fn commit(&self, commit: Commit<'_>) -> Result<(), StoreError>;
    /// Makes every earlier commit durable.
    fn flush(&self) -> FlushFuture;
    /// Orders whose deadline is at or before `now_ms`, earliest first, at most `limit`.
    fn due(&self, now_ms: i64, limit: usize) -> Result<Vec<OrderNumber>, StoreError>;
    /// An order's audit trail.
    fn events(&self, order_no: &OrderNumber) -> Result<Vec<LoggedEvent>, StoreError>;
    /// Every order (reports, tests; a full scan).
    fn all_orders(&self) -> Result<Vec<OrderRecord>, StoreError>;
    /// Orders matching a filter, in order-number order, after `after`, at most `limit`.
    fn orders_by(
        &self,
        filter: &OrderFilter,
        after: Option<&OrderNumber>,
        limit: usize,
    ) -> Result<Vec<OrderNumber>, StoreError>;
    /// Durable feed entries after `after`, at most `limit`.
    fn feed(&self, after: u64, limit: usize) -> Result<Vec<FeedEntry>, StoreError>;
    /// The host's acknowledged feed position.
    fn feed_cursor(&self) -> Result<u64, StoreError>;
    /// Acknowledges the feed up to `sequence` (durably; never moves back).
    fn acknowledge_feed(&self, sequence: u64) -> Result<(), StoreError>;
    /// The order-number slot floors (Unix seconds per slot), empty on a new store.
    fn number_slots(&self) -> Result<Vec<i64>, StoreError>;
    /// Reserves a slot's floor durably (synchronous: it runs once a minute at most).
    fn reserve_number_slot(&self, slot: u8, until_s: i64) -> Result<(), StoreError>;
    /// Group-commit counters.
    fn flush_stats(&self) -> FlushStats;
}
