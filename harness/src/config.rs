//! The simulated world: merchants (and service providers with sub-merchants), the apps bound to
//! them, and payers with an openid per app linked by a unionid. Read from JSON; the embedded
//! default is `fixtures/harness/default-config.json`.

use std::collections::BTreeMap;

use cashier_adapters::{ApiKey, SignType};
use serde::{Deserialize, Serialize};

/// The default configuration, compiled in.
pub const DEFAULT_CONFIG_JSON: &str = include_str!("../../fixtures/harness/default-config.json");

/// What kind of app an appid is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppKind {
    /// 公众号.
    OfficialAccount,
    /// 小程序.
    MiniProgram,
    /// A mobile app (open platform).
    App,
}

/// An app bound to a merchant or sub-merchant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppConfig {
    /// The appid.
    pub appid: String,
    /// Its kind.
    pub kind: AppKind,
    /// The app secret its logins (`/sns/...`) must carry (test data only); none: logins refused.
    #[serde(default)]
    pub secret: Option<String>,
}

/// A sub-merchant of a service provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubMerchantConfig {
    /// `sub_mch_id`.
    pub sub_mch_id: String,
    /// A display name.
    #[serde(default)]
    pub name: String,
    /// Apps bound to the sub-merchant (usable as `sub_appid`).
    #[serde(default)]
    pub apps: Vec<AppConfig>,
}

/// A merchant; with sub-merchants it is a service provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantConfig {
    /// `mch_id`.
    pub mch_id: String,
    /// A display name.
    #[serde(default)]
    pub name: String,
    /// The APIv2 key (test data).
    pub key: String,
    /// The sign types the merchant accepts.
    pub sign_types: Vec<String>,
    /// The refund notification URL set "in the merchant platform", used when a refund request
    /// names none.
    #[serde(default)]
    pub refund_notify_url: Option<String>,
    /// Apps bound to the merchant.
    #[serde(default)]
    pub apps: Vec<AppConfig>,
    /// Sub-merchants (service providers only).
    #[serde(default)]
    pub sub_merchants: Vec<SubMerchantConfig>,
}

/// A payer: one openid per app, linked by a unionid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayerConfig {
    /// The unionid.
    pub unionid: String,
    /// appid → openid.
    pub openids: BTreeMap<String, String>,
}

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimConfig {
    /// Merchants and service providers.
    pub merchants: Vec<MerchantConfig>,
    /// Payers.
    #[serde(default)]
    pub payers: Vec<PayerConfig>,
    /// Virtual seconds a refund stays PROCESSING before it succeeds (unless told otherwise).
    #[serde(default = "default_refund_processing_s")]
    pub refund_processing_s: u32,
    /// Virtual seconds after which an order without `time_expire` closes (v2 does not document
    /// one; two hours matches the prepay_id's life).
    #[serde(default = "default_order_expiry_s")]
    pub default_order_expiry_s: u32,
    /// The 医保 side (userQuery, the NHSA centre, payinsurance), when the world has one.
    #[serde(default)]
    pub medical: Option<crate::medical::MedicalConfig>,
}

fn default_refund_processing_s() -> u32 {
    5
}

fn default_order_expiry_s() -> u32 {
    7200
}

/// Why a configuration was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not valid JSON of the expected shape.
    #[error("configuration JSON: {0}")]
    Json(String),
    /// A rule of the world is broken.
    #[error("configuration: {0}")]
    Invalid(String),
}

impl SimConfig {
    /// The embedded default world.
    pub fn embedded_default() -> Result<SimConfig, ConfigError> {
        SimConfig::from_json(DEFAULT_CONFIG_JSON)
    }

