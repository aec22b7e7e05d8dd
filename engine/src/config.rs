//! Engine configuration: one entry per entry point (official account, mini program, APP, H5,
//! Native), each with its own appid, mch_id, key, sign type and notify URLs, because a payment
//! must be refunded and verified with exactly the identity it was made with. API keys come from
//! a [`KeyProvider`]: by default the environment variables or files the configuration names
//! (never the configuration text itself), or whatever provider the host hands in (a vault
//! client, the simulation). Everything is validated at start with errors that name the entry
//! and field.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use cashier_adapters::{ApiKey, AppId, MchId, SignType};
use serde::Deserialize;

use crate::keys::{KeyError, KeyProvider, MerchantKeys};
use crate::medical_config::{MedicalEntryConfig, MedicalEntryFile};
use crate::model::{ChannelContext, Description, EntryName, H5Site, NotifyUrl, TradeKind};
use crate::order_number::Channel;

/// The kind of entry point, which fixes the trade type and the order number's channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// 公众号 H5 pages: JSAPI through WeixinJSBridge.
    OfficialAccount,
    /// 小程序: JSAPI through `wx.requestPayment`, reached from the H5 pages by the web-view bridge.
    MiniProgram,
    /// A mobile app: APP.
    App,
    /// A phone browser: MWEB.
    H5,
    /// A QR code: NATIVE.
    Native,
}

impl EntryKind {
    /// The WeChat trade type.
    pub fn trade(self) -> TradeKind {
        match self {
            EntryKind::OfficialAccount | EntryKind::MiniProgram => TradeKind::Jsapi,
            EntryKind::App => TradeKind::App,
            EntryKind::H5 => TradeKind::Mweb,
            EntryKind::Native => TradeKind::Native,
        }
    }

    /// The order number channel.
    pub fn channel(self) -> Channel {
        match self {
            EntryKind::OfficialAccount => Channel::OFFICIAL_ACCOUNT,
            EntryKind::MiniProgram => Channel::MINI_PROGRAM,
            EntryKind::App => Channel::APP,
            EntryKind::H5 => Channel::H5,
            EntryKind::Native => Channel::NATIVE,
        }
    }
}

/// The merchant's API client certificate for `secapi` calls (refunds).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientCertificateSource {
    /// `apiclient_cert.p12`; the password defaults to the mch_id, as WeChat issues it.
    Pkcs12 {
        /// The file.
        path: PathBuf,
        /// Where the password comes from, when it is not the mch_id.
        #[serde(default)]
        password: Option<SecretSource>,
    },
    /// `apiclient_cert.pem` and `apiclient_key.pem`.
    Pem {
        /// The certificate file.
        certificate: PathBuf,
        /// The private key file.
        key: PathBuf,
    },
}

/// One entry point, resolved and validated.
#[derive(Clone, Debug)]
pub struct EntryConfig {
    /// The name the host uses for it (`official_account`, `mini_program`, ...).
    pub name: EntryName,
    /// Its kind.
    pub kind: EntryKind,
    /// `appid` (the provider's appid in service-provider mode).
    pub appid: AppId,
    /// `mch_id` (the provider's in SP mode); its keys come from the key provider.
    pub mch_id: MchId,
    /// `sub_mch_id` (SP mode).
    pub sub_mch_id: Option<MchId>,
    /// `sub_appid` (SP mode: the app that actually invokes payment).
    pub sub_appid: Option<AppId>,
    /// The sign type for this entry's orders.
    pub sign_type: SignType,
    /// The app secret (for the host's openid look-ups; unused by the engine itself).
    pub app_secret: Option<ApiKey>,
    /// The payment notification URL.
    pub notify_url: NotifyUrl,
    /// The refund notification URL (when set, sent with every refund).
    pub refund_notify_url: Option<NotifyUrl>,
    /// The mini program page that receives the web-view bridge (`/pages/pay/pay`).
    pub mini_program_pay_page: Option<String>,
    /// The H5 site for MWEB `scene_info`.
    pub h5_site: Option<H5Site>,
    /// Where the client certificate comes from (read again on a credentials reload).
    pub client_certificate: Option<ClientCertificateSource>,
    /// The client certificate, loaded and checked at start.
    pub client_identity: Option<cashier_adapters::ClientIdentity>,
    /// True when the entry runs against WeChat's sandbox (`/sandboxnew`, MD5, sandbox key).
    pub sandbox: bool,
}

