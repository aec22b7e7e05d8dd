//! `pay/downloadbill` (wechatpay-v2.md §2.7; https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_6):
//! the daily trade bill. Success is not XML but a text table: a header line, data lines whose
//! fields each start with a backtick, then a summary header and a summary line. Amounts are in
//! yuan; the fee column has up to five decimals, so it is kept in thousandths of a fen.
//! Failures are XML (`return_code=FAIL`, `return_msg` such as `No Bill Exist`).

use std::io::Read;

use flate2::read::GzDecoder;

use crate::money::AmountFen;
use crate::transport::HttpResponse;
use crate::wechat::endpoints::Endpoint;
use crate::wechat::envelope;
use crate::wechat::error::{Api, RequestError, WechatError};
use crate::wechat::fields::{FieldError, Fields};
use crate::wechat::merchant::MerchantContext;
use crate::wechat::time;

/// The largest bill accepted after decompression; a bigger one is refused rather than filling
/// memory.
pub const MAX_BILL_BYTES: usize = 256 * 1024 * 1024;

/// `bill_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BillType {
    /// `ALL`: payments and refunds.
    All,
    /// `SUCCESS`: payments.
    Success,
    /// `REFUND`: refunds.
    Refund,
    /// `RECHARGE_REFUND`: refunds of recharge coupons.
    RechargeRefund,
}

impl BillType {
    /// The wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            BillType::All => "ALL",
            BillType::Success => "SUCCESS",
            BillType::Refund => "REFUND",
            BillType::RechargeRefund => "RECHARGE_REFUND",
        }
    }
}

/// Downloads the bill of one Beijing day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownloadBillRequest {
    /// `bill_date`: `yyyyMMdd`.
    pub bill_date: String,
    /// `bill_type`.
    pub bill_type: BillType,
    /// `tar_type=GZIP` when true.
    pub gzip: bool,
}

/// One data line. Columns a bill type lacks are `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillRow {
    /// 交易时间 (`yyyy-MM-dd HH:mm:ss`, Beijing).
    pub trade_time: String,
    /// 公众账号ID.
    pub appid: String,
    /// 商户号.
    pub mch_id: String,
    /// 特约商户号 (SP bills; `0` or empty otherwise).
    pub sub_mch_id: Option<String>,
    /// 设备号.
    pub device_info: Option<String>,
    /// 微信订单号.
    pub transaction_id: String,
    /// 商户订单号.
    pub out_trade_no: String,
    /// 用户标识.
    pub openid: Option<String>,
    /// 交易类型.
    pub trade_type: Option<String>,
    /// 交易状态 (`SUCCESS`, `REFUND`, ...).
    pub trade_state: String,
    /// 付款银行.
    pub bank_type: Option<String>,
    /// 货币种类.
    pub fee_type: Option<String>,
    /// 应结订单金额.
    pub settlement_total_fee: AmountFen,
    /// 代金券金额.
    pub coupon_fee: Option<AmountFen>,
    /// 微信退款单号.
    pub refund_id: Option<String>,
    /// 商户退款单号.
    pub out_refund_no: Option<String>,
    /// 退款金额.
    pub refund_fee: Option<AmountFen>,
    /// 充值券退款金额.
    pub recharge_coupon_refund_fee: Option<AmountFen>,
    /// 退款类型.
    pub refund_type: Option<String>,
    /// 退款状态.
    pub refund_status: Option<String>,
    /// 商品名称.
    pub body: Option<String>,
    /// 商户数据包.
    pub attach: Option<String>,
    /// 手续费, in thousandths of a fen (the bill prints up to five decimals of yuan); negative
    /// on refund rows.
    pub fee_millifen: Option<i64>,
    /// 费率 (such as `0.60%`).
    pub rate: Option<String>,
    /// 订单金额.
    pub total_fee: Option<AmountFen>,
    /// 申请退款金额.
    pub requested_refund_fee: Option<AmountFen>,
    /// 费率备注.
    pub rate_note: Option<String>,
}

