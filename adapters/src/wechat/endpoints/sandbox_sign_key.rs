//! `sandboxnew/pay/getsignkey` (wechatpay-v2.md §8; https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=23_1):
//! fetches the sandbox sign key. The request is signed (MD5) with the real key and carries only
//! `mch_id`, `nonce_str` and `sign`; every later sandbox call is signed with the returned key.

use crate::ids::Nonce;
use crate::secret::ApiKey;
use crate::transport::{HttpRequest, HttpResponse};
use crate::wechat::endpoints::Endpoint;
use crate::wechat::envelope;
use crate::wechat::error::{Api, RequestError, WechatError};
use crate::wechat::fields::{FieldError, Fields};
use crate::wechat::merchant::{ApiBase, MerchantContext};
use crate::wechat::sign::SignType;

/// Asks for the sandbox sign key of the merchant in the context (whose key must be the real one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SandboxSignKeyRequest;

impl Endpoint for SandboxSignKeyRequest {
    const API: Api = Api::SandboxSignKey;
    const PATH: &'static str = "/pay/getsignkey";
    type Reply = ApiKey;

    fn business_fields(&self, merchant: &MerchantContext) -> Result<Fields, RequestError> {
        let mut fields = Fields::with_capacity(3);
        fields.insert("mch_id", merchant.mch_id.as_str());
        Ok(fields)
    }

    fn decode(fields: Fields) -> Result<ApiKey, WechatError> {
        let text = fields.required("sandbox_signkey")?;
        ApiKey::new(text).map_err(|_| {
            WechatError::ReplyField(FieldError::invalid(
                "sandbox_signkey",
                "***",
                "a 32-byte key",
            ))
        })
    }

    /// Always on the sandbox path, MD5, without appid or sign_type.
    fn build(
        &self,
        base: &ApiBase,
        merchant: &MerchantContext,
        nonce: &Nonce,
    ) -> Result<HttpRequest, RequestError> {
        let mut fields = self.business_fields(merchant)?;
        fields.insert("nonce_str", nonce.as_str());
        fields.sign_in_place(SignType::Md5, &merchant.key);
        envelope::xml_post(&base.clone().sandbox(), Self::PATH, &fields, false)
    }

    /// The reply is not signed; it is believed only for the merchant that asked.
    fn parse(response: &HttpResponse, merchant: &MerchantContext) -> Result<ApiKey, WechatError> {
        let fields = envelope::read_reply(response)?;
        envelope::check_return_code(&fields)?;
        if let Some(mch_id) = fields.get_nonempty("mch_id") {
            if mch_id != merchant.mch_id.as_str() {
                return Err(WechatError::IdentityMismatch {
                    field: "mch_id",
                    expected: merchant.mch_id.to_string(),
                    received: mch_id.to_owned(),
                });
            }
        }
        Self::decode(fields)
    }
}

/// A sandbox context: the same identity with the sandbox key. The sandbox is MD5-only
/// (pitfall §10.7), so the sign type is forced to MD5.
pub fn sandbox_context(merchant: &MerchantContext, sandbox_key: ApiKey) -> MerchantContext {
    MerchantContext {
        sign_type: SignType::Md5,
        key: sandbox_key,
        ..merchant.clone()
    }
}
