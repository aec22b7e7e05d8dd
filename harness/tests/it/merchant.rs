//! A merchant on loopback that receives notifications over HTTP and answers with a script.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Response;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

pub struct Merchant {
    pub address: SocketAddr,
    pub received: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Merchant {
    /// Starts a merchant whose answer to the n-th notification (1-based) is `answer(n)`.
    pub async fn start(
        answer: impl Fn(usize) -> (u16, &'static [u8]) + Send + Sync + 'static,
    ) -> Merchant {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let received: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let answer = Arc::new(answer);
        let log = received.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let log = log.clone();
                let answer = answer.clone();
                tokio::spawn(async move {
                    let service =
                        service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                            let log = log.clone();
                            let answer = answer.clone();
                            async move {
                                let body = request
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|c| c.to_bytes().to_vec())
                                    .unwrap_or_default();
                                let count = {
                                    let mut log = log.lock().unwrap();
                                    log.push(body);
                                    log.len()
                                };
                                let (status, reply) = answer(count);
                                let mut response =
                                    Response::new(Full::new(Bytes::from_static(reply)));
                                *response.status_mut() =
                                    hyper::StatusCode::from_u16(status).unwrap();
                                Ok::<_, std::convert::Infallible>(response)
                            }
                        });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Merchant { address, received }
    }

    pub fn notify_url(&self) -> String {
        format!("http://{}/wechat/notify", self.address)
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}
