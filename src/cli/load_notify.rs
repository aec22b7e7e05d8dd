//! `cashier load --notify-http`: notification acknowledgements over real HTTP through each
//! framework the host layer supports, side by side with the raw engine call. Paid orders'
//! notification bodies are made first by the simulator (so it is not on the measured path);
//! then each target gets its own third of them at a fixed rate: POSTed over loopback
//! (keep-alive) to the axum server's `/notify/pay`, to the actix-web server's, or handed to
//! `Engine::handle_payment_notification` directly. Every acknowledgement is SUCCESS only once
//! the payment is durable (fdatasync'd), as in production.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cashier_adapters::{HttpRequest, ReqwestTransport, ReqwestTransportConfig, Transport};
use cashier_engine::model::Description;
use cashier_engine::order_number::ProductType;
use cashier_engine::{Engine, NewOrder, PaymentRequest};
use cashier_harness::{FaultPlan, NotificationSink, PayCommand};

use crate::simulation::SimulatedWorld;

/// Keeps every notification body the simulator sends, and answers nothing (WeChat will retry;
/// the run is over long before).
#[derive(Default)]
struct Capture(Mutex<Vec<Vec<u8>>>);

impl NotificationSink for Capture {
    fn deliver<'a>(
        &'a self,
        _url: &'a str,
        body: Vec<u8>,
    ) -> cashier_harness::simulator::DeliveryFuture<'a> {
        Box::pin(async move {
            if let Ok(mut bodies) = self.0.lock() {
                bodies.push(body);
            }
            Err("captured".to_owned())
        })
    }
}

async fn paid_bodies(world: &SimulatedWorld, count: usize) -> Result<Vec<Vec<u8>>, String> {
    for index in 0..count {
        let order = world
            .engine
            .create_order(NewOrder {
                order_no: None,
                product_type: ProductType(1),
                amount: cashier_adapters::AmountFen::from_fen(100 + index as u64),
                description: Description::new("通知压测").map_err(|error| error.to_string())?,
                payer_unionid: None,
            })
            .await
            .map_err(|error| error.to_string())?;
        let request = PaymentRequest {
            entry: "native".into(),
            openid: None,
            client_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        };
        let start = world
            .engine
            .start_payment(&order.record.order_no, request)
            .await
            .map_err(|error| error.to_string())?;
        world
            .simulator
            .pay(&PayCommand {
                out_trade_no: Some(start.out_trade_no.to_string()),
                prepay_id: None,
                outcome: "success".into(),
                bank_type: None,
                coupons: Vec::new(),
            })
            .map_err(|error| error.to_string())?;
    }
    let capture = Capture::default();
    world.simulator.deliver_due(&capture).await;
    let bodies = capture
        .0
        .lock()
        .map(|bodies| bodies.clone())
        .unwrap_or_default();
    Ok(bodies)
}

async fn start_servers(
    engine: &Engine,
    simulator: &Arc<cashier_harness::Simulator>,
    dir: &std::path::Path,
) -> Result<(SocketAddr, SocketAddr), String> {
    let core = crate::cli::serve::host_core(engine, simulator, dir)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|error| error.to_string())?;
    let axum_address = listener.local_addr().map_err(|error| error.to_string())?;
    let router = cashier_host::axum_adapter::router(core.clone());
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = actix_web::HttpServer::new(move || {
                actix_web::App::new()
                    .configure(cashier_host::actix_adapter::configure(core.clone()))
            })
            .workers(2)
            .bind("127.0.0.1:0");
            let Ok(server) = server else { return };
            let _ = sender.send(server.addrs().first().copied());
            let _ = server.run().await;
        });
    });
    let actix_address = receiver
        .recv_timeout(Duration::from_secs(10))
        .ok()
        .flatten()
        .ok_or("actix-web did not start")?;
    Ok((axum_address, actix_address))
}

