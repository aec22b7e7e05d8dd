//! A 医保 (medical-insurance pay 1.0) attempt: the payer's authorisation, NHSA's
//! pre-settlement with its split, WeChat's payinsurance order, and the refunds of a paid one by
//! leg (cash through WeChat, insurance through NHSA 6203). It sits beside the WeChat Pay
//! attempts of the same business order, with the channel context it was made with.

use std::net::IpAddr;

use cashier_adapters::medical::nhsa::refund::RefundKind;
use cashier_adapters::medical::nhsa::Split;
use cashier_adapters::medical::payinsurance::unified_order::MedicalOrderType;
use cashier_adapters::{AmountFen, AppId, MchId, OpenId, OutRefundNo, OutTradeNo};
use serde::{Deserialize, Serialize};

use crate::model::attempt::Refusal;
use crate::model::refund::RefundCause;
use crate::model::text::{EntryName, MedicalId, MedicalText, NotifyUrl, PayUrl};

/// Who a medical attempt was made as: the payinsurance merchant (MD5, its v2 key by mch_id)
/// and the configured medical entry (NHSA credentials, org codes, URLs by name).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MedicalContext {
    /// The configured medical entry.
    pub entry: EntryName,
    /// `appid`: the app whose openid identifies the payer.
    pub appid: AppId,
    /// `mch_id`.
    pub mch_id: MchId,
}

/// One fee line uploaded to NHSA (6201 `feedetail`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MedicalFeeLine {
    /// The hospital's catalogue code (医保目录编码).
    pub catalogue_code: MedicalId,
    /// The item's name.
    pub name: MedicalText,
    /// How many.
    pub count: u32,
    /// The line's amount.
    pub amount: AmountFen,
}

/// What 6201 and the payinsurance order are sent with; kept while they may be resent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MedicalRequest {
    /// `order_type`: registration or clinic.
    pub order_type: MedicalOrderType,
    /// The payer's openid under the context's appid.
    pub openid: OpenId,
    /// `spbill_create_ip`.
    pub client_ip: IpAddr,
    /// `notify_url`.
    pub notify_url: NotifyUrl,
    /// `body`.
    pub body: MedicalText,
    /// `return_url` (official-account H5: where the pay page sends the payer back).
    pub return_url: Option<NotifyUrl>,
    /// userQuery's `cityId`.
    pub city_id: MedicalId,
    /// userQuery's "longitude,latitude" (`setlLatlnt`).
    pub location: MedicalId,
    /// 医疗类别 (`medType`).
    pub med_type: MedicalId,
    /// The fee lines (they add up to the order's amount).
    pub fee_lines: Vec<MedicalFeeLine>,
    /// `time_start` (Unix seconds).
    pub time_start_s: i64,
    /// When the attempt stops being payable (Unix seconds).
    pub time_expire_s: i64,
}

/// NHSA's pre-settlement: its order and the split it computed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreSettlement {
    /// `payOrdId`.
    pub pay_ord_id: MedicalId,
    /// `payToken` (re-sent in 6301 / 6401).
    pub pay_token: MedicalId,
    /// fund + account + cash = total.
    pub split: Split,
}

/// What WeChat's payinsurance order returned, for the client's jump.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MedicalOrderPlaced {
    /// `med_trans_id`.
    pub med_trans_id: MedicalId,
    /// `pay_appid`: the 医保 pay mini program.
    pub pay_appid: AppId,
    /// `pay_url`.
    pub pay_url: PayUrl,
}

