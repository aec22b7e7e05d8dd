//! 医保 entries of the configuration: which order-number channel (50–59), which v2 entry is
//! the payinsurance merchant (its appid identifies the payer, its mch_id's key signs, its
//! transport carries the calls), the hospital's NHSA codes, where the three 医保 services are,
//! and their credentials (the NHSA appId/secret and SM2 keys, Tencent's partner secret, the
//! `access_token`), read from the environment or files the configuration names, or handed in
//! by the host.

use std::sync::Arc;

use cashier_adapters::medical::nhsa::envelope::NhsaCredentials;
use cashier_adapters::medical::sm::{Sm2PrivateKey, Sm2PublicKey};
use cashier_adapters::medical::user_query::PartnerCredentials;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::config::{ConfigError, SecretSource};
use crate::model::{EntryName, MedicalId, MedicalText, NotifyUrl};
use crate::order_number::Channel;

/// The secrets a 医保 entry calls with. `Debug` shows none of them.
#[derive(Clone)]
pub struct MedicalCredentials {
    /// The NHSA appId, secret and SM2 keys.
    pub nhsa: NhsaCredentials,
    /// Tencent's userQuery partner.
    pub partner: PartnerCredentials,
    /// The payinsurance `access_token` (the host refreshes it with `set_access_token`).
    access_token: Arc<std::sync::RwLock<Zeroizing<String>>>,
}

impl std::fmt::Debug for MedicalCredentials {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("MedicalCredentials")
            .field("nhsa", &self.nhsa)
            .field("partner", &self.partner)
            .field("access_token", &"***")
            .finish()
    }
}

impl MedicalCredentials {
    /// Credentials from their parts.
    pub fn new(
        nhsa: NhsaCredentials,
        partner: PartnerCredentials,
        access_token: String,
    ) -> MedicalCredentials {
        MedicalCredentials {
            nhsa,
            partner,
            access_token: Arc::new(std::sync::RwLock::new(Zeroizing::new(access_token))),
        }
    }

    /// The current `access_token`.
    pub fn access_token(&self) -> String {
        self.access_token
            .read()
            .map(|token| token.as_str().to_owned())
            .unwrap_or_default()
    }

    /// Replaces the `access_token` (it lives two hours; the host's token service renews it).
    pub fn set_access_token(&self, token: String) {
        if let Ok(mut current) = self.access_token.write() {
            *current = Zeroizing::new(token);
        }
    }
}

/// One 医保 entry, resolved and validated.
#[derive(Clone, Debug)]
pub struct MedicalEntryConfig {
    /// The name the host uses for it.
    pub name: EntryName,
    /// The order-number channel of its payments: 50 in the mini program (the jump by
    /// `navigateToMiniProgram`), 51 from the official-account H5 site (redirect to `pay_url`);
    /// 52–59 are free for more 医保 entries.
    pub channel: Channel,
    /// The v2 entry whose merchant places the payinsurance orders.
    pub merchant_entry: EntryName,
    /// The payinsurance `notify_url`.
    pub notify_url: NotifyUrl,
    /// `return_url` for the official-account H5 flow.
    pub return_url: Option<NotifyUrl>,
    /// The hospital's name (`hospital_name`).
    pub hospital_name: MedicalText,
    /// The NHSA 定点医药机构编码 (`orgCodg`, payinsurance `org_no`).
    pub org_code: MedicalId,
    /// The payinsurance `channel_no` (渠道号).
    pub channel_no: MedicalId,
    /// 医疗类别 sent with 6201 when the host names none (`12`: 门诊挂号).
    pub default_med_type: MedicalId,
    /// The NHSA centre's base URL.
    pub nhsa_url: String,
    /// Tencent's userQuery base URL.
    pub user_query_url: String,
    /// WeChat's payinsurance base URL.
    pub payinsurance_url: String,
    /// The secrets (from the configured sources, or handed in by the host).
    pub credentials: Option<MedicalCredentials>,
}

