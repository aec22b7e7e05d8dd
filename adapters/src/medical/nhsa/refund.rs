//! 6203 医保退费 (yibao-pay.md §4.2): refunds an NHSA order, by part: `ALL` (everything, which
//! must equal every original part), `CASH` (the self-pay part only) or `HI` (the insurance parts
//! only); no part may exceed what it paid. Answers `refStatus` SUCC / FAIL / EXP. Path
//! `/refund_Order`.

use serde_json::{json, Value};

use crate::medical::nhsa::{text_field, yuan, NhsaEndpoint, NhsaError, Split};

/// `refdType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum RefundKind {
    /// Every part, all of it.
    All,
    /// The self-pay (cash) part only.
    Cash,
    /// The insurance parts (fund, account) only.
    Insurance,
}

impl RefundKind {
    /// The wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            RefundKind::All => "ALL",
            RefundKind::Cash => "CASH",
            RefundKind::Insurance => "HI",
        }
    }

    /// Checks a refund split against the paid split (the centre's rules).
    pub fn check(self, refund: &Split, paid: &Split) -> Result<(), NhsaError> {
        let refuse = |reason: &str| NhsaError::Request {
            name: "refdType",
            reason: reason.into(),
        };
        let within =
            refund.fund <= paid.fund && refund.account <= paid.account && refund.cash <= paid.cash;
        if !within {
            return Err(refuse("a part exceeds what it paid"));
        }
        match self {
            RefundKind::All if refund != paid => Err(refuse("ALL must return every part in full")),
            RefundKind::Cash if !refund.insurance().is_zero() => {
                Err(refuse("CASH returns the cash part only"))
            }
            RefundKind::Insurance if !refund.cash.is_zero() => Err(refuse("HI returns no cash")),
            _ if refund.total.is_zero() => Err(refuse("nothing to refund")),
            _ => Ok(()),
        }
    }
}

/// The 6203 request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundRequest {
    /// `payOrdId`.
    pub pay_ord_id: String,
    /// `appRefdSn`: the hospital's refund number (a retry re-sends it).
    pub refund_serial: String,
    /// `appRefdTime`: `yyyyMMddHHmmss`.
    pub refund_time: String,
    /// `refdType`.
    pub kind: RefundKind,
    /// `totlRefdAmt`, `fundRefdAmt`, `psnAcctRefdAmt`, `cashRefdAmt`.
    pub refund: Split,
    /// What the order paid, to check the refund against before sending.
    pub paid: Split,
}

/// `refStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum RefundStatus {
    /// SUCC.
    Succeeded,
    /// FAIL.
    Failed,
    /// EXP: abnormal, resolve by query.
    Abnormal,
}

impl NhsaEndpoint for RefundRequest {
    const CODE: &'static str = "6203";
    const PATH: &'static str = "/refund_Order";
    type Reply = RefundStatus;

    fn data(&self) -> Result<Value, NhsaError> {
        self.kind.check(&self.refund, &self.paid)?;
        Ok(json!({
            "payOrdId": self.pay_ord_id, "appRefdSn": self.refund_serial, "appRefdTime": self.refund_time,
            "refdType": self.kind.as_str(), "totlRefdAmt": yuan(self.refund.total),
            "fundRefdAmt": yuan(self.refund.fund), "psnAcctRefdAmt": yuan(self.refund.account),
            "cashRefdAmt": yuan(self.refund.cash),
        }))
    }

    fn decode(data: &Value) -> Result<RefundStatus, NhsaError> {
        match text_field(data, "refStatus")?.as_str() {
            "SUCC" => Ok(RefundStatus::Succeeded),
            "FAIL" => Ok(RefundStatus::Failed),
            "EXP" => Ok(RefundStatus::Abnormal),
            _ => Err(NhsaError::Field {
                name: "refStatus",
                reason: "not SUCC, FAIL or EXP",
            }),
        }
    }
}
