//! What the fuzz targets share: the simulated world's direct merchant, as notifications are
//! verified against it.

use cashier_adapters::{ApiKey, AppId, MchId, MerchantContext, SignType};

/// Merchant 10000100 (MD5, its test key) under `appid`.
pub fn merchant(appid: &str) -> Option<MerchantContext> {
    Some(MerchantContext::direct(
        AppId::new(appid).ok()?,
        MchId::new("10000100").ok()?,
        SignType::Md5,
        ApiKey::new("192006250b4c09247ec02edce69f6a2d").ok()?,
    ))
}
