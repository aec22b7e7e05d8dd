//! The merchant's notification endpoints for tests that run the engine over real HTTP: a
//! hyper server on loopback handing payment, refund and 医保 notification bodies to the engine
//! and answering with its exact acknowledgement bytes.

use std::net::SocketAddr;

use cashier_engine::Engine;

/// Serves the engine's notification endpoints on `port` until the process ends.
pub async fn serve_notifications(engine: Engine, port: u16) {
    use http_body_util::{BodyExt, Full};
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .unwrap();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let engine = engine.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let engine = engine.clone();
                async move {
                    let refund = request.uri().path().ends_with("refund-notify");
                    let medical = request.uri().path().contains("/medical/");
                    let body = request
                        .into_body()
                        .collect()
                        .await
                        .map(|collected| collected.to_bytes().to_vec())
                        .unwrap_or_default();
                    let response = if refund {
                        engine.handle_refund_notification(&body).await
                    } else if medical {
                        engine.handle_medical_notification(&body).await
                    } else {
                        engine.handle_payment_notification(&body).await
                    };
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                        bytes::Bytes::from(response.ack),
                    )))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}
