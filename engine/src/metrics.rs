//! Counters the engine keeps for its host: notifications applied, deduplicated and rejected;
//! WeChat calls, retries and queries; orders rescued by a query after a lost notification.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// Live counters (atomic, shared by every actor).
        #[derive(Debug, Default)]
        pub struct Metrics {
            $($(#[$doc])* pub $name: AtomicU64,)*
        }

        /// A copy of the counters at one moment.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
        pub struct MetricsSnapshot {
            $($(#[$doc])* pub $name: u64,)*
        }

        impl MetricsSnapshot {
            /// The sum of two snapshots (runs of one store across restarts).
            pub fn plus(self, other: MetricsSnapshot) -> MetricsSnapshot {
                MetricsSnapshot {
                    $($name: self.$name + other.$name,)*
                }
            }
        }

        impl Metrics {
            /// Reads every counter.
            pub fn snapshot(&self) -> MetricsSnapshot {
                MetricsSnapshot {
                    $($name: self.$name.load(Ordering::Relaxed),)*
                }
            }
        }
    };
}

counters! {
    /// Payment notifications that changed an order.
    payment_notifications_applied,
    /// Payment notifications already known (acknowledged, nothing changed).
    payment_notifications_duplicate,
    /// Payment notifications refused (bad sign, unknown order, conflicting amount or identity).
    payment_notifications_rejected,
    /// Refund notifications that changed a refund.
    refund_notifications_applied,
    /// Refund notifications already known.
    refund_notifications_duplicate,
    /// Refund notifications refused.
    refund_notifications_rejected,
    /// Unified orders sent (retries included).
    unified_orders_sent,
    /// Requests resent with identical parameters after a retryable failure or unknown outcome.
    retries,
    /// Order queries sent.
    order_queries,
    /// Payments discovered by a query while no notification had been applied.
    queries_rescued_payment,
    /// Close requests sent.
    closes_sent,
    /// Refund requests sent (retries included).
    refunds_sent,
    /// Refund queries sent.
    refund_queries,
    /// Alerts recorded.
    alerts,
    /// Commands processed by order actors.
    commands,
    /// 医保 calls sent (NHSA, payinsurance; retries included).
    medical_calls,
    /// 医保 notifications that changed an order.
    medical_notifications_applied,
    /// 医保 notifications already known.
    medical_notifications_duplicate,
    /// 医保 notifications refused.
    medical_notifications_rejected,
}

/// Adds one.
pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}
