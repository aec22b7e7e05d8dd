//! payinsurance `unifiedorder` (yibao-pay.md §7.2, §7.3): the 挂号 (RegPay) or 诊间 (DiagPay)
//! order of an NHSA pre-settlement. `pay_type` 2 is insurance only (`cash_fee` 0), 3 cash and
//! insurance (`cash_fee` > 0, WeChat's error 513 otherwise); the NHSA ids travel in
//! `request_content`. Answers `med_trans_id`, `pay_appid` and `pay_url`: the client jumps to the
//! 医保 mini program (`wx.navigateToMiniProgram({appId: pay_appid, path: pay_url})`) or, in the
//! official-account H5 page, is redirected to `pay_url` and comes back to `return_url`.

use std::net::IpAddr;

use serde_json::json;

use crate::ids::Nonce;
use crate::medical::payinsurance::{self, PayInsuranceError};
use crate::money::AmountFen;
use crate::transport::{HttpRequest, HttpResponse};
use crate::wechat::fields::Fields;
use crate::wechat::merchant::MerchantContext;

/// `order_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum MedicalOrderType {
    /// `RegPay`: 挂号 (registration).
    Registration,
    /// `DiagPay`: 诊间 (paying in the clinic).
    Clinic,
}

impl MedicalOrderType {
    /// The wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            MedicalOrderType::Registration => "RegPay",
            MedicalOrderType::Clinic => "DiagPay",
        }
    }
}

/// `pay_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum MedicalPayType {
    /// 2: insurance only.
    Insurance,
    /// 3: cash and insurance.
    CashAndInsurance,
}

impl MedicalPayType {
    /// The wire digit.
    pub fn as_str(self) -> &'static str {
        match self {
            MedicalPayType::Insurance => "2",
            MedicalPayType::CashAndInsurance => "3",
        }
    }

    /// From the wire digit.
    pub fn parse(text: &str) -> Option<MedicalPayType> {
        match text {
            "2" => Some(MedicalPayType::Insurance),
            "3" => Some(MedicalPayType::CashAndInsurance),
            _ => None,
        }
    }

    /// The pay type of a split: cash and insurance when there is cash to pay.
    pub fn of_cash(cash: AmountFen) -> MedicalPayType {
        if cash.is_zero() {
            MedicalPayType::Insurance
        } else {
            MedicalPayType::CashAndInsurance
        }
    }
}

/// The NHSA ids the order carries in `request_content`.
#[derive(Clone, PartialEq, Eq)]
pub struct NhsaReference {
    /// `payAuthNo` (single-use; only in this request, never stored).
    pub pay_auth_no: String,
    /// `payOrdId` from 6201.
    pub pay_ord_id: String,
    /// `setlLatlnt`: "longitude,latitude".
    pub location: String,
}

impl std::fmt::Debug for NhsaReference {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("NhsaReference")
            .field("pay_auth_no", &"***")
            .field("pay_ord_id", &self.pay_ord_id)
            .finish()
    }
}

/// The request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MedicalOrderRequest {
    /// `order_type`.
    pub order_type: MedicalOrderType,
    /// `hosp_out_trade_no`.
    pub hosp_out_trade_no: String,
    /// `hospital_name`.
    pub hospital_name: String,
    /// `openid` (or `sub_openid` in service-provider mode with a sub-merchant app).
    pub openid: String,
    /// `total_fee`.
    pub total: AmountFen,
    /// `cash_fee`.
    pub cash: AmountFen,
    /// `insurance_fee`.
    pub insurance: AmountFen,
    /// `allow_fee_change`: 1 = accept NHSA's amounts if they differ from the upload.
    pub allow_fee_change: bool,
    /// `spbill_create_ip`.
    pub client_ip: IpAddr,
    /// `notify_url`.
    pub notify_url: String,
    /// `body`.
    pub body: String,
    /// `return_url` (official-account H5 only).
    pub return_url: Option<String>,
    /// `city_id`.
    pub city_id: String,
    /// `org_no`.
    pub org_no: String,
    /// `serial_no`: the hospital HIS order number.
    pub serial_no: String,
    /// `gmt_out_create`: `yyyyMMddHHmmss`.
    pub created: String,
    /// `channel_no`.
    pub channel_no: String,
    /// The NHSA ids.
    pub nhsa: NhsaReference,
}

