//! Builders shared by the engine's test files.

#![allow(dead_code)]

use cashier_engine::model::*;

/// A JSAPI attempt of the official account entry, about to be sent.
pub fn attempt(out_trade_no: &str, total_fen: u64) -> PaymentAttempt {
    PaymentAttempt {
        out_trade_no: out_trade_no.into(),
        channel: ChannelContext {
            entry: "official_account".into(),
            appid: "wxd930ea5d5a258f4f".into(),
            mch_id: "10000100".into(),
            sub_appid: None,
            sub_mch_id: None,
            sign_type: "HMAC-SHA256".into(),
            trade_type: "JSAPI".into(),
        },
        request: AttemptRequest {
            body: "x".into(),
            total_fen,
            client_ip: "127.0.0.1".into(),
            notify_url: "http://127.0.0.1:9/notify".into(),
            openid: Some("o1".into()),
            sub_openid: None,
            product_id: None,
            h5_site: None,
            time_start_s: 0,
            time_expire_s: 1800,
            attach: String::new(),
        },
        state: AttemptState::Sending,
        created_ms: 0,
        sends: 0,
        queries: 0,
        next_action_ms: None,
        close_sends: 0,
    }
}
