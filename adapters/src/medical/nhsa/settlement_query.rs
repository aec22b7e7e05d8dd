//! 6301 医保订单结算结果查询 (yibao-pay.md §4.2, §4.3): the settlement state of an NHSA order
//! (`ordStas` 0–17) and its split. Path `/query_order_info`.

use serde_json::{json, Value};

use crate::medical::nhsa::{text_field, NhsaEndpoint, NhsaError, Split};

/// `ordStas`, grouped as the sources group it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct OrderStatus(pub u8);

impl OrderStatus {
    /// 0–2: saved, pre-settled, waiting for payment.
    pub fn is_pending(self) -> bool {
        self.0 <= 2
    }

    /// 3–6: paid (self-pay, insurance, in-hospital or fully settled).
    pub fn is_settled(self) -> bool {
        (3..=6).contains(&self.0)
    }

    /// 7–11: refunded in part or whole.
    pub fn is_refunded(self) -> bool {
        (7..=11).contains(&self.0)
    }

    /// 12–13: revoked.
    pub fn is_revoked(self) -> bool {
        (12..=13).contains(&self.0)
    }

    /// 14–16: abnormal or failed.
    pub fn is_failed(self) -> bool {
        (14..=16).contains(&self.0)
    }
}

/// The 6301 request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlementQueryRequest {
    /// `payOrdId`.
    pub pay_ord_id: String,
    /// `payToken`.
    pub pay_token: String,
    /// `orgCodg`.
    pub org_code: String,
}

/// What 6301 answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlementQueryReply {
    /// `ordStas`.
    pub status: OrderStatus,
    /// The split.
    pub split: Split,
    /// `medOrgOrd`.
    pub med_org_ord: String,
}

impl NhsaEndpoint for SettlementQueryRequest {
    const CODE: &'static str = "6301";
    const PATH: &'static str = "/query_order_info";
    type Reply = SettlementQueryReply;

    fn data(&self) -> Result<Value, NhsaError> {
        Ok(
            json!({ "payOrdId": self.pay_ord_id, "payToken": self.pay_token, "orgCodg": self.org_code }),
        )
    }

    fn decode(data: &Value) -> Result<SettlementQueryReply, NhsaError> {
        let status = text_field(data, "ordStas")?
            .parse::<u8>()
            .ok()
            .filter(|status| *status <= 17)
            .ok_or(NhsaError::Field {
                name: "ordStas",
                reason: "not 0 to 17",
            })?;
        Ok(SettlementQueryReply {
            status: OrderStatus(status),
            split: Split::read(data, ["feeSumamt", "fundPay", "psnAcctPay", "ownPayAmt"])?,
            med_org_ord: text_field(data, "medOrgOrd")?,
        })
    }
}
