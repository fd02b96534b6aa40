//! The health check's one GET against small HTTP servers on loopback: the
//! status it gives, and what it says when there is no answer.

use std::time::Duration;

use stageline_aws::probe_health;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A server on 127.0.0.1 answering every request with `status`; its URL.
async fn server_answering(status: u16) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let answer = format!(
                    "HTTP/1.1 {status} Status\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    format!("http://{address}/health")
}

#[tokio::test]
async fn a_failing_service_gives_its_status() {
    let url = server_answering(500).await;

    assert_eq!(probe_health(&url, Duration::from_secs(5)).await, Ok(500));
}

#[tokio::test]
async fn a_healthy_service_gives_200() {
    let url = server_answering(200).await;

    assert_eq!(probe_health(&url, Duration::from_secs(5)).await, Ok(200));
}

#[tokio::test]
async fn a_closed_port_is_a_refused_connection() {
    // Bound then dropped: nothing listens there any more.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/health");

    let error = probe_health(&url, Duration::from_secs(5))
        .await
        .unwrap_err();

    assert_eq!(
        error.message,
        format!("Could not connect to {url}: connection refused")
    );
}

#[tokio::test]
async fn a_service_that_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/health", listener.local_addr().unwrap());
    // Accepts and reads, never answers.
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 4096];
        let _ = socket.read(&mut request).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    });

    let error = probe_health(&url, Duration::from_millis(300))
        .await
        .unwrap_err();

    assert_eq!(
        error.message,
        format!("The health check of {url} timed out after 300 ms")
    );
}

#[tokio::test]
async fn an_unknown_host_says_so() {
    // `.invalid` never resolves (RFC 6761).
    let url = "http://stageline-health.invalid/health";

    let error = probe_health(url, Duration::from_secs(10))
        .await
        .unwrap_err();

    assert!(
        error.message.starts_with(&format!(
            "Could not connect to {url}: the host stageline-health.invalid was not found"
        )),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn redirects_past_five_are_a_failed_check() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/loop", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let answer =
                    "HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });

    let error = probe_health(&url, Duration::from_secs(5))
        .await
        .unwrap_err();

    assert_eq!(error.message, format!("{url} redirected more than 5 times"));
}