impl EntryConfig {
    /// The channel context a new attempt through this entry is made with.
    pub fn channel(&self) -> ChannelContext {
        ChannelContext {
            entry: self.name.clone(),
            appid: self.appid.clone(),
            mch_id: self.mch_id.clone(),
            sub_appid: self.sub_appid.clone(),
            sub_mch_id: self.sub_mch_id.clone(),
            sign_type: self.sign_type,
            trade: self.kind.trade(),
            sandbox: self.sandbox,
        }
    }
}

/// The whole configuration.
#[derive(Clone)]
pub struct EngineConfig {
    /// This engine instance's node id (0–99), part of every order number.
    pub node_id: u8,
    /// How long an unpaid order stays payable, in seconds.
    pub order_expiry_s: u32,
    /// The entry points.
    pub entries: Vec<EntryConfig>,
    /// Where the API keys come from.
    pub keys: Arc<dyn KeyProvider>,
    /// 医保 entries.
    pub medical: Vec<MedicalEntryConfig>,
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("EngineConfig")
            .field("node_id", &self.node_id)
            .field("order_expiry_s", &self.order_expiry_s)
            .field("entries", &self.entries)
            .field("medical", &self.medical)
            .field("keys", &"<provider>")
            .finish()
    }
}

/// Why a configuration was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not valid JSON of the expected shape.
    #[error("configuration JSON: {0}")]
    Json(String),
    /// A field is wrong.
    #[error("entry {entry:?}, field {field}: {reason}")]
    Field {
        /// The entry.
        entry: String,
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A rule across entries is broken.
    #[error("configuration: {0}")]
    Invalid(String),
}

fn field_error(entry: &str, field: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Field {
        entry: entry.to_owned(),
        field,
        reason: reason.into(),
    }
}

/// Where a secret comes from.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretSource {
    /// An environment variable.
    Env(String),
    /// A file (its content, surrounding whitespace trimmed).
    File(PathBuf),
}

impl SecretSource {
    pub(crate) fn read(&self) -> Result<String, String> {
        match self {
            SecretSource::Env(name) => {
                std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
            }
            SecretSource::File(path) => {
                let bytes = read_bounded(path, SECRET_FILE_LIMIT_BYTES)?;
                String::from_utf8(bytes)
                    .map(|text| text.trim().to_owned())
                    .map_err(|_| format!("{} is not UTF-8 text", path.display()))
            }
        }
    }
}

/// The most a secret file (an API key, an app secret, a password) may hold.
pub const SECRET_FILE_LIMIT_BYTES: u64 = 16 * 1024;
/// The most a certificate or private key file may hold.
pub const CERTIFICATE_FILE_LIMIT_BYTES: u64 = 1024 * 1024;
/// The most a configuration file may hold.
pub const CONFIG_FILE_LIMIT_BYTES: u64 = 4 * 1024 * 1024;

/// Linux's `O_NONBLOCK`: opening a FIFO for reading must not wait for a writer.
const OPEN_NONBLOCKING: i32 = 0o4000;

