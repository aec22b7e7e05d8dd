//! The demo's 医保 orders: one order in eight pays through 医保 pay 1.0, alternating the mini
//! program jump (channel 50) and the official account's redirect (channel 51), and two insured
//! payers: one whose small personal account runs dry (pay_type 3: insurance and cash), one
//! whose account covers what the fund leaves (pay_type 2: insurance only). The payer authorises, the
//! engine pre-settles and orders, and the payer pays, fails, cancels or walks away as the
//! order's scenario says.

use cashier_adapters::medical::payinsurance::unified_order::MedicalOrderType;
use cashier_adapters::OpenId;
use cashier_engine::model::{MedicalState, OrderRecord};
use cashier_engine::order_number::OrderNumber;
use cashier_engine::{EngineError, MedicalPaymentRequest, MedicalPaymentStart};
use cashier_harness::medical::MedicalPayerAction;

use crate::cli::demo::Scenario;
use crate::simulation::SimulatedWorld;

/// Entry and payer: the first insured payer's small personal account runs dry (pay_type 3,
/// cash), the second's large one covers what the fund leaves (pay_type 2).
const ENTRIES: [(&str, &str); 4] = [
    ("medical_mini_program", "oMiniPayer0000000000000001"),
    ("medical_official_account", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6q"),
    ("medical_official_account", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"),
    ("medical_mini_program", "oMiniPayer0000000000000003"),
];

/// True for the orders the demo pays through 医保.
pub fn is_medical(index: usize) -> bool {
    index % 8 == 7
}

fn med_trans_id(start: &MedicalPaymentStart) -> &str {
    start.pay_url.as_str().rsplit('=').next().unwrap_or("")
}

/// Starts a 医保 payment of the order and acts as the payer; returns the cash part of NHSA's
/// split when the attempt was placed.
pub async fn drive(
    world: &SimulatedWorld,
    index: usize,
    order_no: &OrderNumber,
    scenario: Scenario,
) -> Option<u64> {
    let (entry, openid) = ENTRIES[(index / 8) % ENTRIES.len()];
    let mut request = MedicalPaymentRequest {
        entry: entry.into(),
        auth_code: world.simulator.medical_authorize(openid),
        openid: OpenId::new(openid).ok()?,
        order_type: if index % 16 == 7 {
            MedicalOrderType::Registration
        } else {
            MedicalOrderType::Clinic
        },
        client_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::new(123, 12, 12, 123)),
        fee_lines: Vec::new(),
        med_type: None,
    };
    // A refused or failed authorisation changes nothing: the payer authorises again.
    let mut start = world
        .engine
        .start_medical_payment(order_no, request.clone())
        .await;
    for _ in 0..2 {
        if !matches!(start, Err(EngineError::MedicalAuthorisation { .. })) {
            break;
        }
        request.auth_code = world.simulator.medical_authorize(openid);
        start = world
            .engine
            .start_medical_payment(order_no, request.clone())
            .await;
    }
    let start = start.ok()?;
    act(world, med_trans_id(&start), scenario, index);
    if scenario == Scenario::ClientOkThenPay {
        // Back in the hospital mini program (scene 1038): the client's word is a hint only.
        let _ = world
            .engine
            .query_wechat(order_no, std::time::Duration::from_secs(1))
            .await;
    }
    Some(start.split.cash.fen())
}

/// A payer whose order was not ready when asked (NHSA or WeChat failing, retried by the
/// engine) comes back and acts on the order placed since; returns the cash part.
pub async fn pay_late(
    world: &SimulatedWorld,
    order_no: &OrderNumber,
    scenario: Scenario,
) -> Option<u64> {
    let record = world.engine.query(order_no).await.ok()?;
    let (med_trans_id, cash_fen) =
        record
            .medical
            .iter()
            .find_map(|attempt| match &attempt.state {
                MedicalState::Paying { nhsa, placed, .. } => {
                    Some((placed.med_trans_id.to_string(), nhsa.split.cash.fen()))
                }
                _ => None,
            })?;
    act(world, &med_trans_id, scenario, 0);
    Some(cash_fen)
}

/// The payer in the 医保 pay mini program, as the scenario says.
fn act(world: &SimulatedWorld, med_trans_id: &str, scenario: Scenario, index: usize) {
    let action = match scenario {
        Scenario::PayAndKeep
        | Scenario::PayThenPartialRefund
        | Scenario::PayThenFullRefund
        | Scenario::ClientOkThenPay => Some(MedicalPayerAction::Pay),
        Scenario::CancelThenExpire if index % 2 == 0 => Some(MedicalPayerAction::Cancel),
        Scenario::CancelThenExpire => Some(MedicalPayerAction::Fail),
        Scenario::NeverPay => Some(MedicalPayerAction::Abandon),
        Scenario::MerchantCloses => None,
    };
    if let Some(action) = action {
        let _ = world.simulator.medical_payer(med_trans_id, action);
    }
}

/// The 医保 orders of a run by final state, and paid ones by pay_type.
pub fn tally(records: &[OrderRecord]) -> Vec<(String, usize)> {
    let medical: Vec<&OrderRecord> = records
        .iter()
        .filter(|record| !record.medical.is_empty())
        .collect();
    let mut lines: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for record in &medical {
        *lines.entry(format!("{:?}", record.state)).or_default() += 1;
        for attempt in record.paid_medical() {
            let kind = match attempt.paid_split() {
                Some(split) if split.cash.is_zero() => "paid with pay_type 2 (insurance only)",
                _ => "paid with pay_type 3 (insurance + cash)",
            };
            *lines.entry(kind.to_owned()).or_default() += 1;
        }
    }
    lines.into_iter().collect()
}
