//! Who a request is made as ([`MerchantContext`]: appid, mch_id, service-provider sub ids, sign
//! type, key) and where it goes ([`ApiBase`]: production, backup domain, sandbox, simulator).

use crate::ids::{AppId, MchId};
use crate::secret::ApiKey;
use crate::wechat::error::WechatError;
use crate::wechat::fields::Fields;
use crate::wechat::sign::SignType;

/// The identity and key one request is made with. A payment must remember the context it was
/// made with: its refund, queries and notification checks use exactly the same one.
///
/// In service-provider mode (§7) `appid`/`mch_id` are the provider's, `sub_mch_id` is the
/// sub-merchant, `sub_appid` the sub-merchant's app, and the provider's key signs everything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerchantContext {
    /// `appid`: the app the order is made under (the provider's appid in SP mode).
    pub appid: AppId,
    /// `mch_id`: the merchant (the provider's merchant id in SP mode).
    pub mch_id: MchId,
    /// `sub_appid`: the sub-merchant's app (SP mode only).
    pub sub_appid: Option<AppId>,
    /// `sub_mch_id`: the sub-merchant (present exactly in SP mode).
    pub sub_mch_id: Option<MchId>,
    /// The sign type used for requests, and expected on replies and notifications.
    pub sign_type: SignType,
    /// The API key (the provider's in SP mode, the sandbox key in the sandbox).
    pub key: ApiKey,
}

impl MerchantContext {
    /// A direct (ordinary) merchant.
    pub fn direct(appid: AppId, mch_id: MchId, sign_type: SignType, key: ApiKey) -> Self {
        MerchantContext {
            appid,
            mch_id,
            sub_appid: None,
            sub_mch_id: None,
            sign_type,
            key,
        }
    }

    /// A service provider acting for `sub_mch_id` (and its app `sub_appid`, if any).
    pub fn service_provider(
        appid: AppId,
        mch_id: MchId,
        sub_mch_id: MchId,
        sub_appid: Option<AppId>,
        sign_type: SignType,
        key: ApiKey,
    ) -> Self {
        MerchantContext {
            appid,
            mch_id,
            sub_appid,
            sub_mch_id: Some(sub_mch_id),
            sign_type,
            key,
        }
    }

    /// True in service-provider mode.
    pub fn is_service_provider(&self) -> bool {
        self.sub_mch_id.is_some()
    }

    /// The appid of the app that actually invokes payment on the client: `sub_appid` when set
    /// (SP mode, pitfall §10.9), else `appid`.
    pub fn invoking_appid(&self) -> &AppId {
        self.sub_appid.as_ref().unwrap_or(&self.appid)
    }

    /// Adds `appid`, `mch_id`, `sub_appid`, `sub_mch_id` and `sign_type` to a request.
    pub(crate) fn add_identity(&self, fields: &mut Fields) {
        fields.insert("appid", self.appid.as_str());
        fields.insert("mch_id", self.mch_id.as_str());
        fields.insert_optional("sub_appid", self.sub_appid.as_ref().map(AppId::as_str));
        fields.insert_optional("sub_mch_id", self.sub_mch_id.as_ref().map(MchId::as_str));
        // sign_type is always sent, MD5 included: it is signed like any other field, and stating
        // it removes any doubt on WeChat's side about which algorithm to check (pitfall §10.1).
        fields.insert("sign_type", self.sign_type.as_str());
    }

    /// Checks that a signed reply or notification names this merchant: a message for another
    /// appid or mch_id is never applied, even when its signature verifies.
    pub fn check_identity(&self, fields: &Fields) -> Result<(), WechatError> {
        check_echo(fields, "appid", Some(self.appid.as_str()))?;
        check_echo(fields, "mch_id", Some(self.mch_id.as_str()))?;
        check_echo(
            fields,
            "sub_mch_id",
            self.sub_mch_id.as_ref().map(MchId::as_str),
        )?;
        if self.sub_appid.is_some() {
            check_echo(
                fields,
                "sub_appid",
                self.sub_appid.as_ref().map(AppId::as_str),
            )?;
        }
        Ok(())
    }
}

fn check_echo(
    fields: &Fields,
    field: &'static str,
    expected: Option<&str>,
) -> Result<(), WechatError> {
    let received = fields.get_nonempty(field);
    // A field that is absent on both sides is fine; a reply that omits an echo we sent is too
    // (refund notifications carry no sub_appid, for instance). A different value never is.
    match (expected, received) {
        (Some(expected), Some(received)) if expected != received => {
            Err(WechatError::IdentityMismatch {
                field,
                expected: expected.to_owned(),
                received: received.to_owned(),
            })
        }
        (None, Some(received)) => Err(WechatError::IdentityMismatch {
            field,
            expected: String::new(),
            received: received.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// Where requests go: a base URL and whether the sandbox path prefix applies (§8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiBase {
    base_url: String,
    sandbox: bool,
}

impl ApiBase {
    /// The production host.
    pub const PRODUCTION_URL: &'static str = "https://api.mch.weixin.qq.com";
    /// The documented backup host (same paths, "跨城冗灾").
    pub const BACKUP_URL: &'static str = "https://api2.mch.weixin.qq.com";

    /// Production.
    pub fn production() -> ApiBase {
        ApiBase::custom(ApiBase::PRODUCTION_URL)
    }

    /// The backup domain.
    pub fn backup() -> ApiBase {
        ApiBase::custom(ApiBase::BACKUP_URL)
    }

    /// Any base URL, such as a simulator on loopback (`http://127.0.0.1:8080`). A trailing slash
    /// is dropped.
    pub fn custom(base_url: impl Into<String>) -> ApiBase {
        let mut base_url = base_url.into();
        while base_url.ends_with('/') {
            base_url.pop();
        }
        ApiBase {
            base_url,
            sandbox: false,
        }
    }

    /// The same base with the `/sandboxnew` prefix on every path.
    pub fn sandbox(mut self) -> ApiBase {
        self.sandbox = true;
        self
    }

    /// True when the sandbox prefix applies.
    pub fn is_sandbox(&self) -> bool {
        self.sandbox
    }

    /// The base URL without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The request path for an endpoint path such as `/pay/unifiedorder`.
    pub fn path(&self, endpoint_path: &str) -> String {
        if self.sandbox {
            format!("/sandboxnew{endpoint_path}")
        } else {
            endpoint_path.to_owned()
        }
    }

    /// The absolute URL for an endpoint path.
    pub fn url(&self, endpoint_path: &str) -> String {
        format!("{}{}", self.base_url, self.path(endpoint_path))
    }
}
