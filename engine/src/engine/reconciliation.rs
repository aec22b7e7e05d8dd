//! Daily reconciliation, the running part (`crate::reconcile` compares): download WeChat's ALL
//! bill of a Beijing day for every merchant (and sub-merchant) of the configuration, compare it
//! with the engine's records found through the indexes (numbers on the bill, orders created that
//! day and the day before), ask WeChat now about whatever a missed notification could explain,
//! and record every difference left as an alert on its order, so it reaches the host's feed.

use std::collections::BTreeMap;
use std::time::Duration;

use cashier_adapters::endpoints::download_bill::{Bill, BillType, DownloadBillRequest};
use cashier_adapters::WechatError;
use serde::Serialize;

use crate::engine::Engine;
use crate::error::EngineError;
use crate::model::*;
use crate::reconcile::{self, Discrepancy};
use crate::shell::Command;
use crate::store::{IndexKind, OrderFilter};

/// What a reconciliation found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReconciliationReport {
    /// The day (`yyyymmdd`, Beijing).
    pub day: u32,
    /// Bills downloaded (one per merchant or sub-merchant).
    pub bills: usize,
    /// Payment rows on the bills.
    pub payments: usize,
    /// Refund rows on the bills.
    pub refunds: usize,
    /// Differences a query made disappear (a missed notification).
    pub resolved: Vec<Discrepancy>,
    /// Differences left, each recorded as an alert where it concerns an order.
    pub unresolved: Vec<Discrepancy>,
}

/// One merchant's or sub-merchant's bill, with a channel to reach it.
struct MerchantBill {
    channel: ChannelContext,
    bill: Bill,
}

impl Engine {
    /// Downloads the day's bills and reconciles them with the engine (see the module). The bill
    /// exists from 09:00 the next day: earlier, this answers `BillNotReady`.
    pub async fn reconcile(&self, day: u32) -> Result<ReconciliationReport, EngineError> {
        let day_start_s = cashier_adapters::wechat::time::parse_date(&day.to_string()).ok_or(
            EngineError::InvalidInput {
                field: "day",
                reason: "not yyyymmdd".into(),
            },
        )?;
        let bills = self.download_bills(day).await?;
        let mut report = ReconciliationReport {
            day,
            bills: bills.len(),
            ..ReconciliationReport::default()
        };
        let found = self.compare(&bills, day, day_start_s, &mut report)?;
        for discrepancy in found {
            if discrepancy.resolvable_by_query()
                && self.resolved_by_query(&discrepancy, &bills).await?
            {
                report.resolved.push(discrepancy);
            } else {
                report.unresolved.push(discrepancy);
            }
        }
        for discrepancy in &report.unresolved {
            if let Some(order_no) = discrepancy.order_no() {
                let event = Event::ReconciliationMismatch {
                    detail: format!("{day}: {discrepancy:?}"),
                };
                self.send(order_no, Command::Apply(event)).await?;
            }
        }
        Ok(report)
    }

    /// One ALL bill per distinct (mch_id, sub_mch_id) of the configuration's live entries.
    async fn download_bills(&self, day: u32) -> Result<Vec<MerchantBill>, EngineError> {
        let mut channels: BTreeMap<(String, String), ChannelContext> = BTreeMap::new();
        for entry in self
            .shell()
            .config
            .entries
            .iter()
            .filter(|entry| !entry.sandbox)
        {
            let sub = entry
                .sub_mch_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            channels
                .entry((entry.mch_id.to_string(), sub))
                .or_insert_with(|| entry.channel());
        }
        let mut bills = Vec::new();
        for channel in channels.into_values() {
            let merchant = self.shell().signing_context(&channel).await?;
            let client = self.shell().client(&channel)?;
            let request = DownloadBillRequest {
                bill_date: day.to_string(),
                bill_type: BillType::All,
                gzip: false,
            };
            // A download is read-only, so any failure but "no bill" (nothing that day) is retried.
            let mut outcome = client.call(&merchant, &request).await;
            for _ in 0..BILL_RETRIES {
                match &outcome {
                    Err(error) if !no_bill(error) => {
                        outcome = client.call(&merchant, &request).await;
                    }
                    _ => break,
                }
            }
            let bill = match outcome {
                Ok(bill) => bill,
                Err(error) if no_bill(&error) => continue,
                Err(error) => {
                    return Err(EngineError::BillNotReady {
                        day,
                        reason: error.to_string(),
                    })
                }
            };
            bills.push(MerchantBill { channel, bill });
        }
        Ok(bills)
    }

