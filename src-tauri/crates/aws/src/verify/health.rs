//! The health check of a deployed stage: which URL to call, and one GET of it.

use std::error::Error;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect::Policy;
use reqwest::Url;
use stageline_engine::domain::Account;
use stageline_engine::{PortError, System};

/// Where an emulator's stand-in for deployed services answers (see
/// [`health_check_url`] and `.ci/moto_server.py`).
pub const EMULATOR_SERVICE_PREFIX: &str = "/_stageline/service/";

/// Redirects a health check follows before it gives up (a loop, or a login
/// page bouncing between hosts, is a failed check, not a hang).
const MAX_REDIRECTS: usize = 5;

/// The URL the health check of a stage calls: `stage_url` and `path` joined
/// with exactly one slash (API Gateway's `/<stage>` prefix kept).
///
/// An emulator account (a custom endpoint) deploys stages whose URLs are AWS
/// names (`*.elb.amazonaws.com`, `*.execute-api.*.amazonaws.com`) that nothing
/// answers for: the emulator's names are unreachable, so its stand-in answers
/// for the service at `<endpoint>/_stageline/service/<host><stage prefix><path>`.
/// Hosts outside amazonaws.com (LocalStack's `*.localhost.localstack.cloud`)
/// do reach the emulator and are used as they are.
pub fn health_check_url(account: &Account, stage_url: &str, path: &str) -> String {
    if let Some(endpoint) = &account.endpoint_url {
        if let Some((host, prefix)) = aws_host_and_path(stage_url) {
            let service = format!("{host}{}", join(&prefix, path));
            return format!(
                "{}{EMULATOR_SERVICE_PREFIX}{}",
                endpoint.trim_end_matches('/'),
                service.trim_start_matches('/')
            );
        }
    }
    join(stage_url, path)
}

/// The host (with its port, if any) and path of a URL on an AWS domain.
fn aws_host_and_path(url: &str) -> Option<(String, String)> {
    let parsed = Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    let on_aws = [".amazonaws.com", ".amazonaws.com.cn"]
        .iter()
        .any(|suffix| host.ends_with(suffix));
    if !on_aws {
        return None;
    }
    let host = match parsed.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    Some((host, parsed.path().to_owned()))
}

/// `base` and `path` with exactly one slash between them.
fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// One GET of `url`, waiting at most `timeout` for the whole answer: the
/// status code the service gave (whatever it is: judging it is the caller's),
/// or why there was none, in words for the stage's log ("could not connect
/// to http://…: connection refused", "… timed out after 10 s").
///
/// Redirects are followed up to 5 times. The error's system is AWS: the
/// service runs there.
pub async fn probe_health(url: &str, timeout: Duration) -> Result<u16, PortError> {
    let client = client().map_err(|message| {
        PortError::new(
            System::Aws,
            format!("Could not start the health check: {message}"),
        )
    })?;
    match client.get(url).timeout(timeout).send().await {
        Ok(response) => Ok(response.status().as_u16()),
        Err(error) => Err(PortError::new(System::Aws, describe(url, timeout, &error))),
    }
}

/// One client for every check: building one loads the certificate roots.
fn client() -> Result<&'static reqwest::Client, String> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .redirect(Policy::limited(MAX_REDIRECTS))
                .dns_resolver(Arc::new(SystemResolver))
                .build()
                .map_err(|error| source_text(&error))
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn describe(url: &str, timeout: Duration, error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return format!(
            "The health check of {url} timed out after {}",
            seconds(timeout)
        );
    }
    if error.is_redirect() {
        return format!("{url} redirected more than {MAX_REDIRECTS} times");
    }
    if error.is_builder() {
        return format!("{url} is not a URL a health check can call");
    }
    if let Some(missing) = find_source::<HostNotFound>(error) {
        return format!("Could not connect to {url}: {missing}");
    }
    if let Some(io) = find_source::<std::io::Error>(error) {
        if io.kind() == std::io::ErrorKind::ConnectionRefused {
            return format!("Could not connect to {url}: connection refused");
        }
    }
    if error.is_connect() {
        return format!("Could not connect to {url}: {}", deepest_text(error));
    }
    format!("The health check of {url} failed: {}", source_text(error))
}

/// `10 s`, or `250 ms` below a whole second.
fn seconds(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{} ms", duration.as_millis())
    }
}

