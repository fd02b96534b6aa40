//! Posting a body to a webhook, with retries and backoff.
//!
//! A 2xx answer delivers. A 429, a 5xx, a timeout or a failed connection is
//! tried again after each pause of the backoff; any other answer (a 4xx: the
//! webhook was removed, the body refused…) is final at once. No error text ever
//! holds the URL (reqwest's errors name it: they are stripped of it).

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::Value;

use crate::webhook::Webhook;

/// The pauses before each retry: the first try, then three more after 1 s, 4 s and 16 s.
pub const BACKOFF: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(4),
    Duration::from_secs(16),
];

/// How long one try may take.
pub const TRY_TIMEOUT: Duration = Duration::from_secs(10);

/// A `Retry-After` longer than this is not waited for (the backoff's pause is).
const RETRY_AFTER_MAX: Duration = Duration::from_secs(60);

/// Why a message was not delivered, in words for a stack warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryError {
    /// The webhook answered with a status that retrying does not change.
    Refused { status: u16, tries: u32 },
    /// Every try failed with a status or an error worth retrying.
    Failing { reason: String, tries: u32 },
}

impl std::fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeliveryError::Refused { status, .. } => {
                let hint = match status {
                    401 | 403 => " (the webhook refuses the request: was it revoked?)",
                    404 | 410 => " (there is no such webhook any more: was it deleted?)",
                    _ => "",
                };
                write!(f, "the webhook answered HTTP {status}{hint}")
            }
            DeliveryError::Failing { reason, tries } => {
                let tries = if *tries == 1 {
                    "1 try".to_string()
                } else {
                    format!("{tries} tries")
                };
                write!(f, "{reason} ({tries})")
            }
        }
    }
}

/// Posts JSON bodies to webhooks. The HTTP client (and its TLS set-up) is
/// made on the first message, not at start.
#[derive(Debug)]
pub struct HttpSender {
    client: OnceLock<reqwest::Client>,
    timeout: Duration,
}

impl Default for HttpSender {
    fn default() -> Self {
        HttpSender::new(TRY_TIMEOUT)
    }
}

enum Try {
    Delivered,
    Final(DeliveryError),
    Again {
        reason: String,
        wait: Option<Duration>,
    },
}

impl HttpSender {
    /// A sender whose tries each give up after `timeout`.
    pub fn new(timeout: Duration) -> Self {
        HttpSender {
            client: OnceLock::new(),
            timeout,
        }
    }

    fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(self.timeout)
                // A webhook does not move; following a redirect could carry the body elsewhere.
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("Stageline/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default()
        })
    }

    async fn try_once(&self, hook: &Webhook, body: &[u8]) -> Try {
        let answer = self
            .client()
            .post(&hook.url)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send()
            .await;
        match answer {
            Ok(response) if response.status().is_success() => Try::Delivered,
            Ok(response) => {
                let status = response.status();
                if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                    let wait = response
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs)
                        .filter(|d| *d <= RETRY_AFTER_MAX);
                    Try::Again {
                        reason: format!("the webhook answered HTTP {}", status.as_u16()),
                        wait,
                    }
                } else {
                    Try::Final(DeliveryError::Refused {
                        status: status.as_u16(),
                        tries: 0,
                    })
                }
            }
            Err(error) => {
                let reason = if error.is_timeout() {
                    format!(
                        "the webhook did not answer within {} s",
                        self.timeout.as_secs()
                    )
                } else if error.is_connect() {
                    format!("could not connect to {}", hook.host())
                } else {
                    format!("the request failed: {}", error.without_url())
                };
                Try::Again { reason, wait: None }
            }
        }
    }

    /// Posts `body`, trying again after each pause of `backoff`; the number of
    /// tries it took, or why it was not delivered.
    pub async fn send(
        &self,
        hook: &Webhook,
        body: &Value,
        backoff: &[Duration],
    ) -> Result<u32, DeliveryError> {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let mut tries = 0;
        loop {
            tries += 1;
            match self.try_once(hook, &bytes).await {
                Try::Delivered => return Ok(tries),
                Try::Final(DeliveryError::Refused { status, .. }) => {
                    return Err(DeliveryError::Refused { status, tries })
                }
                Try::Final(other) => return Err(other),
                Try::Again { reason, wait } => {
                    let Some(pause) = backoff.get(tries as usize - 1) else {
                        return Err(DeliveryError::Failing { reason, tries });
                    };
                    tokio::time::sleep(wait.map_or(*pause, |w| w.max(*pause))).await;
                }
            }
        }
    }
}
