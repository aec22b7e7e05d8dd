//! 6201 费用明细上传 (yibao-pay.md §4.2): the hospital uploads the fee details of a visit with
//! the patient's `payAuthNo`; the centre pre-settles and answers `payOrdId`, `payToken` and the
//! split (fund, personal account, self-pay). Path `/uldFeeInfo`.

use serde_json::{json, Value};

use crate::medical::nhsa::{text_field, yuan, NhsaEndpoint, NhsaError, Split};
use crate::money::AmountFen;

/// One fee line (`feedetailList` item).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeeItem {
    /// `feedetlSn`: the line's number in the hospital's system.
    pub serial: String,
    /// `medListCodg`: the national catalogue code.
    pub catalogue_code: String,
    /// `medListName`.
    pub name: String,
    /// `cnt`.
    pub count: u32,
    /// `detItemFeeSumamt`: the line's amount.
    pub amount: AmountFen,
}

/// The 6201 request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeeUploadRequest {
    /// `payAuthNo`: the patient's single-use authorisation (never stored).
    pub pay_auth_no: String,
    /// `orgCodg`: the hospital's NHSA code.
    pub org_code: String,
    /// `medOrgOrd`: the hospital's own order number.
    pub med_org_ord: String,
    /// `uldLatlnt`: "longitude,latitude" of the patient.
    pub location: String,
    /// `medType`: 11 普通门诊, 12 门诊挂号, ... (the hospital's choice).
    pub med_type: String,
    /// `medfeeSumamt`: the total; must equal the sum of the lines.
    pub total: AmountFen,
    /// `feedetailList`.
    pub items: Vec<FeeItem>,
}

/// What 6201 answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeeUploadReply {
    /// `payOrdId`: the centre's order.
    pub pay_ord_id: String,
    /// `payToken`: the credential 6301/6401 re-send.
    pub pay_token: String,
    /// The pre-settlement split.
    pub split: Split,
}

impl NhsaEndpoint for FeeUploadRequest {
    const CODE: &'static str = "6201";
    const PATH: &'static str = "/uldFeeInfo";
    type Reply = FeeUploadReply;

    fn data(&self) -> Result<Value, NhsaError> {
        let refuse = |name: &'static str, reason: &str| NhsaError::Request {
            name,
            reason: reason.into(),
        };
        if self.pay_auth_no.is_empty() {
            return Err(refuse("payAuthNo", "empty"));
        }
        if self.items.is_empty() {
            return Err(refuse("feedetailList", "no fee lines"));
        }
        let sum: u64 = self.items.iter().map(|item| item.amount.fen()).sum();
        if sum != self.total.fen() {
            return Err(refuse(
                "medfeeSumamt",
                "differs from the sum of detItemFeeSumamt",
            ));
        }
        let items: Vec<Value> = self
            .items
            .iter()
            .map(|item| {
                json!({
                    "feedetlSn": item.serial, "medListCodg": item.catalogue_code, "medListName": item.name,
                    "cnt": item.count.to_string(), "detItemFeeSumamt": yuan(item.amount),
                })
            })
            .collect();
        Ok(json!({
            "payAuthNo": self.pay_auth_no, "orgCodg": self.org_code, "medOrgOrd": self.med_org_ord,
            "uldLatlnt": self.location, "medType": self.med_type, "medfeeSumamt": yuan(self.total),
            "feedetailList": items,
        }))
    }

    fn decode(data: &Value) -> Result<FeeUploadReply, NhsaError> {
        Ok(FeeUploadReply {
            pay_ord_id: text_field(data, "payOrdId")?,
            pay_token: text_field(data, "payToken")?,
            split: Split::read(data, ["feeSumamt", "fundPay", "psnAcctPay", "ownPayAmt"])?,
        })
    }
}
