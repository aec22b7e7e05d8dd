//! payinsurance refund query (yibao-pay.md §7.4; URL not confirmed, cashier uses
//! `/payinsurance/queryrefund`): the refund's overall and per-leg states. The state values are
//! not published (§12); cashier reads SUCCESS, PROCESSING, FAIL (and keeps others verbatim).

use crate::ids::Nonce;
use crate::medical::payinsurance::{self, PayInsuranceError};
use crate::money::AmountFen;
use crate::transport::{HttpRequest, HttpResponse};
use crate::wechat::fields::Fields;
use crate::wechat::merchant::MerchantContext;

/// The query, by the hospital's refund number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MedicalRefundQuery {
    /// `hosp_out_refund_no`.
    pub hosp_out_refund_no: String,
}

/// What it answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MedicalRefundStatus {
    /// `med_refund_id`.
    pub med_refund_id: String,
    /// `med_refund_state`.
    pub state: String,
    /// `cash_refund_stauts` (spelled so by the one source, §7.4).
    pub cash_state: String,
    /// `insurance_refund_status`.
    pub insurance_state: String,
    /// `cash_refund_fee`, `insurance_refund_fee`.
    pub amounts: (AmountFen, AmountFen),
}

impl MedicalRefundQuery {
    /// The signed request.
    pub fn build(
        &self,
        base_url: &str,
        merchant: &MerchantContext,
        nonce: &Nonce,
        access_token: &str,
    ) -> Result<HttpRequest, PayInsuranceError> {
        let mut fields = Fields::with_capacity(8);
        fields.insert("hosp_out_refund_no", &self.hosp_out_refund_no);
        payinsurance::build(
            base_url,
            "queryrefund",
            fields,
            merchant,
            nonce,
            access_token,
        )
    }

    /// Parses the reply.
    pub fn parse(
        response: &HttpResponse,
        merchant: &MerchantContext,
    ) -> Result<MedicalRefundStatus, PayInsuranceError> {
        let fields = payinsurance::parse(response, merchant)?;
        Ok(MedicalRefundStatus {
            med_refund_id: fields.required("med_refund_id")?.to_owned(),
            state: fields.required("med_refund_state")?.to_owned(),
            cash_state: fields.get("cash_refund_stauts").unwrap_or("").to_owned(),
            insurance_state: fields
                .get("insurance_refund_status")
                .unwrap_or("")
                .to_owned(),
            amounts: (
                fields.required_amount("cash_refund_fee")?,
                fields.required_amount("insurance_refund_fee")?,
            ),
        })
    }
}
