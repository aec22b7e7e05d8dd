//! `sandboxnew/pay/getsignkey` (wechatpay-v2.md §8): issues the merchant's sandbox key (the
//! same one on every call, as the sandbox does until it expires). The reply is unsigned.

use cashier_adapters::xml;

use crate::endpoints::xml_reply;
use crate::endpoints::{Call, Outcome};
use crate::state::SimResponse;

pub(crate) fn handle(call: &mut Call<'_, '_>) -> Outcome {
    Outcome::Raw(rules(call))
}

fn rules(call: &mut Call<'_, '_>) -> SimResponse {
    let state = &mut *call.state;
    let exchange = call.exchange;
    let mch_id = exchange.merchant.mch_id.clone();
    let key = match state.sandbox_keys.get(&mch_id) {
        Some(key) => key.clone(),
        None => {
            let key = state.nonce().to_lowercase();
            state.sandbox_keys.insert(mch_id.clone(), key.clone());
            key
        }
    };
    let pairs = [
        ("return_code", "SUCCESS"),
        ("return_msg", "ok"),
        ("mch_id", mch_id.as_str()),
        ("sandbox_signkey", key.as_str()),
    ];
    xml_reply(
        xml::write_with_root("xml", pairs)
            .unwrap_or_default()
            .into_bytes(),
    )
}
