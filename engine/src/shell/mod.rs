//! The shell an order actor runs: load the record (or use the cache), apply one event with the
//! pure machine, commit the transition with its audit line and feed notices, flush, and hand
//! the transition's effects back to the actor, which runs them after replying and feeds their
//! outcomes back as commands (`actor.rs`). One command at a time per order is the actor's
//! guarantee; nothing here waits for WeChat while holding the order.
//!
//! - `merchants.rs`: merchant contexts and clients of a stored channel (keys, sandbox).
//! - `requests.rs`: the adapters' requests built from typed records.
//! - `effects.rs`: running one effect against WeChat, into an outcome event.
//! - `medical.rs`: running one 医保 effect (NHSA, payinsurance).
//! - `medical_notifications.rs`: verifying a payinsurance notification against its attempt.
//! - `notifications.rs`: verifying notifications against the attempt or refund they name.

mod effects;
mod medical;
mod medical_notifications;
mod merchants;
mod notifications;
mod requests;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use cashier_adapters::notify::payment::UnverifiedPaymentNotification;
use cashier_adapters::notify::refund::RefundNotification;
use cashier_adapters::{Transport, WechatPayClient};

use crate::clock::Clock;
use crate::config::EngineConfig;
use crate::error::EngineError;
use crate::feed;
use crate::keys::Keyring;
use crate::machine::{self, OrderSpec, Outcome, Transition};
use crate::metrics::{bump, Metrics};
use crate::model::*;
use crate::order_number::OrderNumber;
use crate::store::{Commit, Store};

pub(crate) use merchants::ClientKey;

/// The WeChat client of one merchant (production or sandbox).
pub(crate) type Client = Arc<WechatPayClient<Arc<dyn Transport>>>;

/// What a notification did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotificationVerdict {
    /// It changed the order (now durable).
    Applied,
    /// It was already known; nothing changed.
    Duplicate,
    /// It was verified but reports no payment (`result_code=FAIL`); nothing changed.
    Ignored,
    /// It was refused; nothing changed except, for conflicts, a durable alert.
    Rejected(String),
}

/// A command to one order.
#[derive(Clone, Debug)]
pub(crate) enum Command {
    Create(Box<OrderSpec>),
    /// A host request (start payment, refund, close, client hint, query, deadline).
    Apply(Event),
    /// An effect's outcome, sent back by the task that ran it.
    Outcome(Event),
    PaymentNotification(Box<UnverifiedPaymentNotification>),
    RefundNotification(Box<RefundNotification>),
    MedicalNotification(
        Box<cashier_adapters::medical::payinsurance::notify::UnverifiedMedicalNotification>,
    ),
    Get,
}

/// The answer to a command.
#[derive(Clone, Debug)]
pub(crate) struct CommandReply {
    pub(crate) record: OrderRecord,
    pub(crate) changed: bool,
    pub(crate) outcome: Outcome,
    pub(crate) verdict: Option<NotificationVerdict>,
    /// Effects for the actor to run once the reply is on its way.
    pub(crate) effects: Vec<Effect>,
    /// The order's progress, for callers that wait for effects (start payment).
    pub(crate) progress: Option<tokio::sync::watch::Receiver<crate::actor::Progress>>,
}

impl CommandReply {
    pub(crate) fn of(record: OrderRecord, changed: bool) -> CommandReply {
        CommandReply {
            record,
            changed,
            outcome: Outcome::Applied,
            verdict: None,
            effects: Vec::new(),
            progress: None,
        }
    }
}

/// Shared by every order actor.
pub(crate) struct Shell {
    pub(crate) config: EngineConfig,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) clients: RwLock<HashMap<ClientKey, Client>>,
    pub(crate) keyring: Keyring,
    pub(crate) metrics: Metrics,
    /// Effects running now, across every order.
    pub(crate) effects_in_flight: AtomicUsize,
    pub(crate) effects_idle: tokio::sync::Notify,
}

impl Shell {
    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// An effect's outcome was applied (or could not be delivered): one fewer in flight.
    pub(crate) fn effect_finished(&self) {
        if self.effects_in_flight.fetch_sub(1, Ordering::AcqRel) <= 1 {
            self.effects_idle.notify_waiters();
        }
    }

