//! The actor shell: one actix actor per live order, addressed through a registry sharded
//! across arbiters (one per core). An actor handles one command at a time, awaits included
//! (`AtomicResponse`), caches the record the store holds, and stops itself when idle; a command
//! for an order without an actor starts one, which loads the record from the store (the store
//! is the truth, style-anchors L14).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::core::{Command, CommandReply, Core, EngineError};
use crate::model::OrderRecord;
use crate::order_number::OrderNumber;

/// How long an idle actor lives before it passivates, by default.
pub const IDLE_PASSIVATION: Duration = Duration::from_secs(60);

/// A command message.
pub(crate) struct Envelope(pub(crate) Command);

impl Message for Envelope {
    type Result = Result<CommandReply, EngineError>;
}

/// The order actor.
pub(crate) struct OrderActor {
    core: Arc<Core>,
    registry: Arc<Registry>,
    order_no: OrderNumber,
    cached: Option<OrderRecord>,
    last_command: Instant,
    idle_passivation: Duration,
}

impl Actor for OrderActor {
    type Context = Context<Self>;

    fn started(&mut self, context: &mut Self::Context) {
        let idle = self.idle_passivation;
        context.run_interval(idle / 4, move |actor, context| {
            if actor.last_command.elapsed() >= idle {
                context.stop();
            }
        });
    }

    fn stopped(&mut self, context: &mut Self::Context) {
        self.registry.forget(&self.order_no, &context.address());
    }
}

impl Handler<Envelope> for OrderActor {
    type Result = AtomicResponse<Self, Result<CommandReply, EngineError>>;

    fn handle(&mut self, envelope: Envelope, _context: &mut Self::Context) -> Self::Result {
        self.last_command = Instant::now();
        let core = self.core.clone();
        let order_no = self.order_no.clone();
        let cached = self.cached.clone();
        let work = async move { core.execute(&order_no, cached, envelope.0).await };
        AtomicResponse::new(Box::pin(actix::fut::wrap_future::<_, Self>(work).map(
            |result, actor, _context| {
                // On any error the cache is dropped: the next command reloads the durable truth.
                actor.cached = result.as_ref().ok().map(|reply| reply.record.clone());
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
        core: &Arc<Core>,
        order_no: &OrderNumber,
    ) -> Option<Addr<OrderActor>> {
        let shard = self.shard_of(order_no);
        let mut actors = self.shards.get(shard)?.lock().ok()?;
        if let Some(address) = actors.get(order_no).filter(|address| address.connected()) {
            return Some(address.clone());
        }
        let arbiter = self.arbiters.get(shard)?;
        let actor = OrderActor {
            core: core.clone(),
            registry: self.clone(),
            order_no: order_no.clone(),
            cached: None,
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
        core: &Arc<Core>,
        order_no: &OrderNumber,
        command: Command,
    ) -> Result<CommandReply, EngineError> {
        for _ in 0..3 {
            let Some(address) = self.address(core, order_no) else {
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
