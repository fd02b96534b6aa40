//! HTTPS tokens: sent as the password of HTTP Basic auth, never shown. A tiny
//! HTTP server on the loopback address plays a Git host that wants a sign-in
//! (plain HTTP: libgit2 signs in the same way over TLS).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use stageline_git::{check_repository, GitCredentials, RepoCheckError};

use crate::support::isolate;

/// Serves a few connections, answering each with 401, and sends back the
/// `Authorization` header each request carried.
fn host_that_refuses_every_sign_in() -> (String, mpsc::Receiver<Option<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/team/app.git", listener.local_addr().unwrap());
    let (seen, headers) = mpsc::channel();
    std::thread::spawn(move || {
        for _ in 0..4 {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut authorization = None;
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                if let Some(value) = line.strip_prefix("Authorization: ") {
                    authorization = Some(value.trim().to_string());
                }
                line.clear();
            }
            let _ = seen.send(authorization);
            let _ = stream.write_all(
                b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    (url, headers)
}

#[tokio::test]
async fn an_https_token_is_sent_as_the_password_and_never_shown() {
    isolate();
    let (url, headers) = host_that_refuses_every_sign_in();
    let credentials = GitCredentials {
        https_token: Some("tok-9f8e7d".into()),
        ssh_key_file: None,
    };

    let error = check_repository(&url, "main", credentials)
        .await
        .unwrap_err();

    let sent: Vec<Option<String>> = headers.try_iter().collect();
    // "x-access-token:tok-9f8e7d" in base64.
    assert!(
        sent.contains(&Some("Basic eC1hY2Nlc3MtdG9rZW46dG9rLTlmOGU3ZA==".into())),
        "{sent:?}"
    );
    assert_eq!(
        sent.len(),
        2,
        "the token is offered once, not again after a refusal"
    );
    assert!(
        matches!(error, RepoCheckError::Unreachable { .. }),
        "{error:?}"
    );
    assert!(
        error.message().contains("sign-in was refused"),
        "{}",
        error.message()
    );
    assert!(!error.message().contains("tok-9f8e7d"));
}
