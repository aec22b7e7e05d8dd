//! The 医保 checks of a finished simulated run: the engine's medical payments and refunds agree
//! with the simulated payinsurance and NHSA books, the engine's split is NHSA's, every paid
//! split adds up and no part is refunded beyond what it paid (engine and NHSA), and every
//! insured payer's personal account balances (start − held or settled + refunded).

use std::collections::{BTreeMap, HashMap, HashSet};

use cashier_engine::model::{LegState, MedicalAttempt, MedicalState, OrderRecord};
use cashier_harness::medical::{MedicalLedger, MedicalOrder};
use cashier_harness::Simulator;

/// Each check with its failures (none = OK).
pub fn medical_checks(
    records: &[OrderRecord],
    simulator: &Simulator,
) -> Vec<(String, Vec<String>)> {
    let ledger = simulator.medical_ledger();
    let attempts: Vec<&MedicalAttempt> = records
        .iter()
        .flat_map(|record| record.medical.iter())
        .collect();
    vec![
        (
            "医保 payments match WeChat's and NHSA's books, engine split == NHSA split".to_owned(),
            payment_mismatches(&attempts, &ledger),
        ),
        (
            "fund + account + cash == total, no leg refunded beyond what it paid".to_owned(),
            split_violations(&attempts, &ledger),
        ),
        (
            "医保 refunds match WeChat's cash and NHSA's insurance".to_owned(),
            refund_mismatches(&attempts, &ledger),
        ),
        (
            "NHSA personal accounts balance".to_owned(),
            balance_mismatches(simulator, &ledger),
        ),
    ]
}

/// The payinsurance orders by `hosp_out_trade_no`, so every check is a lookup, not a scan.
fn by_hosp_number(ledger: &MedicalLedger) -> HashMap<&str, &MedicalOrder> {
    ledger
        .orders
        .values()
        .map(|order| (order.hosp_out_trade_no.as_str(), order))
        .collect()
}

fn payment_mismatches(attempts: &[&MedicalAttempt], ledger: &MedicalLedger) -> Vec<String> {
    let mut mismatches = Vec::new();
    let orders = by_hosp_number(ledger);
    for attempt in attempts {
        let number = attempt.out_trade_no.as_str();
        let order = orders.get(number).copied();
        let wechat_paid =
            order.is_some_and(|order| matches!(order.state.as_str(), "SUCCESS" | "REFUND"));
        let engine_paid = matches!(attempt.state, MedicalState::Paid { .. });
        if engine_paid != wechat_paid {
            mismatches.push(format!(
                "{number}: engine paid={engine_paid}, WeChat paid={wechat_paid}"
            ));
        }
        if attempt.state.is_live() {
            mismatches.push(format!("{number} still {}", attempt.state.name()));
        }
        let (Some(split), Some(order)) = (attempt.paid_split(), order) else {
            continue;
        };
        let nhsa = ledger.nhsa_orders.get(&order.pay_ord_id);
        if nhsa.map(|nhsa| nhsa.split) != Some(*split) {
            mismatches.push(format!(
                "{number}: engine split {split:?}, NHSA {:?}",
                nhsa.map(|nhsa| nhsa.split)
            ));
        }
    }
    let known: HashSet<&str> = attempts
        .iter()
        .map(|attempt| attempt.out_trade_no.as_str())
        .collect();
    for order in ledger.orders.values() {
        let paid = matches!(order.state.as_str(), "SUCCESS" | "REFUND");
        if paid && !known.contains(&order.hosp_out_trade_no.as_str()) {
            mismatches.push(format!(
                "{}: paid at WeChat, unknown to the engine",
                order.hosp_out_trade_no
            ));
        }
    }
    mismatches
}

