//! A stack's incoming webhook: where its chat messages go, and in which shape.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The shape of the messages a webhook receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum WebhookKind {
    /// Slack's incoming webhooks, and the many chats that accept the same
    /// body (Mattermost, Rocket.Chat, Discord's `/slack` endpoint…):
    /// `{"text": …, "blocks": […]}`.
    Slack,
    /// A plain JSON object per event (see [`crate::message::json_body`]).
    Json,
}

/// A stack's webhook. The URL is a secret (it is the only credential a
/// webhook has): `Debug` never shows it, and it is kept in the keychain only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub kind: WebhookKind,
    pub url: String,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Webhook({:?}, {})", self.kind, display_host(&self.url))
    }
}

impl Webhook {
    /// A webhook whose URL passed [`check_url`].
    pub fn new(kind: WebhookKind, url: &str) -> Result<Self, String> {
        check_url(url)?;
        Ok(Webhook {
            kind,
            url: url.trim().to_string(),
        })
    }

    /// The host the messages go to, for display (never the path, which holds the secret).
    pub fn host(&self) -> String {
        display_host(&self.url)
    }

    /// The keychain value: the kind and the URL as JSON.
    pub fn to_keychain_value(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A webhook read back from the keychain.
    pub fn from_keychain_value(value: &str) -> Option<Self> {
        serde_json::from_str(value).ok()
    }
}

/// Whether the URL's host is this machine (`localhost`, `127.0.0.0/8`, `::1`).
fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Ok for an `https://` URL with a host, or `http://` to this machine (a
/// local relay or a test server); otherwise what is wrong, in words.
pub fn check_url(url: &str) -> Result<(), String> {
    let url = url.trim();
    if url.is_empty() {
        return Err("Paste the webhook URL your chat gave you.".to_string());
    }
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return Err(
            "This is not a URL: it should look like https://hooks.example.com/….".to_string(),
        );
    };
    if parsed.host().is_none() {
        return Err("The URL has no host.".to_string());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(
            "Put no user name or password in the URL: a webhook's URL is its key.".to_string(),
        );
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&parsed) => Ok(()),
        "http" => Err("Use an https:// URL: over http the URL (the webhook's key) and the messages travel unencrypted. http:// is accepted only to this machine (localhost).".to_string()),
        other => Err(format!("A webhook URL starts with https://, not {other}://.")),
    }
}

/// The host part of a URL (with a port when not the default), for display.
pub fn display_host(url: &str) -> String {
    reqwest::Url::parse(url.trim())
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.to_string();
            Some(match u.port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        })
        .unwrap_or_else(|| "an unknown host".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_urls_are_accepted_and_http_only_to_this_machine() {
        assert!(check_url("https://hooks.slack.com/services/T0/B0/abc").is_ok());
        assert!(check_url("http://127.0.0.1:8080/hook").is_ok());
        assert!(check_url("http://localhost/hook").is_ok());
        assert!(check_url("http://[::1]:9/hook").is_ok());
        assert!(check_url("http://example.com/hook")
            .unwrap_err()
            .contains("https://"));
        assert!(check_url("ftp://example.com/hook").is_err());
        assert!(check_url("").is_err());
        assert!(check_url("hooks.slack.com/services/x").is_err());
        assert!(check_url("https://user:pw@example.com/x").is_err());
    }

    #[test]
    fn only_the_host_is_ever_shown() {
        let hook = Webhook::new(
            WebhookKind::Slack,
            "https://hooks.slack.com/services/T0/B0/secret",
        )
        .unwrap();
        assert_eq!(hook.host(), "hooks.slack.com");
        assert!(!format!("{hook:?}").contains("secret"));
        assert_eq!(display_host("http://127.0.0.1:4000/x"), "127.0.0.1:4000");
    }

    #[test]
    fn the_keychain_value_reads_back() {
        let hook = Webhook::new(WebhookKind::Json, "https://example.com/h").unwrap();
        assert_eq!(
            Webhook::from_keychain_value(&hook.to_keychain_value()),
            Some(hook)
        );
        assert_eq!(Webhook::from_keychain_value("not json"), None);
    }
}
