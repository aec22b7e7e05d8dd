//! Property tests (issue #4): on random event sequences the machine never keeps a double
//! payment, never refunds more than was paid, keeps terminal states, always has a next deadline
//! for pending work, and the event log replays to the same record. Order numbers are unique
//! across threads, well-formed, and parse back.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::{key, new_order, refund_no, spec, trade_no};

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use cashier_adapters::{AmountFen, ErrCode, PrepayId, RefundId, TransactionId};
use cashier_engine::clock::{Clock, ManualClock};
use cashier_engine::machine::{check_invariants, step};
use cashier_engine::model::*;
use cashier_engine::order_number::{
    Channel, Kind, OrderNumber, OrderNumberGenerator, ProductType, ORDER_NUMBER_LEN, SLOTS,
};
use proptest::prelude::*;

const ATTEMPTS: [&str; 2] = ["11", "12"];
const PAYERS: [&str; 2] = ["o1", "o2"];
const REFUNDS: [&str; 3] = ["R1", "R2", "R3"];
const KEYS: [&str; 2] = ["K1", "K2"];

fn failure_strategy() -> impl Strategy<Value = CallFailure> {
    prop_oneof![
        Just(CallFailure::Unknown),
        Just(CallFailure::Retry {
            code: ErrCode::SystemError,
            after_ms: 0
        }),
        Just(CallFailure::Final {
            refusal: Refusal::Wechat(ErrCode::NoAuth)
        }),
    ]
}

fn transaction(out_trade_no: &cashier_adapters::OutTradeNo) -> TransactionId {
    TransactionId::new(format!(
        "T{}",
        out_trade_no.as_str().trim_start_matches('0')
    ))
    .unwrap()
}

fn refund_id() -> RefundId {
    RefundId::new("RID").unwrap()
}

fn attempt_events(amount_fen: u64) -> impl Strategy<Value = Event> {
    let out = prop::sample::select(ATTEMPTS.to_vec()).prop_map(trade_no);
    let payer = prop::sample::select(PAYERS.to_vec());
    prop_oneof![
        (out.clone(), payer).prop_map(|(out, payer)| Event::StartPayment {
            spec: Box::new(spec(out, payer))
        }),
        (
            out.clone(),
            prop_oneof![
                Just(PrepayOutcome::Prepared {
                    prepay_id: PrepayId::new("wx").unwrap(),
                    link: ClientLinkKind::None,
                }),
                Just(PrepayOutcome::AlreadyPaid),
                Just(PrepayOutcome::AlreadyClosed),
                failure_strategy().prop_map(PrepayOutcome::Failed),
            ]
        )
            .prop_map(|(out_trade_no, outcome)| Event::PrepayResult {
                out_trade_no,
                outcome
            }),
        out.clone().prop_map(|out_trade_no| Event::PaymentNotified {
            transaction_id: transaction(&out_trade_no),
            out_trade_no,
            paid_at_s: None
        }),
        (out.clone(), 0u8..5).prop_map(move |(out_trade_no, kind)| Event::QueryResult {
            outcome: match kind {
                0 => QueryOutcome::Paid {
                    transaction_id: transaction(&out_trade_no),
                    total: AmountFen::from_fen(amount_fen),
                    paid_at_s: None
                },
                1 => QueryOutcome::NotPaid,
                2 => QueryOutcome::Closed,
                3 => QueryOutcome::NotFound,
                _ => QueryOutcome::Failed(CallFailure::Unknown),
            },
            out_trade_no,
        }),
        (
            out.clone(),
            prop_oneof![
                Just(ClientResult::Ok),
                Just(ClientResult::Cancel),
                Just(ClientResult::Fail)
            ]
        )
            .prop_map(|(out_trade_no, result)| Event::ClientReported {
                out_trade_no,
                result
            }),
        Just(Event::CloseRequested),
        Just(Event::QueryRequested),
        (
            out,
            prop_oneof![
                Just(CloseOutcome::Closed),
                Just(CloseOutcome::AlreadyPaid),
                Just(CloseOutcome::QueryFirst),
                failure_strategy().prop_map(CloseOutcome::Failed)
            ]
        )
            .prop_map(|(out_trade_no, outcome)| Event::CloseResult {
                out_trade_no,
                outcome
            }),
        Just(Event::DeadlineReached),
    ]
}

fn refund_events(amount_fen: u64) -> impl Strategy<Value = Event> {
    let refund = prop::sample::select(REFUNDS.to_vec()).prop_map(refund_no);
    let request_key = prop::sample::select(KEYS.to_vec()).prop_map(key);
    prop_oneof![
        (refund.clone(), request_key, 1..=amount_fen).prop_map(|(out_refund_no, key, fen)| {
            Event::RefundRequested {
                key,
                out_refund_no,
                amount: AmountFen::from_fen(fen),
                reason: RefundReason::new("r").unwrap(),
            }
        }),
        (
            refund.clone(),
            prop_oneof![
                Just(RefundOutcome::Accepted {
                    refund_id: refund_id()
                }),
                failure_strategy().prop_map(RefundOutcome::Failed)
            ]
        )
            .prop_map(|(out_refund_no, outcome)| Event::RefundResult {
                out_refund_no,
                outcome
            }),
        (
            refund,
            prop_oneof![
                Just(RefundStatusReport::Succeeded {
                    refund_id: refund_id()
                }),
                Just(RefundStatusReport::Processing {
                    refund_id: refund_id()
                }),
                Just(RefundStatusReport::Closed),
                Just(RefundStatusReport::Abnormal),
                Just(RefundStatusReport::NotFound),
            ]
        )
            .prop_map(|(out_refund_no, report)| Event::RefundStatus {
                out_refund_no,
                report,
                from_notification: true
            }),
    ]
}

