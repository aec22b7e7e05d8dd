//! payinsurance order query (yibao-pay.md §7.3, "3.4 查询支付单"; the URL is not confirmed, §12:
//! cashier uses `/payinsurance/queryorder`): three-part states, `med_trade_state` for the whole
//! order and `cash_trade_status` / `insurance_trade_status` for its legs.

use crate::ids::Nonce;
use crate::medical::payinsurance::{self, PayInsuranceError};
use crate::money::AmountFen;
use crate::transport::{HttpRequest, HttpResponse};
use crate::wechat::fields::{FieldError, Fields};
use crate::wechat::merchant::MerchantContext;

/// `med_trade_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum MedicalTradeState {
    /// SUCCESS: paid (both legs).
    Success,
    /// REFUND: (partly) refunded.
    Refund,
    /// SYS_REFUNDED: WeChat returned the money itself (a leg failed).
    SystemRefunded,
    /// SYS_REFUNDING: WeChat is returning it.
    SystemRefunding,
    /// NOTPAY.
    NotPaid,
    /// CLOSED.
    Closed,
    /// PAYERROR.
    PayError,
}

impl MedicalTradeState {
    fn parse(text: &str) -> Option<MedicalTradeState> {
        Some(match text {
            "SUCCESS" => MedicalTradeState::Success,
            "REFUND" => MedicalTradeState::Refund,
            "SYS_REFUNDED" => MedicalTradeState::SystemRefunded,
            "SYS_REFUNDING" => MedicalTradeState::SystemRefunding,
            "NOTPAY" => MedicalTradeState::NotPaid,
            "CLOSED" => MedicalTradeState::Closed,
            "PAYERROR" => MedicalTradeState::PayError,
            _ => return None,
        })
    }

    /// The wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            MedicalTradeState::Success => "SUCCESS",
            MedicalTradeState::Refund => "REFUND",
            MedicalTradeState::SystemRefunded => "SYS_REFUNDED",
            MedicalTradeState::SystemRefunding => "SYS_REFUNDING",
            MedicalTradeState::NotPaid => "NOTPAY",
            MedicalTradeState::Closed => "CLOSED",
            MedicalTradeState::PayError => "PAYERROR",
        }
    }
}

/// Which order to ask about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MedicalOrderRef {
    /// `med_trans_id`.
    MedTransId(String),
    /// `hosp_out_trade_no`.
    HospOutTradeNo(String),
}

/// The query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MedicalOrderQuery {
    /// The order.
    pub order: MedicalOrderRef,
}

/// What it answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MedicalOrderStatus {
    /// `med_trans_id`.
    pub med_trans_id: String,
    /// `med_trade_state`.
    pub state: MedicalTradeState,
    /// `cash_trade_status` (SUCCESS, REFUND, NOTPAY, CLOSED, USERPAYING, PAYERROR), verbatim.
    pub cash_status: String,
    /// `insurance_trade_status` (PAYED, REFUND, NOTPAY, CLOSED), verbatim.
    pub insurance_status: String,
    /// `total_fee`, `cash_fee`, `insurance_fee`.
    pub amounts: (AmountFen, AmountFen, AmountFen),
    /// `time_end` (Unix seconds), once paid.
    pub paid_at_s: Option<i64>,
}

impl MedicalOrderQuery {
    /// The signed request.
    pub fn build(
        &self,
        base_url: &str,
        merchant: &MerchantContext,
        nonce: &Nonce,
        access_token: &str,
    ) -> Result<HttpRequest, PayInsuranceError> {
        let mut fields = Fields::with_capacity(8);
        match &self.order {
            MedicalOrderRef::MedTransId(id) => fields.insert("med_trans_id", id),
            MedicalOrderRef::HospOutTradeNo(number) => fields.insert("hosp_out_trade_no", number),
        };
        payinsurance::build(
            base_url,
            "queryorder",
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
    ) -> Result<MedicalOrderStatus, PayInsuranceError> {
        let fields = payinsurance::parse(response, merchant)?;
        let state_text = fields.required("med_trade_state")?;
        let state = MedicalTradeState::parse(state_text).ok_or_else(|| {
            FieldError::invalid("med_trade_state", state_text, "a med_trade_state")
        })?;
        Ok(MedicalOrderStatus {
            med_trans_id: fields.required("med_trans_id")?.to_owned(),
            state,
            cash_status: fields.required("cash_trade_status")?.to_owned(),
            insurance_status: fields.required("insurance_trade_status")?.to_owned(),
            amounts: (
                fields.required_amount("total_fee")?,
                fields.required_amount("cash_fee")?,
                fields.required_amount("insurance_fee")?,
            ),
            paid_at_s: fields
                .get_nonempty("time_end")
                .and_then(crate::wechat::time::parse_compact),
        })
    }
}
