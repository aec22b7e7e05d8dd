//! Fixture loading shared by the test modules.

use std::path::PathBuf;

use cashier_adapters::{ApiKey, AppId, MchId, MerchantContext, SignType};
use serde_json::Value;

/// The repository's `fixtures/wechat_v2` folder.
pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/wechat_v2")
}

pub fn read_fixture(relative: &str) -> Vec<u8> {
    let path = fixture_dir().join(relative);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

pub fn read_json(relative: &str) -> Value {
    serde_json::from_slice(&read_fixture(relative)).unwrap()
}

/// A merchant from `fixtures/wechat_v2/merchants.json`.
pub fn merchant(name: &str) -> MerchantContext {
    let all = read_json("merchants.json");
    let entry = &all["merchants"][name];
    let text = |field: &str| entry[field].as_str().map(str::to_owned);
    MerchantContext {
        appid: AppId::new(text("appid").unwrap()).unwrap(),
        mch_id: MchId::new(text("mch_id").unwrap()).unwrap(),
        sub_appid: text("sub_appid").map(|id| AppId::new(id).unwrap()),
        sub_mch_id: text("sub_mch_id").map(|id| MchId::new(id).unwrap()),
        sign_type: SignType::parse(&text("sign_type").unwrap()).unwrap(),
        key: ApiKey::new(text("key").unwrap()).unwrap(),
    }
}

/// True when golden files should be rewritten instead of compared.
pub fn update_golden() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some()
}