/// The summary line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillSummary {
    /// 总交易单数.
    pub trade_count: u64,
    /// 应结订单总金额.
    pub settlement_total_fee: AmountFen,
    /// 退款总金额.
    pub refund_fee: Option<AmountFen>,
    /// 充值券退款总金额.
    pub recharge_coupon_refund_fee: Option<AmountFen>,
    /// 手续费总金额, in thousandths of a fen.
    pub fee_millifen: Option<i64>,
    /// 订单总金额.
    pub total_fee: Option<AmountFen>,
    /// 申请退款总金额.
    pub requested_refund_fee: Option<AmountFen>,
}

/// A parsed bill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bill {
    /// The header's column names, as printed.
    pub columns: Vec<String>,
    /// The data lines.
    pub rows: Vec<BillRow>,
    /// The summary.
    pub summary: BillSummary,
}

/// Why a bill body could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BillError {
    /// gzip decoding failed.
    #[error("gzip: {detail}")]
    Gzip {
        /// The decoder's message.
        detail: String,
    },
    /// Larger than [`MAX_BILL_BYTES`] once decompressed.
    #[error("bill larger than {MAX_BILL_BYTES} bytes")]
    TooLarge,
    /// Not UTF-8.
    #[error("bill is not UTF-8")]
    NotUtf8,
    /// The table's shape is wrong.
    #[error("line {line}: {reason}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        reason: String,
    },
}

impl From<BillError> for WechatError {
    fn from(error: BillError) -> WechatError {
        WechatError::ReplyField(FieldError::Invalid {
            name: "bill",
            value: error.to_string(),
            expected: "a WeChat bill table",
        })
    }
}

/// Parses yuan with up to five decimals into thousandths of a fen. Refund rows carry negative
/// fees (the fee given back), so a leading `-` is accepted.
fn parse_millifen(text: &str) -> Option<i64> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if whole.is_empty()
        || whole.len() > 12
        || fraction.len() > 5
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|byte| byte.is_ascii_digit())
    {
        return None;
    }
    let mut millifen = whole.parse::<i64>().ok()?.checked_mul(100_000)?;
    for (position, digit) in fraction.bytes().enumerate() {
        millifen += i64::from(digit - b'0') * 10i64.pow(4 - position as u32);
    }
    Some(if negative { -millifen } else { millifen })
}

/// Splits a data or summary line: every field starts with a backtick; fields are separated by
/// `,` + backtick so a comma inside a value (商品名称) does not split it.
fn split_backtick_line(line: &str) -> Option<Vec<&str>> {
    line.strip_prefix('`')
        .map(|rest| rest.split(",`").collect())
}

struct Table<'a> {
    columns: Vec<&'a str>,
    values: Vec<&'a str>,
    line: usize,
}

impl<'a> Table<'a> {
    fn optional(&self, column: &str) -> Option<&'a str> {
        let index = self.columns.iter().position(|name| *name == column)?;
        self.values.get(index).copied()
    }

    fn text(&self, column: &str) -> Option<String> {
        self.optional(column)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    }

    fn required(&self, column: &str) -> Result<&'a str, BillError> {
        self.optional(column).ok_or_else(|| BillError::Malformed {
            line: self.line,
            reason: format!("missing column {column}"),
        })
    }

    fn amount(&self, column: &str) -> Result<Option<AmountFen>, BillError> {
        self.optional(column)
            .map(|text| {
                AmountFen::parse_yuan(text).map_err(|_| BillError::Malformed {
                    line: self.line,
                    reason: format!("{column} is not a yuan amount: {text:?}"),
                })
            })
            .transpose()
    }

    fn millifen(&self, column: &str) -> Result<Option<i64>, BillError> {
        self.optional(column)
            .map(|text| {
                parse_millifen(text).ok_or_else(|| BillError::Malformed {
                    line: self.line,
                    reason: format!("{column} is not a yuan amount: {text:?}"),
                })
            })
            .transpose()
    }
}