fn find_source<'a, T: Error + 'static>(error: &'a (dyn Error + 'static)) -> Option<&'a T> {
    let mut next: Option<&(dyn Error + 'static)> = Some(error);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<T>() {
            return Some(found);
        }
        next = current.source();
    }
    None
}

/// The innermost cause's text (the OS's or TLS's own words).
fn deepest_text(error: &(dyn Error + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// The error and its causes, joined.
fn source_text(error: &(dyn Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut next = error.source();
    while let Some(current) = next {
        parts.push(current.to_string());
        next = current.source();
    }
    parts.join(": ")
}

/// A host name the system's resolver does not know.
#[derive(Debug)]
struct HostNotFound {
    host: String,
    cause: std::io::Error,
}

impl std::fmt::Display for HostNotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the host {} was not found ({})", self.host, self.cause)
    }
}

impl Error for HostNotFound {}

/// The system's resolver, whose failure is a [`HostNotFound`] the check can
/// tell apart from a refused connection without reading error text.
struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map(|addrs| addrs.collect::<Vec<SocketAddr>>());
            match found {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as Addrs),
                Err(cause) => Err(Box::new(HostNotFound { host, cause }) as _),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stageline_engine::domain::CredentialSource;
    use stageline_engine::ids::AccountId;

    fn account(endpoint: Option<&str>) -> Account {
        Account {
            id: AccountId(1),
            name: "test".into(),
            credentials: CredentialSource::Profile {
                profile: "default".into(),
            },
            default_region: "us-east-1".into(),
            endpoint_url: endpoint.map(str::to_owned),
        }
    }

    const ALB: &str = "http://shop-dev-123.us-east-1.elb.amazonaws.com";
    const API: &str = "https://abc123.execute-api.eu-west-1.amazonaws.com/dev";

    #[test]
    fn the_path_joins_the_stage_url_with_one_slash() {
        let aws = account(None);
        assert_eq!(
            health_check_url(&aws, ALB, "/health"),
            format!("{ALB}/health")
        );
        assert_eq!(
            health_check_url(&aws, &format!("{ALB}/"), "/health"),
            format!("{ALB}/health")
        );
        assert_eq!(
            health_check_url(&aws, ALB, "health"),
            format!("{ALB}/health")
        );
        assert_eq!(health_check_url(&aws, ALB, "/"), format!("{ALB}/"));
        assert_eq!(health_check_url(&aws, ALB, ""), format!("{ALB}/"));
    }

    #[test]
    fn api_gateway_keeps_its_stage_prefix() {
        let aws = account(None);
        assert_eq!(
            health_check_url(&aws, API, "/health"),
            "https://abc123.execute-api.eu-west-1.amazonaws.com/dev/health"
        );
    }

    #[test]
    fn an_emulator_stand_in_answers_for_aws_names() {
        let moto = account(Some("http://127.0.0.1:5101/"));
        assert_eq!(
            health_check_url(&moto, ALB, "/health"),
            "http://127.0.0.1:5101/_stageline/service/shop-dev-123.us-east-1.elb.amazonaws.com/health"
        );
        assert_eq!(
            health_check_url(&moto, API, "health"),
            "http://127.0.0.1:5101/_stageline/service/abc123.execute-api.eu-west-1.amazonaws.com/dev/health"
        );
        assert_eq!(
            health_check_url(&moto, ALB, "/"),
            "http://127.0.0.1:5101/_stageline/service/shop-dev-123.us-east-1.elb.amazonaws.com/"
        );
    }

    #[test]
    fn an_emulator_host_outside_aws_is_called_as_it_is() {
        let localstack = account(Some("http://localhost:4566"));
        let url = "http://shop-dev.elb.localhost.localstack.cloud:4566";
        assert_eq!(
            health_check_url(&localstack, url, "/health"),
            format!("{url}/health")
        );
    }

    #[test]
    fn a_real_account_calls_aws_names_directly() {
        let aws = account(None);
        assert!(health_check_url(&aws, ALB, "/x").starts_with(ALB));
    }

    #[test]
    fn timeouts_read_in_seconds_or_milliseconds() {
        assert_eq!(seconds(Duration::from_secs(10)), "10 s");
        assert_eq!(seconds(Duration::from_millis(250)), "250 ms");
    }
}