/// Where each secret of a 医保 entry comes from.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MedicalSecretsFile {
    nhsa_app_secret: SecretSource,
    /// The hospital's SM2 private key, hex.
    hospital_private_key: SecretSource,
    partner_secret: SecretSource,
    access_token: SecretSource,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MedicalEntryFile {
    name: String,
    channel: u8,
    merchant_entry: String,
    notify_url: String,
    #[serde(default)]
    return_url: Option<String>,
    hospital_name: String,
    org_code: String,
    channel_no: String,
    #[serde(default = "default_med_type")]
    default_med_type: String,
    nhsa_url: String,
    user_query_url: String,
    #[serde(default = "default_payinsurance_url")]
    payinsurance_url: String,
    nhsa_app_id: String,
    /// The centre's SM2 public key, hex SEC1 (public: may be written here).
    platform_public_key: String,
    partner_id: String,
    #[serde(default)]
    secrets: Option<MedicalSecretsFile>,
}

fn default_med_type() -> String {
    "12".into()
}

fn default_payinsurance_url() -> String {
    "https://api.weixin.qq.com".into()
}

fn error(entry: &str, field: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Field {
        entry: entry.to_owned(),
        field,
        reason: reason.into(),
    }
}

fn hex(entry: &str, field: &'static str, text: &str) -> Result<Vec<u8>, ConfigError> {
    let text = text.trim();
    if text.len() % 2 != 0 || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(error(entry, field, "must be hex"));
    }
    (0..text.len())
        .step_by(2)
        .map(|index| {
            u8::from_str_radix(&text[index..index + 2], 16)
                .map_err(|_| error(entry, field, "must be hex"))
        })
        .collect()
}

fn url(entry: &str, field: &'static str, text: String) -> Result<String, ConfigError> {
    let ok = (text.starts_with("https://") || text.starts_with("http://"))
        && !text.contains('?')
        && text.bytes().all(|byte| (0x21..=0x7e).contains(&byte));
    ok.then_some(text)
        .ok_or_else(|| error(entry, field, "an absolute http(s) URL without a query"))
}

fn typed<T>(
    entry: &str,
    field: &'static str,
    made: Result<T, crate::model::TextError>,
) -> Result<T, ConfigError> {
    made.map_err(|reason| error(entry, field, reason.to_string()))
}

fn read_secret(
    entry: &str,
    field: &'static str,
    source: &SecretSource,
) -> Result<String, ConfigError> {
    source.read().map_err(|reason| error(entry, field, reason))
}

impl MedicalEntryFile {
    fn credentials(&self, name: &str) -> Result<Option<MedicalCredentials>, ConfigError> {
        let Some(secrets) = &self.secrets else {
            return Ok(None);
        };
        let private_hex = Zeroizing::new(read_secret(
            name,
            "hospital_private_key",
            &secrets.hospital_private_key,
        )?);
        let private_key =
            Sm2PrivateKey::from_bytes(&hex(name, "hospital_private_key", &private_hex)?)
                .map_err(|_| error(name, "hospital_private_key", "not an SM2 private key"))?;
        let platform_key = Sm2PublicKey::from_sec1(&hex(
            name,
            "platform_public_key",
            &self.platform_public_key,
        )?)
        .map_err(|_| error(name, "platform_public_key", "not an SM2 public key"))?;
        let nhsa = NhsaCredentials::new(
            self.nhsa_app_id.clone(),
            read_secret(name, "nhsa_app_secret", &secrets.nhsa_app_secret)?,
            private_key,
            platform_key,
        );
        let partner = PartnerCredentials::new(
            self.partner_id.clone(),
            read_secret(name, "partner_secret", &secrets.partner_secret)?,
        );
        let token = read_secret(name, "access_token", &secrets.access_token)?;
        Ok(Some(MedicalCredentials::new(nhsa, partner, token)))
    }