fn read_row(table: &Table<'_>) -> Result<BillRow, BillError> {
    let required_amount = |column: &str| {
        table.amount(column)?.ok_or_else(|| BillError::Malformed {
            line: table.line,
            reason: format!("missing column {column}"),
        })
    };
    Ok(BillRow {
        trade_time: table.required("交易时间")?.to_owned(),
        appid: table.required("公众账号ID")?.to_owned(),
        mch_id: table.required("商户号")?.to_owned(),
        sub_mch_id: table.text("特约商户号"),
        device_info: table.text("设备号"),
        transaction_id: table.required("微信订单号")?.to_owned(),
        out_trade_no: table.required("商户订单号")?.to_owned(),
        openid: table.text("用户标识"),
        trade_type: table.text("交易类型"),
        trade_state: table.required("交易状态")?.to_owned(),
        bank_type: table.text("付款银行"),
        fee_type: table.text("货币种类"),
        settlement_total_fee: required_amount("应结订单金额")?,
        coupon_fee: table.amount("代金券金额")?,
        refund_id: table.text("微信退款单号").filter(|id| id != "0"),
        out_refund_no: table.text("商户退款单号").filter(|number| number != "0"),
        refund_fee: table.amount("退款金额")?,
        recharge_coupon_refund_fee: table.amount("充值券退款金额")?,
        refund_type: table.text("退款类型"),
        refund_status: table.text("退款状态"),
        body: table.text("商品名称"),
        attach: table.text("商户数据包"),
        fee_millifen: table.millifen("手续费")?,
        rate: table.text("费率"),
        total_fee: table.amount("订单金额")?,
        requested_refund_fee: table.amount("申请退款金额")?,
        rate_note: table.text("费率备注"),
    })
}

fn read_summary(table: &Table<'_>) -> Result<BillSummary, BillError> {
    let count_text = table.required("总交易单数")?;
    let trade_count = count_text.parse().map_err(|_| BillError::Malformed {
        line: table.line,
        reason: format!("总交易单数 is not a count: {count_text:?}"),
    })?;
    Ok(BillSummary {
        trade_count,
        settlement_total_fee: table.amount("应结订单总金额")?.ok_or_else(|| {
            BillError::Malformed {
                line: table.line,
                reason: "missing column 应结订单总金额".into(),
            }
        })?,
        refund_fee: table.amount("退款总金额")?,
        recharge_coupon_refund_fee: table.amount("充值券退款总金额")?,
        fee_millifen: table.millifen("手续费总金额")?,
        total_fee: table.amount("订单总金额")?,
        requested_refund_fee: table.amount("申请退款总金额")?,
    })
}

/// Parses a bill's text.
pub fn parse_bill_text(text: &str) -> Result<Bill, BillError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line.trim_end_matches('\r')))
        .filter(|(_, line)| !line.trim().is_empty());
    let malformed = |line: usize, reason: &str| BillError::Malformed {
        line,
        reason: reason.to_owned(),
    };
    let (_, header) = lines.next().ok_or_else(|| malformed(1, "empty bill"))?;
    let columns: Vec<&str> = header.split(',').collect();
    let mut rows = Vec::new();
    loop {
        let (number, line) = lines
            .next()
            .ok_or_else(|| malformed(0, "no summary header"))?;
        let Some(values) = split_backtick_line(line) else {
            // The first line without a leading backtick is the summary header.
            let summary_columns: Vec<&str> = line.split(',').collect();
            let (summary_number, summary_line) = lines
                .next()
                .ok_or_else(|| malformed(number + 1, "no summary line"))?;
            let summary_values = split_backtick_line(summary_line).ok_or_else(|| {
                malformed(
                    summary_number,
                    "summary line fields must start with a backtick",
                )
            })?;
            if summary_values.len() != summary_columns.len() {
                return Err(malformed(
                    summary_number,
                    "summary has a different column count",
                ));
            }
            let summary = read_summary(&Table {
                columns: summary_columns,
                values: summary_values,
                line: summary_number,
            })?;
            if let Some((extra, _)) = lines.next() {
                return Err(malformed(extra, "content after the summary line"));
            }
            return Ok(Bill {
                columns: columns.iter().map(|name| (*name).to_owned()).collect(),
                rows,
                summary,
            });
        };
        if values.len() != columns.len() {
            return Err(malformed(
                number,
                "row has a different column count than the header",
            ));
        }
        rows.push(read_row(&Table {
            columns: columns.clone(),
            values,
            line: number,
        })?);
    }
}