/// Sends `bodies` at `rate` per second, each as soon as its moment comes, and returns each
/// acknowledgement's latency in microseconds (and how many were not SUCCESS).
async fn drive(bodies: Vec<Vec<u8>>, rate: u32, send: Sender) -> (Vec<u64>, usize) {
    let began = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (index, body) in bodies.into_iter().enumerate() {
        let at = began + Duration::from_micros(index as u64 * 1_000_000 / u64::from(rate.max(1)));
        let send = send.clone();
        tasks.spawn(async move {
            tokio::time::sleep_until(at).await;
            let started = Instant::now();
            let ok = send(body).await;
            (
                u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                ok,
            )
        });
    }
    let mut latencies = Vec::new();
    let mut failed = 0;
    while let Some(Ok((latency, ok))) = tasks.join_next().await {
        latencies.push(latency);
        failed += usize::from(!ok);
    }
    latencies.sort_unstable();
    (latencies, failed)
}

mod futures_like {
    /// A boxed future answering whether the acknowledgement was SUCCESS.
    pub type Ack = std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>>;
}

/// Sends one notification body somewhere and answers whether it was acknowledged SUCCESS.
type Sender = Arc<dyn Fn(Vec<u8>) -> futures_like::Ack + Send + Sync>;

fn http_sender(transport: Arc<ReqwestTransport>, address: SocketAddr) -> Sender {
    Arc::new(move |body| {
        let transport = transport.clone();
        Box::pin(async move {
            let request = HttpRequest {
                method: "POST",
                url: format!("http://{address}/notify/pay"),
                path: "/notify/pay".into(),
                headers: vec![("Content-Type", "text/xml".into())],
                body,
                needs_client_certificate: false,
            };
            transport
                .send(request)
                .await
                .is_ok_and(|response| String::from_utf8_lossy(&response.body).contains("SUCCESS"))
        })
    })
}

fn percentile(sorted: &[u64], fraction: f64) -> f64 {
    let index = ((sorted.len().saturating_sub(1)) as f64 * fraction).round() as usize;
    sorted.get(index).copied().unwrap_or(0) as f64 / 1000.0
}

/// Runs the comparison: `per_target` notifications to each of axum, actix-web and the raw
/// engine call, at `rate` per second. Returns the report and whether every ack was SUCCESS.
pub async fn run(per_target: usize, rate: u32) -> Result<(String, bool), String> {
    let dir = tempfile::tempdir().map_err(|error| error.to_string())?;
    let store = SimulatedWorld::open_store(&dir.path().join("engine"))?;
    let world = SimulatedWorld::start(11, store, FaultPlan::none(), 2)?;
    let bodies = paid_bodies(&world, per_target * 3).await?;
    let (axum_address, actix_address) =
        start_servers(&world.engine, &world.simulator, &dir.path().join("host")).await?;
    let transport = Arc::new(
        ReqwestTransport::new(ReqwestTransportConfig::default())
            .map_err(|error| error.to_string())?,
    );
    let engine = world.engine.clone();
    let raw: Sender = Arc::new(move |body| {
        let engine = engine.clone();
        Box::pin(async move {
            engine
                .handle_payment_notification(&body)
                .await
                .ack
                .windows(7)
                .any(|window| window == b"SUCCESS")
        })
    });
    let mut chunks = bodies.chunks(per_target.max(1)).map(<[Vec<u8>]>::to_vec);
    let targets: [(&str, Sender); 3] = [
        ("axum (HTTP)", http_sender(transport.clone(), axum_address)),
        ("actix-web (HTTP)", http_sender(transport, actix_address)),
        ("engine call", raw),
    ];
    let mut report = format!(
        "notification acks at {rate}/s, {per_target} per target, every ack after fdatasync\n"
    );
    let mut all_ok = true;
    for (name, send) in targets {
        let chunk = chunks.next().unwrap_or_default();
        let (latencies, failed) = drive(chunk, rate, send).await;
        all_ok &= failed == 0 && !latencies.is_empty();
        report.push_str(&format!(
            "  {name:<18} p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>6.2} ms  ({} acks, {failed} not SUCCESS)\n",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            percentile(&latencies, 1.0),
            latencies.len()
        ));
    }
    world.engine.shutdown().await;
    Ok((report, all_ok))
}
