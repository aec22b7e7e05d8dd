//! Builders shared by the engine's test files.

#![allow(dead_code, clippy::unwrap_used)]

use cashier_adapters::{AmountFen, AppId, MchId, OpenId, OutRefundNo, OutTradeNo, SignType};
use cashier_engine::machine::{self, OrderSpec};
use cashier_engine::model::*;
use cashier_engine::order_number::{OrderNumber, ProductType};

/// A test's short name as a 29-character attempt number (`P1` → `000…0P1`).
pub fn trade_no(name: &str) -> OutTradeNo {
    OutTradeNo::new(format!("{name:0>29}")).unwrap()
}

/// A refund number.
pub fn refund_no(name: &str) -> OutRefundNo {
    OutRefundNo::new(name).unwrap()
}

/// A request key.
pub fn key(name: &str) -> RequestKey {
    RequestKey::new(name).unwrap()
}

/// The official account entry's channel context.
pub fn official_account() -> ChannelContext {
    ChannelContext {
        entry: EntryName::new("official_account").unwrap(),
        appid: AppId::new("wxd930ea5d5a258f4f").unwrap(),
        mch_id: MchId::new("10000100").unwrap(),
        sub_appid: None,
        sub_mch_id: None,
        sign_type: SignType::HmacSha256,
        trade: TradeKind::Jsapi,
        sandbox: false,
    }
}

/// Starting a JSAPI payment of the official account entry by payer `openid`.
pub fn spec(out_trade_no: OutTradeNo, openid: &str) -> AttemptSpec {
    AttemptSpec {
        out_trade_no,
        channel: official_account(),
        notify_url: NotifyUrl::new("http://127.0.0.1:9/notify").unwrap(),
        h5_site: None,
        openid: Some(OpenId::new(openid).unwrap()),
        client_ip: "127.0.0.1".parse().unwrap(),
    }
}

/// A new order of `amount_fen`, payable for `lifetime_ms`, created at time 0.
pub fn new_order(amount_fen: u64, lifetime_ms: i64) -> OrderRecord {
    let spec = OrderSpec {
        order_no: OrderNumber::parse("00000000000000000000000000001").unwrap(),
        product_type: ProductType(1),
        amount: AmountFen::from_fen(amount_fen),
        description: Description::new("x").unwrap(),
        payer_unionid: None,
        lifetime_ms,
    };
    machine::create(None, &spec, 0).unwrap().record
}

/// Copies a directory tree (fixture stores into a test's own directory).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
