//! Property tests (issue #4): on random event sequences the machine never keeps a double
//! payment, never refunds more than was paid, keeps terminal states, always has a next deadline
//! for pending work, and the event log replays to the same record. Order numbers are unique
//! across threads, well-formed, and parse back.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use common::attempt;

use std::collections::BTreeSet;
use std::sync::Arc;

use cashier_engine::clock::ManualClock;
use cashier_engine::machine::{self, check_invariants, step};
use cashier_engine::model::*;
use cashier_engine::order_number::{
    Channel, Kind, OrderNumber, OrderNumberGenerator, ProductType, ORDER_NUMBER_LEN,
};
use proptest::prelude::*;

const ATTEMPTS: [&str; 2] = [
    "00000000000000000000000000011",
    "00000000000000000000000000012",
];
const REFUNDS: [&str; 3] = ["R1", "R2", "R3"];

fn failure_strategy() -> impl Strategy<Value = CallFailure> {
    prop_oneof![
        Just(CallFailure::Unknown),
        Just(CallFailure::Retry {
            code: "SYSTEMERROR".into(),
            after_ms: 0
        }),
        Just(CallFailure::Final {
            code: "NOAUTH".into()
        }),
    ]
}

fn event_strategy(amount_fen: u64) -> impl Strategy<Value = Event> {
    let out = prop::sample::select(ATTEMPTS.to_vec()).prop_map(str::to_owned);
    let refund = prop::sample::select(REFUNDS.to_vec()).prop_map(str::to_owned);
    prop_oneof![
        out.clone().prop_map(move |out| Event::StartPayment {
            attempt: Box::new(attempt(&out, amount_fen))
        }),
        (
            out.clone(),
            prop_oneof![
                Just(PrepayOutcome::Prepared {
                    prepay_id: "wx".into(),
                    code_url: None,
                    mweb_url: None
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
            transaction_id: format!("T{out_trade_no}"),
            out_trade_no,
            time_end: None
        }),
        (
            out.clone(),
            prop_oneof![Just(0u8), Just(1), Just(2), Just(3), Just(4)]
        )
            .prop_map(move |(out_trade_no, kind)| Event::QueryResult {
                outcome: match kind {
                    0 => QueryOutcome::Paid {
                        transaction_id: format!("T{out_trade_no}"),
                        total_fen: amount_fen,
                        time_end: None
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
        (refund.clone(), 1..=amount_fen).prop_map(|(out_refund_no, amount_fen)| {
            Event::RefundRequested {
                out_refund_no,
                amount_fen,
                reason: "r".into(),
            }
        }),
        (
            refund.clone(),
            prop_oneof![
                Just(RefundOutcome::Accepted {
                    refund_id: "RID".into()
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
                    refund_id: "RID".into()
                }),
                Just(RefundStatusReport::Processing {
                    refund_id: "RID".into()
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn random_event_sequences_keep_every_invariant(
        amount_fen in 1u64..5_000,
        script in prop::collection::vec((0i64..120, any::<prop::sample::Index>()), 1..60),
        events in prop::collection::vec(event_strategy(100), 60),
    ) {
        let mut record = machine::new_order(OrderNumber::parse("00000000000000000000000000001").unwrap(), 1, amount_fen.min(100), "x".into(), None, 0, 1_800_000);
        let mut now_ms = 0;
        let mut applied: Vec<(Event, i64)> = Vec::new();
        let mut terminal: Option<OrderState> = None;
        for (delta_s, index) in script {
            now_ms += delta_s * 1000;
            let event = index.get(&events).clone();
            match step(&record, &event, now_ms) {
                Ok(transition) => {
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
        let mut replayed = machine::new_order(OrderNumber::parse("00000000000000000000000000001").unwrap(), 1, amount_fen.min(100), "x".into(), None, 0, 1_800_000);
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
