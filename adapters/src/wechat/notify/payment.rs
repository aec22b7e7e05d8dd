//! Payment result notifications (wechatpay-v2.md §4; https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_7):
//! signed with the merchant key, by the order's sign type; HMAC orders' notifications usually
//! omit `sign_type`, so the order's sign type is the default (pitfall §10.4). Coupon families and
//! unknown fields are signed too and kept.

use crate::money::AmountFen;
use crate::notify::NotifyError;
use crate::wechat::envelope;
use crate::wechat::error::ErrCode;
use crate::wechat::fields::{FieldError, Fields};
use crate::wechat::merchant::MerchantContext;
use crate::wechat::sign::SignType;
use crate::wechat::types::PaymentDetails;
use crate::wechat::xml;

/// A payment notification read but not yet trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnverifiedPaymentNotification {
    fields: Fields,
}

impl UnverifiedPaymentNotification {
    /// Reads the body. Nothing in it is trusted until [`Self::verify`].
    pub fn parse(body: &[u8]) -> Result<UnverifiedPaymentNotification, NotifyError> {
        let fields = xml::read(body)?;
        envelope::check_return_code(&fields).map_err(|_| NotifyError::ProtocolFailure {
            return_msg: fields.get("return_msg").unwrap_or("").to_owned(),
        })?;
        Ok(UnverifiedPaymentNotification { fields })
    }

    /// The claimed `out_trade_no`, to find the order.
    pub fn out_trade_no(&self) -> Option<&str> {
        self.fields.get_nonempty("out_trade_no")
    }

    /// The claimed `mch_id`, to pick the key.
    pub fn mch_id(&self) -> Option<&str> {
        self.fields.get_nonempty("mch_id")
    }

    /// Every field received.
    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    /// Verifies against the context the order was made with: signature (the message's
    /// `sign_type`, else the order's), appid/mch_id/sub ids, and the order's amount.
    pub fn verify(
        self,
        merchant: &MerchantContext,
        expected_total_fee: AmountFen,
    ) -> Result<PaymentNotification, NotifyError> {
        let sign_type = self
            .fields
            .verify(merchant.sign_type, &merchant.key)
            .map_err(NotifyError::Signature)?;
        merchant.check_identity(&self.fields)?;
        let details = PaymentDetails::read(&self.fields)?;
        let received = details
            .total_fee
            .ok_or(FieldError::Missing { name: "total_fee" })?;
        if received != expected_total_fee {
            return Err(NotifyError::AmountMismatch {
                expected: expected_total_fee,
                received,
            });
        }
        let result = match self.fields.get_nonempty("result_code") {
            Some("SUCCESS") if details.transaction_id.is_some() => PaymentResult::Paid,
            Some("SUCCESS") => {
                return Err(FieldError::Missing {
                    name: "transaction_id",
                }
                .into())
            }
            _ => PaymentResult::Failed {
                err_code: ErrCode::parse(self.fields.get("err_code").unwrap_or("")),
                err_code_des: self.fields.get("err_code_des").unwrap_or("").to_owned(),
            },
        };
        Ok(PaymentNotification {
            result,
            details,
            sign_type,
            fields: self.fields,
        })
    }
}

/// What a verified notification says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymentResult {
    /// `result_code=SUCCESS`: paid.
    Paid,
    /// `result_code=FAIL`.
    Failed {
        /// `err_code`.
        err_code: ErrCode,
        /// `err_code_des`.
        err_code_des: String,
    },
}

/// A verified payment notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentNotification {
    /// Paid or failed.
    pub result: PaymentResult,
    /// The payment facts.
    pub details: PaymentDetails,
    /// The sign type that verified.
    pub sign_type: SignType,
    /// Every field received.
    pub fields: Fields,
}