/// What the order answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MedicalOrderReply {
    /// `med_trans_id`.
    pub med_trans_id: String,
    /// `pay_appid`: the 医保 pay mini program.
    pub pay_appid: String,
    /// `pay_url`: its page (mini program) or the pay page (H5).
    pub pay_url: String,
}

impl MedicalOrderRequest {
    /// `pay_type`.
    pub fn pay_type(&self) -> MedicalPayType {
        MedicalPayType::of_cash(self.cash)
    }

    fn fields(&self, merchant: &MerchantContext) -> Result<Fields, PayInsuranceError> {
        let refuse = |name: &'static str, reason: &str| PayInsuranceError::Request {
            name,
            reason: reason.into(),
        };
        if self.insurance.is_zero() {
            return Err(refuse(
                "insurance_fee",
                "a medical order has an insurance part",
            ));
        }
        if self.total.fen() < self.cash.fen() + self.insurance.fen() {
            return Err(refuse("total_fee", "less than cash_fee + insurance_fee"));
        }
        let mut fields = Fields::with_capacity(24);
        fields.insert("order_type", self.order_type.as_str());
        fields.insert("hosp_out_trade_no", &self.hosp_out_trade_no);
        fields.insert("hospital_name", &self.hospital_name);
        let payer = if merchant.sub_appid.is_some() {
            "sub_openid"
        } else {
            "openid"
        };
        fields.insert(payer, &self.openid);
        fields.insert("total_fee", self.total.fen().to_string());
        fields.insert("cash_fee", self.cash.fen().to_string());
        fields.insert("insurance_fee", self.insurance.fen().to_string());
        fields.insert(
            "allow_fee_change",
            if self.allow_fee_change { "1" } else { "0" },
        );
        fields.insert("spbill_create_ip", self.client_ip.to_string());
        fields.insert("notify_url", &self.notify_url);
        fields.insert("body", &self.body);
        fields.insert_optional("return_url", self.return_url.as_deref());
        fields.insert("pay_type", self.pay_type().as_str());
        fields.insert("city_id", &self.city_id);
        fields.insert("org_no", &self.org_no);
        fields.insert("serial_no", &self.serial_no);
        fields.insert("gmt_out_create", &self.created);
        fields.insert("channel_no", &self.channel_no);
        let content = json!({ "payAuthNo": self.nhsa.pay_auth_no, "payOrdId": self.nhsa.pay_ord_id, "setlLatlnt": self.nhsa.location });
        fields.insert("request_content", content.to_string());
        Ok(fields)
    }

    /// The signed request.
    pub fn build(
        &self,
        base_url: &str,
        merchant: &MerchantContext,
        nonce: &Nonce,
        access_token: &str,
    ) -> Result<HttpRequest, PayInsuranceError> {
        payinsurance::build(
            base_url,
            "unifiedorder",
            self.fields(merchant)?,
            merchant,
            nonce,
            access_token,
        )
    }

    /// Parses the reply.
    pub fn parse(
        response: &HttpResponse,
        merchant: &MerchantContext,
    ) -> Result<MedicalOrderReply, PayInsuranceError> {
        let fields = payinsurance::parse(response, merchant)?;
        Ok(MedicalOrderReply {
            med_trans_id: fields.required("med_trans_id")?.to_owned(),
            pay_appid: fields.required("pay_appid")?.to_owned(),
            pay_url: fields.required("pay_url")?.to_owned(),
        })
    }
}
