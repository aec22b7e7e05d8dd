//! 6401 费用明细上传撤销 (yibao-pay.md §4.1): withdraws an unpaid upload (an expired or
//! cancelled medical order). Path `/revoke_order`.

use serde_json::{json, Value};

use crate::medical::nhsa::{NhsaEndpoint, NhsaError};

/// The 6401 request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokeRequest {
    /// `payOrdId`.
    pub pay_ord_id: String,
    /// `payToken`.
    pub pay_token: String,
    /// `orgCodg`.
    pub org_code: String,
}

impl NhsaEndpoint for RevokeRequest {
    const CODE: &'static str = "6401";
    const PATH: &'static str = "/revoke_order";
    type Reply = ();

    fn data(&self) -> Result<Value, NhsaError> {
        Ok(
            json!({ "payOrdId": self.pay_ord_id, "payToken": self.pay_token, "orgCodg": self.org_code }),
        )
    }

    fn decode(_data: &Value) -> Result<(), NhsaError> {
        Ok(())
    }
}
