//! The payinsurance payment notification (yibao-pay.md §7.3): `med_trans_id`,
//! `hosp_out_trade_no`, `total_fee`, `cash_fee`, `insurance_fee`, `pay_type`, `time_end`,
//! `response_content`, signed like the replies. Read in two steps, as v2 notifications are:
//! parse to find the order, then verify sign, identity and every amount against it. The reply
//! to WeChat is v2's acknowledgement (`crate::notify::ack`); §12 leaves it unconfirmed.

use crate::medical::payinsurance::unified_order::MedicalPayType;
use crate::medical::payinsurance::{check_signed, PayInsuranceError};
use crate::money::AmountFen;
use crate::wechat::fields::{FieldError, Fields};
use crate::wechat::merchant::MerchantContext;
use crate::wechat::xml;

/// The amounts an order expects: total, cash, insurance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpectedAmounts {
    /// `total_fee`.
    pub total: AmountFen,
    /// `cash_fee`.
    pub cash: AmountFen,
    /// `insurance_fee`.
    pub insurance: AmountFen,
}

/// A notification read but not yet believed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnverifiedMedicalNotification {
    fields: Fields,
}

/// A verified medical payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MedicalNotification {
    /// `med_trans_id`.
    pub med_trans_id: String,
    /// `hosp_out_trade_no`.
    pub hosp_out_trade_no: String,
    /// The amounts (equal to the order's).
    pub amounts: ExpectedAmounts,
    /// `pay_type`.
    pub pay_type: MedicalPayType,
    /// `time_end` (Unix seconds), when readable.
    pub paid_at_s: Option<i64>,
    /// `response_content`: NHSA's settlement result, verbatim.
    pub response_content: Option<String>,
}

impl UnverifiedMedicalNotification {
    /// Parses the body (flat XML, `return_code` SUCCESS).
    pub fn parse(body: &[u8]) -> Result<UnverifiedMedicalNotification, PayInsuranceError> {
        let fields = xml::read(body)?;
        if fields.get("return_code") != Some("SUCCESS") {
            let return_msg = fields.get("return_msg").unwrap_or("").to_owned();
            return Err(PayInsuranceError::Protocol { return_msg });
        }
        Ok(UnverifiedMedicalNotification { fields })
    }

    /// `hosp_out_trade_no`, untrusted: only for finding the order.
    pub fn hosp_out_trade_no(&self) -> Option<&str> {
        self.fields.get_nonempty("hosp_out_trade_no")
    }

    /// Verifies against the order's merchant and amounts: sign, appid/mch_id, then total, cash
    /// and insurance each equal to the order's (a split that does not match is refused).
    pub fn verify(
        self,
        merchant: &MerchantContext,
        expected: ExpectedAmounts,
    ) -> Result<MedicalNotification, PayInsuranceError> {
        check_signed(&self.fields, merchant)?;
        let fields = &self.fields;
        let amounts = ExpectedAmounts {
            total: fields.required_amount("total_fee")?,
            cash: fields.required_amount("cash_fee")?,
            insurance: fields.required_amount("insurance_fee")?,
        };
        if amounts != expected {
            let fen = |amounts: ExpectedAmounts| {
                (
                    amounts.total.fen(),
                    amounts.cash.fen(),
                    amounts.insurance.fen(),
                )
            };
            return Err(PayInsuranceError::AmountMismatch {
                expected: fen(expected),
                received: fen(amounts),
            });
        }
        let pay_type = MedicalPayType::parse(fields.required("pay_type")?).ok_or_else(|| {
            FieldError::invalid("pay_type", fields.get("pay_type").unwrap_or(""), "2 or 3")
        })?;
        Ok(MedicalNotification {
            med_trans_id: fields.required("med_trans_id")?.to_owned(),
            hosp_out_trade_no: fields.required("hosp_out_trade_no")?.to_owned(),
            amounts,
            pay_type,
            paid_at_s: fields
                .get_nonempty("time_end")
                .and_then(crate::wechat::time::parse_compact),
            response_content: fields.get_nonempty("response_content").map(str::to_owned),
        })
    }
}
