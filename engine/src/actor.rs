//! The actor shell: one actix actor per live order, addressed through a registry sharded
//! across arbiters (one per core). An actor handles one command at a time, its durable commit
//! included (`AtomicResponse`), and replies as soon as the transition is durable; the
//! transition's effects (WeChat calls) then run as separate tasks whose outcomes come back to
//! the actor as commands. So an acknowledgement never waits for WeChat, and a notification
//! never waits behind another command's WeChat call. The actor caches the record the store
//! holds, publishes its progress (record and effects in flight) for callers that wait, and
//! stops itself when idle with nothing in flight; a command for an order without an actor
//! starts one, which loads the record from the store (the store is the truth, style-anchors
//! L14).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::watch;

use crate::error::EngineError;
use crate::model::{Effect, OrderRecord};
use crate::order_number::OrderNumber;
use crate::shell::{Command, CommandReply, Shell};

/// How long an idle actor lives before it passivates, by default. Long enough for the bursts
/// of one order's life (create, start, the unified order's outcome, the payer's return), short
/// enough that idle orders cost no memory: an order waiting for its payer or its next deadline
/// is only a record in the store, and the next command reloads it (one store read).
pub const IDLE_PASSIVATION: Duration = Duration::from_secs(5);

/// An order's progress as its actor last published it.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// The record after the last transition (None before the first command finished).
    pub record: Option<OrderRecord>,
    /// Effects running now.
    pub effects_in_flight: usize,
}

/// A command message.
pub(crate) struct Envelope(pub(crate) Command);

impl Message for Envelope {
    type Result = Result<CommandReply, EngineError>;
}

/// The order actor.
pub(crate) struct OrderActor {
    shell: Arc<Shell>,
    registry: Arc<Registry>,
    order_no: OrderNumber,
    effects_in_flight: usize,
    progress: watch::Sender<Progress>,
    last_command: Instant,
    idle_passivation: Duration,
}

impl Actor for OrderActor {
    type Context = Context<Self>;

    fn started(&mut self, context: &mut Self::Context) {
        self.check_idle_after(self.idle_passivation, context);
    }

    fn stopped(&mut self, context: &mut Self::Context) {
        self.registry.forget(&self.order_no, &context.address());
    }
}

impl OrderActor {
    /// One timer per actor, re-armed for the rest of the idle period when commands came
    /// meanwhile (an interval would wake every actor several times per period).
    fn check_idle_after(&self, delay: Duration, context: &mut Context<Self>) {
        context.run_later(delay, |actor, context| {
            let idle_for = actor.last_command.elapsed();
            if actor.effects_in_flight == 0 && idle_for >= actor.idle_passivation {
                context.stop();
            } else {
                let rest = actor.idle_passivation.saturating_sub(idle_for);
                actor.check_idle_after(rest.max(Duration::from_millis(100)), context);
            }
        });
    }

    /// Runs an effect as its own task; its outcome comes back as a command. The global count
    /// drops only once the outcome has been applied (its own effects counted first), so
    /// "nothing in flight" means the whole chain has settled.
    fn spawn_effect(&mut self, effect: Effect, record: OrderRecord, address: Addr<OrderActor>) {
        self.effects_in_flight += 1;
        let shell = self.shell.clone();
        shell
            .effects_in_flight
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        actix_rt::spawn(async move {
            crate::failpoints::hit("sync_before_effect");
            let outcome = shell.run_effect(&record, &effect).await;
            crate::failpoints::hit("effect_before_outcome");
            // Undelivered (the actor stopped): the watchdog deadline recovers the effect.
            let _ = address.send(Envelope(Command::Outcome(outcome))).await;
            shell.effect_finished();
        });
    }

    /// Publishes the record after a command (None after an error: the next command reloads
    /// the durable truth). The published record is also the actor's cache, so a live actor
    /// holds one copy of its record, not two.
    fn publish(&self, record: Option<OrderRecord>) {
        self.progress.send_replace(Progress {
            record,
            effects_in_flight: self.effects_in_flight,
        });
    }

    fn cached(&self) -> Option<OrderRecord> {
        self.progress.borrow().record.clone()
    }
}

