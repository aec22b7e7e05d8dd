//! Running the engine: due deadlines, waiting until every effect has settled, the audit trail,
//! order lists from indexes, the host's event feed, counters, reloading keys and client
//! certificates, shutdown.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::engine::{build_clients, Engine};
use crate::error::EngineError;
use crate::feed::FeedEntry;
use crate::metrics::MetricsSnapshot;
use crate::model::*;
use crate::order_number::OrderNumber;
use crate::shell::Command;
use crate::store::{FlushStats, OrderFilter};

impl Engine {
    /// The configured entry point named `name` (hosts check the calling app against it).
    pub fn entry(&self, name: &str) -> Option<&crate::config::EntryConfig> {
        self.shell().config.entry(name)
    }

    /// Runs every due deadline (queries, retries, closes, refund queries). Hosts on a virtual
    /// clock call it after moving time; otherwise the background timer does. Returns how many
    /// orders were woken. Their WeChat calls run after; [`Engine::settle`] waits for them.
    pub async fn run_due(&self) -> Result<usize, EngineError> {
        crate::failpoints::hit("recovery");
        let mut woken = 0;
        for _ in 0..16 {
            let now_ms = self.shell().now_ms();
            let due = self.shell().store.due(now_ms, 512)?;
            if due.is_empty() {
                break;
            }
            let mut tasks = tokio::task::JoinSet::new();
            for order_no in due {
                let engine = self.clone();
                tasks.spawn(async move {
                    engine
                        .send(&order_no, Command::Apply(Event::DeadlineReached))
                        .await
                });
                woken += 1;
                while tasks.len() >= 64 {
                    let _ = tasks.join_next().await;
                }
            }
            while tasks.join_next().await.is_some() {}
        }
        Ok(woken)
    }

    /// Waits until no effect is running anywhere (every WeChat call started has had its
    /// outcome applied), or `timeout` passes; true when settled. Simulations and tests use it.
    pub async fn settle(&self, timeout: Duration) -> bool {
        let shell = &self.inner.shell;
        let wait = async {
            loop {
                let idle = shell.effects_idle.notified();
                if shell.effects_in_flight.load(Ordering::Acquire) == 0 {
                    return;
                }
                idle.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }

    /// An order's audit trail.
    pub fn events(&self, order_no: &OrderNumber) -> Result<Vec<LoggedEvent>, EngineError> {
        Ok(self.shell().store.events(order_no)?)
    }

    /// Every stored order (reports and tests; a full scan: hosts use [`Engine::orders_by`]).
    pub fn orders(&self) -> Result<Vec<OrderRecord>, EngineError> {
        Ok(self.shell().store.all_orders()?)
    }

    /// Orders of a payer (unionid or openid), in a state, or created on a day, from indexes;
    /// `after` pages on from the last number of the previous page.
    pub fn orders_by(
        &self,
        filter: &OrderFilter,
        after: Option<&OrderNumber>,
        limit: usize,
    ) -> Result<Vec<OrderNumber>, EngineError> {
        Ok(self.shell().store.orders_by(filter, after, limit)?)
    }

    /// Durable feed entries after `after` (at most `limit`): at least once, in order.
    pub fn feed(&self, after: u64, limit: usize) -> Result<Vec<FeedEntry>, EngineError> {
        Ok(self.shell().store.feed(after, limit)?)
    }

    /// The position the host acknowledged last (0 at first).
    pub fn feed_cursor(&self) -> Result<u64, EngineError> {
        Ok(self.shell().store.feed_cursor()?)
    }

    /// Acknowledges the feed up to `sequence` (durable; it never moves back).
    pub fn acknowledge_feed(&self, sequence: u64) -> Result<(), EngineError> {
        Ok(self.shell().store.acknowledge_feed(sequence)?)
    }

    /// Reads every merchant's keys and every client certificate again and switches to them
    /// without a restart; on any failure nothing changes. During a key rotation messages
    /// verify with either key and requests are signed with the new one.
    pub fn reload_credentials(&self) -> Result<(), EngineError> {
        let clients = build_clients(&self.shell().config, &self.inner.runtime)?;
        self.shell().keyring.reload()?;
        if let Ok(mut current) = self.shell().clients.write() {
            *current = clients;
        }
        Ok(())
    }

    /// The counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.shell().metrics.snapshot()
    }

    /// Group-commit counters of the store.
    pub fn flush_stats(&self) -> FlushStats {
        self.shell().store.flush_stats()
    }

    /// Order actors alive now.
    pub fn live_actors(&self) -> usize {
        self.inner.registry.live_actors()
    }

    /// The order-number slot this run issues under.
    pub fn number_slot(&self) -> u8 {
        self.inner.numbers.slot()
    }

    /// Stops taking commands, flushes the store, and stops the actors. Work in flight is
    /// durable up to its last transition; the next start resumes it from its deadlines.
    pub async fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::Release);
        let _ = self.shell().store.flush().await;
        if let Ok(mut system) = self.inner.system.lock() {
            if let Some(system) = system.take() {
                system.stop();
            }
        }
    }
}