/// A medical attempt's state: authorised (pre-settling) → pre-settled (ordering) → paying →
/// paid; or closing → closed; or failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MedicalState {
    /// 6201 is about to be (or was) sent with the payer's single-use `payAuthNo`, the only
    /// state that holds it.
    PreSettling {
        /// `payAuthNo` (dropped with this state).
        pay_auth_no: MedicalId,
    },
    /// Pre-settled; the payinsurance order is about to be (or was) sent.
    Ordering {
        /// `payAuthNo`, still needed inside `request_content`.
        pay_auth_no: MedicalId,
        /// NHSA's order and split.
        nhsa: PreSettlement,
    },
    /// Ordered: the payer can pay in the 医保 mini program.
    Paying {
        /// NHSA's order and split.
        nhsa: PreSettlement,
        /// WeChat's order.
        placed: MedicalOrderPlaced,
        /// When WeChat placed it.
        placed_ms: i64,
    },
    /// Paid (a verified notification or query said so).
    Paid {
        /// NHSA's order and the split that was paid.
        nhsa: PreSettlement,
        /// `med_trans_id`.
        med_trans_id: MedicalId,
        /// `time_end` (Unix seconds).
        paid_at_s: Option<i64>,
    },
    /// Unpaid and over: closing at WeChat (when an order was placed) then revoking at NHSA.
    Closing {
        /// NHSA's order, when 6201 succeeded.
        nhsa: Option<PreSettlement>,
        /// True while WeChat's order (found by `hosp_out_trade_no`) may be open.
        close_at_wechat: bool,
        /// Why it is being closed (kept as the final state's reason).
        refusal: Option<Refusal>,
    },
    /// Closed unpaid: nothing open at WeChat or NHSA. NHSA's order is kept so that a
    /// payment reported after all is still recognised (and refunded).
    Closed {
        /// NHSA's order, when 6201 succeeded.
        nhsa: Option<PreSettlement>,
    },
    /// Refused for good (authorisation, NHSA, WeChat); nothing is open at either.
    Failed {
        /// Why.
        refusal: Refusal,
        /// NHSA's order, when 6201 succeeded.
        nhsa: Option<PreSettlement>,
    },
}

impl MedicalState {
    /// True while the attempt can still turn into a payment.
    pub fn is_live(&self) -> bool {
        matches!(
            self,
            MedicalState::PreSettling { .. }
                | MedicalState::Ordering { .. }
                | MedicalState::Paying { .. }
                | MedicalState::Closing { .. }
        )
    }

    /// A short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            MedicalState::PreSettling { .. } => "pre_settling",
            MedicalState::Ordering { .. } => "ordering",
            MedicalState::Paying { .. } => "paying",
            MedicalState::Paid { .. } => "paid",
            MedicalState::Closing { .. } => "closing",
            MedicalState::Closed { .. } => "closed",
            MedicalState::Failed { .. } => "failed",
        }
    }

    /// NHSA's pre-settlement, once there is one.
    pub fn pre_settlement(&self) -> Option<&PreSettlement> {
        match self {
            MedicalState::Ordering { nhsa, .. }
            | MedicalState::Paying { nhsa, .. }
            | MedicalState::Paid { nhsa, .. } => Some(nhsa),
            MedicalState::Closing { nhsa, .. }
            | MedicalState::Closed { nhsa }
            | MedicalState::Failed { nhsa, .. } => nhsa.as_ref(),
            MedicalState::PreSettling { .. } => None,
        }
    }
}

/// One leg of a medical refund and where it stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LegState {
    /// Being sent (or resent, identically: both sides are idempotent by the refund number).
    Sending,
    /// Done.
    Done {
        /// `med_refund_id` (WeChat's cash leg), when one was given.
        refund_id: Option<MedicalId>,
    },
    /// Refused for good: a person must look (an alert is recorded).
    Failed {
        /// Why.
        refusal: Refusal,
    },
}

impl LegState {
    /// True once nothing more will be sent.
    pub fn is_final(&self) -> bool {
        !matches!(self, LegState::Sending)
    }
}

/// Which leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RefundLeg {
    /// The cash part, through WeChat's payinsurance refund.
    WechatCash,
    /// The NHSA 6203 call at this index of `nhsa_legs`.
    Nhsa(u8),
}

/// One NHSA 6203 call of a refund.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NhsaRefundLeg {
    /// `refdType`: ALL, CASH or HI.
    pub kind: RefundKind,
    /// What it returns, by part.
    pub split: Split,
    /// Where it stands.
    pub state: LegState,
}