    fn compare(
        &self,
        bills: &[MerchantBill],
        day: u32,
        day_start_s: i64,
        report: &mut ReconciliationReport,
    ) -> Result<Vec<Discrepancy>, EngineError> {
        let store = &self.shell().store;
        let mut found = Vec::new();
        let mut paid_numbers = Vec::new();
        for bill in bills {
            found.extend(reconcile::check_totals(&bill.bill));
            for row in &bill.bill.rows {
                if let Some(out_refund_no) = row.out_refund_no.as_deref() {
                    report.refunds += 1;
                    let record = self.record_by(IndexKind::OutRefundNo, out_refund_no)?;
                    found.extend(reconcile::check_refund(row, record.as_ref()));
                } else {
                    report.payments += 1;
                    paid_numbers.push(row.out_trade_no.clone());
                    let record = self.record_by(IndexKind::OutTradeNo, &row.out_trade_no)?;
                    found.extend(reconcile::check_payment(row, record.as_ref()));
                }
            }
        }
        // Engine payments of the day: orders created that day or the day before (an order paid
        // after midnight), from the day index.
        let mut records = Vec::new();
        for created_day in [previous_day(day_start_s), day] {
            for order_no in store.orders_by(&OrderFilter::Day(created_day), None, usize::MAX)? {
                records.extend(store.load(&order_no)?);
            }
        }
        let scopes: Vec<(String, Option<String>)> = bills
            .iter()
            .map(|bill| {
                (
                    bill.channel.mch_id.to_string(),
                    bill.channel.sub_mch_id.as_ref().map(ToString::to_string),
                )
            })
            .collect();
        let in_scope = |attempt: &PaymentAttempt| {
            let scope = (
                attempt.channel.mch_id.to_string(),
                attempt.channel.sub_mch_id.as_ref().map(ToString::to_string),
            );
            !attempt.channel.sandbox && scopes.contains(&scope)
        };
        found.extend(reconcile::missing_at_wechat(
            &records,
            &paid_numbers,
            day_start_s,
            in_scope,
        ));
        Ok(found)
    }

    fn record_by(&self, index: IndexKind, key: &str) -> Result<Option<OrderRecord>, EngineError> {
        let store = &self.shell().store;
        match store.find(index, key)? {
            Some(order_no) => Ok(store.load(&order_no)?),
            None => Ok(None),
        }
    }

    /// Asks WeChat now about the order, then checks the difference again.
    async fn resolved_by_query(
        &self,
        discrepancy: &Discrepancy,
        bills: &[MerchantBill],
    ) -> Result<bool, EngineError> {
        let Some(order_no) = discrepancy.order_no() else {
            return Ok(false);
        };
        let record = self.query_wechat(order_no, Duration::from_secs(10)).await?;
        let rows = bills.iter().flat_map(|bill| bill.bill.rows.iter());
        let still = rows
            .filter_map(|row| match (discrepancy, row.out_refund_no.as_deref()) {
                (Discrepancy::PaidAtWechatNotPaidInEngine { out_trade_no, .. }, None)
                    if &row.out_trade_no == out_trade_no =>
                {
                    reconcile::check_payment(row, Some(&record))
                }
                (Discrepancy::RefundMismatch { out_refund_no, .. }, Some(number))
                    if number == out_refund_no =>
                {
                    reconcile::check_refund(row, Some(&record))
                }
                _ => None,
            })
            .next();
        Ok(still.is_none())
    }
}

/// How often a failing bill download is tried again.
const BILL_RETRIES: usize = 5;

/// WeChat's "No Bill Exist" (error_code 20002): nothing was paid or refunded that day.
fn no_bill(error: &WechatError) -> bool {
    matches!(error, WechatError::Protocol { return_msg } if return_msg.contains("error_code 20002"))
}

fn previous_day(day_start_s: i64) -> u32 {
    let text = cashier_adapters::wechat::time::format_compact(day_start_s - 86_400);
    text.get(0..8).and_then(|day| day.parse().ok()).unwrap_or(0)
}
