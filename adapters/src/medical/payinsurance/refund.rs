//! payinsurance refund (yibao-pay.md §7.5; reported discontinued for new integrations, kept for
//! 1.0 hospitals): returns the cash part through WeChat; the insurance part goes back through
//! NHSA 6203. `err_code` 556 is a transient 医保-side outage, retried later with the same
//! `hosp_out_refund_no`.

use crate::ids::Nonce;
use crate::medical::payinsurance::{self, PayInsuranceError};
use crate::money::AmountFen;
use crate::transport::{HttpRequest, HttpResponse};
use crate::wechat::fields::Fields;
use crate::wechat::merchant::MerchantContext;

/// The refund request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MedicalRefundRequest {
    /// `med_trans_id`.
    pub med_trans_id: String,
    /// `hosp_out_refund_no`: the hospital's refund number (a retry re-sends it).
    pub hosp_out_refund_no: String,
    /// `cash_refund_fee`.
    pub cash: AmountFen,
    /// `insurance_refund_fee` (what NHSA 6203 returns, for WeChat's records).
    pub insurance: AmountFen,
    /// `refund_reason`.
    pub reason: String,
}

/// What it answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MedicalRefundAccepted {
    /// `med_refund_id`.
    pub med_refund_id: String,
}

impl MedicalRefundRequest {
    /// The signed request.
    pub fn build(
        &self,
        base_url: &str,
        merchant: &MerchantContext,
        nonce: &Nonce,
        access_token: &str,
    ) -> Result<HttpRequest, PayInsuranceError> {
        if self.cash.is_zero() && self.insurance.is_zero() {
            return Err(PayInsuranceError::Request {
                name: "cash_refund_fee",
                reason: "nothing to refund".into(),
            });
        }
        let mut fields = Fields::with_capacity(10);
        fields.insert("med_trans_id", &self.med_trans_id);
        fields.insert("hosp_out_refund_no", &self.hosp_out_refund_no);
        fields.insert("cash_refund_fee", self.cash.fen().to_string());
        fields.insert("insurance_refund_fee", self.insurance.fen().to_string());
        fields.insert_optional(
            "refund_reason",
            (!self.reason.is_empty()).then_some(&self.reason),
        );
        payinsurance::build(base_url, "refund", fields, merchant, nonce, access_token)
    }

    /// Parses the reply.
    pub fn parse(
        response: &HttpResponse,
        merchant: &MerchantContext,
    ) -> Result<MedicalRefundAccepted, PayInsuranceError> {
        let fields = payinsurance::parse(response, merchant)?;
        Ok(MedicalRefundAccepted {
            med_refund_id: fields.required("med_refund_id")?.to_owned(),
        })
    }
}