fn event_strategy(amount_fen: u64) -> impl Strategy<Value = Event> {
    prop_oneof![3 => attempt_events(amount_fen), 1 => refund_events(amount_fen)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn random_event_sequences_keep_every_invariant(
        amount_fen in 1u64..5_000,
        script in prop::collection::vec((0i64..120, any::<prop::sample::Index>()), 1..60),
        events in prop::collection::vec(event_strategy(100), 60),
    ) {
        let mut record = new_order(amount_fen.min(100), 1_800_000);
        let mut now_ms = 0;
        let mut applied: Vec<(Event, i64)> = Vec::new();
        let mut terminal: Option<OrderState> = None;
        for (delta_s, index) in script {
            now_ms += delta_s * 1000;
            let event = index.get(&events).clone();
            match step(&record, &event, now_ms) {
                Ok(transition) => {
                    // A repeat of a host refund under its key changes nothing.
                    if let (Event::RefundRequested { key, .. }, false) = (&event, transition.changed) {
                        prop_assert!(record.refund_by_key(key).is_some());
                    }
                    if transition.changed {
                        applied.push((event, now_ms));
                    }
                    record = transition.record;
                }
                Err(_) => continue,
            }
            prop_assert!(check_invariants(&record).is_ok(), "{:?}", check_invariants(&record));
            if let Some(state) = terminal {
                prop_assert_eq!(record.state, state, "terminal states absorb");
            }
            if record.state.is_terminal() {
                terminal = Some(record.state);
            }
            // Never more than one payment kept: every extra paid attempt is being refunded.
            let paid = record.paid_attempts().count();
            let automatic = record.refunds.iter().filter(|refund| !matches!(refund.cause, RefundCause::Requested { .. })).count();
            prop_assert!(paid <= 1 + automatic + usize::from(record.state == OrderState::Closed));
        }
        // Replaying the changed events from the start rebuilds the same record.
        let mut replayed = new_order(amount_fen.min(100), 1_800_000);
        for (event, at_ms) in &applied {
            replayed = step(&replayed, event, *at_ms).unwrap().record;
        }
        prop_assert_eq!(replayed, record);
    }

    #[test]
    fn order_numbers_are_unique_well_formed_and_parse_back(
        channel in 0u8..100,
        product in 0u8..100,
        steps in prop::collection::vec(-3_000i64..3_000, 1..200),
    ) {
        let clock = ManualClock::new(1_764_208_800_000);
        let generator = OrderNumberGenerator::in_memory(42, Arc::new(clock.clone()));
        let mut seen = BTreeSet::new();
        for delta_ms in steps {
            clock.advance_ms(delta_ms);
            let number = generator.next(Channel(channel), Kind::Refund, ProductType(product)).unwrap();
            prop_assert_eq!(number.as_str().len(), ORDER_NUMBER_LEN);
            prop_assert!(cashier_adapters::OutTradeNo::new(number.as_str()).is_ok());
            let parts = number.parts();
            prop_assert_eq!(parts.channel, Channel(channel));
            prop_assert_eq!(parts.kind, Kind::Refund);
            prop_assert_eq!(parts.product_type, ProductType(product));
            prop_assert_eq!(parts.node, 42);
            prop_assert_eq!(OrderNumber::parse(number.to_string()).unwrap(), number.clone());
            prop_assert!(seen.insert(number), "duplicate number");
        }
    }
}

/// Issue #9, defect 2: 1,000 restarts, each on the slot floors the previous runs left, with the
/// clock jittering and stepping back (up to 3 s) between runs: every number is unique and
/// carries the time it was issued at (±1 s).
#[test]
fn order_numbers_stay_unique_and_true_to_time_across_1000_restarts() {
    use rand_like::Stream;
    let clock = ManualClock::new(1_764_208_800_000);
    let floors = Arc::new(Mutex::new(vec![0i64; SLOTS]));
    let mut stream = Stream(0x9e37_79b9_7f4a_7c15);
    let mut seen = BTreeSet::new();
    for _ in 0..1000 {
        // Between runs: jitter of -3 s to +10 s.
        clock.advance_ms(stream.below(13_000) as i64 - 3_000);
        let sink = floors.clone();
        let reserve = Box::new(move |slot: u8, until_s: i64| {
            let mut floors = sink.lock().unwrap();
            let floor = &mut floors[usize::from(slot)];
            *floor = (*floor).max(until_s);
            Ok(())
        });
        let current = floors.lock().unwrap().clone();
        let generator =
            OrderNumberGenerator::start(1, Arc::new(clock.clone()), &current, reserve).unwrap();
        for _ in 0..(1 + stream.below(20)) {
            clock.advance_ms(stream.below(1_500) as i64);
            let number = generator
                .next(Channel::APP, Kind::Payment, ProductType(3))
                .unwrap();
            let stamp = number.parts().timestamp;
            let issued_s =
                cashier_adapters::wechat::time::parse_compact(&format!("20{stamp}")).unwrap();
            let now_s = clock.now_ms().div_euclid(1000);
            assert!(
                (issued_s - now_s).abs() <= 1,
                "{number} carries {issued_s}, issued at {now_s}"
            );
            assert!(seen.insert(number.clone()), "{number} issued twice");
        }
    }
}

/// A tiny deterministic stream (splitmix64) for the restart test.
mod rand_like {
    pub struct Stream(pub u64);

    impl Stream {
        pub fn below(&mut self, bound: u64) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) % bound.max(1)
        }
    }
}