    /// Runs one command against one order's record.
    pub(crate) async fn execute(
        &self,
        order_no: &OrderNumber,
        cached: Option<OrderRecord>,
        command: Command,
    ) -> Result<CommandReply, EngineError> {
        bump(&self.metrics.commands);
        let record = match cached {
            Some(record) => Some(record),
            None => self.store.load(order_no)?,
        };
        let require = |record: Option<OrderRecord>| {
            record.ok_or_else(|| EngineError::UnknownOrder {
                key: order_no.to_string(),
            })
        };
        match command {
            Command::Get => Ok(CommandReply::of(require(record)?, false)),
            Command::Create(spec) => self.create(record, &spec).await,
            Command::Apply(event) => self.apply(require(record)?, event).await,
            Command::Outcome(event) => self.apply_outcome(require(record)?, event).await,
            Command::PaymentNotification(notification) => {
                self.payment_notification(require(record)?, *notification)
                    .await
            }
            Command::RefundNotification(notification) => {
                self.refund_notification(require(record)?, *notification)
                    .await
            }
            Command::MedicalNotification(notification) => {
                self.medical_notification(require(record)?, *notification)
                    .await
            }
        }
    }

    async fn create(
        &self,
        existing: Option<OrderRecord>,
        spec: &OrderSpec,
    ) -> Result<CommandReply, EngineError> {
        let now_ms = self.now_ms();
        let transition = machine::create(existing.as_ref(), spec, now_ms)?;
        let event = Event::Created {
            amount: spec.amount,
        };
        self.persist(existing.as_ref(), &transition, event, now_ms)
            .await?;
        Ok(reply_of(transition))
    }

    /// Applies one event; a refusal is the caller's error and changes nothing.
    pub(crate) async fn apply(
        &self,
        record: OrderRecord,
        event: Event,
    ) -> Result<CommandReply, EngineError> {
        let now_ms = self.now_ms();
        let transition = machine::step(&record, &event, now_ms)?;
        self.persist(Some(&record), &transition, event, now_ms)
            .await?;
        Ok(reply_of(transition))
    }

    /// Applies an effect's outcome. The machine refusing one is a bug, not a caller error: it
    /// is logged, the order keeps its durable state, and its watchdog deadline retries.
    async fn apply_outcome(
        &self,
        record: OrderRecord,
        event: Event,
    ) -> Result<CommandReply, EngineError> {
        match self.apply(record.clone(), event.clone()).await {
            Err(EngineError::Rejected(rejection)) => {
                tracing::error!(%rejection, ?event, "machine refused an effect outcome");
                Ok(CommandReply::of(record, false))
            }
            other => other,
        }
    }

    /// Commits a changed transition with its audit line and feed notices, and waits until it
    /// is durable; only then may its effects run or a notification be acknowledged.
    async fn persist(
        &self,
        previous: Option<&OrderRecord>,
        transition: &Transition,
        event: Event,
        now_ms: i64,
    ) -> Result<(), EngineError> {
        if !transition.changed {
            return Ok(());
        }
        let logged = LoggedEvent {
            revision: transition.record.revision,
            at_ms: now_ms,
            event: event.redacted(),
        };
        let notices = feed::notices(previous, &transition.record);
        self.store.commit(Commit {
            previous,
            record: &transition.record,
            event: &logged,
            notices: &notices,
        })?;
        crate::failpoints::hit("commit_before_sync");
        self.store.flush().await?;
        let alerts_before = previous.map_or(0, |previous| previous.alerts.len());
        for _ in alerts_before..transition.record.alerts.len() {
            bump(&self.metrics.alerts);
        }
        tracing::info!(order_no = %transition.record.order_no, state = ?transition.record.state,
            revision = transition.record.revision, "transition");
        Ok(())
    }
}

fn reply_of(transition: Transition) -> CommandReply {
    CommandReply {
        record: transition.record,
        changed: transition.changed,
        outcome: transition.outcome,
        verdict: None,
        effects: transition.effects,
        progress: None,
    }
}
