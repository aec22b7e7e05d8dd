//! payinsurance closeorder (URL not confirmed, §12; cashier uses `/payinsurance/closeorder`):
//! closes an unpaid medical order, by the hospital's number; an order that was paid meanwhile
//! answers `ORDERPAID`, one never created `ORDERNOTEXIST`.

use crate::ids::Nonce;
use crate::medical::payinsurance::{self, PayInsuranceError};
use crate::transport::{HttpRequest, HttpResponse};
use crate::wechat::fields::Fields;
use crate::wechat::merchant::MerchantContext;

/// The close, by `hosp_out_trade_no`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MedicalCloseOrder {
    /// `hosp_out_trade_no`.
    pub hosp_out_trade_no: String,
}

impl MedicalCloseOrder {
    /// The signed request.
    pub fn build(
        &self,
        base_url: &str,
        merchant: &MerchantContext,
        nonce: &Nonce,
        access_token: &str,
    ) -> Result<HttpRequest, PayInsuranceError> {
        let mut fields = Fields::with_capacity(6);
        fields.insert("hosp_out_trade_no", &self.hosp_out_trade_no);
        payinsurance::build(
            base_url,
            "closeorder",
            fields,
            merchant,
            nonce,
            access_token,
        )
    }

    /// Parses the reply: `Ok` when closed.
    pub fn parse(
        response: &HttpResponse,
        merchant: &MerchantContext,
    ) -> Result<(), PayInsuranceError> {
        payinsurance::parse(response, merchant).map(|_| ())
    }
}
