//! What issue #9 gives the host beyond payments: the durable event feed with its cursor,
//! order lists from indexes (by payer, state and day), key rotation without a restart, and
//! entries running against WeChat's sandbox.

use std::sync::{Arc, Mutex};

use cashier::simulation::SimulatedWorld;
use cashier_adapters::{ApiKey, Fields, MchId, OpenId, SignType, Transport};
use cashier_engine::config::EngineConfig;
use cashier_engine::feed::Notice;
use cashier_engine::keys::MerchantKeys;
use cashier_engine::model::{AlertKind, OrderState, UnionId};
use cashier_engine::store::{OrderFilter, SledStore};
use cashier_engine::{ClientPayment, NotificationVerdict};
use cashier_harness::{SimConfig, SimOptions, SimTransport, Simulator};

use crate::support::*;

const NEW_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";

#[tokio::test]
async fn the_feed_tells_the_host_every_payment_refund_and_alert_once_in_order_across_restarts() {
    let simulator = Arc::new(Simulator::new(
        SimConfig::embedded_default().unwrap(),
        SimOptions::deterministic(301),
    ));
    let store = Arc::new(SledStore::temporary().unwrap());
    let config = cashier::simulation::engine_config(simulator.config()).unwrap();
    let world =
        SimulatedWorld::with_simulator(simulator.clone(), config, store.clone(), 301, 2, |_| {})
            .unwrap();
    // One order paid and refunded with CHANGE (an offline transfer); one paid twice.
    let created = world.engine.create_order(order(600)).await.unwrap().record;
    let start = world
        .engine
        .start_payment(&created.order_no, payer("native", None))
        .await
        .unwrap();
    world.payer(&start.out_trade_no, "success").unwrap();
    world.advance(1, 1).await.unwrap();
    let out_refund_no = refund(&world, &created.order_no, 600, "全额退款")
        .await
        .unwrap();
    world.settle().await;
    simulator
        .set_refund_outcome(out_refund_no.as_str(), "CHANGE")
        .unwrap();
    world.advance(20, 5).await.unwrap();
    let twice = world.engine.create_order(order(300)).await.unwrap().record;
    let (first, second) = two_attempts(&world, &twice.order_no).await;
    world.payer(&first.out_trade_no, "success").unwrap();
    world.payer(&second.out_trade_no, "success").unwrap();
    world.advance(60, 5).await.unwrap();

    let entries = world.engine.feed(0, 100).unwrap();
    let sequences: Vec<u64> = entries.iter().map(|entry| entry.sequence).collect();
    assert!(
        sequences.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "gap-free: {sequences:?}"
    );
    let of = |order_no| {
        entries
            .iter()
            .filter(move |entry| &entry.order_no == order_no)
            .map(|entry| &entry.notice)
    };
    let first_order: Vec<&Notice> = of(&created.order_no).collect();
    assert!(
        matches!(
            first_order.as_slice(),
            [
                Notice::OrderPaid { .. },
                Notice::RefundNeedsOfflineTransfer { .. },
                Notice::Alert {
                    kind: AlertKind::RefundAbnormal,
                    ..
                }
            ]
        ),
        "{first_order:#?}"
    );
    let second_order: Vec<&Notice> = of(&twice.order_no).collect();
    assert_eq!(
        second_order
            .iter()
            .filter(|notice| matches!(notice, Notice::OrderPaid { .. }))
            .count(),
        1,
        "{second_order:#?}"
    );
    assert!(second_order.iter().any(|notice| matches!(
        notice,
        Notice::Alert {
            kind: AlertKind::DuplicatePayment,
            ..
        }
    )));
    assert!(second_order
        .iter()
        .any(|notice| matches!(notice, Notice::RefundSucceeded { .. })));

    // The host acknowledges part of it; a restart resumes from the cursor.
    let middle = entries[1].sequence;
    world.engine.acknowledge_feed(middle).unwrap();
    world.engine.shutdown().await;
    let config = cashier::simulation::engine_config(simulator.config()).unwrap();
    let restarted =
        SimulatedWorld::with_simulator(simulator.clone(), config, store, 301, 2, |_| {}).unwrap();
    let cursor = restarted.engine.feed_cursor().unwrap();
    assert_eq!(cursor, middle);
    let rest = restarted.engine.feed(cursor, 100).unwrap();
    assert_eq!(rest.len(), entries.len() - 2);
    assert_eq!(rest.first().map(|entry| entry.sequence), Some(middle + 1));
    restarted.engine.acknowledge_feed(1).unwrap();
    assert_eq!(
        restarted.engine.feed_cursor().unwrap(),
        middle,
        "the cursor never moves back"
    );
}