/// A refund of a paid medical attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MedicalRefund {
    /// `hosp_out_refund_no`; NHSA's `appRefdSn` is derived from it.
    pub out_refund_no: OutRefundNo,
    /// Why.
    pub cause: RefundCause,
    /// What it returns, by part (fund + account + cash = total).
    pub split: Split,
    /// WeChat's cash leg (none when the refund has no cash).
    pub cash_leg: Option<LegState>,
    /// NHSA's 6203 calls: one (ALL, CASH or HI), or CASH and HI when what is left mixes a
    /// partly refunded cash part with the insurance.
    pub nhsa_legs: Vec<NhsaRefundLeg>,
    /// When it was requested.
    pub created_ms: i64,
    /// Sends so far (both legs).
    pub sends: u32,
    /// When the next resend is due.
    pub next_action_ms: Option<i64>,
}

impl MedicalRefund {
    /// Every leg's state.
    pub fn legs(&self) -> impl Iterator<Item = &LegState> {
        self.cash_leg
            .iter()
            .chain(self.nhsa_legs.iter().map(|leg| &leg.state))
    }

    /// True once every leg is final.
    pub fn is_final(&self) -> bool {
        self.legs().all(LegState::is_final)
    }

    /// True once every leg is done.
    pub fn succeeded(&self) -> bool {
        self.legs().all(|leg| matches!(leg, LegState::Done { .. }))
    }

    /// True unless every leg failed (then no money moved and the payment stays refundable).
    pub fn counts_against_paid(&self) -> bool {
        !self
            .legs()
            .all(|leg| matches!(leg, LegState::Failed { .. }))
    }

    /// The leg's state.
    pub fn leg(&self, leg: RefundLeg) -> Option<&LegState> {
        match leg {
            RefundLeg::WechatCash => self.cash_leg.as_ref(),
            RefundLeg::Nhsa(index) => self.nhsa_legs.get(usize::from(index)).map(|leg| &leg.state),
        }
    }
}

/// One medical payment attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MedicalAttempt {
    /// `hosp_out_trade_no` (also NHSA's `medOrgOrd`).
    pub out_trade_no: OutTradeNo,
    /// Who it was made as.
    pub context: MedicalContext,
    /// What was sent.
    pub request: MedicalRequest,
    /// Its state.
    pub state: MedicalState,
    /// When it was created.
    pub created_ms: i64,
    /// Sends of the current step so far.
    pub sends: u32,
    /// Queries so far.
    pub queries: u32,
    /// When the next action on it is due.
    pub next_action_ms: Option<i64>,
    /// Its refunds, oldest first.
    pub refunds: Vec<MedicalRefund>,
}

impl MedicalAttempt {
    /// The paid split, once paid.
    pub fn paid_split(&self) -> Option<&Split> {
        match &self.state {
            MedicalState::Paid { nhsa, .. } => Some(&nhsa.split),
            _ => None,
        }
    }

    /// What refunds that still count return, by part.
    pub fn refund_committed(&self) -> Split {
        let sum = |part: fn(&Split) -> AmountFen| {
            AmountFen::from_fen(
                self.refunds
                    .iter()
                    .filter(|refund| refund.counts_against_paid())
                    .map(|refund| part(&refund.split).fen())
                    .sum(),
            )
        };
        Split {
            total: sum(|split| split.total),
            fund: sum(|split| split.fund),
            account: sum(|split| split.account),
            cash: sum(|split| split.cash),
        }
    }

    /// The refund with this number.
    pub fn refund(&self, out_refund_no: &OutRefundNo) -> Option<&MedicalRefund> {
        self.refunds
            .iter()
            .find(|refund| &refund.out_refund_no == out_refund_no)
    }

    /// The attempt's `time_expire` in milliseconds.
    pub fn expires_ms(&self) -> i64 {
        self.request.time_expire_s.saturating_mul(1000)
    }
}