/// Reads a configuration, secret or certificate file of at most `limit_bytes`. Only regular
/// files are read: a path naming `/dev/zero` would never end and a FIFO would wait for a writer
/// forever, so both are refused at once with a reason, as is a file over the limit.
pub fn read_bounded(path: &std::path::Path, limit_bytes: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let shown = path.display();
    let not_regular = || format!("{shown} is not a regular file");
    let metadata =
        std::fs::metadata(path).map_err(|error| format!("cannot read {shown}: {error}"))?;
    if !metadata.is_file() {
        return Err(not_regular());
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(OPEN_NONBLOCKING)
        .open(path)
        .map_err(|error| format!("cannot read {shown}: {error}"))?;
    // Checked again on the open file: the path may have been swapped since.
    let opened = file
        .metadata()
        .map_err(|error| format!("cannot read {shown}: {error}"))?;
    if !opened.is_file() {
        return Err(not_regular());
    }
    let mut bytes = Vec::new();
    file.take(limit_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|error| format!("cannot read {shown}: {error}"))?;
    if bytes.len() as u64 > limit_bytes {
        return Err(format!("{shown} is larger than {limit_bytes} bytes"));
    }
    Ok(bytes)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryFile {
    name: String,
    kind: EntryKind,
    appid: String,
    mch_id: String,
    #[serde(default)]
    sub_mch_id: Option<String>,
    #[serde(default)]
    sub_appid: Option<String>,
    sign_type: String,
    #[serde(default)]
    api_key: Option<SecretSource>,
    #[serde(default)]
    previous_api_key: Option<SecretSource>,
    #[serde(default)]
    app_secret: Option<SecretSource>,
    notify_url: String,
    #[serde(default)]
    refund_notify_url: Option<String>,
    #[serde(default)]
    mini_program_pay_page: Option<String>,
    #[serde(default)]
    h5_site: Option<(String, String)>,
    #[serde(default)]
    client_certificate: Option<ClientCertificateSource>,
    #[serde(default)]
    sandbox: bool,
}

/// Reads an entry's client certificate from its source again (credentials reload).
pub fn load_client_identity(
    entry: &EntryConfig,
) -> Result<Option<cashier_adapters::ClientIdentity>, ConfigError> {
    entry
        .client_certificate
        .as_ref()
        .map(|source| load_identity(entry.name.as_str(), entry.mch_id.as_str(), source))
        .transpose()
}

fn load_identity(
    entry: &str,
    mch_id: &str,
    source: &ClientCertificateSource,
) -> Result<cashier_adapters::ClientIdentity, ConfigError> {
    let read = |path: &PathBuf| {
        read_bounded(path, CERTIFICATE_FILE_LIMIT_BYTES)
            .map_err(|reason| field_error(entry, "client_certificate", reason))
    };
    match source {
        ClientCertificateSource::Pkcs12 { path, password } => {
            let password = match password {
                Some(source) => source
                    .read()
                    .map_err(|reason| field_error(entry, "client_certificate", reason))?,
                None => mch_id.to_owned(),
            };
            cashier_adapters::ClientIdentity::from_pkcs12(&read(path)?, &password)
                .map_err(|error| field_error(entry, "client_certificate", error.to_string()))
        }
        ClientCertificateSource::Pem { certificate, key } => Ok(
            cashier_adapters::ClientIdentity::from_pem(&read(certificate)?, &read(key)?),
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    node_id: u8,
    #[serde(default = "default_expiry")]
    order_expiry_s: u32,
    entries: Vec<EntryFile>,
    #[serde(default)]
    medical: Vec<MedicalEntryFile>,
}

fn default_expiry() -> u32 {
    1800
}

/// The default key provider: the environment variables or files the configuration names,
/// read again on every reload (so a rotated file or variable is picked up without a restart).
#[derive(Clone, Debug, Default)]
pub struct ConfiguredKeys {
    sources: HashMap<MchId, (SecretSource, Option<SecretSource>)>,
}

impl ConfiguredKeys {
    fn read(mch_id: &MchId, source: &SecretSource) -> Result<ApiKey, KeyError> {
        let text = source.read().map_err(|reason| KeyError::Provider {
            mch_id: mch_id.clone(),
            reason,
        })?;
        ApiKey::new(text).map_err(|_| KeyError::Malformed {
            mch_id: mch_id.clone(),
        })
    }
}

impl KeyProvider for ConfiguredKeys {
    fn keys(&self, mch_id: &MchId) -> Result<MerchantKeys, KeyError> {
        let (current, previous) = self.sources.get(mch_id).ok_or_else(|| KeyError::Missing {
            mch_id: mch_id.clone(),
        })?;
        Ok(MerchantKeys {
            signing: ConfiguredKeys::read(mch_id, current)?,
            previous: previous
                .as_ref()
                .map(|source| ConfiguredKeys::read(mch_id, source))
                .transpose()?,
        })
    }
}

fn text_field<T>(
    entry: &str,
    field: &'static str,
    made: Result<T, impl std::fmt::Display>,
) -> Result<T, ConfigError> {
    made.map_err(|error| field_error(entry, field, error.to_string()))
}

fn h5_site(entry: &str, site: Option<(String, String)>) -> Result<Option<H5Site>, ConfigError> {
    site.map(|(url, name)| {
        Ok(H5Site {
            url: text_field(entry, "h5_site", NotifyUrl::new(url))?,
            name: text_field(entry, "h5_site", Description::new(name))?,
        })
    })
    .transpose()
}

fn entry_config(entry: EntryFile) -> Result<EntryConfig, ConfigError> {
    let name = entry.name.clone();
    let app_secret = match &entry.app_secret {
        None => None,
        Some(source) => {
            Some(ApiKey::new_for_diagnostics(source.read().map_err(
                |reason| field_error(&name, "app_secret", reason),
            )?))
        }
    };
    let client_identity = match &entry.client_certificate {
        None => None,
        Some(source) => Some(load_identity(&name, &entry.mch_id, source)?),
    };
    Ok(EntryConfig {
        client_identity,
        client_certificate: entry.client_certificate,
        appid: text_field(&name, "appid", AppId::new(entry.appid))?,
        mch_id: text_field(&name, "mch_id", MchId::new(entry.mch_id))?,
        sub_mch_id: text_field(
            &name,
            "sub_mch_id",
            entry.sub_mch_id.map(MchId::new).transpose(),
        )?,
        sub_appid: text_field(
            &name,
            "sub_appid",
            entry.sub_appid.map(AppId::new).transpose(),
        )?,
        sign_type: SignType::parse(&entry.sign_type)
            .ok_or_else(|| field_error(&name, "sign_type", "must be MD5 or HMAC-SHA256"))?,
        app_secret,
        notify_url: text_field(&name, "notify_url", NotifyUrl::new(entry.notify_url))?,
        refund_notify_url: text_field(
            &name,
            "refund_notify_url",
            entry.refund_notify_url.map(NotifyUrl::new).transpose(),
        )?,
        mini_program_pay_page: entry.mini_program_pay_page,
        h5_site: h5_site(&name, entry.h5_site)?,
        kind: entry.kind,
        sandbox: entry.sandbox,
        name: text_field(&name, "name", EntryName::new(entry.name))?,
    })
}

impl EngineConfig {
    /// Parses a JSON configuration; keys come from the `api_key` (and, during a rotation,
    /// `previous_api_key`) environment variables or files it names.
    ///
    /// ```
    /// std::env::set_var("DOC_WECHAT_KEY", "192006250b4c09247ec02edce69f6a2d");
    /// let config = cashier_engine::config::EngineConfig::from_json(r#"{
    ///   "node_id": 1,
    ///   "entries": [{"name": "official_account", "kind": "official_account",
    ///     "appid": "wxd930ea5d5a258f4f", "mch_id": "10000100", "sign_type": "HMAC-SHA256",
    ///     "api_key": {"env": "DOC_WECHAT_KEY"}, "notify_url": "https://pay.example.com/notify"}]
    /// }"#).unwrap();
    /// assert_eq!(config.entries[0].appid.as_str(), "wxd930ea5d5a258f4f");
    /// ```
    pub fn from_json(text: &str) -> Result<EngineConfig, ConfigError> {
        let file: ConfigFile =
            serde_json::from_str(text).map_err(|error| ConfigError::Json(error.to_string()))?;
        let mut provider = ConfiguredKeys::default();
        for entry in &file.entries {
            let Some(current) = entry.api_key.clone() else {
                return Err(field_error(
                    &entry.name,
                    "api_key",
                    "missing (or use from_json_with_keys)",
                ));
            };
            let mch_id = text_field(&entry.name, "mch_id", MchId::new(entry.mch_id.clone()))?;
            provider
                .sources
                .insert(mch_id, (current, entry.previous_api_key.clone()));
        }
        EngineConfig::build(file, Arc::new(provider))
    }

    /// Parses a JSON configuration whose keys come from `keys` (a vault client, the host's own
    /// secret store); `api_key` fields may be left out.
    pub fn from_json_with_keys(
        text: &str,
        keys: Arc<dyn KeyProvider>,
    ) -> Result<EngineConfig, ConfigError> {
        let file: ConfigFile =
            serde_json::from_str(text).map_err(|error| ConfigError::Json(error.to_string()))?;
        EngineConfig::build(file, keys)
    }

    fn build(file: ConfigFile, keys: Arc<dyn KeyProvider>) -> Result<EngineConfig, ConfigError> {
        let entries = file
            .entries
            .into_iter()
            .map(entry_config)
            .collect::<Result<Vec<_>, _>>()?;
        let medical = file
            .medical
            .into_iter()
            .map(MedicalEntryFile::resolve)
            .collect::<Result<Vec<_>, _>>()?;
        let config = EngineConfig {
            node_id: file.node_id,
            order_expiry_s: file.order_expiry_s,
            entries,
            keys,
            medical,
        };
        config.validate()?;
        for entry in &config.entries {
            config
                .keys
                .keys(&entry.mch_id)
                .map_err(|error| field_error(entry.name.as_str(), "api_key", error.to_string()))?;
        }
        Ok(config)
    }

    /// Every merchant (mch_id) of the configuration, once each.
    pub fn merchants(&self) -> Vec<MchId> {
        let mut merchants: Vec<MchId> = self
            .entries
            .iter()
            .map(|entry| entry.mch_id.clone())
            .collect();
        merchants.sort();
        merchants.dedup();
        merchants
    }

    /// Checks the rules a configuration built in code must keep too.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.node_id > 99 {
            return Err(ConfigError::Invalid("node_id must be 0 to 99".into()));
        }
        if self.order_expiry_s < 360 {
            return Err(ConfigError::Invalid(
                "order_expiry_s must be at least 360 (WeChat refuses closeorder within 5 minutes)"
                    .into(),
            ));
        }
        if self.entries.is_empty() {
            return Err(ConfigError::Invalid(
                "at least one entry point is needed".into(),
            ));
        }
        for (index, entry) in self.entries.iter().enumerate() {
            if self
                .entries
                .iter()
                .skip(index + 1)
                .any(|other| other.name == entry.name)
            {
                return Err(field_error(entry.name.as_str(), "name", "appears twice"));
            }
            validate_entry(entry)?;
        }
        for medical in &self.medical {
            self.validate_medical(medical)?;
        }
        Ok(())
    }

    fn validate_medical(&self, medical: &MedicalEntryConfig) -> Result<(), ConfigError> {
        let name = medical.name.as_str();
        let clash = self.entry(name).is_some()
            || self
                .medical
                .iter()
                .filter(|other| other.name == medical.name)
                .count()
                > 1;
        if clash {
            return Err(field_error(name, "name", "appears twice"));
        }
        let merchant = self
            .entry(medical.merchant_entry.as_str())
            .ok_or_else(|| field_error(name, "merchant_entry", "names no entry"))?;
        if merchant.sandbox || merchant.sub_mch_id.is_some() {
            return Err(field_error(
                name,
                "merchant_entry",
                "must be a direct (not sandbox, not service-provider) merchant",
            ));
        }
        Ok(())
    }

    /// The 医保 entry named `name`.
    pub fn medical_entry(&self, name: &str) -> Option<&MedicalEntryConfig> {
        self.medical
            .iter()
            .find(|entry| entry.name.as_str() == name)
    }

    /// The entry named `name`.
    pub fn entry(&self, name: &str) -> Option<&EntryConfig> {
        self.entries
            .iter()
            .find(|entry| entry.name.as_str() == name)
    }

    /// The entries of merchant `mch_id`.
    pub fn entries_of<'a>(&'a self, mch_id: &'a str) -> impl Iterator<Item = &'a EntryConfig> + 'a {
        self.entries
            .iter()
            .filter(move |entry| entry.mch_id.as_str() == mch_id)
    }
}

fn validate_entry(entry: &EntryConfig) -> Result<(), ConfigError> {
    let name = entry.name.as_str();
    if entry.sub_appid.is_some() && entry.sub_mch_id.is_none() {
        return Err(field_error(
            name,
            "sub_appid",
            "needs sub_mch_id (service-provider mode)",
        ));
    }
    if entry.sandbox && entry.sign_type != SignType::Md5 {
        return Err(field_error(
            name,
            "sign_type",
            "WeChat's sandbox accepts only MD5",
        ));
    }
    let page_ok = entry
        .mini_program_pay_page
        .as_deref()
        .is_some_and(|page| page.starts_with('/') && !page.contains('?'));
    if entry.kind == EntryKind::MiniProgram && !page_ok {
        return Err(field_error(
            name,
            "mini_program_pay_page",
            "a mini program entry needs the page path of the bridge, like /pages/pay/pay",
        ));
    }
    if entry.kind == EntryKind::H5 && entry.h5_site.is_none() {
        return Err(field_error(
            name,
            "h5_site",
            "an H5 entry needs its site URL and name for scene_info",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(api_key: &str, extra: &str) -> String {
        format!(
            r#"{{"node_id": 1, "entries": [{{"name": "oa", "kind": "official_account", "appid": "wxd930ea5d5a258f4f",
            "mch_id": "10000100", "sign_type": "MD5", "api_key": {api_key},
            "notify_url": "https://pay.example.com/notify"{extra}}}]}}"#
        )
    }

    #[test]
    fn keys_come_from_environment_or_file_and_errors_name_the_field() {
        let dir = std::env::temp_dir().join(format!("cashier-config-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let key_file = dir.join("key");
        let _ = std::fs::write(&key_file, "192006250b4c09247ec02edce69f6a2d\n");
        let from_file =
            EngineConfig::from_json(&json(&format!(r#"{{"file": {:?}}}"#, key_file), ""));
        assert!(from_file.is_ok(), "{from_file:?}");
        // A key written in the configuration text itself is not accepted.
        let inline = EngineConfig::from_json(&json(r#""192006250b4c09247ec02edce69f6a2d""#, ""));
        assert!(matches!(inline, Err(ConfigError::Json(_))));
        let missing =
            EngineConfig::from_json(&json(r#"{"env": "CASHIER_TEST_NO_SUCH_VARIABLE"}"#, ""));
        assert!(
            matches!(
                missing,
                Err(ConfigError::Field {
                    field: "api_key",
                    ..
                })
            ),
            "{missing:?}"
        );
        let bad_url = EngineConfig::from_json(&json(
            &format!(r#"{{"file": {:?}}}"#, key_file),
            r#", "refund_notify_url": "ftp://x""#,
        ));
        assert!(
            matches!(
                bad_url,
                Err(ConfigError::Field {
                    field: "refund_notify_url",
                    ..
                })
            ),
            "{bad_url:?}"
        );
    }

    /// A key file that never ends (`/dev/zero`) or waits for a writer (a FIFO) would hang the
    /// engine at start; it is refused at once with a typed field error.
    #[test]
    fn a_key_file_that_is_not_a_regular_file_is_refused_at_once() {
        let dir = tempfile_dir("special");
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        let mut specials = vec![PathBuf::from("/dev/zero")];
        if made.map(|status| status.success()).unwrap_or(false) {
            specials.push(fifo);
        }
        for path in specials {
            let outcome = EngineConfig::from_json(&json(&format!(r#"{{"file": {path:?}}}"#), ""));
            match outcome {
                Err(ConfigError::Field {
                    field: "api_key",
                    reason,
                    ..
                }) => {
                    assert!(reason.contains("not a regular file"), "{reason}")
                }
                other => panic!("{} gave {other:?}", path.display()),
            }
        }
    }

    #[test]
    fn a_key_file_over_the_limit_is_refused() {
        let dir = tempfile_dir("large");
        let path = dir.join("key");
        let _ = std::fs::write(&path, vec![b'a'; SECRET_FILE_LIMIT_BYTES as usize + 1]);
        let outcome = EngineConfig::from_json(&json(&format!(r#"{{"file": {path:?}}}"#), ""));
        assert!(
            matches!(&outcome, Err(ConfigError::Field { reason, .. }) if reason.contains("larger than")),
            "{outcome:?}"
        );
    }

    fn tempfile_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("cashier-config-{name}-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        dir
    }
}