#[tokio::test]
async fn orders_are_listed_by_payer_state_and_day_from_indexes() {
    let world = World::start(302);
    let unionid = UnionId::new(UNIONID).unwrap();
    let mut mine = order(100);
    mine.payer_unionid = Some(unionid.clone());
    let a = world
        .engine
        .create_order(mine.clone())
        .await
        .unwrap()
        .record;
    let b = world.engine.create_order(mine).await.unwrap().record;
    let other = world.engine.create_order(order(100)).await.unwrap().record;
    let start = world
        .engine
        .start_payment(&a.order_no, payer("official_account", Some(PAYER_OFFICIAL)))
        .await
        .unwrap();
    world.pay(&start.out_trade_no);
    world.advance(1).await;
    let by_unionid = world
        .engine
        .orders_by(&OrderFilter::UnionId(unionid), None, 10)
        .unwrap();
    assert_eq!(by_unionid, vec![a.order_no.clone(), b.order_no.clone()]);
    let by_openid = world
        .engine
        .orders_by(
            &OrderFilter::OpenId(OpenId::new(PAYER_OFFICIAL).unwrap()),
            None,
            10,
        )
        .unwrap();
    assert_eq!(by_openid, vec![a.order_no.clone()]);
    let paid = world
        .engine
        .orders_by(&OrderFilter::State(OrderState::Paid), None, 10)
        .unwrap();
    assert_eq!(paid, vec![a.order_no.clone()]);
    let created = world
        .engine
        .orders_by(&OrderFilter::State(OrderState::Created), None, 10)
        .unwrap();
    assert_eq!(created, vec![b.order_no.clone(), other.order_no.clone()]);
    let day: u32 = cashier_adapters::wechat::time::format_compact(world.simulator.now_ms() / 1000)
        [0..8]
        .parse()
        .unwrap();
    let today = world
        .engine
        .orders_by(&OrderFilter::Day(day), None, 2)
        .unwrap();
    assert_eq!(today.len(), 2, "limited to a page");
    let next_page = world
        .engine
        .orders_by(&OrderFilter::Day(day), today.last(), 10)
        .unwrap();
    assert_eq!(next_page, vec![other.order_no.clone()]);
}

/// Records every request body, then forwards it.
struct Recording {
    inner: SimTransport,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Transport for Recording {
    fn send(
        &self,
        request: cashier_adapters::HttpRequest,
    ) -> cashier_adapters::TransportFuture<'_> {
        self.bodies.lock().unwrap().push(request.body.clone());
        self.inner.send(request)
    }
}