/// Decompresses a gzip bill, refusing more than [`MAX_BILL_BYTES`].
pub fn gunzip_bill(bytes: &[u8]) -> Result<Vec<u8>, BillError> {
    let mut decoded = Vec::new();
    GzDecoder::new(bytes)
        .take(MAX_BILL_BYTES as u64 + 1)
        .read_to_end(&mut decoded)
        .map_err(|error| BillError::Gzip {
            detail: error.to_string(),
        })?;
    if decoded.len() > MAX_BILL_BYTES {
        return Err(BillError::TooLarge);
    }
    Ok(decoded)
}

fn looks_like_xml(body: &[u8]) -> bool {
    let trimmed = body.trim_ascii_start();
    trimmed.starts_with(b"<xml") || trimmed.starts_with(b"<?xml")
}

impl Endpoint for DownloadBillRequest {
    const API: Api = Api::DownloadBill;
    const PATH: &'static str = "/pay/downloadbill";
    type Reply = Bill;

    fn business_fields(&self, _merchant: &MerchantContext) -> Result<Fields, RequestError> {
        if time::parse_date(&self.bill_date).is_none() {
            return Err(RequestError::invalid(
                "bill_date",
                "must be a date as yyyyMMdd",
            ));
        }
        let mut fields = Fields::with_capacity(8);
        fields.insert("bill_date", self.bill_date.as_str());
        fields.insert("bill_type", self.bill_type.as_str());
        if self.gzip {
            fields.insert("tar_type", "GZIP");
        }
        Ok(fields)
    }

    fn decode(_fields: Fields) -> Result<Bill, WechatError> {
        Err(WechatError::Protocol {
            return_msg: "downloadbill returned XML without a bill".into(),
        })
    }

    /// A bill body is text or gzip; an XML body is a failure (`return_msg`, `error_code`).
    fn parse(response: &HttpResponse, _merchant: &MerchantContext) -> Result<Bill, WechatError> {
        if response.status != 200 {
            return Err(WechatError::HttpStatus {
                status: response.status,
            });
        }
        if looks_like_xml(&response.body) {
            // Failures carry `error_code` (20002 "No Bill Exist", "Bill Creating", ...) beside
            // `return_msg`; both are kept so callers can tell "retry after 10:00" from "none".
            let fields = envelope::read_reply(response)?;
            let return_msg = fields
                .get_nonempty("return_msg")
                .unwrap_or("downloadbill returned XML without a bill");
            let message = match fields.get_nonempty("error_code") {
                Some(code) => format!("{return_msg} (error_code {code})"),
                None => return_msg.to_owned(),
            };
            return Err(WechatError::Protocol {
                return_msg: message,
            });
        }
        let is_gzip = response.body.starts_with(&[0x1f, 0x8b]);
        let decoded;
        let bytes = if is_gzip {
            decoded = gunzip_bill(&response.body)?;
            &decoded[..]
        } else {
            &response.body[..]
        };
        let text = std::str::from_utf8(bytes).map_err(|_| BillError::NotUtf8)?;
        Ok(parse_bill_text(text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fee_column_keeps_five_decimals_exactly() {
        assert_eq!(parse_millifen("0.00006"), Some(6));
        assert_eq!(parse_millifen("1.5"), Some(150_000));
        assert_eq!(parse_millifen("0.000001"), None);
        assert_eq!(parse_millifen("-0.00600"), Some(-600));
        assert_eq!(parse_millifen("--1"), None);
    }
}