    /// Parses and validates a configuration.
    pub fn from_json(text: &str) -> Result<SimConfig, ConfigError> {
        let config: SimConfig =
            serde_json::from_str(text).map_err(|error| ConfigError::Json(error.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| Err(ConfigError::Invalid(message));
        let mut mch_ids = std::collections::BTreeSet::new();
        let mut appids = std::collections::BTreeSet::new();
        for merchant in &self.merchants {
            if !mch_ids.insert(merchant.mch_id.clone()) {
                return invalid(format!("mch_id {} appears twice", merchant.mch_id));
            }
            if ApiKey::new(merchant.key.clone()).is_err() {
                return invalid(format!(
                    "merchant {}: the key must be 32 printable ASCII bytes",
                    merchant.mch_id
                ));
            }
            if merchant.sign_types.is_empty()
                || merchant
                    .sign_types
                    .iter()
                    .any(|name| SignType::parse(name).is_none())
            {
                return invalid(format!(
                    "merchant {}: sign_types must list MD5 and/or HMAC-SHA256",
                    merchant.mch_id
                ));
            }
            let sub_apps = merchant
                .sub_merchants
                .iter()
                .flat_map(|sub| sub.apps.iter());
            for app in merchant.apps.iter().chain(sub_apps) {
                if !appids.insert(app.appid.clone()) {
                    return invalid(format!("appid {} is bound twice", app.appid));
                }
            }
            for sub in &merchant.sub_merchants {
                if !mch_ids.insert(sub.sub_mch_id.clone()) {
                    return invalid(format!("sub_mch_id {} appears twice", sub.sub_mch_id));
                }
            }
        }
        for payer in &self.payers {
            if let Some(appid) = payer.openids.keys().find(|appid| !appids.contains(*appid)) {
                return invalid(format!(
                    "payer {} has an openid for unknown appid {appid}",
                    payer.unionid
                ));
            }
        }
        Ok(())
    }

    /// The merchant with this `mch_id` (not sub-merchants).
    pub fn merchant(&self, mch_id: &str) -> Option<&MerchantConfig> {
        self.merchants
            .iter()
            .find(|merchant| merchant.mch_id == mch_id)
    }

    /// The payer's unionid for an openid under an appid, if the payer exists.
    pub fn payer_for(&self, appid: &str, openid: &str) -> Option<&PayerConfig> {
        self.payers.iter().find(|payer| {
            payer
                .openids
                .get(appid)
                .is_some_and(|known| known == openid)
        })
    }
}

impl MerchantConfig {
    /// The key as an [`ApiKey`].
    pub fn api_key(&self) -> ApiKey {
        ApiKey::new_for_diagnostics(self.key.clone())
    }

    /// True when the merchant accepts this sign type.
    pub fn accepts(&self, sign_type: SignType) -> bool {
        self.sign_types
            .iter()
            .any(|name| name == sign_type.as_str())
    }

    /// True when `appid` is bound to the merchant itself.
    pub fn owns_app(&self, appid: &str) -> bool {
        self.apps.iter().any(|app| app.appid == appid)
    }

    /// The sub-merchant with this id.
    pub fn sub_merchant(&self, sub_mch_id: &str) -> Option<&SubMerchantConfig> {
        self.sub_merchants
            .iter()
            .find(|sub| sub.sub_mch_id == sub_mch_id)
    }
}

impl SubMerchantConfig {
    /// True when `appid` is bound to this sub-merchant.
    pub fn owns_app(&self, appid: &str) -> bool {
        self.apps.iter().any(|app| app.appid == appid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_valid() {
        let config = SimConfig::embedded_default();
        assert!(config.is_ok(), "{config:?}");
    }

    #[test]
    fn bad_configs_are_refused_with_a_reason() {
        let broken_key = DEFAULT_CONFIG_JSON.replace("192006250b4c09247ec02edce69f6a2d", "short");
        assert!(matches!(
            SimConfig::from_json(&broken_key),
            Err(ConfigError::Invalid(_))
        ));
        assert!(matches!(
            SimConfig::from_json("{"),
            Err(ConfigError::Json(_))
        ));
    }
}
