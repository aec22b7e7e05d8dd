//! Test helpers over `cashier::simulation::SimulatedWorld`.

use std::ops::Deref;
use std::sync::Arc;

use cashier::simulation::SimulatedWorld;
use cashier_engine::store::SledStore;
use cashier_harness::FaultPlan;

pub const KEY: &str = "192006250b4c09247ec02edce69f6a2d";
pub const PAYER_OFFICIAL: &str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o";
pub const PAYER_MINI: &str = "oMiniPayer0000000000000001";
pub const PAYER_SUB_MINI: &str = "oUpF8uN95-Ptaags6E_roPHg7AG0";

pub struct World(SimulatedWorld);

impl Deref for World {
    type Target = SimulatedWorld;
    fn deref(&self) -> &SimulatedWorld {
        &self.0
    }
}

impl World {
    pub fn start(seed: u64) -> World {
        World(
            SimulatedWorld::start(
                seed,
                Arc::new(SledStore::temporary().unwrap()),
                FaultPlan::none(),
                2,
            )
            .unwrap(),
        )
    }

    /// Moves virtual time in 5-second steps, notifications into the engine, deadlines run.
    pub async fn advance(&self, seconds: i64) {
        self.0.advance(seconds, 5).await.unwrap();
    }

    pub fn pay(&self, out_trade_no: &str) {
        self.0.payer(out_trade_no, "success").unwrap();
    }
}