#[test]
fn lanes_of_finished_threads_are_reused_without_repeating_numbers() {
    let clock = ManualClock::new(1_764_208_800_000);
    let generator = Arc::new(OrderNumberGenerator::in_memory(1, Arc::new(clock)));
    let mut all = BTreeSet::new();
    // 300 short-lived threads, more than the 100 lanes, one after another.
    for _ in 0..300 {
        let generator = generator.clone();
        let numbers = std::thread::spawn(move || {
            (0..10)
                .map(|_| {
                    generator
                        .next(Channel::APP, Kind::Payment, ProductType(3))
                        .unwrap()
                })
                .collect::<Vec<_>>()
        })
        .join()
        .unwrap();
        for number in numbers {
            assert!(all.insert(number), "a reused lane repeated a number");
        }
    }
}

#[test]
fn order_numbers_are_unique_across_threads() {
    let clock = ManualClock::new(1_764_208_800_000);
    let generator = Arc::new(OrderNumberGenerator::in_memory(1, Arc::new(clock)));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let generator = generator.clone();
            std::thread::spawn(move || {
                (0..20_000)
                    .map(|_| {
                        generator
                            .next(Channel::APP, Kind::Payment, ProductType(3))
                            .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all = BTreeSet::new();
    for handle in handles {
        for number in handle.join().unwrap() {
            assert!(all.insert(number), "duplicate across threads");
        }
    }
    assert_eq!(all.len(), 160_000);
}

fn split_strategy() -> impl Strategy<Value = cashier_adapters::medical::nhsa::Split> {
    (0u64..50_000, 0u64..50_000, 0u64..50_000).prop_map(|(fund, account, cash)| {
        let fen = AmountFen::from_fen;
        cashier_adapters::medical::nhsa::Split::new(
            fen(fund + account + cash),
            fen(fund),
            fen(account),
            fen(cash),
        )
        .unwrap()
    })
}

proptest! {
    /// 医保 refunds (yibao-pay.md §4.3): whatever the host asks, in any order, each accepted
    /// refund adds up (fund + account + cash = total), no part is ever refunded beyond what it
    /// paid, the insurance parts go back whole or not at all, and asking for exactly what is
    /// left always succeeds.
    #[test]
    fn medical_refund_shapes_never_exceed_a_part_and_insurance_goes_back_whole(
        paid in split_strategy(),
        asks in proptest::collection::vec(1u64..120_000, 1..6),
    ) {
        use cashier_engine::machine::refund_shape;
        let fen = AmountFen::from_fen;
        let mut left = paid;
        for ask in asks.into_iter().chain([u64::MAX]) {
            if left.total.is_zero() {
                break;
            }
            let amount = if ask == u64::MAX { left.total } else { fen(ask) };
            let Ok((refund, calls)) = refund_shape(&paid, &left, amount) else {
                prop_assert!(amount != left.total, "everything left is always refundable");
                continue;
            };
            // NHSA's calls return exactly the refund, part by part.
            let sum = |part: fn(&cashier_adapters::medical::nhsa::Split) -> AmountFen| {
                calls.iter().map(|(_, split)| part(split).fen()).sum::<u64>()
            };
            prop_assert_eq!(sum(|split| split.total), refund.total.fen());
            prop_assert_eq!(sum(|split| split.cash), refund.cash.fen());
            prop_assert_eq!(sum(|split| split.fund), refund.fund.fen());
            prop_assert_eq!(refund.total, amount);
            prop_assert_eq!(refund.fund.fen() + refund.account.fen() + refund.cash.fen(), refund.total.fen());
            prop_assert!(refund.fund <= left.fund && refund.account <= left.account && refund.cash <= left.cash);
            prop_assert!(refund.insurance().is_zero() || refund.insurance() == left.insurance());
            left = cashier_adapters::medical::nhsa::Split {
                total: fen(left.total.fen() - refund.total.fen()),
                fund: fen(left.fund.fen() - refund.fund.fen()),
                account: fen(left.account.fen() - refund.account.fen()),
                cash: fen(left.cash.fen() - refund.cash.fen()),
            };
        }
    }
}
