//! A world for engine tests: the in-process simulator as WeChat, the engine on the simulator's
//! virtual clock, notifications delivered straight into the engine's handlers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use cashier_adapters::{ApiBase, ApiKey, AppId, MchId, SignType};
use cashier_engine::clock::FnClock;
use cashier_engine::config::{EngineConfig, EntryConfig, EntryKind};
use cashier_engine::store::SledStore;
use cashier_engine::{Engine, EngineRuntime};
use cashier_harness::{NotificationSink, SimConfig, SimOptions, SimTransport, Simulator};

pub const KEY: &str = "192006250b4c09247ec02edce69f6a2d";
pub const SP_KEY: &str = "8934e7d15453e97507ef794cf7b0519d";
pub const PAYER_OFFICIAL: &str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o";
pub const PAYER_MINI: &str = "oMiniPayer0000000000000001";
pub const PAYER_SUB_MINI: &str = "oUpF8uN95-Ptaags6E_roPHg7AG0";

fn entry(name: &str, kind: EntryKind, appid: &str, sign_type: SignType) -> EntryConfig {
    EntryConfig {
        name: name.into(),
        kind,
        appid: AppId::new(appid).unwrap(),
        mch_id: MchId::new("10000100").unwrap(),
        sub_mch_id: None,
        sub_appid: None,
        sign_type,
        key: ApiKey::new(KEY).unwrap(),
        app_secret: None,
        notify_url: "http://127.0.0.1:9/wechat/pay-notify".into(),
        refund_notify_url: Some("http://127.0.0.1:9/wechat/refund-notify".into()),
        mini_program_pay_page: (kind == EntryKind::MiniProgram).then(|| "/pages/pay/pay".into()),
        h5_site: (kind == EntryKind::H5).then(|| ("https://h5.example.com".into(), "仁心医院".into())),
    }
}

/// The engine configuration matching the simulator's default world.
pub fn config() -> EngineConfig {
    let mut sp = entry("sp_mini_program", EntryKind::MiniProgram, "wx8888888888888888", SignType::Md5);
    sp.mch_id = MchId::new("1900000109").unwrap();
    sp.sub_mch_id = Some(MchId::new("1900000110").unwrap());
    sp.sub_appid = Some(AppId::new("wx2421b1c4370ec43b").unwrap());
    sp.key = ApiKey::new(SP_KEY).unwrap();
    EngineConfig {
        node_id: 1,
        order_expiry_s: 1800,
        entries: vec![
            entry("official_account", EntryKind::OfficialAccount, "wxd930ea5d5a258f4f", SignType::HmacSha256),
            entry("mini_program", EntryKind::MiniProgram, "wx1f1e2d3c4b5a6978", SignType::Md5),
            entry("app", EntryKind::App, "wx5a6b7c8d9e0f1a2b", SignType::HmacSha256),
            entry("h5", EntryKind::H5, "wxd930ea5d5a258f4f", SignType::Md5),
            entry("native", EntryKind::Native, "wxd930ea5d5a258f4f", SignType::Md5),
            sp,
        ],
    }
}

/// Delivers the simulator's notifications into the engine (the merchant's notify endpoints).
pub struct EngineSink(pub Engine);

impl NotificationSink for EngineSink {
    fn deliver<'a>(&'a self, url: &'a str, body: Vec<u8>) -> Pin<Box<dyn Future<Output = Result<(u16, Vec<u8>), String>> + Send + 'a>> {
        Box::pin(async move {
            let response = if url.ends_with("refund-notify") {
                self.0.handle_refund_notification(&body).await
            } else {
                self.0.handle_payment_notification(&body).await
            };
            Ok((200, response.ack))
        })
    }
}

pub struct World {
    pub simulator: Arc<Simulator>,
    pub engine: Engine,
    pub sink: EngineSink,
}

impl World {
    pub fn start(seed: u64) -> World {
        World::with_store(seed, Arc::new(SledStore::temporary().unwrap()))
    }

    pub fn with_store(seed: u64, store: Arc<SledStore>) -> World {
        let simulator = Arc::new(Simulator::new(SimConfig::embedded_default().unwrap(), SimOptions::deterministic(seed)));
        let clock_source = simulator.clone();
        let mut runtime = EngineRuntime::new(Arc::new(SimTransport::new(simulator.clone())), ApiBase::production());
        runtime.clock = Arc::new(FnClock(move || clock_source.now_ms()));
        runtime.nonce_seed = Some(seed);
        runtime.background_tick = None;
        runtime.arbiters = 2;
        let engine = Engine::start(config(), store, runtime).unwrap();
        World {
            simulator,
            sink: EngineSink(engine.clone()),
            engine,
        }
    }

    /// Moves virtual time, delivering notifications to the engine, then runs its deadlines.
    pub async fn advance(&self, seconds: i64) {
        let mut remaining = seconds;
        while remaining > 0 {
            let step = remaining.min(5);
            self.simulator.advance(step, &self.sink).await;
            self.engine.run_due().await.unwrap();
            remaining -= step;
        }
        self.simulator.deliver_due(&self.sink).await;
        self.engine.run_due().await.unwrap();
    }

    pub fn pay(&self, out_trade_no: &str) {
        self.simulator
            .pay(&cashier_harness::PayCommand {
                out_trade_no: Some(out_trade_no.into()),
                prepay_id: None,
                outcome: "success".into(),
                bank_type: None,
                coupons: vec![],
            })
            .unwrap();
    }
}