fn split_violations(attempts: &[&MedicalAttempt], ledger: &MedicalLedger) -> Vec<String> {
    let mut violations = Vec::new();
    for attempt in attempts {
        let Some(paid) = attempt.paid_split() else {
            continue;
        };
        let sum = paid.fund.fen() + paid.account.fen() + paid.cash.fen();
        if sum != paid.total.fen() {
            violations.push(format!(
                "{}: {paid:?} does not add up",
                attempt.out_trade_no
            ));
        }
        let committed = attempt.refund_committed();
        if committed.fund > paid.fund
            || committed.account > paid.account
            || committed.cash > paid.cash
        {
            violations.push(format!(
                "{}: engine refunds {committed:?} of {paid:?}",
                attempt.out_trade_no
            ));
        }
    }
    for nhsa in ledger.nhsa_orders.values() {
        let (paid, refunded) = (&nhsa.split, &nhsa.refunded);
        if refunded.fund > paid.fund || refunded.account > paid.account || refunded.cash > paid.cash
        {
            violations.push(format!(
                "NHSA {}: refunded {refunded:?} of {paid:?}",
                nhsa.pay_ord_id
            ));
        }
    }
    violations
}

fn done(leg: Option<&LegState>) -> bool {
    matches!(leg, Some(LegState::Done { .. }))
}

fn refund_mismatches(attempts: &[&MedicalAttempt], ledger: &MedicalLedger) -> Vec<String> {
    let mut mismatches = Vec::new();
    let orders = by_hosp_number(ledger);
    for attempt in attempts {
        let number = attempt.out_trade_no.as_str();
        let Some(order) = orders.get(number).copied() else {
            continue;
        };
        let engine_cash: u64 = attempt
            .refunds
            .iter()
            .filter(|refund| done(refund.cash_leg.as_ref()))
            .map(|refund| refund.split.cash.fen())
            .sum();
        let wechat_cash: u64 = order.refunds.values().map(|(_, cash, _)| cash).sum();
        if engine_cash != wechat_cash {
            mismatches.push(format!(
                "{number}: engine refunded cash {engine_cash}, WeChat {wechat_cash}"
            ));
        }
        let engine_insurance: u64 = attempt
            .refunds
            .iter()
            .flat_map(|refund| refund.nhsa_legs.iter())
            .filter(|leg| done(Some(&leg.state)))
            .map(|leg| leg.split.insurance().fen())
            .sum();
        let nhsa_insurance = ledger
            .nhsa_orders
            .get(&order.pay_ord_id)
            .map_or(0, |nhsa| nhsa.refunded.insurance().fen());
        if engine_insurance != nhsa_insurance {
            mismatches.push(format!(
                "{number}: engine refunded insurance {engine_insurance}, NHSA {nhsa_insurance}"
            ));
        }
        for refund in attempt.refunds.iter().filter(|refund| !refund.is_final()) {
            mismatches.push(format!("{} still sending", refund.out_refund_no));
        }
    }
    mismatches
}

fn balance_mismatches(simulator: &Simulator, ledger: &MedicalLedger) -> Vec<String> {
    let Some(medical) = simulator.config().medical.as_ref() else {
        return Vec::new();
    };
    let mut expected: BTreeMap<&str, i128> = medical
        .insured
        .iter()
        .map(|payer| {
            (
                payer.unionid.as_str(),
                i128::from(payer.account_balance_fen),
            )
        })
        .collect();
    for nhsa in ledger.nhsa_orders.values() {
        // Held from pre-settlement (1) on, spent at settlement (6–11), released by a revoke (12).
        let holds = nhsa.status == 1 || (6..=11).contains(&nhsa.status);
        if let Some(balance) = expected.get_mut(nhsa.unionid.as_str()) {
            if holds {
                *balance -= i128::from(nhsa.split.account.fen());
            }
            *balance += i128::from(nhsa.refunded.account.fen());
        }
    }
    expected
        .into_iter()
        .filter_map(|(unionid, balance)| {
            // The centre opens an account at its first pre-settlement; until then it is whole.
            let start = medical
                .insured
                .iter()
                .find(|payer| payer.unionid == unionid)
                .map_or(0, |payer| payer.account_balance_fen);
            let actual = i128::from(ledger.balances.get(unionid).copied().unwrap_or(start));
            (actual != balance).then(|| format!("{unionid}: balance {actual}, books say {balance}"))
        })
        .collect()
}
