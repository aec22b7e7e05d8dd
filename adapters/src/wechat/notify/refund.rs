//! Refund result notifications (wechatpay-v2.md §5; https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_16&index=10):
//! the outer XML is unsigned; `req_info` is base64 of AES-256-ECB (PKCS#7) under the lowercase
//! hex MD5 of the API key, and decrypts to a flat `<root>` document. Successful decryption with
//! the merchant's key is what authenticates it.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyInit};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;

use crate::ids::{OutRefundNo, OutTradeNo, RefundId, TransactionId};
use crate::money::AmountFen;
use crate::notify::NotifyError;
use crate::secret::ApiKey;
use crate::wechat::envelope;
use crate::wechat::fields::Fields;
use crate::wechat::merchant::MerchantContext;
use crate::wechat::types::RefundStatus;
use crate::wechat::xml::{self, XmlLimits};

type Aes256EcbEncryptor = ecb::Encryptor<aes::Aes256>;
type Aes256EcbDecryptor = ecb::Decryptor<aes::Aes256>;

/// Why `req_info` could not be opened.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReqInfoError {
    /// Not base64.
    #[error("req_info is not base64")]
    Base64,
    /// Not whole AES blocks, or bad padding: wrong key or corrupted data.
    #[error("req_info does not decrypt with this key")]
    Decrypt,
    /// The plaintext is not a valid `<root>` document.
    #[error("req_info plaintext: {0}")]
    Plaintext(xml::XmlError),
}

/// Decrypts `req_info` to its plaintext bytes.
pub fn decrypt_req_info(req_info: &str, key: &ApiKey) -> Result<Vec<u8>, ReqInfoError> {
    let ciphertext = BASE64
        .decode(req_info.trim())
        .map_err(|_| ReqInfoError::Base64)?;
    let decryptor = Aes256EcbDecryptor::new_from_slice(key.refund_aes_key())
        .map_err(|_| ReqInfoError::Decrypt)?;
    decryptor
        .decrypt_padded_vec_mut::<Pkcs7>(&ciphertext)
        .map_err(|_| ReqInfoError::Decrypt)
}

/// Encrypts a plaintext as WeChat does for `req_info` (used by the simulator and tests).
pub fn encrypt_req_info(plaintext: &[u8], key: &ApiKey) -> String {
    match Aes256EcbEncryptor::new_from_slice(key.refund_aes_key()) {
        Ok(encryptor) => BASE64.encode(encryptor.encrypt_padded_vec_mut::<Pkcs7>(plaintext)),
        // A 32-byte key always fits AES-256; an empty string can never decrypt to anything.
        Err(_) => String::new(),
    }
}

/// A refund notification read but not yet decrypted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnverifiedRefundNotification {
    fields: Fields,
}

impl UnverifiedRefundNotification {
    /// Reads the outer XML.
    pub fn parse(body: &[u8]) -> Result<UnverifiedRefundNotification, NotifyError> {
        let fields = xml::read(body)?;
        envelope::check_return_code(&fields).map_err(|_| NotifyError::ProtocolFailure {
            return_msg: fields.get("return_msg").unwrap_or("").to_owned(),
        })?;
        fields.required("req_info")?;
        Ok(UnverifiedRefundNotification { fields })
    }

    /// The claimed `mch_id`, to pick the key.
    pub fn mch_id(&self) -> Option<&str> {
        self.fields.get_nonempty("mch_id")
    }

    /// The claimed `appid`.
    pub fn appid(&self) -> Option<&str> {
        self.fields.get_nonempty("appid")
    }

    /// The outer fields.
    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    /// Decrypts and reads `req_info` with the merchant's key and checks the outer identity.
    pub fn decrypt(self, merchant: &MerchantContext) -> Result<RefundNotification, NotifyError> {
        merchant.check_identity(&self.fields)?;
        self.decrypt_with_key(&merchant.key)
    }

    /// Decrypts with a key alone (successful decryption authenticates the message), for a
    /// receiver that finds the refund first and checks the identity against the refund's own
    /// context afterwards (service-provider sub-merchants share the provider's key).
    pub fn decrypt_with_key(self, key: &ApiKey) -> Result<RefundNotification, NotifyError> {
        let plaintext = decrypt_req_info(self.fields.required("req_info")?, key)?;
        let inner = xml::read_with_root(&plaintext, "root", XmlLimits::default())
            .map_err(ReqInfoError::Plaintext)?;
        Ok(RefundNotification {
            transaction_id: inner.required_as("transaction_id", TransactionId::new)?,
            out_trade_no: inner.required_as("out_trade_no", OutTradeNo::new)?,
            refund_id: inner.required_as("refund_id", RefundId::new)?,
            out_refund_no: inner.required_as("out_refund_no", OutRefundNo::new)?,
            total_fee: inner.required_amount("total_fee")?,
            settlement_total_fee: inner.amount("settlement_total_fee")?,
            refund_fee: inner.required_amount("refund_fee")?,
            settlement_refund_fee: inner.amount("settlement_refund_fee")?,
            refund_status: RefundStatus::parse(inner.required("refund_status")?),
            success_time: inner.get_nonempty("success_time").map(str::to_owned),
            refund_recv_accout: inner.get_nonempty("refund_recv_accout").map(str::to_owned),
            refund_account: inner.get_nonempty("refund_account").map(str::to_owned),
            refund_request_source: inner
                .get_nonempty("refund_request_source")
                .map(str::to_owned),
            inner_fields: inner,
            outer_fields: self.fields,
        })
    }
}

/// A decrypted refund notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundNotification {
    /// `transaction_id`.
    pub transaction_id: TransactionId,
    /// `out_trade_no`.
    pub out_trade_no: OutTradeNo,
    /// `refund_id`.
    pub refund_id: RefundId,
    /// `out_refund_no`.
    pub out_refund_no: OutRefundNo,
    /// `total_fee`.
    pub total_fee: AmountFen,
    /// `settlement_total_fee`.
    pub settlement_total_fee: Option<AmountFen>,
    /// `refund_fee`.
    pub refund_fee: AmountFen,
    /// `settlement_refund_fee`.
    pub settlement_refund_fee: Option<AmountFen>,
    /// `refund_status`: SUCCESS, CHANGE or REFUNDCLOSE.
    pub refund_status: RefundStatus,
    /// `success_time`, Beijing `yyyy-MM-dd HH:mm:ss`.
    pub success_time: Option<String>,
    /// `refund_recv_accout` (sic).
    pub refund_recv_accout: Option<String>,
    /// `refund_account`.
    pub refund_account: Option<String>,
    /// `refund_request_source`.
    pub refund_request_source: Option<String>,
    /// The decrypted fields.
    pub inner_fields: Fields,
    /// The outer fields.
    pub outer_fields: Fields,
}