    /// Validates the entry; credentials are read now when the configuration names them.
    pub(crate) fn resolve(self) -> Result<MedicalEntryConfig, ConfigError> {
        let name = self.name.clone();
        let channel = Channel(self.channel);
        if !channel.is_medical_insurance() {
            return Err(error(&name, "channel", "医保 channels are 50 to 59"));
        }
        let credentials = self.credentials(&name)?;
        Ok(MedicalEntryConfig {
            name: typed(&name, "name", EntryName::new(self.name.clone()))?,
            channel,
            merchant_entry: typed(&name, "merchant_entry", EntryName::new(self.merchant_entry))?,
            notify_url: typed(&name, "notify_url", NotifyUrl::new(self.notify_url))?,
            return_url: typed(
                &name,
                "return_url",
                self.return_url.map(NotifyUrl::new).transpose(),
            )?,
            hospital_name: typed(&name, "hospital_name", MedicalText::new(self.hospital_name))?,
            org_code: typed(&name, "org_code", MedicalId::new(self.org_code))?,
            channel_no: typed(&name, "channel_no", MedicalId::new(self.channel_no))?,
            default_med_type: typed(
                &name,
                "default_med_type",
                MedicalId::new(self.default_med_type),
            )?,
            nhsa_url: url(&name, "nhsa_url", self.nhsa_url)?,
            user_query_url: url(&name, "user_query_url", self.user_query_url)?,
            payinsurance_url: url(&name, "payinsurance_url", self.payinsurance_url)?,
            credentials,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::config::EngineConfig;

    const PRIVATE_KEY: &str = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8";
    const PLATFORM_KEY: &str = "04D5548C7825CBB56150A3506CD57464AF8A1AE0519DFAF3C58221DC810CAF28DD921073768FE3D59CE54E79A49445CF73FED23086537027264D168946D479533E";

    fn config(
        dir: &std::path::Path,
        channel: u8,
        private_key: &str,
    ) -> Result<EngineConfig, ConfigError> {
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let key = write("api_key", "192006250b4c09247ec02edce69f6a2d");
        let secrets = [
            (
                "nhsa_app_secret",
                write("nhsa", "nhsa-test-secret-for-cashier-0001"),
            ),
            ("hospital_private_key", write("sm2", private_key)),
            (
                "partner_secret",
                write("partner", "partner-secret-0123456789"),
            ),
            ("access_token", write("token", "SIM_ACCESS_TOKEN")),
        ];
        let secrets: Vec<String> = secrets
            .iter()
            .map(|(name, path)| format!(r#""{name}": {{"file": {path:?}}}"#))
            .collect();
        EngineConfig::from_json(&format!(
            r#"{{"node_id": 1, "entries": [{{"name": "mini_program", "kind": "mini_program",
              "appid": "wx1f1e2d3c4b5a6978", "mch_id": "10000100", "sign_type": "MD5",
              "api_key": {{"file": {key:?}}}, "mini_program_pay_page": "/pages/pay/pay",
              "notify_url": "https://pay.example.com/notify"}}],
             "medical": [{{"name": "medical", "channel": {channel}, "merchant_entry": "mini_program",
              "notify_url": "https://pay.example.com/medical-notify", "hospital_name": "仁心医院",
              "org_code": "H53010200001", "channel_no": "AAGbxw8k8fBzXy9pJ5vQoT3A",
              "nhsa_url": "https://nhsa.example.com", "user_query_url": "https://mip.example.com",
              "nhsa_app_id": "1G8P7D1Q40A3E3A8C30A0000A3D1F4C5", "platform_public_key": "{PLATFORM_KEY}",
              "partner_id": "cashier-test-partner", "secrets": {{{}}}}}]}}"#,
            secrets.join(", ")
        ))
    }

    #[test]
    fn medical_secrets_come_from_their_sources_and_never_show_in_debug() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), 50, PRIVATE_KEY).unwrap();
        let entry = config.medical_entry("medical").unwrap();
        let credentials = entry.credentials.as_ref().unwrap();
        assert_eq!(credentials.access_token(), "SIM_ACCESS_TOKEN");
        let shown = format!("{config:?}");
        for secret in [
            "nhsa-test-secret",
            "partner-secret",
            "SIM_ACCESS_TOKEN",
            PRIVATE_KEY,
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        credentials.set_access_token("RENEWED".into());
        assert_eq!(
            entry.credentials.as_ref().unwrap().access_token(),
            "RENEWED"
        );
    }

    #[test]
    fn a_bad_medical_entry_is_refused_with_the_field_named() {
        let dir = tempfile::tempdir().unwrap();
        let channel = config(dir.path(), 5, PRIVATE_KEY);
        assert!(
            matches!(
                channel,
                Err(ConfigError::Field {
                    field: "channel",
                    ..
                })
            ),
            "{channel:?}"
        );
        let key = config(dir.path(), 50, "not hex");
        assert!(
            matches!(
                key,
                Err(ConfigError::Field {
                    field: "hospital_private_key",
                    ..
                })
            ),
            "{key:?}"
        );
    }
}
