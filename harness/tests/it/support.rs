//! A world for tests: a simulator served on loopback, the adapters' client pointed at it, and
//! merchant contexts for the default configuration's merchants and apps.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use cashier_adapters::endpoints::unified_order::{Payer, Trade, UnifiedOrderRequest};
use cashier_adapters::endpoints::Endpoint;
use cashier_adapters::{
    AmountFen, ApiBase, ApiKey, AppId, ChaChaNonceSource, MchId, MerchantContext, OpenId,
    OutTradeNo, ReqwestTransport, ReqwestTransportConfig, SignType, WechatError, WechatPayClient,
};
use cashier_harness::server::{self, RunningServer};
use cashier_harness::{PayCommand, ScriptedSink, SimConfig, SimOptions, Simulator};

pub const DIRECT_MCH: &str = "10000100";
pub const DIRECT_KEY: &str = "192006250b4c09247ec02edce69f6a2d";
pub const OFFICIAL_ACCOUNT: &str = "wxd930ea5d5a258f4f";
pub const MINI_PROGRAM: &str = "wx1f1e2d3c4b5a6978";
pub const APP: &str = "wx5a6b7c8d9e0f1a2b";
pub const PAYER_OFFICIAL: &str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o";
pub const SP_MCH: &str = "1900000109";
pub const SP_KEY: &str = "8934e7d15453e97507ef794cf7b0519d";
pub const SP_APPID: &str = "wx8888888888888888";
pub const SUB_MCH: &str = "1900000110";
pub const SUB_MINI: &str = "wx2421b1c4370ec43b";
pub const PAYER_SUB_MINI: &str = "oUpF8uN95-Ptaags6E_roPHg7AG0";
/// A notify URL on loopback where nothing listens: deliveries fail fast, nothing leaves.
pub const NOWHERE: &str = "http://127.0.0.1:9/notify";

pub fn direct(sign_type: SignType) -> MerchantContext {
    MerchantContext::direct(
        AppId::new(OFFICIAL_ACCOUNT).unwrap(),
        MchId::new(DIRECT_MCH).unwrap(),
        sign_type,
        ApiKey::new(DIRECT_KEY).unwrap(),
    )
}

pub fn with_app(mut merchant: MerchantContext, appid: &str) -> MerchantContext {
    merchant.appid = AppId::new(appid).unwrap();
    merchant
}

pub fn service_provider() -> MerchantContext {
    MerchantContext::service_provider(
        AppId::new(SP_APPID).unwrap(),
        MchId::new(SP_MCH).unwrap(),
        MchId::new(SUB_MCH).unwrap(),
        Some(AppId::new(SUB_MINI).unwrap()),
        SignType::Md5,
        ApiKey::new(SP_KEY).unwrap(),
    )
}

pub fn jsapi(out_trade_no: &str, total_fen: u64) -> UnifiedOrderRequest {
    UnifiedOrderRequest::new(
        OutTradeNo::new(out_trade_no).unwrap(),
        "仁心医院-门诊缴费",
        AmountFen::from_fen(total_fen),
        IpAddr::V4(Ipv4Addr::new(123, 12, 12, 123)),
        NOWHERE,
        Trade::Jsapi {
            payer: Payer::OpenId(OpenId::new(PAYER_OFFICIAL).unwrap()),
        },
    )
}

pub fn sp_mini(out_trade_no: &str, total_fen: u64) -> UnifiedOrderRequest {
    let mut request = jsapi(out_trade_no, total_fen);
    request.trade = Trade::Jsapi {
        payer: Payer::SubOpenId(OpenId::new(PAYER_SUB_MINI).unwrap()),
    };
    request
}

pub struct World {
    pub simulator: Arc<Simulator>,
    pub server: RunningServer,
    pub client: WechatPayClient<ReqwestTransport>,
}

impl World {
    pub async fn start(seed: u64) -> World {
        World::with_timeout(seed, 3_000).await
    }

    pub async fn with_timeout(seed: u64, timeout_ms: u64) -> World {
        let simulator = Arc::new(Simulator::new(
            SimConfig::embedded_default().unwrap(),
            SimOptions::deterministic(seed),
        ));
        let server = server::start(simulator.clone(), "127.0.0.1:0".parse().unwrap(), None)
            .await
            .unwrap();
        // Plain HTTP cannot check a client certificate, but the transport insists on having one
        // configured before it sends a secapi call, as it would for WeChat.
        let certificate = rcgen::generate_simple_self_signed(vec!["merchant".to_owned()]).unwrap();
        let identity = cashier_adapters::ClientIdentity::from_pem(
            certificate.cert.pem().as_bytes(),
            certificate.signing_key.serialize_pem().as_bytes(),
        );
        let transport = ReqwestTransport::new(ReqwestTransportConfig {
            timeout_ms,
            client_identity: Some(identity),
            ..ReqwestTransportConfig::default()
        })
        .unwrap();
        let client = WechatPayClient::new(
            transport,
            ApiBase::custom(server.base_url()),
            ChaChaNonceSource::seeded(seed),
        );
        World {
            simulator,
            server,
            client,
        }
    }

    pub async fn call<E: Endpoint>(
        &self,
        merchant: &MerchantContext,
        request: &E,
    ) -> Result<E::Reply, WechatError> {
        self.client.call(merchant, request).await
    }

    pub fn pay(&self, out_trade_no: &str) -> cashier_harness::SimOrder {
        self.simulator
            .pay(&PayCommand {
                out_trade_no: Some(out_trade_no.to_owned()),
                prepay_id: None,
                outcome: "success".into(),
                bank_type: None,
                coupons: vec![],
            })
            .unwrap()
    }

    /// Moves virtual time; notifications go to a merchant that acknowledges everything.
    pub async fn advance(&self, seconds: i64) {
        self.simulator
            .advance(seconds, &ScriptedSink::acknowledging())
            .await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }
}

/// The err_code of a business failure, or a description of another outcome.
pub fn err_code<T: std::fmt::Debug>(result: &Result<T, WechatError>) -> String {
    match result {
        Err(WechatError::Business { err_code, .. }) => err_code.to_string(),
        Err(WechatError::Protocol { return_msg }) => format!("protocol: {return_msg}"),
        Err(other) => format!("{other:?}"),
        Ok(reply) => format!("ok: {reply:?}"),
    }
}