impl Handler<Envelope> for OrderActor {
    type Result = AtomicResponse<Self, Result<CommandReply, EngineError>>;

    fn handle(&mut self, envelope: Envelope, _context: &mut Self::Context) -> Self::Result {
        self.last_command = Instant::now();
        let is_outcome = matches!(envelope.0, Command::Outcome(_));
        let shell = self.shell.clone();
        let order_no = self.order_no.clone();
        let cached = self.cached();
        let work = async move { shell.execute(&order_no, cached, envelope.0).await };
        AtomicResponse::new(Box::pin(actix::fut::wrap_future::<_, Self>(work).map(
            move |result, actor, context| {
                if is_outcome {
                    actor.effects_in_flight = actor.effects_in_flight.saturating_sub(1);
                }
                // On any error the cache is dropped: the next command reloads the durable truth.
                let record = result.as_ref().ok().map(|reply| reply.record.clone());
                let mut result = result;
                if let Ok(reply) = &mut result {
                    for effect in std::mem::take(&mut reply.effects) {
                        actor.spawn_effect(effect, reply.record.clone(), context.address());
                    }
                    reply.progress = Some(actor.progress.subscribe());
                }
                actor.publish(record);
                result
            },
        )))
    }
}

/// Order number → actor address, sharded across arbiters by the number's hash.
pub(crate) struct Registry {
    shards: Vec<Mutex<HashMap<OrderNumber, Addr<OrderActor>>>>,
    arbiters: Vec<ArbiterHandle>,
    idle_passivation: Duration,
}

impl Registry {
    pub(crate) fn new(arbiters: Vec<ArbiterHandle>, idle_passivation: Duration) -> Registry {
        Registry {
            shards: arbiters
                .iter()
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
            arbiters,
            idle_passivation,
        }
    }

    fn shard_of(&self, order_no: &OrderNumber) -> usize {
        // The sequence digits spread orders evenly; no hasher state is needed.
        let sequence = order_no.parts().sequence as usize;
        sequence % self.shards.len().max(1)
    }

    fn address(
        self: &Arc<Self>,
        shell: &Arc<Shell>,
        order_no: &OrderNumber,
    ) -> Option<Addr<OrderActor>> {
        let shard = self.shard_of(order_no);
        let mut actors = self.shards.get(shard)?.lock().ok()?;
        if let Some(address) = actors.get(order_no).filter(|address| address.connected()) {
            return Some(address.clone());
        }
        let arbiter = self.arbiters.get(shard)?;
        let actor = OrderActor {
            shell: shell.clone(),
            registry: self.clone(),
            order_no: order_no.clone(),
            effects_in_flight: 0,
            progress: watch::Sender::new(Progress::default()),
            last_command: Instant::now(),
            idle_passivation: self.idle_passivation,
        };
        let address = OrderActor::start_in_arbiter(arbiter, move |_| actor);
        actors.insert(order_no.clone(), address.clone());
        Some(address)
    }

    fn forget(&self, order_no: &OrderNumber, address: &Addr<OrderActor>) {
        if let Some(Ok(mut actors)) = self.shards.get(self.shard_of(order_no)).map(Mutex::lock) {
            if actors.get(order_no) == Some(address) {
                actors.remove(order_no);
            }
        }
    }

    /// Sends a command to the order's actor, starting it if needed (and again if it stopped
    /// between the lookup and the send).
    pub(crate) async fn send(
        self: &Arc<Self>,
        shell: &Arc<Shell>,
        order_no: &OrderNumber,
        command: Command,
    ) -> Result<CommandReply, EngineError> {
        for _ in 0..3 {
            let Some(address) = self.address(shell, order_no) else {
                return Err(EngineError::ShuttingDown);
            };
            match address.send(Envelope(command.clone())).await {
                Ok(result) => return result,
                Err(MailboxError::Closed) => self.forget(order_no, &address),
                Err(MailboxError::Timeout) => return Err(EngineError::ShuttingDown),
            }
        }
        Err(EngineError::ShuttingDown)
    }

    /// Live actors (for reports).
    pub(crate) fn live_actors(&self) -> usize {
        self.shards
            .iter()
            .filter_map(|shard| shard.lock().ok().map(|actors| actors.len()))
            .sum()
    }
}