#[tokio::test]
async fn during_a_key_rotation_messages_verify_with_either_key_and_requests_use_the_new_one() {
    let simulator = Arc::new(Simulator::new(
        SimConfig::embedded_default().unwrap(),
        SimOptions::deterministic(303),
    ));
    let keys = cashier::simulation::simulated_keys(simulator.config()).unwrap();
    let mut config = EngineConfig::from_json_with_keys(
        include_str!("../../fixtures/engine/simulated-world.json"),
        Arc::new(keys.clone()),
    )
    .unwrap();
    let medical = cashier::simulation::simulated_medical_credentials(simulator.config()).unwrap();
    for entry in &mut config.medical {
        entry.credentials = Some(medical.clone());
    }
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let (recorded, transport_simulator) = (bodies.clone(), simulator.clone());
    let transports_built = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let built = transports_built.clone();
    let store = Arc::new(SledStore::temporary().unwrap());
    let world =
        SimulatedWorld::with_simulator(simulator.clone(), config, store, 303, 2, move |runtime| {
            let transport = Arc::new(Recording {
                inner: SimTransport::new(transport_simulator),
                bodies: recorded,
            });
            runtime.transports = Box::new(move |_| {
                built.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(transport.clone() as Arc<dyn Transport>)
            });
        })
        .unwrap();
    let at_start = transports_built.load(std::sync::atomic::Ordering::SeqCst);
    let created = world.engine.create_order(order(300)).await.unwrap().record;
    let start = world
        .engine
        .start_payment(
            &created.order_no,
            payer("official_account", Some(PAYER_OFFICIAL)),
        )
        .await
        .unwrap();

    // The merchant rotates: the new key signs, the old one still verifies; no restart.
    let mch_id = MchId::new("10000100").unwrap();
    keys.set(
        mch_id,
        MerchantKeys {
            signing: ApiKey::new(NEW_KEY).unwrap(),
            previous: Some(ApiKey::new(KEY).unwrap()),
        },
    );
    world.engine.reload_credentials().unwrap();
    let after_reload = transports_built.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        after_reload,
        2 * at_start,
        "every transport (client certificate) is built again"
    );
    world.payer(&start.out_trade_no, "success").unwrap();
    let body = simulator.notifications()[0].body.clone().into_bytes();
    let response = world.engine.handle_payment_notification(&body).await;
    assert_eq!(
        response.verdict,
        NotificationVerdict::Applied,
        "signed with the retiring key"
    );
    // A notification signed with neither key is refused.
    let mut forged = cashier_adapters::xml::read(&body).unwrap();
    forged.sign_in_place(
        SignType::HmacSha256,
        &ApiKey::new("ffffffffffffffffffffffffffffffff").unwrap(),
    );
    let forged = world
        .engine
        .handle_payment_notification(cashier_adapters::xml::write(&forged).unwrap().as_bytes())
        .await;
    assert!(matches!(forged.verdict, NotificationVerdict::Rejected(_)));
    // The next request is signed with the new key (this simulator still knows only the old one).
    bodies.lock().unwrap().clear();
    let another = world.engine.create_order(order(200)).await.unwrap().record;
    let _ = world
        .engine
        .start_payment(
            &another.order_no,
            payer("official_account", Some(PAYER_OFFICIAL)),
        )
        .await;
    let sent = bodies.lock().unwrap().first().cloned().unwrap();
    let fields: Fields = cashier_adapters::xml::read(&sent).unwrap();
    assert!(fields
        .verify(SignType::HmacSha256, &ApiKey::new(NEW_KEY).unwrap())
        .is_ok());
    assert!(fields
        .verify(SignType::HmacSha256, &ApiKey::new(KEY).unwrap())
        .is_err());
}

#[tokio::test]
async fn a_sandbox_entry_fetches_the_sandbox_key_and_pays_in_the_sandbox() {
    let world = World::start(304);
    let created = world.engine.create_order(order(101)).await.unwrap().record;
    let start = world
        .engine
        .start_payment(&created.order_no, payer("sandbox_native", None))
        .await
        .unwrap();
    assert!(matches!(start.client, ClientPayment::Native { .. }));
    let ledger = world.simulator.ledger();
    assert!(
        ledger.orders.values().all(|order| order.key.scope.sandbox),
        "the order lives in the sandbox"
    );
    world.pay(&start.out_trade_no);
    world.advance(1).await;
    assert_eq!(
        world.engine.query(&created.order_no).await.unwrap().state,
        OrderState::Paid
    );
    assert_eq!(world.engine.metrics().payment_notifications_applied, 1);
}
