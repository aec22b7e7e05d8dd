//! Hostile HTTP against `cashier sim`'s server (issue #11): a declared body over the limit is
//! refused before a byte of it is read (the 100 MB Content-Length with a 5-byte body used to
//! hold the connection forever), slow headers and slow bodies are cut off at their timeouts,
//! idle kept-alive connections are closed, and connections beyond the cap are closed at once.
//! Every answer is prompt; the server stays healthy.

use std::time::{Duration, Instant};

use cashier_harness::server::{BODY_TIMEOUT, HEADER_TIMEOUT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

async fn connect(world: &World) -> TcpStream {
    TcpStream::connect(world.server.local_addr).await.unwrap()
}

/// Reads until the server closes the connection or `limit` passes; returns what came and
/// whether the connection was closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (String::from_utf8_lossy(&received).into_owned(), true)
            }
            Ok(Ok(read)) => received.extend_from_slice(&buffer[..read]),
            Err(_) => return (String::from_utf8_lossy(&received).into_owned(), false),
        }
    }
}

#[tokio::test]
async fn a_declared_100_mb_body_is_refused_at_once_and_the_connection_closed() {
    let world = World::start(41).await;
    let mut stream = connect(&world).await;
    let began = Instant::now();
    stream
        .write_all(
            b"POST /pay/unifiedorder HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\nhello",
        )
        .await
        .unwrap();
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("请求数据过大"), "{answer}");
    assert!(
        closed,
        "the connection is closed, not held for the rest of the body"
    );
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "{:?}",
        began.elapsed()
    );
    // The control API refuses the same way, with a JSON 413.
    let mut control = connect(&world).await;
    control
        .write_all(b"POST /__sim/pay HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n{}")
        .await
        .unwrap();
    let (answer, closed) = read_until_closed(&mut control, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 413") && closed, "{answer}");
}

#[tokio::test]
async fn slow_loris_headers_slow_bodies_and_idle_connections_are_cut_off() {
    let world = World::start(42).await;
    let began = Instant::now();
    // 200 clients trickling one header byte a second.
    let mut trickling = Vec::new();
    for _ in 0..200 {
        let mut stream = connect(&world).await;
        stream
            .write_all(b"POST /pay/orderquery HTTP/1.1\r\n")
            .await
            .unwrap();
        trickling.push(stream);
    }
    let feeding = tokio::spawn(async move {
        let mut closed = 0;
        for _ in 0..(HEADER_TIMEOUT.as_secs() + 5) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            closed = 0;
            for stream in &mut trickling {
                if stream.write_all(b"X").await.is_err() || stream.flush().await.is_err() {
                    closed += 1;
                }
            }
            if closed == trickling.len() {
                break;
            }
        }
        closed
    });
    // A body that never finishes, and a connection that says nothing at all.
    let mut slow_body = connect(&world).await;
    slow_body
        .write_all(b"POST /pay/orderquery HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n<xml>")
        .await
        .unwrap();
    let mut idle = connect(&world).await;
    let (answer, closed) =
        read_until_closed(&mut slow_body, BODY_TIMEOUT + Duration::from_secs(3)).await;
    assert!(closed && answer.contains("请求超时"), "slow body: {answer}");
    let (_, idle_closed) =
        read_until_closed(&mut idle, HEADER_TIMEOUT + Duration::from_secs(3)).await;
    assert!(idle_closed, "an idle connection is closed");
    let closed = feeding.await.unwrap();
    assert_eq!(closed, 200, "every slow-loris connection was closed");
    assert!(
        began.elapsed() < HEADER_TIMEOUT + Duration::from_secs(8),
        "{:?}",
        began.elapsed()
    );
    // Still healthy.
    assert!(world
        .call(
            &direct(cashier_adapters::SignType::Md5),
            &jsapi("AFTERLORIS", 1)
        )
        .await
        .is_ok());
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_at_once() {
    let world = World::start(43).await;
    let mut held = Vec::new();
    for _ in 0..cashier_harness::server::MAX_CONNECTIONS {
        held.push(connect(&world).await);
    }
    // Let the server accept them all before the one over the cap.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut over = connect(&world).await;
    let began = Instant::now();
    let _ = over
        .write_all(b"POST /pay/orderquery HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let (answer, closed) = read_until_closed(&mut over, Duration::from_secs(3)).await;
    assert!(closed && answer.is_empty(), "{answer}");
    assert!(began.elapsed() < Duration::from_secs(2));
    drop(held);
}
